"""Centre-based clustering: OT plan marginals, the ε -> 0 limit against an exact assignment
(scipy), gradients against finite differences, soft k-means against Prop. 2's formula."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
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


@pytest.mark.slow
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


def clustered_problem(seed, n, K):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K, 10)) * rng.uniform(0.5, 3)
    z = centres[rng.integers(0, K, n)] + rng.normal(size=(n, 10))
    return z, centres, jnp.asarray(rng.dirichlet(np.full(K, 3.0)))


def column_error(plan, w):
    """ott's stopping criterion for a balanced problem with alternating updates
    (``solution_error`` -> ``marginal_error(axis=0, norm_error=1)``): the L1 distance of the
    plan's column marginal to ``w``, evaluated on the potentials the solver returns."""
    return float(np.abs(np.asarray(plan).sum(0) - np.asarray(w)).sum())


# Recomputing that error from the returned plan in float64 (a sum of n*K <= 3000 terms) instead
# of ott's logsumexp differs by rounding only: < 3000 * 2**-52 * (mass ~1) ~ 7e-13.
ROUNDING = 1e-12


def gibbs_residual(plan, z, centres) -> float:
    """How far log(plan) + C/ε is from a sum f_i + g_j, the form of every Sinkhorn iterate
    (ε = 1% of the mean cost, the solver's relative ε), relative to float64 rounding.

    The double difference L_ij - L_i0 - L_0j + L_00 of L = log(plan) + C/ε is 0 for that form.
    Each of its four entries carries a few roundings (the cost, ε, exp and log) of numbers up to
    max C/ε + max |log plan|, so it is below 16 * 2**-52 times that: the returned ratio is < 1.
    A wrong ε or cost would make it O(1) / 2**-52. The smallest entry is about e^-(max C/ε),
    and max C/ε <= 556 over 80,000 problems of this distribution: no entry underflows (e^-708).
    """
    with jax.enable_x64(True):  # the solver's cost, computed as it computes it
        C = np.asarray(squared_distances(jnp.asarray(z), jnp.asarray(centres)))
    cost, log_plan = C / (0.01 * C.mean()), np.log(np.asarray(plan))
    L = log_plan + cost
    residual = np.abs(L - L[:, :1] - L[:1, :] + L[0, 0]).max()
    return residual / (16 * 2.0**-52 * (cost.max() + np.abs(log_plan).max()))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([64, 300]), st.sampled_from([3, 10]))
def test_momentum_converges_to_the_same_plan(seed, n, K):
    # The head's sharp setting (ε = 1% of the mean cost) on clustered points, where plain
    # Sinkhorn misses the 1e-3 threshold in 1000 iterations 1 problem in 8. Every problem
    # is checked against what the solver reports, none discarded.
    z, centres, w = clustered_problem(seed, n, K)
    threshold, max_iterations = 1e-3, 1000  # ot_clustering's defaults
    with jax.enable_x64(True):
        plain, fast = solve_plain(z, centres, w), solve_fast(z, centres, w)
    assert np.isfinite(float(fast.cost))  # a diverged solve is redone plain
    # ott's rule: `converged` iff the column error of the returned potentials is below the
    # threshold; a solve that did not converge ran all its iterations and reports its error.
    for out in (plain, fast):
        error = column_error(out.plan, w)
        if bool(out.converged):
            assert error < threshold + ROUNDING
        else:
            assert error >= threshold - ROUNDING
    if not bool(plain.converged):
        assert int(plain.iterations) == max_iterations
    # Plain Sinkhorn ends on the row update, which makes the row marginal exact: rounding only.
    assert np.abs(np.asarray(plain.plan).sum(1) - 1 / n).sum() < ROUNDING
    # The fallback: the accelerated solve fails only where plain Sinkhorn fails, and then it
    # returns plain Sinkhorn's result and counts both runs' iterations.
    if bool(plain.converged):
        assert bool(fast.converged)
    if not bool(fast.converged):
        # both runs counted: the accelerated one (all its iterations, or fewer if it blew up)
        # and plain Sinkhorn's max_iterations
        assert (
            not bool(plain.converged)
            and max_iterations < int(fast.iterations) <= 2 * max_iterations
        )
        np.testing.assert_allclose(fast.plan, plain.plan, rtol=1e-9)
    # Over-relaxation changes the steps, not the form of the plan: it is still
    # diag(e^(f/ε)) exp(-C/ε) diag(e^(g/ε)) for this C and ε, i.e. the exact entropic plan for
    # its own marginals, whose columns are within the threshold.
    assert gibbs_residual(fast.plan, z, centres) < 1  # at most 0.15 over 400 problems
    # Not asserted: the accelerated plan's row marginal. ott's rule measures the columns only
    # (after a plain row update the rows are exact). The over-relaxed row update
    # f <- (1-ω) f + ω F(g), F(g) the exact one, leaves row i at a_i (r_i / a_i)^(1-ω), r the
    # rows before the update, ω up to 1.94 (Lehmann's weight; ott caps the rate at 0.99), and
    # nothing the rule measures bounds r (measured: up to 3e-3 in L1, 6x the column error).


@pytest.mark.parametrize("seed", [413, 2179, 2629])
def test_a_diverged_momentum_solve_is_not_kept(seed):
    # The error barely moves before the momentum starts (seed 413: ratio 0.99985 between
    # iterations 40 and 50), so Lehmann's weight is the largest ott allows (rate capped at
    # 0.99, ω = 1.94) and the over-relaxed iterates blow up (error 0.22 -> 3e4 -> ... -> inf
    # by iteration ~120). ott stops on the non-finite error and, as that leaves the last entry
    # of its error table unset (-1), reports `converged`; ot_clustering kept that plan (inf
    # entries, cost -inf) instead of solving plain (which converges in 290-470 iterations
    # here), and a training step with it was not skipped. A solve that says converged must be
    # finite and meet the threshold.
    z, centres, w = clustered_problem(seed, 64, 10)
    with jax.enable_x64(True):
        fast = solve_fast(z, centres, w)
    assert bool(fast.converged)
    assert np.isfinite(float(fast.cost)) and column_error(fast.plan, w) < 1e-3


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
