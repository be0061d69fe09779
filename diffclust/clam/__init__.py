"""ClAM: clustering with associative memories (METHODS.md §3): the AM dynamics and losses
(:mod:`diffclust.clam.core`) and the paper's training procedure (:mod:`diffclust.clam.fit`)."""

from diffclust.clam.core import (
    Dynamics,
    Memories,
    am_step,
    assign,
    completion_loss,
    energy,
    mask_values,
    recursion,
    trajectory,
)
from diffclust.clam.fit import Fit, FitOptions, fit_clam

__all__ = [
    "Dynamics",
    "Fit",
    "FitOptions",
    "Memories",
    "am_step",
    "assign",
    "completion_loss",
    "energy",
    "fit_clam",
    "mask_values",
    "recursion",
    "trajectory",
]
