r"""The two forests of the partial Fenchel–Young loss for a batch of perturbed samples at once.

For constraints that come from labels, with the same draw for both terms (the training case),
each sample needs the free k-forest of W = W0 + sigma Z and the biased constrained one
(labelled.py). Both are Prim passes over the rows of the same W, so one loop of n steps
advances all of them together: the free tree and the constrained one of every sample of a
chunk, a (2, chunk, n) state whose vertex choices are vector reductions and whose row reads
are one gather. What XLA:CPU charges per loop step is then paid once per step for the whole
chunk instead of once per sample and solver.

The constrained pass is labelled.py's two phases in one loop: while labelled vertices remain,
only they are chosen and their keys only see edges inside their class (phase 1); the keys of
the unlabelled vertices see every row, so when phase 1 ends they hold the heaviest edge from
the labelled set, where phase 2 (Prim on G with the labelled vertices contracted) starts.
The free pass is the same loop with no labelled vertex. Dropping the lightest edges then
replaces the per-sample sorts of exact.py and labelled.py by a few vector minima (at most k - 1
edges go), with the same order and ties.

Equal to ``solve_forest`` and ``solve_constrained_safe`` sample by sample (tested on the same
noise).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from diffclust.forest.constrained import _satisfies_labels
from diffclust.forest.graph import component_labels

FREE, CONSTRAINED = 0, 1


class SampleForests(NamedTuple):
    """Both forests of each sample, leading axes (2, samples): [0] free, [1] constrained.

    Vertex v's slot holds the edge (v, parent[v]) of weight ``weight[v]`` when ``keep[v]``.
    """

    parent: jax.Array  # (2, B, n) int32
    weight: jax.Array  # (2, B, n)
    keep: jax.Array  # (2, B, n) bool


def prim_both(W: jax.Array, classes: jax.Array):
    """Prim trees of every sample: free, and labelled.py's two phases for ``classes``.

    The state is the keys alone, +inf marking the vertices already in the tree (no edge can
    beat it, so rows need no mask); the vertex added at each step and its key are recorded,
    and the weights are put in place once at the end.

    Args:
      W: (B, n, n) prepared weights of B samples (finite, diagonal -inf).
      classes: (n,) labelled.py's classes (-1 unlabelled), shared by the samples.

    Returns:
      parent, weight: (2, B, n); weight[v] is the key with which v joined, i.e. the weight of
      (v, parent[v]), ``low`` for a class's first vertex, +inf for the root of a free tree.
    """
    B, n = W.shape[0], W.shape[-1]
    dtype = W.dtype
    low = jnp.finfo(dtype).min
    vertices = jnp.arange(n, dtype=jnp.int32)
    labelled = classes >= 0
    num_labelled = jnp.sum(labelled, dtype=jnp.int32)
    none = num_labelled == 0
    # Rows 0..B-1 are the free passes, B..2B-1 the constrained ones; both read W[sample].
    flat = W.reshape(B * n, n)
    first_row = jnp.concatenate([jnp.arange(B, dtype=jnp.int32) * n] * 2)
    constrained = jnp.arange(2 * B) >= B
    with_classes = (constrained & ~none)[:, None]  # (2B, 1)
    # Free pass (and constrained without labels): vertex 0 is the root. Constrained: every
    # labelled vertex waits at key ``low`` with itself as parent, the others at -inf.
    from_root = jnp.where(vertices == 0, jnp.inf, W[:, 0, :])
    waiting = jnp.where(labelled, low, -jnp.inf).astype(dtype)
    key = jnp.where(with_classes, waiting, jnp.concatenate([from_root] * 2))
    parent = jnp.where(with_classes, vertices, 0)
    steps = jnp.where(with_classes[:, 0], n, n - 1)
    index = vertices.astype(dtype)

    def add_vertex(t, carry):
        key, parent, order, joined = carry
        # Phase 1 of a constrained pass chooses among labelled vertices only.
        skip = (key == jnp.inf) | (with_classes & (t < num_labelled) & ~labelled)
        choice = jnp.where(skip, -jnp.inf, key)
        best = jnp.max(choice, axis=1)
        v = jnp.min(jnp.where(choice == best[:, None], index, n), axis=1).astype(jnp.int32)
        rows = flat[first_row + v]  # one contiguous row of n entries per pass
        other_class = with_classes & labelled & (classes != classes[v][:, None])
        rows = jnp.where(other_class, low, rows)
        closer = rows > key
        key = jnp.where(vertices == v[:, None], jnp.inf, jnp.where(closer, rows, key))
        parent = jnp.where(closer, v[:, None], parent)
        return key, parent, order.at[t].set(v), joined.at[t].set(best)

    order = jnp.zeros((n, 2 * B), jnp.int32)
    joined = jnp.zeros((n, 2 * B), dtype)
    _, parent, order, joined = jax.lax.fori_loop(0, n, add_vertex, (key, parent, order, joined))
    # weight[order[t]] = joined[t] for the steps each pass really took.
    taken = jnp.arange(n)[:, None] < steps[None, :]
    rows = jnp.broadcast_to(jnp.arange(2 * B)[None, :], order.shape)
    weight = jnp.full((2 * B, n), jnp.inf, dtype)
    weight = weight.at[rows, jnp.where(taken, order, n)].set(joined, mode="drop")
    return parent.reshape(2, B, n), weight.reshape(2, B, n)


def _drop_lightest(exists, tier, weight, index_key, count):
    """Marks, per row, the ``count`` last edges in the order (tier, weight, index_key)
    ascending; count is (2, B) and at most ``max_count``-like small (k - 1)."""
    n = exists.shape[-1]

    def drop_one(i, dropped):
        candidate = exists & ~dropped & (i < count)[..., None]
        tier_min = jnp.min(jnp.where(candidate, tier, 3), axis=-1, keepdims=True)
        candidate = candidate & (tier == tier_min)
        weight_min = jnp.min(jnp.where(candidate, weight, jnp.inf), axis=-1, keepdims=True)
        candidate = candidate & (weight == weight_min)
        pick = jnp.min(jnp.where(candidate, index_key, n), axis=-1, keepdims=True)
        return dropped | (candidate & (index_key == pick))

    return jax.lax.fori_loop(0, jnp.max(count), drop_one, jnp.zeros_like(exists))


def forests(W: jax.Array, k: jax.Array, classes: jax.Array) -> SampleForests:
    """Free k-forests (exact.py) and biased constrained ones (labelled.py) of B samples.

    Free: the Prim tree without its k - 1 lightest edges (ties: lower vertex first).
    Constrained: labelled.py's Kruskal order, must-link edges (tier 2) before the others
    (tier 1), each by decreasing weight, ties by vertex; the first n - k existing edges stay.
    """
    n = W.shape[-1]
    parent, weight = prim_both(W, classes)
    vertices = jnp.arange(n, dtype=jnp.int32)
    labelled = classes >= 0
    roots = labelled | ((vertices == 0) & ~jnp.any(labelled))
    exists_free = jnp.broadcast_to(vertices != 0, parent[FREE].shape)
    exists_constrained = jnp.where(labelled, parent[CONSTRAINED] != vertices, ~roots)
    exists = jnp.stack([exists_free, exists_constrained])
    tier = jnp.where(
        exists, jnp.stack([jnp.ones(n, jnp.int32), jnp.where(labelled, 2, 1)])[:, None, :], 0
    )
    # exact.py's stable argsort drops the lower vertex of two equal weights first; labelled.py's
    # lexsort keeps it first, so drops the higher one.
    index_key = jnp.stack([vertices, n - 1 - vertices])[:, None, :]
    kept = jnp.sum(exists, axis=-1, dtype=jnp.int32)
    count = jnp.stack([jnp.broadcast_to(k - 1, kept[FREE].shape), kept[CONSTRAINED] - (n - k)])
    dropped = _drop_lightest(exists, tier, weight, index_key, jnp.maximum(count, 0))
    return SampleForests(parent, weight, exists & ~dropped)


def forest_weights(f: SampleForests) -> jax.Array:
    """<A, W> of each forest, (2, B): every edge counts twice (A is symmetric)."""
    return 2.0 * jnp.sum(jnp.where(f.keep, f.weight, 0.0), axis=-1)


def free_satisfies(f: SampleForests, classes: jax.Array) -> jax.Array:
    """(B,) whether each free forest already satisfies the label constraints."""
    n = f.parent.shape[-1]
    vertices = jnp.arange(n, dtype=jnp.int32)
    labels = component_labels_batched(jnp.where(f.keep[FREE], f.parent[FREE], vertices))
    return jax.vmap(_satisfies_labels, in_axes=(0, None))(labels, classes)


def component_labels_batched(pointer: jax.Array) -> jax.Array:
    """:func:`component_labels` of each row of (B, n) parent pointers."""
    return jax.vmap(component_labels)(pointer)
