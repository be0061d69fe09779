"""spanning_forest against scipy single linkage and the published Kruskal."""

import jax
import jax.numpy as jnp
import numpy as np
from forest_oracles import SIZES, n_components, random_similarity, single_linkage_partition
from hypothesis import given, settings
from hypothesis import strategies as st

from diffclust.forest import reference_spanning_forest, spanning_forest

fast = jax.jit(spanning_forest)  # k is traced: one compilation per n serves every k
reference = jax.jit(reference_spanning_forest)


@st.composite
def problems(draw, max_n=100):
    n = draw(st.sampled_from([n for n in SIZES if n <= max_n]))
    k = draw(st.integers(1, n))
    seed = draw(st.integers(0, 2**32 - 1))
    distinct = draw(st.booleans())
    return random_similarity(np.random.default_rng(seed), n, distinct), k


@settings(max_examples=300, deadline=None)
@given(problems())
def test_matches_single_linkage(problem):
    S, k = problem
    n = S.shape[0]
    A, M = (np.asarray(x) for x in fast(jnp.asarray(S), k))
    np.testing.assert_array_equal(M > 0.5, single_linkage_partition(S, k))
    assert np.array_equal(A, A.T) and not A.diagonal().any()
    assert A.sum() / 2 == n - k
    assert n_components(A) == k  # n - k edges and k components: acyclic
    assert np.all(A <= M)  # every edge inside one cluster
    assert np.all(M.diagonal() == 1)


@settings(max_examples=60, deadline=None)
@given(problems(max_n=40))
def test_same_weight_as_reference_kruskal(problem):
    S, k = problem
    A, M = fast(jnp.asarray(S), k)
    A_ref, M_ref = reference(jnp.asarray(S), k)
    np.testing.assert_allclose(float(jnp.sum(A * S)), float(jnp.sum(A_ref * S)), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(M), np.asarray(M_ref))


def test_vmap_equals_separate_calls():
    rng = np.random.default_rng(1)
    S = jnp.asarray(np.stack([random_similarity(rng, 25) for _ in range(8)]))
    ks = jnp.arange(1, 9)
    A_b, M_b = jax.vmap(spanning_forest)(S, ks)
    for i in range(8):
        A, M = spanning_forest(S[i], int(ks[i]))
        np.testing.assert_array_equal(A_b[i], A)
        np.testing.assert_array_equal(M_b[i], M)


def test_one_compilation_serves_every_k():
    S = jnp.asarray(random_similarity(np.random.default_rng(2), 12))
    traces = []

    @jax.jit
    def solve(S, k):
        traces.append(k)
        return spanning_forest(S, k)

    sizes = [int(solve(S, k)[0].sum()) // 2 for k in range(1, 13)]
    assert sizes == [12 - k for k in range(1, 13)]
    assert len(traces) == 1


def test_asymmetric_input_is_symmetrised():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(15, 15)).astype(np.float32)
    A, M = spanning_forest(jnp.asarray(X), 3)
    A_sym, M_sym = spanning_forest(jnp.asarray((X + X.T) / 2), 3)
    np.testing.assert_array_equal(A, A_sym)
    np.testing.assert_array_equal(M, M_sym)
