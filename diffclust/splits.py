"""The ``split`` config group: which training labels the objective may use."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffclust.data import Dataset
from diffclust.registry import Registry

SPLITS: Registry = Registry("split")


@dataclass
class FullSplitConfig:
    """Full supervision: every training label is known (the forest paper's §11.1)."""

    name: str = "full"


@SPLITS.register("full", FullSplitConfig)
def full_split(cfg: FullSplitConfig, data: Dataset, seed: int) -> np.ndarray:
    """(num_train,) bool: which training points are labelled."""
    return np.ones(len(data.y_train), bool)


def labelled_mask(cfg, data: Dataset, seed: int) -> np.ndarray:
    return SPLITS.get(cfg.name)(cfg, data, seed)
