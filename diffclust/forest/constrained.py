r"""Constrained spanning forests: Kruskal with must-link / must-not-link information.

The heuristic of Stewart et al. (NeurIPS 2023, appendix §9.1): process edges by decreasing
weight, must-link edges first when ``bias`` is set, and never add an edge that joins two
components between which a must-not-link pair exists; stop at k components.

Implementation. An edge rejected once stays rejected (components only grow, conflicts only
accumulate), so Kruskal's next accepted edge is always the heaviest edge that is acceptable
*now*. We find it lazily, without sorting the n^2 edges:

* ``R[c, j]`` is the heaviest edge from component c to vertex j (rows of merged components are
  element-wise maxima), ``forbid[c, j]`` marks the vertices j that must not join c. Every
  update is a whole row, so the state stays contiguous in memory (no column writes).
* ``best[c]`` is an upper bound of c's heaviest acceptable edge; bounds only become stale
  when a merge creates a conflict. Each step takes the largest bound, re-checks it in O(n)
  and, if stale, recomputes that one row in O(n) (lazy deletion, as in a heap).
* With ``bias``, must-link edges alone first, then every edge (one O(n^2) rebuild of R and
  the bounds between the two phases).

Complexity: n - k merges of O(n) each plus O(n) per stale bound; O(n^2) time in typical use,
O(n^3) in the worst case (every merge invalidating every bound). Memory O(n^2).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from diffclust.forest.checks import check_constraints, check_k, check_similarity
from diffclust.forest.exact import edge_weights, solve_forest
from diffclust.forest.graph import Forest, adjacency, equivalence, poison_if_nan
from diffclust.forest.labelled import label_classes, solve_labelled


def solve_constrained(W: jax.Array, k: jax.Array, C: jax.Array, bias: bool = True) -> Forest:
    """Constrained k-forest of prepared weights W (finite, diagonal -inf; see edge_weights).

    With ``bias`` the greedy runs in two phases, Kruskal's order of appendix §9.1: must-link
    edges alone first (the others at -inf), then, once none of them is acceptable, every edge.
    An edge rejected in the first phase stays rejected in the second (components only grow,
    conflicts only accumulate), so this is the biased order exactly. Shifting the must-link
    weights above the others instead (W + span + 1) rounds in float32: at |W| ~ 1e7 the +1 is
    below an ulp, and the lightest must-link edge ties with the heaviest other edge.
    """
    n = W.shape[0]
    forbid = (C == -1) & ~jnp.eye(n, dtype=bool)
    must = C == 1
    vertices = jnp.arange(n, dtype=jnp.int32)

    def row_best(c, R, forbid, comp):
        # Components that hold a vertex forbidden to c are all excluded, as is c itself.
        blocked = jnp.zeros(n, bool).at[comp].max(forbid[c])
        vals = jnp.where(blocked[comp] | (comp == c), -jnp.inf, R[c])
        j = jnp.argmax(vals)
        return vals[j], j.astype(jnp.int32)

    def candidate(best, target, forbid, comp):
        c = jnp.argmax(best).astype(jnp.int32)
        j = target[c]
        d = comp[j]
        conflict = jnp.any(forbid[c] & (comp == d))
        valid = (best[c] > -jnp.inf) & (d != c) & ~conflict
        return c, j, d, valid

    def refreshed(best, target, R, forbid, comp, active):
        def stale(state):
            c, _, _, valid = candidate(*state, forbid, comp)
            return active & ~valid & (state[0][c] > -jnp.inf)

        def refresh(state):
            best, target = state
            c = jnp.argmax(best)
            value, j = row_best(c, R, forbid, comp)
            return best.at[c].set(value), target.at[c].set(j)

        best, target = jax.lax.while_loop(stale, refresh, (best, target))
        return best, target, candidate(best, target, forbid, comp)

    def every_edge(comp, forbid):
        """Second phase: R and the bounds of every component, from all of W."""
        R = jax.ops.segment_max(W, comp, num_segments=n)  # -inf rows for non-components
        best, target = jax.vmap(lambda c: row_best(c, R, forbid, comp))(vertices)
        return R, jnp.where(comp == vertices, best, -jnp.inf), target

    def merge_step(t, carry):
        R, forbid, comp, best, target, ncomp, src, dst, mask, second = carry
        active = ncomp > k
        best, target, (c, j, d, valid) = refreshed(best, target, R, forbid, comp, active)
        if bias:  # no acceptable must-link edge left: on to every edge

            def switch(_):
                R, best, target = every_edge(comp, forbid)
                best, target, found = refreshed(best, target, R, forbid, comp, active)
                return R, best, target, found

            moves = ~second & active & ~valid
            R, best, target, (c, j, d, valid) = jax.lax.cond(
                moves, switch, lambda _: (R, best, target, (c, j, d, valid)), None
            )
            second = second | moves
        do = active & valid
        # The endpoint inside c of c's heaviest edge to j, among the edges of this phase (W is
        # symmetric: read row j).
        row = jnp.where(second | must[j], W[j], -jnp.inf) if bias else W[j]
        i = jnp.argmax(jnp.where(comp == c, row, -jnp.inf)).astype(jnp.int32)
        R = R.at[c].set(jnp.where(do, jnp.maximum(R[c], R[d]), R[c]))
        forbid = forbid.at[c].set(jnp.where(do, forbid[c] | forbid[d], forbid[c]))
        comp = jnp.where(do & (comp == d), c, comp)
        best = best.at[d].set(jnp.where(do, -jnp.inf, best[d]))
        value, jc = row_best(c, R, forbid, comp)
        best = best.at[c].set(jnp.where(do, value, best[c]))
        target = target.at[c].set(jnp.where(do, jc, target[c]))
        src, dst, mask = src.at[t].set(i), dst.at[t].set(j), mask.at[t].set(do)
        return R, forbid, comp, best, target, ncomp - do, src, dst, mask, second

    W1 = jnp.where(must, W, -jnp.inf) if bias else W  # the first phase's edges
    start = jnp.where(forbid, -jnp.inf, W1)
    edges = jnp.zeros(n, jnp.int32)  # n slots like the Prim forest; at most n - 1 are used
    carry = (
        W1,
        forbid,
        vertices,
        jnp.max(start, axis=1),
        jnp.argmax(start, axis=1).astype(jnp.int32),
        jnp.asarray(n, jnp.int32),
        edges,
        edges,
        jnp.zeros_like(edges, bool),
        jnp.asarray(not bias),
    )
    carry = jax.lax.fori_loop(0, n - 1, merge_step, carry)
    comp, src, dst, mask = carry[2], carry[6], carry[7], carry[8]
    return Forest(src=src, dst=dst, mask=mask, labels=comp)


class Constraints(NamedTuple):
    """C together with what the solvers read from it, computed once per C and shared by
    every Monte-Carlo sample (reading C is O(n^2), as much as a solve)."""

    C: jax.Array  # (n, n) int8: 1 must-link, -1 must-not-link, 0 unknown
    classes: jax.Array  # (n,) see label_classes
    from_labels: jax.Array  # C is exactly a labelling of some points


def prepare(C: jax.Array) -> Constraints:
    """Reads C once (see :func:`label_classes`) for every solve that shares it."""
    return Constraints(C, *label_classes(C))


def satisfies(forest: Forest, cons: Constraints) -> jax.Array:
    """Whether a forest's clustering agrees with every must-link and must-not-link pair.

    O(n) for label-derived constraints (each labelled class inside one component and no
    component holding two classes), O(n^2) otherwise.
    """
    return jax.lax.cond(
        cons.from_labels,
        lambda: _satisfies_labels(forest.labels, cons.classes),
        lambda: _satisfies_matrix(forest.labels, cons.C),
    )


def _satisfies_matrix(labels: jax.Array, C: jax.Array) -> jax.Array:
    same = labels[:, None] == labels[None, :]
    return ~jnp.any(((C == 1) & ~same) | ((C == -1) & same))


def _satisfies_labels(labels: jax.Array, classes: jax.Array) -> jax.Array:
    n = labels.shape[0]
    known = classes >= 0
    # Unlabelled vertices go to the spare segment n; empty segments have min > max.
    by_class, by_component = jnp.where(known, classes, n), jnp.where(known, labels, n)
    spans = [
        (jax.ops.segment_min(x, s, n + 1)[:n], jax.ops.segment_max(x, s, n + 1)[:n])
        for x, s in ((labels, by_class), (classes, by_component))
    ]
    return jnp.all(jnp.stack([lo >= hi for lo, hi in spans]))


def solve_greedy(W: jax.Array, k: jax.Array, cons: Constraints, bias: bool = True) -> Forest:
    """:func:`solve_constrained`, through its two-pass closed form when C comes from labels.

    Under vmap over W with a shared C the branch stays a real conditional; vmapped over C too
    it becomes a select that evaluates both.
    """
    if not bias:
        return solve_constrained(W, k, cons.C, bias)
    return jax.lax.cond(
        cons.from_labels,
        lambda: solve_labelled(W, k, cons.classes),
        lambda: solve_constrained(W, k, cons.C, bias),
    )


def solve_constrained_safe(
    W, k, cons: Constraints, bias: bool = True, free: Forest | None = None
) -> Forest:
    """The greedy of :func:`solve_greedy`, unless the unconstrained forest ``free`` already
    satisfies C: it is then the exact constrained optimum (the constrained maximum cannot exceed
    the unconstrained one), which the biased greedy may miss. ``free`` is solved if not given.
    """
    if free is None:
        free = solve_forest(W, k)
    greedy = solve_greedy(W, k, cons, bias)
    ok = satisfies(free, cons)
    return jax.tree.map(lambda f, g: jnp.where(ok, f, g), free, greedy)


def constrained_spanning_forest(
    S: jax.Array, k, C: jax.Array, bias: bool = True
) -> tuple[jax.Array, jax.Array]:
    r"""Heaviest k-spanning forest that respects must-link / must-not-link constraints.

    Heuristic for :math:`\max \{\langle A, \Sigma\rangle : A \in \mathcal{A}_k,\;
    M(A)_{ij} = (M_\Omega)_{ij} \ \forall (i,j) \in \Omega\}` (Stewart et al., NeurIPS 2023,
    §5 and appendix §9.1): Kruskal's order, must-link edges first when ``bias``, and no edge
    that would join two components containing a must-not-link pair.

    When the unconstrained optimum already satisfies every constraint it is returned: it is
    then the exact constrained optimum, which the biased greedy may miss.

    Guarantees. Every must-not-link pair ends in two components. With ``bias=True`` every
    must-link pair ends in one component whenever the constraints are feasible: the
    must-links are consistent (no must-not-link pair inside a must-link class), there are at
    least k must-link classes, and the greedy can reach k components (always true for
    constraints derived from labels with k >= the number of labelled classes). With
    ``bias=False`` must-link edges keep their weight rank, so Kruskal may stop at k
    components before reaching them. When no acceptable edge is left, the forest keeps more
    than k components (infeasible must-not-link structure).

    Complexity: O(n^2) typical, O(n^3) worst case, O(n^2) memory (see the module docstring);
    with ``bias`` and constraints derived from labels, one Prim pass, O(n^2) (labelled.py).

    Args:
      S: (n, n) floating similarity matrix (symmetrised, diagonal ignored).
      k: number of components (traced values are clipped into [1, n]).
      C: (n, n) integer constraints: 1 must-link, -1 must-not-link, 0 unknown. Symmetric.
      bias: process must-link edges before all others.

    Returns:
      (A, M) as for :func:`diffclust.forest.spanning_forest`; NaN if S holds a NaN.
    """
    n = check_similarity(S)
    return _constrained_spanning_forest(S, check_k(k, n), check_constraints(C, n), bool(bias))


@partial(jax.jit, static_argnums=3)
def _constrained_spanning_forest(S, k, C, bias):
    forest = solve_constrained_safe(edge_weights(S), k, prepare(C), bias)
    return poison_if_nan(S, adjacency(forest, S.shape[0], S.dtype), equivalence(forest, S.dtype))
