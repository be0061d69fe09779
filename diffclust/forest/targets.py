"""Partial clustering information: targets with unknown pairs and their constraint matrices.

A partial target M_Omega holds 1 (same cluster), 0 (different clusters) and NaN (unknown) —
NaN rather than a separate mask so one array carries the whole target through batching.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def target_from_labels(labels: jax.Array, known: jax.Array | None = None) -> jax.Array:
    """M_Omega from integer labels: 1/0 between known points, NaN wherever an unknown point
    is involved, and 1 on the diagonal (METHODS.md §1, partial information).

    Args:
      labels: (n,) integer class labels (values at unknown points are ignored).
      known: (n,) bool, which labels are known; all when None.
    """
    labels = jnp.asarray(labels)
    same = (labels[:, None] == labels[None, :]).astype(jnp.float32)
    if known is None:
        return same
    known = jnp.asarray(known, bool)
    both = known[:, None] & known[None, :]
    return jnp.where(both | jnp.eye(labels.shape[0], dtype=bool), same, jnp.nan)


def constraints_from_target(M_target: jax.Array) -> jax.Array:
    """C = 1 (must-link) where M = 1, -1 (must-not-link) where M = 0, 0 where NaN or diagonal."""
    C = jnp.where(jnp.isnan(M_target), 0, jnp.where(M_target > 0.5, 1, -1))
    return jnp.where(jnp.eye(M_target.shape[0], dtype=bool), 0, C).astype(jnp.int8)


def check_target(M_target, n: int) -> None:
    shape = jnp.shape(M_target)
    if tuple(shape) != (n, n):
        raise ValueError(f"M_target must have shape ({n}, {n}) like S, got {tuple(shape)}.")
    if not jnp.issubdtype(jnp.result_type(M_target), jnp.floating):
        raise ValueError(
            "M_target must be floating (1 / 0 known, NaN unknown), "
            f"got {jnp.result_type(M_target)}."
        )
