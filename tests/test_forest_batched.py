"""The training path of the partial loss (batched.py, native/) against the sample-by-sample
solvers on identical noise, and the noise stream against the one it replaced, in distribution."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from forest_oracles import SIZES, label_constraints, random_similarity
from hypothesis import given, settings
from hypothesis import strategies as st

from diffclust.forest import loss as loss_module
from diffclust.forest import native, partial_fy_loss, target_from_labels
from diffclust.forest.constrained import prepare, solve_constrained_safe
from diffclust.forest.exact import edge_weights, solve_forest
from diffclust.forest.graph import adjacency, forest_weight
from diffclust.forest.noise import _mix
from diffclust.forest.targets import constraints_from_target

PATHS = ["jax", "native"] if native.available() else ["jax"]


def loss_paths():
    """_loss_and_grad per path, freshly jitted (a patched chunk size is read when tracing)."""
    return jax.jit(loss_module._loss_and_grad, static_argnums=(4, 5, 6, 7, 8, 9))


@st.composite
def problems(draw):
    n = draw(st.sampled_from([n for n in SIZES if n <= 64] + [70]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_classes = draw(st.integers(1, min(n, 10)))
    p = draw(st.sampled_from([0.0, 0.3, 0.5, 1.0]))
    _, _, C = label_constraints(rng, n, n_classes, p)
    k = draw(st.integers(1, n))  # infeasible k (fewer than the labelled classes) included
    S = random_similarity(rng, n)
    return S, C, k, draw(st.sampled_from([1, 2, 7, 32])), draw(st.sampled_from([0.1, 1.0]))


def assert_same_loss(general, other, S, sigma, n):
    """Gradients are integer edge counts / B: exactly equal. Values are means of gaps between
    two float32 sums of at most n - 1 weights, |w| <= max|S| + 5.42 sigma; each sum rounds by
    at most n^2 2^-24 max|w| (summed in another order by each path), hence the tolerance."""
    (v0, g0), (v1, g1) = general, other
    np.testing.assert_array_equal(g1, g0)
    w_max = float(np.max(np.abs(S))) + 5.42 * sigma
    np.testing.assert_allclose(v1, v0, rtol=0, atol=4 * n * n * 2.0**-24 * w_max)


def check_paths(problem):
    S, C, k, num_samples, sigma = problem
    fn = loss_paths()
    args = (jnp.asarray(S), jnp.int32(k), jnp.asarray(C), jax.random.key(k), sigma, num_samples)
    general = fn(*args, "iid", True, True, "")
    for path in PATHS:
        assert_same_loss(general, fn(*args, "iid", True, True, path), S, sigma, len(S))


# Every example compiles three solvers (2-6 s each on 2 cores): 8 in the fast set (the
# longest fast test), the same 8 every time so that a second `make test` finds them in the
# compilation cache (tests/conftest.py); 60 new ones in the slow set.
@settings(max_examples=8, deadline=None, derandomize=True)
@given(problems())
def test_batched_paths_equal_the_sample_by_sample_solvers(problem):
    check_paths(problem)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(problems())
def test_batched_paths_equal_the_sample_by_sample_solvers_on_many_problems(problem):
    check_paths(problem)


@pytest.mark.parametrize("path", PATHS)
def test_chunks_and_odd_sample_counts(path, monkeypatch):
    """Several chunks of two pairs, the last one part-used (9 samples: pairs 0..4, sample 9
    unused)."""
    rng = np.random.default_rng(0)
    _, _, C = label_constraints(rng, 20, 4, 0.5)
    S = random_similarity(rng, 20)
    args = (jnp.asarray(S), jnp.int32(4), jnp.asarray(C), jax.random.key(1), 0.5, 9)
    general = loss_paths()(*args, "iid", True, True, "")
    monkeypatch.setattr(loss_module, "BATCHED_CHUNK_ENTRIES", 4 * 20 * 20)
    assert_same_loss(general, loss_paths()(*args, "iid", True, True, path), S, 0.5, 20)


@pytest.mark.parametrize("path", PATHS)
def test_the_semi_supervised_batch_of_the_paper(path):
    """n = 64, half labelled, k = 10, the paper's sigma, 200 samples."""
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 10, 64)
    M = target_from_labels(labels, np.arange(64) < 32)
    S = random_similarity(rng, 64)
    C = constraints_from_target(M)
    args = (jnp.asarray(S), jnp.int32(10), C, jax.random.key(3), 0.1, 200)
    general = loss_paths()(*args, "iid", True, True, "")
    assert float(general[0]) > 0  # the clustering disagrees with the labels somewhere
    assert_same_loss(general, loss_paths()(*args, "iid", True, True, path), S, 0.1, 64)


# --- the noise stream this one replaced: one hash of (sample, edge) per entry, XLA's erf_inv.
def previous_noise(words, b, n):
    i = jax.lax.broadcasted_iota(jnp.uint32, (n, n), 0)
    j = jax.lax.broadcasted_iota(jnp.uint32, (n, n), 1)
    edge = jnp.minimum(i, j) * jnp.uint32(n) + jnp.maximum(i, j)
    sample = _mix(jnp.asarray(b, jnp.uint32) + words[1])
    bits = _mix(_mix(_mix(edge ^ words[0]) ^ sample) + words[2])
    v = ((bits >> 8).astype(jnp.float32) * 2.0 - (2**24 - 1)) * (1.0 / 2**24)
    return jnp.where(i == j, 0.0, jnp.sqrt(2.0) * jax.lax.erf_inv(v))


@partial(jax.jit, static_argnums=(3, 4))
def previous_loss(S, C, key, num_samples, k, sigma):
    """The loss and its gradient from the sample-by-sample solvers on the previous noise."""
    n = S.shape[0]
    W0, cons = edge_weights(S), prepare(C)
    words = jax.random.bits(key, (3,), jnp.uint32)

    def one(b):
        W = W0 + sigma * previous_noise(words, b, n)
        free = solve_forest(W, jnp.int32(k))
        constrained = solve_constrained_safe(W, jnp.int32(k), cons, True, free)
        gap = forest_weight(free, W) - forest_weight(constrained, W)
        return gap, adjacency(free, n) - adjacency(constrained, n)

    gaps, grads = jax.vmap(one)(jnp.arange(num_samples))
    return jnp.mean(gaps), jnp.mean(grads, axis=0)


def test_noise_stream_agrees_in_distribution_with_the_previous_one():
    """Loss and a gradient projection over 400 keys each, 16 samples per key, with this noise
    and the previous one: equal means within 4 standard errors of their difference, and equal
    variances within 4 standard errors of log(s_a^2 / s_b^2) (about sqrt(2 / (K - 1)) each for
    near-normal values, so sqrt(4 / (K - 1)) for the ratio)."""
    rng = np.random.default_rng(4)
    n, k, sigma, num_samples, keys = 24, 3, 0.5, 16, 400
    labels = rng.integers(0, 3, n)
    M = target_from_labels(labels, rng.random(n) < 0.5)
    S = jnp.asarray(random_similarity(rng, n))
    H = jnp.asarray(random_similarity(rng, n))
    C = constraints_from_target(M)

    def new(key):
        value, grad = jax.value_and_grad(
            lambda S: partial_fy_loss(S, M, k, sigma=sigma, num_samples=num_samples, key=key)
        )(S)
        return value, jnp.sum(grad * H)

    def old(key):
        value, grad = previous_loss(S, C, key, num_samples, k, sigma)
        return value, jnp.sum(grad * H)

    draws = {}
    for name, fn, offset in (("new", new, 0), ("old", old, keys)):
        draws[name] = np.array([fn(jax.random.key(offset + i)) for i in range(keys)])
    a, b = draws["new"], draws["old"]
    se = np.sqrt(a.var(axis=0, ddof=1) / keys + b.var(axis=0, ddof=1) / keys)
    assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) <= 4 * se)
    log_ratio = np.log(a.var(axis=0, ddof=1) / b.var(axis=0, ddof=1))
    assert np.all(np.abs(log_ratio) <= 4 * np.sqrt(4 / (keys - 1)))
