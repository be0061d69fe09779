r"""Maximum-weight k-spanning forests in O(n^2): Prim's tree, then drop the k-1 lightest edges.

For edge weights :math:`\Sigma` on the complete graph, the maximum-weight forest with exactly
k components is

.. math::  A^*_k(\Sigma) = \arg\max_{A \in \mathcal{A}_k} \langle A, \Sigma \rangle ,

Kruskal's algorithm stopped at k components (single linkage). Forests are the independent sets
of the graphic matroid, so the same forest is the maximum spanning tree with its k-1 lightest
edges removed (Stewart et al., NeurIPS 2023, §2 and appendix §9). Dense Prim costs O(n^2) work
in n - 1 vector steps, instead of the O(n^2) sequential edge steps of the published Kruskal.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from diffclust.forest.checks import check_k, check_similarity
from diffclust.forest.graph import (
    Forest,
    adjacency,
    component_labels,
    equivalence,
    poison_if_nan,
)


def edge_weights(S: jax.Array) -> jax.Array:
    """Symmetrised, finite edge weights with the diagonal excluded.

    (S + S^T) / 2 makes <A, S> = <A, W> for every symmetric A, so gradients with respect to a
    non-symmetric S stay consistent. Infinities are clamped to the largest finite floats so
    that the arg-max steps can always tell vertices apart; the diagonal becomes -inf.
    """
    W = 0.5 * (S + S.T)
    info = jnp.finfo(W.dtype)
    W = jnp.clip(W, info.min, info.max)
    return jnp.where(jnp.eye(W.shape[0], dtype=bool), -jnp.inf, W)


def first_argmax(x: jax.Array) -> jax.Array:
    """Index of the first maximum of a vector.

    Two plain reductions; faster on XLA:CPU than jnp.argmax's variadic (value, index) reduce,
    which dominates the per-step cost of the greedy loops.
    """
    index = jnp.arange(x.shape[0], dtype=jnp.int32)
    return jnp.min(jnp.where(x == jnp.max(x), index, x.shape[0]))


def maximum_spanning_tree(
    W: jax.Array, roots: jax.Array | None = None, within: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
    """Dense Prim's algorithm on finite weights W (diagonal -inf), rooted at vertex 0.

    ``key[j]`` is the heaviest edge from the tree to j, -inf once j is in the tree (the
    ``penalty`` row keeps tree vertices out of later updates). Each step adds one vertex and
    reads one row of W: n steps of O(n) vector work.

    Args:
      W: (n, n) prepared weights (see :func:`edge_weights`).
      roots: optional (n,) bool mask of root vertices (at least one). They enter the tree
        first, so the result is the maximum spanning tree of the graph with the roots
        contracted into one vertex; each root is its own parent.
      within: optional (n,) int classes; only edges between equal classes >= 0 count, the
        others sink below every finite weight (their tree edges can then be discarded).

    Returns:
      parent: (n,) int32, parent[v] is v's neighbour towards its root (parent[root] = root).
      weight: (n,) the weight of the edge (v, parent[v]); +inf at the roots.
    """
    n = W.shape[0]
    vertices = jnp.arange(n, dtype=jnp.int32)
    if roots is None:
        first, num_roots = jnp.zeros(1, jnp.int32), 1
    else:
        first, num_roots = jnp.argsort(~roots, stable=True).astype(jnp.int32), jnp.sum(roots)
    low = jnp.finfo(W.dtype).min
    carry = (
        jnp.zeros(n, W.dtype),  # penalty
        jnp.full(n, -jnp.inf, W.dtype),  # key
        vertices,  # parent
        jnp.full(n, jnp.inf, W.dtype),  # weight
    )

    def add_vertex(t, carry):
        penalty, key, parent, weight = carry
        is_root = t < num_roots
        v = jnp.where(is_root, first[jnp.minimum(t, first.shape[0] - 1)], first_argmax(key))
        weight = weight.at[v].set(jnp.where(is_root, jnp.inf, key[v]))
        parent = parent.at[v].set(jnp.where(is_root, v, parent[v]))
        penalty = penalty.at[v].set(-jnp.inf)
        row = W[v]
        if within is not None:
            row = jnp.where((within == within[v]) & (within[v] >= 0), row, low)
        row = row + penalty
        closer = row > key
        key = jnp.where(closer, row, key).at[v].set(-jnp.inf)
        return penalty, key, jnp.where(closer, v, parent), weight

    _, _, parent, weight = jax.lax.fori_loop(0, n, add_vertex, carry)
    return parent, weight


def forest_from_tree(parent: jax.Array, weight: jax.Array, k: jax.Array) -> Forest:
    """Drops the k-1 lightest tree edges (ties broken by vertex index) and labels components."""
    n = parent.shape[0]
    order = jnp.argsort(weight, stable=True)
    rank = jnp.zeros(n, jnp.int32).at[order].set(jnp.arange(n, dtype=jnp.int32))
    vertices = jnp.arange(n, dtype=jnp.int32)
    keep = (rank >= k - 1) & (vertices != 0)
    labels = component_labels(jnp.where(keep, parent, vertices))
    return Forest(src=vertices, dst=parent, mask=keep, labels=labels)


def solve_forest(W: jax.Array, k: jax.Array) -> Forest:
    """The k-spanning forest of prepared weights W (see :func:`edge_weights`; k int32 array)."""
    parent, weight = maximum_spanning_tree(W)
    return forest_from_tree(parent, weight, k)


def spanning_forest(S: jax.Array, k) -> tuple[jax.Array, jax.Array]:
    r"""Maximum-weight spanning forest with exactly k connected components.

    .. math::  A^*_k(\Sigma) = \arg\max_{A \in \mathcal{A}_k} \langle A, \Sigma \rangle,
       \qquad M^*_k(\Sigma)_{ij} = 1 \iff i, j \text{ share a component of } A^*_k .

    O(n^2) work: Prim's maximum spanning tree, then its k-1 lightest edges removed (equal to
    Kruskal stopped at k components by the matroid property; Stewart et al., NeurIPS 2023,
    appendix §9). Jit- and vmap-compatible; k may be traced (one compilation serves every k;
    a traced k is clipped into [1, n]).

    Args:
      S: (n, n) floating similarity matrix; symmetrised as (S + S^T) / 2, diagonal ignored.
      k: number of components, 1 <= k <= n.

    Returns:
      (A, M): (n, n) 0/1 adjacency matrix (symmetric, zero diagonal, n - k edges) and
      cluster-equivalence matrix (diagonal 1), in S's dtype. If S holds a NaN, both are NaN.

    Example:
      >>> S = -jnp.array([[0., 1., 9.], [1., 0., 9.], [9., 9., 0.]])
      >>> A, M = spanning_forest(S, 2)
      >>> M.astype(int).tolist()
      [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    """
    n = check_similarity(S)
    return _spanning_forest(S, check_k(k, n))


@jax.jit
def _spanning_forest(S: jax.Array, k: jax.Array) -> tuple[jax.Array, jax.Array]:
    forest = solve_forest(edge_weights(S), k)
    return poison_if_nan(S, adjacency(forest, S.shape[0], S.dtype), equivalence(forest, S.dtype))
