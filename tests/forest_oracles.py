"""Independent oracles and random problems for the forest tests."""

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import squareform

# Sizes drawn by the property tests: 2 to 100, few enough that each compiles once.
SIZES = (2, 3, 4, 5, 7, 10, 16, 25, 40, 64, 100)


def random_similarity(rng: np.random.Generator, n: int, distinct: bool = False) -> np.ndarray:
    """Symmetric weights without ties: Gaussian, or a random permutation of 0..m-1."""
    if distinct:
        m = n * (n - 1) // 2
        S = np.zeros((n, n))
        S[np.triu_indices(n, 1)] = rng.permutation(m)
        S = S + S.T
    else:
        X = rng.normal(size=(n, n))
        S = (X + X.T) / 2
    np.fill_diagonal(S, 0.0)
    return S.astype(np.float32)


def single_linkage_partition(S: np.ndarray, k: int) -> np.ndarray:
    """scipy single linkage on distances max(S) - S, cut into k clusters, as an M matrix."""
    n = S.shape[0]
    if n == 1:
        return np.ones((1, 1), bool)
    D = S.max() - S.astype(np.float64) + 1.0
    np.fill_diagonal(D, 0.0)
    labels = fcluster(linkage(squareform(D, checks=False), "single"), k, "maxclust")
    return labels[:, None] == labels[None, :]


def n_components(A: np.ndarray) -> int:
    return connected_components(np.asarray(A) > 0.5, directed=False)[0]


def label_constraints(rng, n: int, n_classes: int, p_labelled: float):
    """Constraints from random labels, some points unlabelled: (labels, known, C)."""
    labels = rng.integers(0, n_classes, n)
    known = rng.random(n) < p_labelled
    both = known[:, None] & known[None, :]
    C = np.where(both, np.where(labels[:, None] == labels[None, :], 1, -1), 0)
    np.fill_diagonal(C, 0)
    return labels, known, C.astype(np.int8)
