"""Clustering evaluation. Forest heads: the batch-wise error (forest paper §11), each batch of
64 embeddings clustered into k = number of classes by the exact spanning forest. Centroid
heads: nearest-centre assignments, scored by unsupervised accuracy, NMI, ARI and the same
batch-wise error."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from diffclust.forest import clustering_error, spanning_forest
from diffclust.training.batches import eval_batches


def batch_clustering_error(similarity: jax.Array, labels: jax.Array, k: int) -> jax.Array:
    """mean |M_k*(S) - M_true| over the n^2 entries of one batch."""
    _, M = spanning_forest(similarity, k)
    M_true = (labels[:, None] == labels[None, :]).astype(M.dtype)
    return clustering_error(M, M_true)


def clustering_metrics(embed_similarity, x: np.ndarray, y: np.ndarray, k: int, cfg) -> dict:
    """Mean batch-wise clustering error and precision (1 - error) over a split.

    ``embed_similarity(x_batch) -> S`` is the jitted model; batches of cfg.eval_batch_size.
    """
    errors = []
    for idx in eval_batches(len(y), cfg.eval_batch_size, cfg.eval_batches):
        S = embed_similarity(jnp.asarray(x[idx]))
        errors.append(float(batch_clustering_error(S, jnp.asarray(y[idx]), k)))
    error = float(np.mean(errors))
    return {"clustering_error": error, "clustering_precision": 1.0 - error}


def unsupervised_accuracy(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy under the best one-to-one cluster-to-class matching (Hungarian algorithm on
    the contingency table; the OT paper's eq. 12). Clusters left unmatched count as errors."""
    from scipy.optimize import linear_sum_assignment

    table = np.zeros((clusters.max() + 1, labels.max() + 1), np.int64)
    np.add.at(table, (clusters, labels), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / len(labels))


def partition_metrics(
    clusters: np.ndarray,
    y: np.ndarray,
    cfg,
    z: np.ndarray | None = None,
    seed: int = 0,
    num_clusters: int = 0,
) -> dict:
    """Unsupervised accuracy, NMI and ARI of a partition against the labels, and its
    batch-wise clustering error on the same batches as the forest heads (comparable). With
    the clustered points ``z``: also the silhouette coefficient (Euclidean; on a seeded sample
    of ``cfg.silhouette_points`` points when there are more; null for a single cluster) and
    the sizes of all ``num_clusters`` clusters (at least), so empty ones show as zeros, and
    how many are not empty."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    clusters = np.asarray(clusters)
    errors = []
    for idx in eval_batches(len(y), cfg.eval_batch_size, cfg.eval_batches):
        same_cluster = clusters[idx][:, None] == clusters[idx][None, :]
        same_class = y[idx][:, None] == y[idx][None, :]
        errors.append(np.mean(same_cluster != same_class))
    error = float(np.mean(errors))
    metrics = {
        "accuracy": unsupervised_accuracy(clusters, y),
        "nmi": float(normalized_mutual_info_score(y, clusters)),
        "ari": float(adjusted_rand_score(y, clusters)),
        "clustering_error": error,
        "clustering_precision": 1.0 - error,
    }
    if z is not None:
        metrics["silhouette"] = silhouette(z, clusters, cfg.silhouette_points, seed)
        sizes = np.bincount(clusters, minlength=num_clusters)
        metrics["cluster_sizes"] = sizes.tolist()
        metrics["clusters_used"] = int(np.count_nonzero(sizes))  # a number tables can average
    return metrics


def silhouette(z: np.ndarray, clusters: np.ndarray, points: int, seed: int) -> float | None:
    from sklearn.metrics import silhouette_score

    z = np.asarray(z, np.float64).reshape(len(z), -1)
    clusters = np.asarray(clusters)
    if len(z) > points:  # the sample is drawn here, so a one-cluster sample is seen too
        rows = np.random.default_rng(seed).choice(len(z), points, replace=False)
        z, clusters = z[rows], clusters[rows]
    if not 2 <= len(np.unique(clusters)) < len(z):
        return None  # undefined for one cluster (or one point per cluster)
    return float(silhouette_score(z, clusters))
