r"""The published Kruskal in matrix form (Stewart et al., NeurIPS 2023, appendix §9, §9.1).

Kept as the test oracle and the benchmark baseline: a single loop over all edges sorted by
weight, each step a handful of dense (n, n) updates, O(n^4) work in total. Obviously correct,
deliberately unoptimised.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from diffclust.forest.checks import check_constraints, check_k, check_similarity
from diffclust.forest.graph import poison_if_nan


def _kruskal(W: jax.Array, k: jax.Array, forbid: jax.Array) -> tuple[jax.Array, jax.Array]:
    n = W.shape[0]
    rows, cols = jnp.triu_indices(n, k=1)
    order = jnp.argsort(-W[rows, cols], stable=True)
    rows, cols = rows[order], cols[order]
    eye = jnp.eye(n, dtype=W.dtype)

    def step(t, carry):
        A, M, edges = carry
        i, j = rows[t], cols[t]
        # i and j are joined iff they are not yet connected, the forest still has more than
        # k components, and no must-not-link pair spans the two components.
        conflict = M[:, i] @ forbid @ M[:, j] > 0
        accept = (M[i, j] == 0) & (edges < n - k) & ~conflict
        merged = jnp.maximum(M, jnp.outer(M[:, i], M[:, j]) + jnp.outer(M[:, j], M[:, i]))
        A = jnp.where(accept, A.at[i, j].set(1).at[j, i].set(1), A)
        M = jnp.where(accept, merged, M)
        return A, M, edges + accept

    A, M, _ = jax.lax.fori_loop(0, rows.shape[0], step, (jnp.zeros_like(W), eye, 0))
    return A, M


def reference_spanning_forest(S: jax.Array, k, C: jax.Array | None = None, bias: bool = True):
    """Kruskal on sorted edges, stopped at k components: the oracle for the fast solvers.

    Args:
      S: (n, n) similarity matrix (symmetrised, diagonal ignored).
      k: number of components.
      C: optional (n, n) constraints, 1 must-link, -1 must-not-link, 0 unknown (§9.1).
      bias: with C, process must-link edges first (and must-not-link edges last).

    Returns:
      (A, M) as for :func:`diffclust.forest.spanning_forest`.
    """
    n = check_similarity(S)
    C = jnp.zeros((n, n), jnp.int8) if C is None else check_constraints(C, n)
    return _reference(S, check_k(k, n), C, bool(bias))


@partial(jax.jit, static_argnums=3)
def _reference(S, k, C, bias):
    W = 0.5 * (S + S.T)
    forbid = (C == -1).astype(W.dtype)
    if bias:
        span = jnp.max(W) - jnp.min(W) + 1.0
        W = W + span * (C == 1) - span * (C == -1)
    return poison_if_nan(S, *_kruskal(W, k, forbid))
