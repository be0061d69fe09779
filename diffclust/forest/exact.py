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


def prim_steps(
    W: jax.Array,
    steps,
    key: jax.Array,
    parent: jax.Array,
    penalty: jax.Array,
    within: jax.Array | None = None,
    reach: tuple[jax.Array, jax.Array] | None = None,
):
    """Dense Prim's algorithm on finite weights W (diagonal -inf): ``steps`` more vertices.

    ``key[j]`` is the heaviest edge from the tree to j and ``parent[j]`` its tree endpoint;
    ``penalty`` is -inf at the vertices that are in the tree or must never join it, 0
    elsewhere. Each step adds the vertex of largest key and reads its row of W: O(n) vector
    work, and ``steps`` may be traced (loops over a data-dependent subset of the vertices).

    Args:
      within: optional (n,) int classes: only edges inside a class count, the others sink
        to the lowest finite weight (their tree edges are discarded by the caller).
      reach: optional (key, parent) of the heaviest edge from the added vertices to each
        vertex, ignoring ``within``, updated from the same rows (labelled.py's second pass
        starts from it instead of re-reading those rows).

    Returns:
      parent, weight (the weight of the edge (v, parent[v]) of each added vertex v, +inf
      for the others), and the updated ``reach`` when given.
    """
    n = W.shape[0]
    low = jnp.finfo(W.dtype).min
    vertices = jnp.arange(n, dtype=jnp.int32)

    def add_vertex(_, carry):
        penalty, key, parent, weight, reach = carry
        v = first_argmax(key)
        # Element updates as selects, not scatters: under vmap over samples a scatter at a
        # per-sample index is a batched scatter, while a select fuses with the row update.
        added = vertices == v
        weight = jnp.where(added, key, weight)
        penalty = jnp.where(added, -jnp.inf, penalty)
        full = W[v]
        if reach is not None:
            closer = full > reach[0]
            reach = (jnp.where(closer, full, reach[0]), jnp.where(closer, v, reach[1]))
        row = full if within is None else jnp.where(within == within[v], full, low)
        row = row + penalty
        closer = row > key
        key = jnp.where(added, -jnp.inf, jnp.where(closer, row, key))
        return penalty, key, jnp.where(closer, v, parent), weight, reach

    weight = jnp.full(n, jnp.inf, W.dtype)
    carry = (penalty, key, parent, weight, reach)
    _, _, parent, weight, reach = jax.lax.fori_loop(0, steps, add_vertex, carry)
    return (parent, weight) if reach is None else (parent, weight, reach)


def maximum_spanning_tree(W: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Prim's maximum spanning tree of prepared weights W, rooted at vertex 0: n - 1 steps.

    Returns:
      parent: (n,) int32, parent[v] is v's neighbour towards the root (parent[0] = 0).
      weight: (n,) the weight of the edge (v, parent[v]); +inf at the root.
    """
    n = W.shape[0]
    penalty = jnp.zeros(n, W.dtype).at[0].set(-jnp.inf)
    key = W[0] + penalty
    return prim_steps(W, n - 1, key, jnp.zeros(n, jnp.int32), penalty)


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
