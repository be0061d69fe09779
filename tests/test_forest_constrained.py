"""The constrained solver: constraint guarantees and agreement with the matrix Kruskal."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from forest_oracles import SIZES, label_constraints, n_components, random_similarity
from hypothesis import given, settings
from hypothesis import strategies as st

from diffclust.forest import constrained_spanning_forest, reference_spanning_forest
from diffclust.forest.constrained import _satisfies_matrix, prepare, satisfies, solve_constrained
from diffclust.forest.exact import edge_weights, solve_forest
from diffclust.forest.labelled import label_classes, solve_labelled

constrained = jax.jit(constrained_spanning_forest, static_argnames="bias")
reference = jax.jit(reference_spanning_forest, static_argnames="bias")


@jax.jit(static_argnums=3)
def greedy(S, k, C, bias):
    return solve_constrained(edge_weights(S), k, C, bias)


@st.composite
def labelled_problems(draw, max_n=80):
    n = draw(st.sampled_from([n for n in SIZES if n <= max_n]))
    n_classes = draw(st.integers(1, min(n, 10)))
    seed = draw(st.integers(0, 2**32 - 1))
    p = draw(st.sampled_from([0.0, 0.3, 0.7, 1.0]))
    rng = np.random.default_rng(seed)
    labels, known, C = label_constraints(rng, n, n_classes, p)
    n_known_classes = len(set(labels[known].tolist()))
    n_classes_needed = max(n_known_classes, 1)
    # Feasible k: at least the number of labelled classes, at most the number of must-link
    # classes (labelled classes plus unlabelled points).
    k = draw(st.integers(n_classes_needed, n_known_classes + int((~known).sum()) or 1))
    return random_similarity(rng, n), C, k


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(labelled_problems())
def test_constraints_hold_with_exactly_k_components(problem):
    S, C, k = problem
    A, M = (np.asarray(x) for x in constrained(jnp.asarray(S), k, jnp.asarray(C)))
    assert not np.any((C == 1) & (M < 0.5)), "a must-link pair was split"
    assert not np.any((C == -1) & (M > 0.5)), "a must-not-link pair was joined"
    assert n_components(A) == k and A.sum() / 2 == S.shape[0] - k


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(labelled_problems(max_n=40), st.booleans())
def test_greedy_equals_matrix_kruskal(problem, bias):
    """The lazy greedy makes exactly the published Kruskal's choices (appendix §9.1)."""
    S, C, k = problem
    forest = greedy(jnp.asarray(S), k, jnp.asarray(C), bias)
    A_ref, M_ref = reference(jnp.asarray(S), k, jnp.asarray(C), bias=bias)
    labels = np.asarray(forest.labels)
    np.testing.assert_array_equal(labels[:, None] == labels[None, :], np.asarray(M_ref) > 0.5)
    A = np.zeros_like(S)
    src, dst, mask = (np.asarray(x) for x in forest[:3])
    A[src[mask], dst[mask]] = A[dst[mask], src[mask]] = 1
    np.testing.assert_array_equal(A, np.asarray(A_ref))


def test_full_labels_give_the_label_partition():
    rng = np.random.default_rng(0)
    for n, n_classes in [(30, 3), (64, 10), (100, 7)]:
        labels = rng.permutation(np.arange(n) % n_classes)
        C = np.where(labels[:, None] == labels[None, :], 1, -1).astype(np.int8)
        np.fill_diagonal(C, 0)
        S = random_similarity(rng, n)
        _, M = constrained_spanning_forest(jnp.asarray(S), n_classes, jnp.asarray(C))
        np.testing.assert_array_equal(np.asarray(M) > 0.5, labels[:, None] == labels[None, :])


def test_without_bias_must_not_link_still_holds():
    rng = np.random.default_rng(5)
    for _ in range(20):
        _, _, C = label_constraints(rng, 40, 4, 0.5)
        S = random_similarity(rng, 40)
        _, M = constrained_spanning_forest(jnp.asarray(S), 4, jnp.asarray(C), bias=False)
        assert not np.any((C == -1) & (np.asarray(M) > 0.5))


def test_unconstrained_optimum_is_kept_when_feasible():
    """If the free forest already satisfies C, it is the constrained optimum and is returned."""
    from diffclust.forest import spanning_forest

    rng = np.random.default_rng(6)
    centres = np.repeat(np.arange(4) * 50.0, 10)
    S = -np.abs(centres[:, None] - centres[None, :]) - rng.random((40, 40))
    S = ((S + S.T) / 2).astype(np.float32)
    labels = np.repeat(np.arange(4), 10)
    known = rng.random(40) < 0.5
    both = known[:, None] & known[None, :]
    C = np.where(both, np.where(labels[:, None] == labels[None, :], 1, -1), 0).astype(np.int8)
    np.fill_diagonal(C, 0)
    A_c, _ = constrained_spanning_forest(jnp.asarray(S), 4, jnp.asarray(C))
    A, _ = spanning_forest(jnp.asarray(S), 4)
    np.testing.assert_array_equal(A_c, A)


def test_vmap_equals_separate_calls():
    rng = np.random.default_rng(7)
    S = jnp.asarray(np.stack([random_similarity(rng, 20) for _ in range(8)]))
    _, _, C = label_constraints(rng, 20, 3, 0.5)
    A_b, M_b = jax.vmap(constrained_spanning_forest, in_axes=(0, None, None))(S, 3, C)
    for i in range(8):
        A, M = constrained_spanning_forest(S[i], 3, C)
        np.testing.assert_array_equal(A_b[i], A)
        np.testing.assert_array_equal(M_b[i], M)


@jax.jit
def both_solvers(S, k, C):
    W = edge_weights(S)
    classes, from_labels = label_classes(C)
    return solve_labelled(W, k, classes), solve_constrained(W, k, C, True), from_labels


def forest_edges(forest) -> np.ndarray:
    src, dst, mask = (np.asarray(x) for x in forest[:3])
    pairs = np.sort(np.stack([src[mask], dst[mask]], axis=1), axis=1)
    return pairs[np.lexsort(pairs.T[::-1])]


def same_cluster(forest) -> np.ndarray:
    labels = np.asarray(forest.labels)
    return labels[:, None] == labels[None, :]


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(labelled_problems(max_n=64), st.integers(0, 100))
def test_two_prim_closed_form_equals_the_greedy(problem, k_draw):
    """For label-derived constraints the two-Prim form makes the greedy's exact choices, for
    every k (also below the number of labelled classes and above the must-link classes)."""
    S, C, _ = problem
    n = S.shape[0]
    k = 1 + k_draw % n
    fast, slow, from_labels = both_solvers(jnp.asarray(S), k, jnp.asarray(C))
    assert bool(from_labels)
    np.testing.assert_array_equal(forest_edges(fast), forest_edges(slow))
    np.testing.assert_array_equal(same_cluster(fast), same_cluster(slow))


def test_constraints_not_from_labels_take_the_general_greedy():
    C = np.zeros((4, 4), np.int8)
    C[0, 1] = C[1, 0] = C[1, 2] = C[2, 1] = 1  # 0 ~ 1 ~ 2 but 0 !~ 2: not an equivalence
    C[0, 2] = C[2, 0] = -1
    assert not bool(label_classes(jnp.asarray(C))[1])
    C[0, 2] = C[2, 0] = 0  # must-links without the must-not-links of a labelling
    assert not bool(label_classes(jnp.asarray(C))[1])


@jax.jit
def spanning_forest_of(S, k):
    return solve_forest(edge_weights(S), k)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(labelled_problems(max_n=64), st.integers(0, 100))
def test_label_check_of_a_forest_equals_the_matrix_check(problem, k_draw):
    """The O(n) satisfaction check for label-derived C agrees with reading all of C."""
    S, C, _ = problem
    k = 1 + k_draw % S.shape[0]
    forest = spanning_forest_of(jnp.asarray(S), k)
    cons = prepare(jnp.asarray(C))
    same = same_cluster(forest)
    expected = not np.any(((C == 1) & ~same) | ((C == -1) & same))
    assert bool(cons.from_labels)
    assert bool(satisfies(forest, cons)) == expected
    assert bool(_satisfies_matrix(forest.labels, cons.C)) == expected


def test_must_link_edges_come_first_at_large_weights():
    """|W| = 3e7, where a float32 ulp is 2: a must-link edge shifted by W + span + 1 rounds onto
    the heaviest other edge instead of above it, and the greedy took that one first.

    Vertices 2, 3 must link through the lightest edge, 0 and 2 must not: not label constraints,
    so the general greedy runs; k = 3 leaves one merge, which must be the must-link edge.
    """
    S = np.zeros((4, 4), np.float32)
    S[1, 2] = S[2, 1] = 3e7
    S[2, 3] = S[3, 2] = -3e7
    C = np.zeros((4, 4), np.int8)
    C[2, 3] = C[3, 2] = 1
    C[0, 2] = C[2, 0] = -1
    assert not bool(prepare(jnp.asarray(C)).from_labels)
    A, M = constrained(jnp.asarray(S), 3, jnp.asarray(C))
    assert M[2, 3] == 1 and A[2, 3] == 1 and M[1, 2] == 0
    labels = np.asarray(greedy(jnp.asarray(S), 3, jnp.asarray(C), True).labels)
    assert labels[2] == labels[3] != labels[1]
