r"""The biased constrained greedy for constraints that come from labels, in two Prim passes.

When C is derived from class labels of some points (must-link within a labelled class,
must-not-link across labelled classes, nothing else: the semi-supervised setting), the biased
Kruskal of appendix §9.1 (Stewart et al., NeurIPS 2023) has a closed form:

1. Its first, biased phase takes the must-link edges by decreasing weight: the maximum
   spanning forest of the must-link graph, one tree per labelled class.
2. Afterwards every component holds at most one class, and an edge is rejected exactly when
   it closes a cycle or joins two labelled components. That is Kruskal's cycle rule on the
   graph G/T with every labelled vertex contracted into one vertex T, a graphic matroid: the
   accepted edges form the maximum spanning tree of G/T (Prim started from all labelled
   vertices at once).

Stopping at k components keeps the n - k first accepted edges: the must-link forest first,
then the heaviest G/T tree edges. Phase 1 visits only the labelled vertices and phase 2 only
the others, so both together cost one dense Prim pass (n steps of O(n) vector work, no
scatter, no data-dependent inner loop), against the general lazy greedy's O(n^2)-O(n^3).
Equal to :func:`diffclust.forest.constrained.solve_constrained` with ``bias=True`` (tested).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from diffclust.forest.exact import prim_steps
from diffclust.forest.graph import Forest, component_labels


def label_classes(C: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Reads C as class labels of some points.

    Returns:
      classes: (n,) int32, the smallest vertex of each labelled point's must-link class;
        -1 for points without any constraint.
      ok: whether C is exactly "1 within a class, -1 across classes" on the constrained
        points, i.e. whether :func:`solve_labelled` applies.
    """
    n = C.shape[0]
    eye = jnp.eye(n, dtype=bool)
    labelled = jnp.any(C != 0, axis=1)
    classes = jnp.where(labelled, jnp.argmax((C == 1) | eye, axis=1), -1).astype(jnp.int32)
    both = labelled[:, None] & labelled[None, :] & ~eye
    expected = jnp.where(classes[:, None] == classes[None, :], 1, -1)
    return classes, jnp.all(~both | (C == expected))


def solve_labelled(W: jax.Array, k: jax.Array, classes: jax.Array) -> Forest:
    """The biased constrained k-forest of prepared weights W (see edge_weights) for
    label-derived constraints with the given ``classes`` (see :func:`label_classes`).

    n Prim steps in all: one per labelled vertex in phase 1, one per other vertex in phase 2.
    """
    n = W.shape[0]
    vertices = jnp.arange(n, dtype=jnp.int32)
    labelled = classes >= 0
    num_labelled = jnp.sum(labelled, dtype=jnp.int32)
    # Phase 1, over the labelled vertices only, edges across classes sunk to the lowest
    # weight: every labelled vertex starts at that key, so each class starts from its first
    # vertex without an edge (its parent stays itself) and no edge ever leaves a class. The
    # same rows give the heaviest edge from the labelled set to every vertex (``reach``).
    low = jnp.finfo(W.dtype).min
    outside = jnp.where(labelled, 0.0, -jnp.inf).astype(W.dtype)
    tree, _, (reach, nearest) = prim_steps(
        W,
        num_labelled,
        jnp.where(labelled, low, -jnp.inf).astype(W.dtype),
        vertices,
        outside,
        within=classes,
        reach=(jnp.full(n, -jnp.inf, W.dtype), vertices),
    )
    in_class = labelled & (tree != vertices)
    # Phase 2: Prim on G/T, the labelled vertices contracted into one root (vertex 0 when
    # none is labelled), continuing from the heaviest edges out of the root.
    none = num_labelled == 0
    roots = labelled | (none & (vertices == 0))
    penalty = jnp.where(roots, -jnp.inf, 0.0).astype(W.dtype)
    key = jnp.where(none, W[0], reach) + penalty
    start = jnp.where(none, 0, nearest)
    contracted, _ = prim_steps(W, n - jnp.sum(roots, dtype=jnp.int32), key, start, penalty)
    dst = jnp.where(labelled, tree, contracted)
    exists = jnp.where(labelled, in_class, ~roots)
    # Kruskal's acceptance order: must-link edges, then the rest, each by decreasing weight.
    tier = jnp.where(exists, jnp.where(labelled, 2, 1), 0)
    order = jnp.lexsort((-W[vertices, dst], -tier))
    rank = jnp.zeros(n, jnp.int32).at[order].set(vertices)
    keep = exists & (rank < n - k)
    labels = component_labels(jnp.where(keep, dst, vertices))
    return Forest(src=vertices, dst=dst, mask=keep, labels=labels)
