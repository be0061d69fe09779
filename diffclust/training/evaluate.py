"""Batch-wise clustering evaluation (forest paper §11): cluster each batch of 64 embeddings
into k = number of classes with the exact spanning forest and compare with the labels."""

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
