"""Key and value checks of a composed config, run at start-up: before any file of the run
directory is touched, any data is loaded or anything compiles. The schemas check keys and
types as the config composes, except for keys a ``+key=value`` override appends (Hydra lifts
the schema for those): :func:`unknown_keys` finds them. The table :data:`RULES` checks
values, one rule per dotted key, applied where the composed config has that key
(``head.num_clusters`` exists for the assigning heads only). Checks that need the data (a
batch against the number of classes) or a head's own rules (its ``__post_init__``) come
later, still before compilation.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable

from omegaconf import DictConfig, OmegaConf

from diffclust.errors import UserError
from diffclust.forest.noise import NOISE_KINDS
from diffclust.forest.similarity import SIMILARITY_KINDS

Rule = Callable[[object], str | None]  # the value -> what it must be, or None if it is fine


def positive(value) -> str | None:
    return None if _number(value) and value > 0 else "use a positive number"


def non_negative(value) -> str | None:
    return None if _number(value) and value >= 0 else "use a number >= 0"


def positive_or_null(value) -> str | None:
    """Counts where null means "the default" (e.g. the number of classes): never 0."""
    return (
        None
        if value is None or positive(value) is None
        else "use a positive number, or null (the default)"
    )


def at_least_two(value) -> str | None:
    return None if _number(value) and value >= 2 else "use a number >= 2"


def fraction(value) -> str | None:
    return None if _number(value) and 0 <= value < 1 else "use a number in [0, 1)"


def share(value) -> str | None:
    return None if _number(value) and 0 <= value <= 1 else "use a number in [0, 1]"


def one_of(*choices: str) -> Rule:
    return lambda value: None if value in choices else f"use one of {', '.join(choices)}"


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


RULES: dict[str, Rule] = {
    "seed": non_negative,
    "train.steps": non_negative,
    "train.batch_size": positive,
    "train.eval_every": positive,
    "train.eval_batch_size": positive,
    "train.eval_batches": positive_or_null,
    "train.patience": non_negative,
    "train.log_every": positive,
    "train.select": one_of("best", "last"),
    "train.pretrain_steps": non_negative,
    "train.input_noise": fraction,
    "train.tsne_points": positive,
    "train.silhouette_points": positive,
    "loss.sigma": positive,
    "loss.num_samples": positive,
    "loss.noise": one_of(*NOISE_KINDS),
    "loss.weight": non_negative,
    "loss.label_smoothing": fraction,
    "head.num_clusters": positive_or_null,  # null: the number of classes
    "head.similarity": one_of(*SIMILARITY_KINDS),
    "head.temperature": positive_or_null,
    "head.epsilon": positive,
    "head.max_iterations": positive,
    "head.threshold": positive,
    "head.init_samples": positive_or_null,
    "head.n_init": positive,
    "head.max_iter": positive,
    "head.n_neighbors": positive,
    "head.gamma": positive,
    "head.epochs": positive,
    "head.batch_size": positive,
    "head.lr": positive,
    "head.restarts": positive,
    "backbone.embedding_dim": positive,
    "backbone.init_std": positive_or_null,
    "optim.lr": positive,
    "optim.b1": fraction,
    "optim.b2": fraction,
    "optim.weight_decay": non_negative,
    "optim.decay_every": positive_or_null,
    "optim.decay_factor": positive,
    "optim.momentum": fraction,
    "dataset.val_size": non_negative,
    "dataset.test_size": non_negative,
    "dataset.num_samples": positive,
    "dataset.num_classes": at_least_two,
    "dataset.dim": positive,
    "dataset.cluster_std": positive,
    "dataset.center_box": positive,
    "dataset.n_per_cluster": positive,
    "dataset.std": positive,
    "dataset.noise_dims": non_negative,
    "split.n_labelled": non_negative,
    "split.k_withheld": non_negative,
    "split.holdout_per_class": non_negative,
    "split.labelled_fraction": share,
    "logger.mode": one_of("offline", "online", "disabled"),
}


def unknown_keys(node: DictConfig, prefix: str = "") -> list[tuple[str, list[str]]]:
    """(dotted key, the field names its schema does have) for every key of ``node`` and its
    children that the dataclass behind it lacks: a ``+key=value`` typo, which no code reads."""
    kind = OmegaConf.get_type(node)
    known = [f.name for f in dataclasses.fields(kind)] if dataclasses.is_dataclass(kind) else None
    found = []
    for key in node.keys():
        if known is not None and key not in known:
            found.append((f"{prefix}{key}", known))
        elif isinstance(node._get_node(key), DictConfig) and not OmegaConf.is_missing(node, key):
            found += unknown_keys(node[key], f"{prefix}{key}.")
    return found


def check_config(cfg: DictConfig) -> None:
    """A UserError naming a key no schema has, else the first key whose value breaks its rule
    in :data:`RULES`."""
    if unknown := unknown_keys(cfg):
        key, known = unknown[0]
        prefix, _, name = key.rpartition(".")
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {'.'.join(filter(None, (prefix, close[0])))}? " if close else ""
        raise UserError(
            f"{key} is not a setting of this config (a '+' override added it, and nothing "
            f"would read it); {hint}see `diffclust train --cfg job` for the settings"
        )
    for key, rule in RULES.items():
        node = OmegaConf.select(cfg, key, default=_ABSENT)
        if node is _ABSENT:
            continue
        problem = rule(node)
        if problem is not None:
            shown = "null" if node is None else node
            raise UserError(f"{key}={shown} is not allowed; {problem}")


_ABSENT = object()
