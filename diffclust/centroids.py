r"""Clustering against K learnable centres: entropic optimal transport with a prior on the
cluster sizes, its one-marginal relaxation (soft k-means), and hard assignments.

Genevay, Dulac-Arnold & Vert, "Differentiable deep clustering with cluster size
constraints" (METHODS.md §2). For a batch of embeddings :math:`z_1..z_n` and centres
:math:`\mu_1..\mu_K`, with cost :math:`C_{ik} = \|z_i - \mu_k\|^2`,

.. math::
    \ell_c^{OT_\varepsilon} = \min_{\pi \ge 0} \langle C, \pi\rangle
        + \varepsilon \sum_{ik} \pi_{ik}(\log \pi_{ik} - 1)
    \quad \text{s.t.} \quad \pi 1_K = 1_n / n \;(c_1), \quad \pi^\top 1_n = w \;(c_2).

Dropping :math:`(c_2)` gives soft k-means (Prop. 2). Pure functions of arrays; jit and vmap.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from ott.geometry import geometry
from ott.problems.linear import linear_problem
from ott.solvers.linear import acceleration, sinkhorn


class Transport(NamedTuple):
    """The regularised clustering cost, the plan (n, K) and how the solver ended."""

    cost: jax.Array
    plan: jax.Array
    converged: jax.Array  # bool; always True for soft k-means (closed form)
    iterations: jax.Array  # Sinkhorn iterations; 0 for soft k-means


def squared_distances(z: jax.Array, centres: jax.Array) -> jax.Array:
    """:math:`C_{ik} = \\|z_i - \\mu_k\\|^2`, (n, K), by the Gram expansion (clamped at 0)."""
    sq = jnp.sum(z * z, -1)[:, None] + jnp.sum(centres * centres, -1)[None, :]
    return jnp.maximum(sq - 2.0 * z @ centres.T, 0.0)


def absolute_epsilon(cost: jax.Array, epsilon: float, relative: bool) -> jax.Array:
    """ε itself, or ε times the mean cost (gradient stopped: ε is a constant of the
    problem, so the gradient of the regularised cost stays the plan, by Danskin)."""
    if not relative:
        return jnp.asarray(epsilon, cost.dtype)
    return epsilon * jax.lax.stop_gradient(jnp.mean(cost))


def ot_clustering(
    z: jax.Array,
    centres: jax.Array,
    w: jax.Array,
    *,
    epsilon: float = 1e-2,
    relative_epsilon: bool = True,
    max_iterations: int = 1000,
    threshold: float = 1e-3,
    momentum_start: int | None = 50,
) -> Transport:
    r"""Entropic OT between the batch (weights 1/n) and the centres (weights ``w``).

    Solved by ott-jax's log-domain Sinkhorn. ``cost`` is ott's ``reg_ot_cost``,
    :math:`\langle C,\pi\rangle + \varepsilon\,\mathrm{KL}(\pi \,|\, a w^\top)`, which differs
    from the paper's (OT_ε) objective by the constant
    :math:`\varepsilon(\sum_i a_i \log a_i + \sum_k w_k \log w_k)` given the marginals.

    Differentiation: ott's default for ``reg_ot_cost`` is Danskin's theorem (the potentials
    are frozen), so the gradient with respect to C is the plan, :math:`\partial\ell/\partial C
    = \pi`, which then flows to both z and the centres through C. Nothing is differentiated
    through the iterations (unrolling costs memory per iteration) and no implicit linear
    system is solved; it is exact when Sinkhorn has converged, hence ``converged``.

    Acceleration: from iteration ``momentum_start`` on, the updates are over-relaxed with the
    adaptive momentum of Lehmann et al. (2021, eq. 5; ott's ``Momentum``), the weight set
    from the observed convergence rate. The size prior makes the problem sharp (ε is 1% of
    the mean cost), where plain Sinkhorn contracts slowly: on trained digits embeddings it
    takes ~470 iterations, the accelerated one ~140 for the same threshold, and its
    gradient is closer to the converged one (scripts/bench_heads.py). None: plain Sinkhorn.
    Convergence is checked every 10 iterations, so ``momentum_start`` is a multiple of 10,
    at least 20 (the rate is estimated from the two checks before it). The estimate can
    over-relax (about 1 problem in 300 in the tests' distribution, where plain Sinkhorn
    fails 1 in 10): a solve that did not converge is redone plain, and ``iterations``
    counts both. So is one that blew up to infinity (3 problems in 12,000 there), which ott
    reports as converged.
    """
    check_momentum_start(momentum_start)
    cost = squared_distances(z, centres)
    eps = absolute_epsilon(cost, epsilon, relative_epsilon)
    n = z.shape[0]
    a = jnp.full((n,), 1.0 / n, cost.dtype)
    w = jnp.asarray(w, cost.dtype)
    problem = linear_problem.LinearProblem(geometry.Geometry(cost, epsilon=eps), a, w)
    out = _sinkhorn(problem, max_iterations, threshold, momentum_start)
    if momentum_start is None:
        return out

    def plain(problem):  # the rare problem where the rate estimate over-relaxes too much
        again = _sinkhorn(problem, max_iterations, threshold, None)
        return again._replace(iterations=again.iterations + out.iterations)

    return jax.lax.cond(out.converged, lambda _: out, plain, problem)


def check_momentum_start(start: int | None) -> None:
    """Sinkhorn checks convergence every 10 iterations and Lehmann's rate needs two checks."""
    if start is not None and (start < 20 or start % 10):
        raise ValueError(f"momentum_start={start}; use a multiple of 10, at least 20, or null")


def _sinkhorn(
    problem: linear_problem.LinearProblem,
    max_iterations: int,
    threshold: float,
    momentum_start: int | None,
) -> Transport:
    momentum = None
    if momentum_start is not None:
        momentum = acceleration.Momentum(start=momentum_start, inner_iterations=10)
    solver = sinkhorn.Sinkhorn(
        max_iterations=max_iterations, threshold=threshold, inner_iterations=10, momentum=momentum
    )
    out = solver(problem)
    # ott stops on a non-finite error (an over-relaxed solve that blew up) and reports it as
    # converged; such a solve is not converged, so ot_clustering redoes it plain.
    finite = jnp.isfinite(out.reg_ot_cost) & jnp.all(jnp.isfinite(out.matrix))
    return Transport(out.reg_ot_cost, out.matrix, out.converged & finite, out.n_iters)


def soft_kmeans(
    z: jax.Array, centres: jax.Array, *, epsilon: float = 1e-2, relative_epsilon: bool = True
) -> Transport:
    r"""The one-marginal problem (Prop. 2): closed form, the softmin assignments (eq. 7)

    .. math:: \pi_{ik} = \frac{e^{-C_{ik}/\varepsilon}}{n \sum_{k'} e^{-C_{ik'}/\varepsilon}},
        \qquad \text{value} = -\frac{\varepsilon}{n}\sum_i \log\sum_k e^{-C_{ik}/\varepsilon}
        - \varepsilon(1 + \log n).

    ``cost`` drops the constant :math:`-\varepsilon(1+\log n)`; its gradient with respect
    to C is the plan, as for :func:`ot_clustering` (the DKM loss of Fard et al., 2018, up
    to how the softmin weights are differentiated).
    """
    cost = squared_distances(z, centres)
    eps = absolute_epsilon(cost, epsilon, relative_epsilon)
    n = z.shape[0]
    value = -eps * jnp.mean(jax.nn.logsumexp(-cost / eps, axis=1))
    plan = jax.nn.softmax(-cost / eps, axis=1) / n
    return Transport(value, plan, jnp.bool_(True), jnp.int32(0))


def nearest_centre(z: jax.Array, centres: jax.Array) -> jax.Array:
    """Hard assignment: :math:`k_i = \\arg\\min_k \\|z_i - \\mu_k\\|^2` (ties: lowest k)."""
    return jnp.argmin(squared_distances(z, centres), axis=1)


def check_proportions(w, num_clusters: int) -> np.ndarray:
    """``w`` as a float array if it is a probability vector of length K; else ValueError
    with what is wrong (the head turns it into a config error)."""
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (num_clusters,):
        raise ValueError(f"has {w.size} entries but there are {num_clusters} clusters")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"has negative or non-finite entries: {w.tolist()}")
    if abs(w.sum() - 1.0) > 1e-6:
        raise ValueError(f"sums to {w.sum():.6g}, not 1")
    return w
