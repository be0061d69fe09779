"""Perturbed solver and partial Fenchel–Young loss: limits, gradients, sign, zero."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from forest_oracles import label_constraints, random_similarity

from diffclust.forest import (
    partial_fy_loss,
    partial_fy_loss_unperturbed,
    perturbed_spanning_forest,
    spanning_forest,
    target_from_labels,
)

KEY = jax.random.key(0)


def chain_clusters(n_clusters=3, size=6):
    """Points on a line in far-apart groups: the forest within each group is a clear chain."""
    x = np.concatenate([100.0 * c + np.arange(size) ** 1.5 for c in range(n_clusters)])
    S = -np.abs(x[:, None] - x[None, :])
    return jnp.asarray(S, jnp.float32), np.repeat(np.arange(n_clusters), size)


@pytest.mark.parametrize("noise", ["iid", "permuted"])
def test_small_sigma_recovers_the_exact_solution(noise):
    S = jnp.asarray(random_similarity(np.random.default_rng(0), 30))
    A, M = spanning_forest(S, 4)
    A_eps, F_eps, M_eps = perturbed_spanning_forest(
        S, 4, sigma=1e-5, num_samples=20, key=KEY, noise=noise
    )
    np.testing.assert_allclose(A_eps, A, atol=1e-6)
    np.testing.assert_allclose(M_eps, M, atol=1e-6)
    np.testing.assert_allclose(F_eps, jnp.sum(A * S), rtol=1e-4)


def test_well_separated_problem_is_near_0_1():
    S, _ = chain_clusters()
    A, M = spanning_forest(S, 3)
    A_eps, _, M_eps = perturbed_spanning_forest(S, 3, sigma=0.1, num_samples=200, key=KEY)
    assert float(jnp.max(jnp.abs(A_eps - A))) < 0.05
    assert float(jnp.max(jnp.abs(M_eps - M))) < 0.05


def test_outputs_converge_to_the_exact_ones_as_sigma_shrinks():
    S = jnp.asarray(random_similarity(np.random.default_rng(1), 20))
    A, _ = spanning_forest(S, 3)
    gaps = [
        float(
            jnp.mean(
                jnp.abs(perturbed_spanning_forest(S, 3, sigma=s, num_samples=200, key=KEY)[0] - A)
            )
        )
        for s in (1.0, 0.1, 0.01, 0.001)
    ]
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 0.01


def test_gradient_of_F_matches_central_difference():
    """With the key fixed, F_eps(S) is a mean of maxima of linear functions of S, piecewise
    linear: a central difference with a step too small to cross a kink equals the derivative
    the custom rule returns (float64; the difference's rounding, ~1e-16 |F| / h, is 1e-8)."""
    with jax.enable_x64(True):
        S = jnp.asarray(random_similarity(np.random.default_rng(2), 15), jnp.float64)

        def F(S):
            return perturbed_spanning_forest(S, 3, sigma=0.5, num_samples=100, key=KEY)[1]

        grad = jax.grad(F)(S)
        for seed in range(3):
            H = jnp.asarray(random_similarity(np.random.default_rng(20 + seed), 15), jnp.float64)
            h = 1e-7
            fd = (F(S + h * H) - F(S - h * H)) / (2 * h)
            np.testing.assert_allclose(jnp.sum(grad * H), fd, rtol=1e-6, atol=1e-6)


def test_score_function_jvp_is_unbiased():
    """Monte-Carlo JVP of A_eps against a central difference of A_eps (same key on both
    sides), each over 20 independent keys: their means agree within 5 standard errors of the
    difference, the standard errors estimated from the 20 replicates (~0.012 for the JVP of
    2000 samples, ~0.0014 for the difference of 20000). The difference's O(h^2) bias, compared
    at h = 0.2 and 0.1, is below that error."""
    S = jnp.asarray(random_similarity(np.random.default_rng(3), 6), jnp.float32)
    H = jnp.asarray(random_similarity(np.random.default_rng(4), 6), jnp.float32)
    sigma, h, replicates = 1.0, 0.2, 20

    def A_eps(S, num_samples, key):
        return perturbed_spanning_forest(S, 2, sigma=sigma, num_samples=num_samples, key=key)[0]

    def jvp(key):
        return jax.jvp(lambda S: A_eps(S, 2000, key), (S,), (H,))[1]

    def fd(key):
        return (A_eps(S + h * H, 20000, key) - A_eps(S - h * H, 20000, key)) / (2 * h)

    a = np.stack([np.asarray(jvp(jax.random.key(100 + r))) for r in range(replicates)])
    b = np.stack([np.asarray(fd(jax.random.key(200 + r))) for r in range(replicates)])
    se = np.sqrt(a.var(axis=0, ddof=1) / replicates + b.var(axis=0, ddof=1) / replicates)
    assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) <= 5 * se)
    assert se.max() < 0.02  # the test can fail: the JVP is not zero (max |JVP| ~ 0.3)
    assert np.abs(a.mean(axis=0)).max() > 10 * se.max()


@pytest.mark.parametrize("correlated", [True, False])
def test_loss_gradient_matches_central_difference(correlated):
    """With the noise fixed, the loss is piecewise linear: its directional derivative equals a
    central difference with a step too small to cross a kink (float64)."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(5)
        S = jnp.asarray(random_similarity(rng, 24), jnp.float64)
        labels, known, _ = label_constraints(rng, 24, 3, 0.6)
        M = target_from_labels(labels, known).astype(jnp.float64)

        def loss(S):
            return partial_fy_loss(
                S, M, 3, sigma=0.3, num_samples=50, key=KEY, correlated_noise=correlated
            )

        grad = jax.grad(loss)(S)
        for seed in range(3):
            H = jnp.asarray(random_similarity(np.random.default_rng(10 + seed), 24), jnp.float64)
            h = 1e-7
            fd = (loss(S + h * H) - loss(S - h * H)) / (2 * h)
            np.testing.assert_allclose(jnp.sum(grad * H), fd, rtol=1e-5, atol=1e-6)


def test_loss_is_nonnegative_on_random_problems():
    rng = np.random.default_rng(6)
    for _ in range(10):
        S = jnp.asarray(random_similarity(rng, 32))
        labels, known, _ = label_constraints(rng, 32, 4, 0.5)
        M = target_from_labels(labels, known)
        value = partial_fy_loss(S, M, 4, sigma=0.1, num_samples=50, key=KEY)
        assert float(value) >= -1e-5
        assert float(partial_fy_loss_unperturbed(S, M, 4)) >= -1e-5


def test_loss_is_zero_when_the_clustering_already_agrees():
    S, labels = chain_clusters()
    known = np.arange(labels.size) % 2 == 0
    M = target_from_labels(labels, known)
    assert float(partial_fy_loss(S, M, 3, sigma=0.1, num_samples=100, key=KEY)) == 0.0
    assert float(partial_fy_loss_unperturbed(S, M, 3)) == 0.0
    g = jax.grad(lambda S: partial_fy_loss(S, M, 3, sigma=0.1, num_samples=100, key=KEY))(S)
    assert float(jnp.max(jnp.abs(g))) == 0.0


def test_loss_gradient_descent_fixes_a_wrong_clustering():
    rng = np.random.default_rng(7)
    S = jnp.asarray(random_similarity(rng, 20))
    labels = rng.integers(0, 2, 20)
    M = target_from_labels(labels)
    loss = lambda S: partial_fy_loss(S, M, 2, sigma=0.1, num_samples=100, key=KEY)  # noqa: E731
    start = float(loss(S))
    for _ in range(50):
        S = S - 0.5 * jax.grad(loss)(S)
    assert float(loss(S)) < 0.1 * start
