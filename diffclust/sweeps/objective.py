"""What a study optimises: a number in each trial run's results.json, chosen by its dotted key.

Labels must not choose what is then tested on them: an objective computed from test labels
(``test.nmi``, ``test.clustering_error``, ``probe.test_error``, ...) is refused unless asked
for with ``allow_test_labels``, and so is a validation metric when validation is the test
split (a whole table: ``dataset.test_size=0``). The defaults are label-free on whole tables
(the silhouette of the partition) and the validation clustering error for trained heads.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

from omegaconf import DictConfig, OmegaConf

from diffclust.errors import UserError
from diffclust.reports.runs import lookup

LABEL_FREE = ("test.silhouette",)  # the only test metric that reads no label
MAXIMISED = ("silhouette", "nmi", "ari", "accuracy", "precision")
MINIMISED = ("error", "loss", "wall_time_s")
COMPLETE, FAILED, SET_ASIDE = "complete", "failed", "set aside"


class Objective(NamedTuple):
    key: str
    direction: str  # "maximize" or "minimize"


class Outcome(NamedTuple):
    state: str  # COMPLETE, FAILED or SET_ASIDE
    value: float | None = None
    reason: str = ""


def choose_objective(
    config: DictConfig, key: str | None, direction: str | None, allow_test_labels: bool
) -> Objective:
    """The objective of a study of ``config`` (the composed task config): the given key or
    the default, its direction, refused if it reads test labels and those are not allowed."""
    key = key or default_objective(config)
    if not allow_test_labels:
        check_label_free(key, whole_table=OmegaConf.select(config, "dataset.test_size") == 0)
    if direction is None:
        direction = infer_direction(key)
    if direction not in ("maximize", "minimize"):
        raise UserError(f"hydra.sweeper.direction={direction}: use maximize or minimize")
    return Objective(key, direction)


def default_objective(config: DictConfig) -> str:
    return "test.silhouette" if config.train.steps == 0 else "val.clustering_error"


def check_label_free(key: str, whole_table: bool) -> None:
    """A UserError if ``key`` is computed from test labels (validation labels are the test
    labels on a whole table, where train = validation = test)."""
    reads_test = key.startswith("probe.") or (key.startswith("test.") and key not in LABEL_FREE)
    if reads_test or (whole_table and key.startswith("val.")):
        where = "test labels" if reads_test else "test labels (a whole table: val = test)"
        raise UserError(
            f"hydra.sweeper.objective={key} is computed from {where}, so choosing by it makes "
            "the test numbers optimistic; use test.silhouette or a val.* metric of a split "
            "dataset, or set hydra.sweeper.allow_test_labels=true to choose by it anyway"
        )


def higher_is_better(key: str) -> bool | None:
    """From the metric's name: True for a silhouette, NMI, ..., False for an error, a loss or
    a wall time, None when the name does not say (a count such as ``test.clusters_used``)."""
    name = key.rsplit(".", 1)[-1]
    if name.endswith(MAXIMISED):
        return True
    if name.endswith(MINIMISED):
        return False
    return None


def infer_direction(key: str) -> str:
    higher = higher_is_better(key)
    if higher is not None:
        return "maximize" if higher else "minimize"
    raise UserError(
        f"hydra.sweeper.objective={key}: its direction is not known from its name; set "
        "hydra.sweeper.direction=maximize or minimize"
    )


def read_outcome(run_dir: Path, objective: Objective) -> Outcome:
    """What became of a trial, from its run directory: the objective's value, or why it
    has none (error.txt, no results.json, a missing or null metric); see :func:`outcome`."""
    error, results = run_dir / "error.txt", run_dir / "results.json"
    if error.is_file():
        return Outcome(FAILED, reason=error.read_text().strip() or "error.txt")
    if not results.is_file():
        return Outcome(FAILED, reason=f"no results.json in {run_dir} (the job did not finish)")
    try:
        recorded = json.loads(results.read_text())
    except ValueError as err:
        return Outcome(FAILED, reason=f"unreadable {results}: {err}")
    return outcome(recorded, objective, str(results))


def outcome(recorded: dict, objective: Objective, source: str = "results.json") -> Outcome:
    """The objective's value in a finished run's results (``source`` names them in reasons).
    A silhouette objective sets aside a partition that left a cluster empty (fewer, larger
    clusters score higher, as ``diffclust tables --select`` knows; all in one has none): a
    trial that collapsed, not one that clustered."""
    try:
        value = lookup(recorded, objective.key)
    except KeyError:
        return Outcome(FAILED, reason=f"{source} records no {objective.key}")
    number = isinstance(value, int | float) and not isinstance(value, bool)
    number = number and math.isfinite(value)
    if objective.key.endswith("silhouette") and 0 in _cluster_sizes(recorded):
        empty = "a cluster is empty (test.cluster_sizes)"  # one cluster: a null silhouette
        return Outcome(SET_ASIDE, float(value) if number else None, empty)
    if not number:
        shown = "null" if value is None else repr(value)
        return Outcome(FAILED, reason=f"{objective.key} is {shown} in {source}")
    return Outcome(COMPLETE, float(value))


def _cluster_sizes(results: dict) -> list:
    try:
        return list(lookup(results, "test.cluster_sizes"))
    except (KeyError, TypeError):
        return []
