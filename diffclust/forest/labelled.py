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
then the heaviest G/T tree edges. Two dense Prim passes, O(n^2) vector work with no scatter
and no data-dependent inner loop, against the general lazy greedy's O(n^2)-O(n^3) row updates.
Equal to :func:`diffclust.forest.constrained.solve_constrained` with ``bias=True`` (tested).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from diffclust.forest.exact import maximum_spanning_tree
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
    label-derived constraints with the given ``classes`` (see :func:`label_classes`)."""
    n = W.shape[0]
    vertices = jnp.arange(n, dtype=jnp.int32)
    labelled = classes >= 0
    # Phase 1: other edges sink below every finite weight, so the must-link edges of the
    # maximum spanning tree form the maximum spanning forest of the must-link graph.
    tree, _ = maximum_spanning_tree(W, within=classes)
    in_class = labelled & (classes[tree] == classes) & (tree != vertices)
    # Phase 2: Prim from every labelled vertex at once (from vertex 0 when none is).
    roots = labelled | (~jnp.any(labelled) & (vertices == 0))
    contracted, _ = maximum_spanning_tree(W, roots)
    dst = jnp.where(labelled, tree, contracted)
    exists = jnp.where(labelled, in_class, ~roots)
    # Kruskal's acceptance order: must-link edges, then the rest, each by decreasing weight.
    tier = jnp.where(exists, jnp.where(labelled, 2, 1), 0)
    order = jnp.lexsort((-W[vertices, dst], -tier))
    rank = jnp.zeros(n, jnp.int32).at[order].set(vertices)
    keep = exists & (rank < n - k)
    labels = component_labels(jnp.where(keep, dst, vertices))
    return Forest(src=vertices, dst=dst, mask=keep, labels=labels)
