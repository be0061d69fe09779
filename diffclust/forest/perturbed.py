r"""Perturbed spanning forests: Monte-Carlo smoothing with custom derivatives.

With Z a symmetric standard Gaussian perturbation of the edge weights and :math:`\varepsilon>0`
(Stewart et al., NeurIPS 2023, §3; Berthet et al., 2020):

.. math::
   A^*_{k,\varepsilon}(\Sigma) = \mathbb{E}[A^*_k(\Sigma + \varepsilon Z)], \quad
   F_{k,\varepsilon}(\Sigma) = \mathbb{E}[F_k(\Sigma + \varepsilon Z)], \quad
   M^*_{k,\varepsilon}(\Sigma) = \mathbb{E}[M^*_k(\Sigma + \varepsilon Z)],

estimated with B samples. :math:`\nabla F_{k,\varepsilon} = A^*_{k,\varepsilon}` exactly, so
the derivative of F reuses the forward solves. Derivatives of A and M use the score function
(Z enters every off-diagonal entry twice, hence the 1/2):

.. math::
   \partial A^*_{k,\varepsilon}(\Sigma)[H] = \frac{1}{2\varepsilon}\,
   \mathbb{E}\big[(A^*_k(\Sigma + \varepsilon Z) - A^*_k(\Sigma))\,\langle Z, H\rangle\big],

where subtracting the unperturbed solution (a control variate, optional) keeps the estimate
unbiased (E[Z] = 0) and lowers its variance. optax.perturbations would differentiate F through
the score function too (noisy) and draws fresh samples in the backward pass; a custom rule that
reuses the forward samples is both exact for F and cheaper.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from diffclust.forest.checks import (
    check_constraints,
    check_k,
    check_num_samples,
    check_positive,
    check_similarity,
)
from diffclust.forest.constrained import Constraints, prepare, solve_constrained_safe
from diffclust.forest.exact import edge_weights, solve_forest
from diffclust.forest.graph import (
    Forest,
    adjacency,
    equivalence,
    forest_weight,
    poison_if_nan,
    scatter_edges,
)
from diffclust.forest.noise import NOISE_KINDS, noise_sampler


class Perturbed(NamedTuple):
    """Monte-Carlo estimates from one set of perturbed solves."""

    A: jax.Array  # (n, n) mean adjacency, A*_{k,eps}
    weights: jax.Array  # (num_samples,) forest weights F_k(Sigma + eps Z_b)
    forests: Forest  # per-sample forests, leading axis num_samples

    @property
    def F(self) -> jax.Array:
        """F_{k,eps}, the mean forest weight."""
        return jnp.mean(self.weights)


# Samples solved together in one vmapped chunk hold at most this many matrix entries (256
# samples at n = 64, 4 at n = 512, one from n = 1024). Small n needs wide chunks to amortise
# the per-step loop overhead; large chunks make XLA copy the whole (chunk, n, n) state of the
# general constrained greedy on each batched row update: at n = 1024 a full vmap over 32
# samples was 8x slower than solving them one after another. 2^20 measured best on 2 cores.
CHUNK_ENTRIES = 2**20


def map_samples(fn, num_samples: int, n: int, entries: int = CHUNK_ENTRIES):
    """fn(b) for b = 0 .. num_samples - 1: vmapped within chunks, chunks in sequence.

    Each sample's perturbed matrix is generated inside fn, so memory stays O(chunk n^2)
    instead of O(num_samples n^2) (``entries`` bounds chunk n^2); outputs are stacked along a
    leading sample axis.
    """
    chunk = max(1, min(num_samples, entries // (n * n)))
    return jax.lax.map(fn, jnp.arange(num_samples), batch_size=chunk)


def solve(W: jax.Array, k, cons: Constraints | None, bias: bool, free: Forest | None = None):
    """The forest of one prepared weight matrix: free when ``cons`` is None, else constrained.

    ``free``: the unconstrained forest of the same W when already solved (reused by the
    constrained solver's feasibility shortcut).
    """
    if cons is None:
        return solve_forest(W, k)
    return solve_constrained_safe(W, k, cons, bias, free)


def mean_adjacency(forests: Forest, n: int, dtype, weights: jax.Array | None = None):
    """sum_b weights_b A_b (default weights 1/B) by one scatter-add of all edges."""
    num = forests.mask.shape[0]
    w = jnp.full((num,), 1.0 / num, dtype) if weights is None else weights
    values = forests.mask.astype(dtype) * w[:, None]
    return scatter_edges(forests.src, forests.dst, values, n)


def mean_equivalence(forests: Forest, dtype, weights: jax.Array | None = None):
    """sum_b weights_b M_b (default 1/B), accumulated one sample at a time (O(n^2) memory)."""
    num, n = forests.labels.shape
    w = jnp.full((num,), 1.0 / num, dtype) if weights is None else weights

    def add(b, total):
        labels = forests.labels[b]
        return total + w[b] * (labels[:, None] == labels[None, :]).astype(dtype)

    return jax.lax.fori_loop(0, num, add, jnp.zeros((n, n), dtype))


def monte_carlo(W0, sample, sigma: float, num_samples: int, k, cons, bias: bool) -> Perturbed:
    """Solves W0 + sigma Z_b for every sample b (``sample``: b -> Z_b); means of A and F."""
    n = W0.shape[0]

    def one(b):
        W = W0 + sigma * sample(b)
        forest = solve(W, k, cons, bias)
        return forest, forest_weight(forest, W)

    forests, weights = map_samples(one, num_samples, n)
    return Perturbed(mean_adjacency(forests, n, W0.dtype), weights, forests)


def _outputs(S, k, C, key, sigma, num_samples, noise, bias, control_variate):
    n = S.shape[0]
    W0 = edge_weights(S)
    sample = noise_sampler(key, n, noise, S.dtype)
    cons = None if C is None else prepare(C)
    mc = monte_carlo(W0, sample, sigma, num_samples, k, cons, bias)
    M = mean_equivalence(mc.forests, S.dtype)
    base = None
    if control_variate:
        base = solve(W0, k, cons, bias)
    return mc, M, sample, base


@partial(jax.custom_jvp, nondiff_argnums=(4, 5, 6, 7, 8))
def _perturbed(S, k, C, key, sigma, num_samples, noise, bias, control_variate):
    mc, M, _, _ = _outputs(S, k, C, key, sigma, num_samples, noise, bias, False)
    return mc.A, mc.F, M


@_perturbed.defjvp
def _perturbed_jvp(sigma, num_samples, noise, bias, control_variate, primals, tangents):
    S, k, C, key = primals
    dS = tangents[0]
    n = S.shape[0]
    mc, M, sample, base = _outputs(S, k, C, key, sigma, num_samples, noise, bias, control_variate)
    # Score weights <Z_b, H> / (2 sigma B): linear in the tangent H. Z_b is generated again
    # rather than kept from the forward pass (num_samples n^2 floats).
    score = map_samples(lambda b: jnp.sum(sample(b) * dS), num_samples, n)
    score = score / (2.0 * sigma * num_samples)
    dA = mean_adjacency(mc.forests, n, S.dtype, weights=score)
    dM = mean_equivalence(mc.forests, S.dtype, weights=score)
    if base is not None:
        dA = dA - adjacency(base, n, S.dtype) * jnp.sum(score)
        dM = dM - equivalence(base, S.dtype) * jnp.sum(score)
    dF = jnp.sum(mc.A * dS)
    return (mc.A, mc.F, M), (dA, dF, dM)


def check_perturbation_args(S, k, sigma, num_samples, noise, C=None):
    """Shared validation of the perturbed entry points; returns (n, k, C)."""
    n = check_similarity(S)
    k = check_k(k, n)
    check_positive(sigma, "sigma")
    check_num_samples(num_samples)
    if noise not in NOISE_KINDS:
        raise ValueError(f"noise must be one of {NOISE_KINDS}, got {noise!r}.")
    if C is not None:
        C = check_constraints(C, n)
    return n, k, C


def perturbed_spanning_forest(
    S: jax.Array,
    k,
    *,
    sigma: float,
    num_samples: int,
    key: jax.Array,
    C: jax.Array | None = None,
    bias: bool = True,
    control_variate: bool = True,
    noise: str = "iid",
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""Perturbed k-spanning forest (A_eps, F_eps, M_eps) of the module docstring.

    Differentiable in S (forward and reverse mode): the derivative of F is A_eps (no extra
    solves); derivatives of A_eps and M_eps use the score-function estimator above, with the
    unperturbed solution as control variate when ``control_variate`` (one extra solve).

    Args:
      S: (n, n) floating similarity matrix (symmetrised, diagonal ignored).
      k: number of components.
      sigma: noise amplitude epsilon > 0 (0.1 in the paper, on standardised S).
      num_samples: Monte-Carlo samples B (1000 in the paper).
      key: a JAX PRNG key; the same key gives the same samples.
      C: optional (n, n) constraints (1 / -1 / 0): perturbs the constrained solver instead.
      bias: with C, must-link edges first (appendix §9.1).
      control_variate: subtract the unperturbed solution in the score-function derivatives.
      noise: ``"iid"`` (the paper) or ``"permuted"`` (cheaper at large n; see noise.py).

    Returns:
      (A_eps, F_eps, M_eps): (n, n), scalar, (n, n). NaN if S holds a NaN.
    """
    _, k, C = check_perturbation_args(S, k, sigma, num_samples, noise, C)
    return _perturbed_jit(
        S, k, C, key, float(sigma), num_samples, noise, bool(bias), control_variate
    )


@partial(jax.jit, static_argnums=(4, 5, 6, 7, 8))
def _perturbed_jit(S, k, C, key, sigma, num_samples, noise, bias, control_variate):
    A, F, M = _perturbed(S, k, C, key, sigma, num_samples, noise, bias, control_variate)
    return poison_if_nan(S, A, F, M)
