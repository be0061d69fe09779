r"""ClAM: clustering with associative memories (Saha, Krotov, Zaki & Ram, ICML 2023;
METHODS.md §3). Pure functions of arrays; jit and vmap.

k prototypes (memories) :math:`\rho_\mu` define the energy (eq. 1, weighted: eq. 10)

.. math::
    E(v) = -\frac{1}{\beta} \log \sum_\mu \varepsilon_\mu \exp(-\beta \|\rho_\mu - v\|^2),

and a point moves down it by the AM recursion (eq. 4, weighted: eq. 11)

.. math::
    v^{t+1} = v^t + \alpha \sum_\mu (\rho_\mu - v^t)\,
        \mathrm{softmax}_\mu(-\beta\|\rho_\mu - v^t\|^2 + \log\varepsilon_\mu),
    \qquad \alpha = dt/\tau .

(β multiplies the squared distance as in the paper's equations; the published code uses
β/2, so its Table 6 values of β correspond to half as much here.)

Since :math:`\nabla E = 2\sum_\mu p_\mu (v - \rho_\mu)`, a step is gradient descent on E with
step :math:`\alpha/2`; the Hessian of E is :math:`2I - 4\beta\,\mathrm{Cov}_p(\rho) \preceq 2I`,
so every step with :math:`0 < \alpha \le 1` lowers the energy. After T steps a point sits near
the prototype of its basin; it is assigned to the nearest prototype. Prototypes are learnt by
pattern completion (eq. 9): mask coordinates, let only those evolve, and penalise
:math:`\|\bar m \odot (x - x^T)\|^2`; without a mask this is eq. 8.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from diffclust.centroids import squared_distances

MASK_VALUES = ("mean", "min", "max", "zero")


class Memories(NamedTuple):
    """The learnt parameters: prototypes (k, d) and log-weights log ε (k,), zeros when the
    clustering is not weighted."""

    prototypes: jax.Array
    log_weights: jax.Array


class Dynamics(NamedTuple):
    """How points move: inverse temperature β, step α = dt/τ, T steps, and the spherical
    variant (eq. 12: cosine similarity, points renormalised after every step)."""

    beta: float
    alpha: float
    steps: int
    spherical: bool = False


def unit(x: jax.Array) -> jax.Array:
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def logits(v: jax.Array, memories: Memories, dynamics: Dynamics) -> jax.Array:
    """The softmax arguments: −β‖ρ_μ − v‖² + log ε_μ, or β⟨ρ̃_μ, v⟩ + log ε_μ (spherical)."""
    if dynamics.spherical:
        scores = dynamics.beta * v @ unit(memories.prototypes).T
    else:
        scores = -dynamics.beta * squared_distances(v, memories.prototypes)
    return scores + memories.log_weights


def energy(v: jax.Array, memories: Memories, dynamics: Dynamics) -> jax.Array:
    """E(v) of eq. 1 / 10 / 12 per point, (n,), by a stable log-sum-exp."""
    return -jax.nn.logsumexp(logits(v, memories, dynamics), axis=-1) / dynamics.beta


def am_step(
    v: jax.Array, memories: Memories, dynamics: Dynamics, evolves: jax.Array | None = None
) -> jax.Array:
    """One step of eq. 4 / 11 (or 12). ``evolves`` (n, d) in {0, 1}: the coordinates that may
    move (the masked ones during training); None: all of them."""
    p = jax.nn.softmax(logits(v, memories, dynamics), axis=-1)
    if dynamics.spherical:
        delta = dynamics.alpha * p @ unit(memories.prototypes)
    else:  # Σ_μ p_μ (ρ_μ − v) = p ρ − v, since the p_μ sum to 1
        delta = dynamics.alpha * (p @ memories.prototypes - v)
    if evolves is not None:
        delta = delta * evolves
    v = v + delta
    return unit(v) if dynamics.spherical else v


def recursion(
    v: jax.Array, memories: Memories, dynamics: Dynamics, evolves: jax.Array | None = None
) -> jax.Array:
    """x^T: T steps of :func:`am_step` from x^0 = v (differentiable: backpropagation through
    time, as the paper trains)."""

    def step(v, _):
        return am_step(v, memories, dynamics, evolves), None

    v, _ = jax.lax.scan(step, v, None, length=dynamics.steps)
    return v


def trajectory(v: jax.Array, memories: Memories, dynamics: Dynamics) -> jax.Array:
    """x^0 .. x^T stacked, (T+1, n, d): for plots and the energy-descent check."""

    def step(v, _):
        v = am_step(v, memories, dynamics)
        return v, v

    _, path = jax.lax.scan(step, v, None, length=dynamics.steps)
    return jnp.concatenate([v[None], path])


def mask_values(x: jax.Array, kind: str) -> jax.Array:
    """The value a masked coordinate takes: the feature's mean, min or max over ``x``, or 0
    (the published code's '0'), (d,)."""
    if kind not in MASK_VALUES:
        raise ValueError(f"mask value {kind!r}; use one of {MASK_VALUES}")
    if kind == "zero":
        return jnp.zeros(x.shape[1:], x.dtype)
    return {"mean": jnp.mean, "min": jnp.min, "max": jnp.max}[kind](x, axis=0)


def completion_loss(
    memories: Memories,
    x: jax.Array,
    dynamics: Dynamics,
    key: jax.Array,
    mask_prob: float,
    fill: jax.Array,
) -> jax.Array:
    r"""The self-supervised loss of eq. 9 on one batch x (n, d): each coordinate is masked
    with probability ``mask_prob`` and set to ``fill`` (d,); only masked coordinates evolve
    and only they are scored. It is averaged over the n·d entries, as the published code
    does, so its scale (and the plateau test on it) does not depend on n or d:
    :math:`\frac{1}{nd}\sum_x \|\bar m \odot (x - x_R^T)\|^2`.
    ``mask_prob=0`` (a Python number) gives eq. 8: every coordinate evolves from x and is
    scored."""
    if dynamics.spherical:
        x = unit(x)
    if isinstance(mask_prob, int | float) and mask_prob == 0:  # static: no mask at all
        return jnp.mean((x - recursion(x, memories, dynamics)) ** 2)
    masked = jax.random.bernoulli(key, mask_prob, x.shape).astype(x.dtype)
    x0 = x * (1.0 - masked) + fill * masked
    if dynamics.spherical:
        x0 = unit(x0)
    xt = recursion(x0, memories, dynamics, evolves=masked)
    return jnp.mean((masked * (x - xt)) ** 2)


def assign(x: jax.Array, memories: Memories, dynamics: Dynamics) -> jax.Array:
    """InferClAM (Algorithm 1): T steps from x^0 = x, then the nearest prototype (the most
    similar one for the spherical variant), (n,) int32.

    Compiled once per shape, T and variant: β and α are traced, so the runs of a grid over
    them reuse one program (called eagerly, the scan compiled again for every new β: about
    0.8 s a run beside a grid, against 0.1 s)."""
    return _assign(x, memories, dynamics.beta, dynamics.alpha, dynamics.steps, dynamics.spherical)


@functools.partial(jax.jit, static_argnums=(4, 5))
def _assign(x, memories, beta, alpha, steps: int, spherical: bool) -> jax.Array:
    dynamics = Dynamics(beta, alpha, steps, spherical)
    xt = recursion(unit(x) if dynamics.spherical else x, memories, dynamics)
    if dynamics.spherical:
        return jnp.argmax(xt @ unit(memories.prototypes).T, axis=-1).astype(jnp.int32)
    return jnp.argmin(squared_distances(xt, memories.prototypes), axis=-1).astype(jnp.int32)
