"""Spanning-forest clustering: exact, constrained and perturbed solvers, and the partial
Fenchel–Young loss of Stewart, Bach, Llinares-López and Berthet (NeurIPS 2023).

Every function is a pure function of arrays: jit-able, vmap-able, CPU and GPU.
"""

from diffclust.forest.constrained import constrained_spanning_forest
from diffclust.forest.exact import spanning_forest
from diffclust.forest.loss import partial_fy_loss, partial_fy_loss_unperturbed
from diffclust.forest.perturbed import perturbed_spanning_forest
from diffclust.forest.reference import reference_spanning_forest
from diffclust.forest.similarity import clustering_error, similarity
from diffclust.forest.targets import constraints_from_target, target_from_labels

__all__ = [
    "clustering_error",
    "constrained_spanning_forest",
    "constraints_from_target",
    "partial_fy_loss",
    "partial_fy_loss_unperturbed",
    "perturbed_spanning_forest",
    "reference_spanning_forest",
    "similarity",
    "spanning_forest",
    "target_from_labels",
]
