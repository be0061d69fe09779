"""Centre-based clustering: OT plan marginals, the ε -> 0 limit against an exact assignment
(scipy), gradients against finite differences, soft k-means against Prop. 2's formula."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numeric import finite_difference
from scipy.optimize import linear_sum_assignment

from diffclust.centroids import (
    check_proportions,
    nearest_centre,
    ot_clustering,
    soft_kmeans,
    squared_distances,
)

TIGHT = {"threshold": 1e-7, "max_iterations": 20000}
solve_tight = jax.jit(functools.partial(ot_clustering, epsilon=0.1, **TIGHT))


def points(seed, n, K, d=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(K, d)), rng


@settings(max_examples=40, deadline=None)
# A few shapes (each compiles Sinkhorn once), many random points, centres and proportions.
@given(st.integers(0, 10**6), st.sampled_from([2, 7, 16, 40]), st.sampled_from([2, 3, 8]))
def test_the_plan_has_the_prescribed_marginals(seed, n, K):
    z, mu, rng = points(seed, n, K)
    w = rng.dirichlet(np.ones(K))
    with jax.enable_x64(True):
        out = solve_tight(z, mu, jnp.asarray(w))
        assert bool(out.converged)
        np.testing.assert_allclose(out.plan.sum(1), np.full(n, 1 / n), atol=1e-6)
        np.testing.assert_allclose(out.plan.sum(0), w, atol=1e-6)
        assert np.all(np.asarray(out.plan) >= 0)


def sharp_solver(**kw):
    return jax.jit(functools.partial(ot_clustering, epsilon=0.01, **kw))


solve_fast, solve_plain = sharp_solver(), sharp_solver(momentum_start=None)
solve_exact = sharp_solver(momentum_start=None, threshold=1e-6, max_iterations=10**6)


def clustered_problem(seed, n, K):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K, 10)) * rng.uniform(0.5, 3)
    z = centres[rng.integers(0, K, n)] + rng.normal(size=(n, 10))
    return z, centres, jnp.asarray(rng.dirichlet(np.full(K, 3.0)))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([64, 300]), st.sampled_from([3, 10]))
def test_momentum_converges_to_the_same_plan(seed, n, K):
    # The head's sharp setting (ε = 1% of the mean cost) on clustered points: with Lehmann's
    # adaptive momentum (and the plain fallback) every problem plain Sinkhorn solves is
    # solved, and the plan is the plain Sinkhorn plan solved to 1e-6, within the threshold.
    z, centres, w = clustered_problem(seed, n, K)
    with jax.enable_x64(True):
        plain = solve_plain(z, centres, w)
        assume(bool(plain.converged))  # plain Sinkhorn misses 1e-3 in 1000 iterations 1 in 10
        fast, exact = solve_fast(z, centres, w), solve_exact(z, centres, w)
        assert bool(fast.converged) and bool(exact.converged)
        # ott stops when the column marginal is within the 1e-3 threshold (L1); the row
        # marginal, exact after a plain update, is left off by the over-relaxed one (at most
        # 2.8e-3 over 1500 random cases of this distribution).
        assert np.abs(fast.plan.sum(0) - w).sum() < 1e-3
        assert np.abs(fast.plan.sum(1) - 1 / n).sum() < 5e-3
        assert np.abs(fast.plan - exact.plan).sum() < 1e-2


def test_momentum_takes_fewer_iterations_and_fails_less():
    iterations, failures = {"fast": [], "plain": []}, {"fast": 0, "plain": 0}
    with jax.enable_x64(True):
        for seed in range(40):
            problem = clustered_problem(seed, 300, 10)
            for name, solve in [("fast", solve_fast), ("plain", solve_plain)]:
                out = solve(*problem)
                iterations[name].append(int(out.iterations))
                failures[name] += not bool(out.converged)
    assert np.median(iterations["fast"]) < np.median(iterations["plain"]) / 2
    assert failures["fast"] <= failures["plain"]


@pytest.mark.parametrize("seed", range(5))
def test_small_epsilon_gives_the_exact_balanced_assignment(seed):
    n, K = 6, 3
    z, mu, _ = points(seed, n, K, d=2)
    C = ((z[:, None, :] - mu[None, :, :]) ** 2).sum(-1)
    # Exact balanced assignment: each centre replicated n/K times, then Hungarian.
    rows, cols = linear_sum_assignment(np.repeat(C, n // K, axis=1))
    exact = np.empty(n, int)
    exact[rows] = cols // (n // K)
    with jax.enable_x64(True):
        # Sinkhorn slows down as the plan nears a vertex: a loose threshold suffices here.
        kw = {"threshold": 1e-4, "max_iterations": 20000}
        out = ot_clustering(z, mu, jnp.full(K, 1 / K), epsilon=1e-3, **kw)
        assert bool(out.converged)
        np.testing.assert_array_equal(np.argmax(out.plan, axis=1), exact)
        np.testing.assert_allclose(out.plan, np.eye(K)[exact] / n, atol=1e-3)
        exact_cost = C[np.arange(n), exact].sum() / n  # the transport part of the cost
        np.testing.assert_allclose(np.sum(C * np.asarray(out.plan)), exact_cost, rtol=1e-3)


def clustering_cost(head, z, mu, w, eps, relative):
    if head == "ot":
        return ot_clustering(z, mu, w, epsilon=eps, relative_epsilon=relative, **TIGHT).cost
    return soft_kmeans(z, mu, epsilon=eps, relative_epsilon=relative).cost


@pytest.mark.parametrize("head", ["ot", "soft_kmeans"])
def test_gradients_in_embeddings_and_centres_match_finite_differences(head):
    z, mu, rng = points(3, 12, 4)
    w = jnp.asarray(rng.dirichlet(5 * np.ones(4)))
    with jax.enable_x64(True):
        eps = 0.05 * float(jnp.mean(squared_distances(z, mu)))
        fixed = jax.jit(lambda z, mu: clustering_cost(head, z, mu, w, eps, False))
        grad_z, grad_mu = jax.grad(fixed, argnums=(0, 1))(z, mu)
        fd_z = finite_difference(lambda v: float(fixed(v, mu)), z)
        fd_mu = finite_difference(lambda v: float(fixed(z, v)), mu)
        # A relative ε (0.05 x mean cost) is a constant of each step's problem: same gradient.
        relative = lambda z, mu: clustering_cost(head, z, mu, w, 0.05, True)  # noqa: E731
        grad_rel = jax.grad(relative, argnums=(0, 1))(z, mu)
    np.testing.assert_allclose(grad_z, fd_z, atol=1e-6, rtol=1e-4)
    np.testing.assert_allclose(grad_mu, fd_mu, atol=1e-6, rtol=1e-4)
    np.testing.assert_allclose(grad_rel[0], grad_z, rtol=1e-6)
    np.testing.assert_allclose(grad_rel[1], grad_mu, rtol=1e-6)


def entropic_objective(C, plan, eps):
    """The paper's (OT_ε) objective <C, π> + ε Σ π (log π - 1), evaluated directly."""
    return float(np.sum(C * plan) + eps * np.sum(plan * (np.log(plan) - 1)))


def test_soft_kmeans_is_the_softmin_of_proposition_2():
    n, K, eps = 20, 5, 0.3
    z, mu, rng = points(7, n, K)
    C = ((z[:, None, :] - mu[None, :, :]) ** 2).sum(-1)
    with jax.enable_x64(True):
        out = soft_kmeans(z, mu, epsilon=eps, relative_epsilon=False)
    weights = np.exp(-C / eps)
    formula = weights / (n * weights.sum(1, keepdims=True))  # eq. (7)
    np.testing.assert_allclose(out.plan, formula, rtol=1e-9)
    value = entropic_objective(C, formula, eps)
    np.testing.assert_allclose(float(out.cost) - eps * (1 + np.log(n)), value, rtol=1e-9)
    # It is the minimiser: any feasible move (rows keep summing to 1/n) increases the objective.
    for _ in range(20):
        move = rng.normal(size=(n, K))
        move -= move.mean(1, keepdims=True)
        moved = formula + 1e-3 * formula * move
        moved *= (1 / n) / moved.sum(1, keepdims=True)
        assert entropic_objective(C, moved, eps) >= value - 1e-12


def test_nearest_centre_is_the_argmin_of_distances():
    z, mu, _ = points(1, 50, 6)
    dist = ((z[:, None, :] - mu[None, :, :]) ** 2).sum(-1)
    np.testing.assert_array_equal(nearest_centre(z, mu), dist.argmin(1))


@pytest.mark.parametrize(
    ("w", "message"),
    [([0.5, 0.5], "has 2 entries"), ([0.5, 0.7, -0.2], "negative"), ([0.2, 0.2, 0.2], "sums to")],
)
def test_bad_proportions_are_refused(w, message):
    with pytest.raises(ValueError, match=message):
        check_proportions(w, 3)
    np.testing.assert_allclose(check_proportions([0.2, 0.3, 0.5], 3), [0.2, 0.3, 0.5])
