"""A compact forest representation shared by the solvers, and its dense views.

Solvers return a :class:`Forest` (O(n) memory) rather than dense matrices, so that the
Monte-Carlo estimators can average edges with a scatter-add instead of materialising
``num_samples`` adjacency matrices.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Forest(NamedTuple):
    """A spanning forest on n vertices.

    Attributes:
      src, dst: (m,) int32 edge endpoints (m = n or n - 1 depending on the solver).
      mask: (m,) bool, which of the m slots hold an edge of the forest.
      labels: (n,) int32, a representative vertex of each vertex's component.
    """

    src: jax.Array
    dst: jax.Array
    mask: jax.Array
    labels: jax.Array


def scatter_edges(src: jax.Array, dst: jax.Array, values: jax.Array, n: int) -> jax.Array:
    """Dense symmetric (n, n) sum of ``values`` on edges {src, dst} (any leading shape).

    Both directions are scattered: cheaper than adding the transpose of an n^2 matrix.
    """
    rows = jnp.concatenate([src.ravel(), dst.ravel()])
    cols = jnp.concatenate([dst.ravel(), src.ravel()])
    values = jnp.concatenate([values.ravel(), values.ravel()])
    return jnp.zeros((n, n), values.dtype).at[rows, cols].add(values)


def adjacency(forest: Forest, n: int, dtype=jnp.float32) -> jax.Array:
    """Dense symmetric 0/1 adjacency matrix (zero diagonal) of ``forest``."""
    return scatter_edges(forest.src, forest.dst, forest.mask.astype(dtype), n)


def equivalence(forest: Forest, dtype=jnp.float32) -> jax.Array:
    """Cluster-equivalence matrix M_ij = 1 iff i and j share a component (diagonal 1)."""
    return (forest.labels[:, None] == forest.labels[None, :]).astype(dtype)


def forest_weight(forest: Forest, W: jax.Array) -> jax.Array:
    """<A, W> for the forest's adjacency A: every edge counts twice (A is symmetric)."""
    return 2.0 * jnp.sum(jnp.where(forest.mask, W[forest.src, forest.dst], 0.0))


def component_labels(pointer: jax.Array) -> jax.Array:
    """Roots of a parent-pointer forest by pointer jumping (ceil(log2 n) parallel gathers).

    ``pointer[v]`` is v's parent, or v itself at a root. Jumping keeps the whole pass
    parallel (O(n log n) work), which matters on GPUs where a sequential scan would not.
    """
    n = pointer.shape[0]
    steps = max(1, (n - 1).bit_length())
    return jax.lax.fori_loop(0, steps, lambda _, p: p[p], pointer)


def poison_if_nan(S: jax.Array, *arrays: jax.Array) -> tuple[jax.Array, ...]:
    """Replaces every output by NaN when S holds a NaN.

    A NaN weight has no place in the edge order, so any forest built from it would be
    arbitrary; returning NaN makes the failure visible (a NaN loss) instead of plausible.
    """
    bad = jnp.isnan(S).any()
    return tuple(jnp.where(bad, jnp.nan, a) for a in arrays)
