"""The ``split`` config group: which training labels the objective may use, which points are
held out for transfer, and how training batches are drawn.

A split is a pure function of (training labels, config, seed), so it can be tested alone and
rebuilt identically when a run resumes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffclust.data import Dataset
from diffclust.errors import UserError
from diffclust.registry import Registry
from diffclust.training.batches import batch_indices

SPLITS: Registry = Registry("split")


@dataclass(frozen=True)
class Split:
    """known: (num_train,) bool, labels the loss may use; holdout: indices kept out of
    training (for the transfer probe); pools / fractions: each batch takes that share of its
    points from each pool of training indices."""

    known: np.ndarray
    holdout: np.ndarray
    pools: tuple[np.ndarray, ...]
    fractions: tuple[float, ...]

    def counts(self, batch_size: int) -> list[int]:
        """Points per pool in a batch; a clear error when a pool cannot fill its share."""
        counts = [round(f * batch_size) for f in self.fractions[:-1]]
        counts.append(batch_size - sum(counts))
        for pool, count in zip(self.pools, counts, strict=True):
            if count > len(pool):
                raise UserError(
                    f"a batch of train.batch_size={batch_size} needs {count} points from a pool "
                    f"of {len(pool)}; lower train.batch_size or change the split"
                )
        return counts

    def batch(self, batch_size: int, seed: int, step: int) -> np.ndarray:
        """Training indices of step ``step``: a pure function of (seed, step)."""
        counts = self.counts(batch_size)
        parts = [
            pool[batch_indices(len(pool), count, seed + 7919 * i, step)]
            for i, (pool, count) in enumerate(zip(self.pools, counts, strict=True))
            if count > 0
        ]
        return np.concatenate(parts)


@dataclass
class FullSplitConfig:
    """Full supervision: every training label is known (the forest paper's §11.1)."""

    name: str = "full"


@dataclass
class SemiSplitConfig:
    """Semi-supervised protocol of the forest paper (§11.2): a balanced hold-out for transfer,
    ``n_labelled`` labelled points never from the first ``k_withheld`` classes, the rest
    unlabelled, and batches that are ``labelled_fraction`` labelled (1: labelled points only,
    as for the cross-entropy baseline)."""

    name: str = "semi"
    n_labelled: int = 250
    k_withheld: int = 0
    holdout_per_class: int = 100
    labelled_fraction: float = 0.5


@SPLITS.register("full", FullSplitConfig)
def full_split(cfg: FullSplitConfig, labels: np.ndarray, seed: int) -> Split:
    everything = np.arange(len(labels))
    return Split(np.ones(len(labels), bool), everything[:0], (everything,), (1.0,))


def balanced_holdout(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) <= per_class:
            raise UserError(
                f"split.holdout_per_class={per_class} leaves no training point of class {c} "
                f"({len(members)} in all); lower it"
            )
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


@SPLITS.register("semi", SemiSplitConfig)
def semi_split(cfg: SemiSplitConfig, labels: np.ndarray, seed: int) -> Split:
    rng = np.random.default_rng([seed, 11])
    holdout = balanced_holdout(labels, cfg.holdout_per_class, rng)
    rest = np.setdiff1d(np.arange(len(labels)), holdout)
    allowed = rest[labels[rest] >= cfg.k_withheld]
    if not 0 < cfg.n_labelled <= len(allowed):
        raise UserError(
            f"split.n_labelled={cfg.n_labelled} must be in 1..{len(allowed)} (the points of "
            f"classes >= k_withheld={cfg.k_withheld} outside the hold-out)"
        )
    if not 0.0 < cfg.labelled_fraction <= 1.0:
        raise UserError(f"split.labelled_fraction={cfg.labelled_fraction} must be in (0, 1]")
    labelled = np.sort(rng.choice(allowed, cfg.n_labelled, replace=False))
    unlabelled = np.setdiff1d(rest, labelled)
    known = np.zeros(len(labels), bool)
    known[labelled] = True
    fractions = (cfg.labelled_fraction, 1.0 - cfg.labelled_fraction)
    return Split(known, holdout, (labelled, unlabelled), fractions)


def make_split(cfg, data: Dataset, seed: int) -> Split:
    return SPLITS.get(cfg.name)(cfg, data.y_train, seed)
