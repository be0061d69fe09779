r"""The partial Fenchel–Young loss (Stewart et al., NeurIPS 2023, §5, appendix Prop. 1).

.. math::
   \bar L_{FY,\varepsilon}(\Sigma; M_\Omega) = F_{k,\varepsilon}(\Sigma)
       - F_{k,\varepsilon}(\Sigma; M_\Omega), \qquad
   \nabla_\Sigma \bar L_{FY,\varepsilon} = A^*_{k,\varepsilon}(\Sigma)
       - A^*_{k,\varepsilon}(\Sigma; M_\Omega),

where the second terms maximise over forests that agree with the partial target M_Omega.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from diffclust.forest import native
from diffclust.forest.batched import forest_weights, forests, free_satisfies
from diffclust.forest.checks import check_k, check_similarity
from diffclust.forest.constrained import prepare, solve_constrained_safe
from diffclust.forest.exact import edge_weights, solve_forest
from diffclust.forest.graph import adjacency, forest_weight, poison_if_nan, scatter_edges
from diffclust.forest.noise import noise_sampler, noise_words, pair_square, split_pair
from diffclust.forest.perturbed import CHUNK_ENTRIES, check_perturbation_args, map_samples, solve
from diffclust.forest.targets import check_target, constraints_from_target

# Samples solved together by the batched path hold at most this many perturbed entries: on a
# CPU, all 1000 samples of the paper at n = 64 (16 MB); on accelerators, where fewer and larger
# chunks pay Prim's per-step kernel launches fewer times, 8 samples at n = 16384 (8 GB).
BATCHED_CHUNK_ENTRIES = 2**22
ACCELERATOR_CHUNK_ENTRIES = 2**31
FALLBACK_CHUNK_ENTRIES = 2**16  # 16 samples at n = 64


def _loss_and_grad(
    S, k, C, key, sigma, num_samples, noise, bias, correlated_noise, batched="native"
):
    """(value, gradient); through batched.py where it applies. ``batched``: "native" (the
    CPU kernel where it is built), "jax", or "" (sample by sample): tests compare the three."""
    W0 = edge_weights(S)
    cons = prepare(C)  # once, not per sample
    general = partial(_general, W0, k, cons, key, sigma, num_samples, noise, bias, correlated_noise)
    # On a CPU beyond the kernel's n the per-sample solvers win: one long Prim row per step
    # amortises XLA's launches (n = 4096, B = 16: 1.6 s against 3.1 s batched).
    large = batched == "native" and W0.shape[0] > native.MAX_VERTICES
    if large and jax.default_backend() == "cpu":
        batched = ""
    if batched and correlated_noise and noise == "iid" and bias:
        fast = partial(_batched, W0, k, cons.classes, key, sigma, num_samples, batched == "native")
        # The branch not taken still sizes the step's scratch memory, which XLA:CPU pays for at
        # every call (faulting fresh pages in): in small chunks, the fallback for constraints
        # that are not labels leaves the training step's memory as it was (measured: with the
        # default chunks, the fashion_mnist_semi step took 1.4x as long).
        fallback = partial(general, entries=FALLBACK_CHUNK_ENTRIES)
        value, grad = jax.lax.cond(cons.from_labels, fast, fallback)
    else:
        value, grad = general()
    # NaN in S must reach the gradient too, not only the value.
    return poison_if_nan(S, value, grad)


def _batched(W0, k, classes, key, sigma, num_samples, use_native=True):
    """Label constraints, the same draw for both terms: both forests of a chunk of samples in
    one pass (batched.py, or its CPU kernel in native/), from pair-shared noise squares
    (noise.py). Chunks run in sequence; the gradient is counted in integers (exact) and scaled
    by 1/B once."""
    n = W0.shape[0]
    words = noise_words(key)
    num_pairs = -(-num_samples // 2)
    entries = BATCHED_CHUNK_ENTRIES if jax.default_backend() == "cpu" else ACCELERATOR_CHUNK_ENTRIES
    pairs_per_chunk = max(1, min(num_pairs, entries // (2 * n * n)))
    num_chunks = -(-num_pairs // pairs_per_chunk)
    # Pair p holds samples 2p and 2p + 1: how many even and odd samples there are.
    counted = jnp.array([num_pairs, num_samples // 2], jnp.int32)

    def on_squares(X, valid):
        even, odd = split_pair(X)
        f = forests(W0 + sigma * jnp.concatenate([even, odd]), k, classes)
        free, constrained = forest_weights(f)
        # A sample whose constrained forest is its free one adds exactly 0 (see _general).
        same = free_satisfies(f, classes) | (
            jnp.all(f.keep[0] == f.keep[1], axis=-1) & jnp.all(f.parent[0] == f.parent[1], axis=-1)
        )
        local = jnp.arange(X.shape[0])
        used = ~same & jnp.concatenate([local < valid[0], local < valid[1]])
        # +1 on free edges, -1 on constrained ones, nothing for unused samples.
        sign = used.astype(jnp.int32)
        values = f.keep * jnp.stack([sign, -sign])[..., None]
        src = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32), f.parent.shape)
        return jnp.where(used, free - constrained, 0.0), scatter_edges(src, f.parent, values, n)

    def in_jax(c, valid):
        pairs = c * pairs_per_chunk + jnp.arange(pairs_per_chunk)
        X = jax.vmap(lambda p: pair_square(words, p, n, W0.dtype))(pairs)
        return on_squares(X, valid)

    def solve(c, valid):
        kernel = use_native and n <= native.MAX_VERTICES and W0.dtype == jnp.float32
        if not (kernel and native.available()):
            return in_jax(c, valid)
        first = c * pairs_per_chunk
        on_cpu = partial(native.loss_samples, words, first, pairs_per_chunk, W0, sigma, k, classes)
        return jax.lax.platform_dependent(
            c, valid, cpu=lambda c, valid: on_cpu(valid), default=in_jax
        )

    def chunk(c, carry):
        total, counts = carry
        valid = jnp.clip(counted - c * pairs_per_chunk, 0, pairs_per_chunk)
        gaps, edges = solve(c, valid)
        return total + jnp.sum(gaps), counts + edges

    start = (jnp.zeros((), W0.dtype), jnp.zeros((n, n), jnp.int32))
    total, counts = jax.lax.fori_loop(0, num_chunks, chunk, start)
    return total / num_samples, counts.astype(W0.dtype) / num_samples


def _general(
    W0, k, cons, key, sigma, num_samples, noise, bias, correlated_noise, entries=CHUNK_ENTRIES
):
    """Any constraints and options: each sample solved on its own (map_samples, chunks of at
    most ``entries`` perturbed entries)."""
    n = W0.shape[0]
    key_free, key_constrained = (key, key) if correlated_noise else jax.random.split(key)
    sample_free = noise_sampler(key_free, n, noise, W0.dtype)
    sample_constrained = noise_sampler(key_constrained, n, noise, W0.dtype)

    def one(b):
        W = W0 + sigma * sample_free(b)
        free = solve(W, k, None, bias)
        if correlated_noise:  # same draw: the free forest may already satisfy C
            W_c, constrained = W, solve(W, k, cons, bias, free)
        else:
            W_c = W0 + sigma * sample_constrained(b)
            constrained = solve(W_c, k, cons, bias)
        # Same draws: the gap is exactly 0 where the constrained forest is the free one (XLA
        # may round the two weight sums differently).
        same = jnp.all(free.mask == constrained.mask) & jnp.all(free.dst == constrained.dst)
        same = correlated_noise & same
        gap = forest_weight(free, W) - forest_weight(constrained, W_c)
        return free, constrained, jnp.where(same, 0.0, gap), same

    free, constrained, gaps, same = map_samples(one, num_samples, n, entries)
    # A_eps(S) - A_eps(S; C) in one scatter, counted in integers (exact) and scaled once: +1 on
    # free edges, -1 on constrained ones, nothing for samples whose two forests are the same.
    both = jax.tree.map(lambda f, c: jnp.concatenate([f, c]), free, constrained)
    sign = jnp.where(same, 0, 1)
    values = both.mask * jnp.concatenate([sign, -sign])[:, None]
    counts = scatter_edges(both.src, both.dst, values, n)
    return jnp.mean(gaps), counts.astype(W0.dtype) / num_samples


# A custom VJP rather than the JVP of perturbed_spanning_forest: the backward pass needs only
# the (n, n) gradient from the forward samples, never the per-sample forests or the noise.
@partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6, 7, 8))
def _partial_fy(S, k, C, key, sigma, num_samples, noise, bias, correlated_noise):
    return _loss_and_grad(S, k, C, key, sigma, num_samples, noise, bias, correlated_noise)[0]


def _partial_fy_fwd(S, k, C, key, sigma, num_samples, noise, bias, correlated_noise):
    value, grad = _loss_and_grad(S, k, C, key, sigma, num_samples, noise, bias, correlated_noise)
    return value, grad


def _partial_fy_bwd(sigma, num_samples, noise, bias, correlated_noise, grad, g):
    return g * grad, None, None, None


_partial_fy.defvjp(_partial_fy_fwd, _partial_fy_bwd)


def partial_fy_loss(
    S: jax.Array,
    M_target: jax.Array,
    k,
    *,
    sigma: float,
    num_samples: int,
    key: jax.Array,
    correlated_noise: bool = True,
    bias: bool = True,
    noise: str = "iid",
) -> jax.Array:
    r"""Perturbed partial Fenchel–Young loss.

    .. math:: F_{k,\varepsilon}(\Sigma) - F_{k,\varepsilon}(\Sigma; M_\Omega)

    Value and gradient :math:`A^*_{k,\varepsilon}(\Sigma) - A^*_{k,\varepsilon}(\Sigma; M_\Omega)`
    come from the same forward samples (reverse mode only). With ``correlated_noise`` both
    terms use the same draw, as in the reference; the loss is then >= 0 up to the
    heuristic constrained solver, and 0 when every perturbed clustering already agrees.

    Args:
      S: (n, n) similarity matrix (symmetrised, diagonal ignored).
      M_target: (n, n) floating partial target: 1 same cluster, 0 different, NaN unknown
        (see :func:`target_from_labels`). Not differentiated.
      k: number of clusters.
      sigma, num_samples, key, noise: as in :func:`perturbed_spanning_forest`.
      correlated_noise: reuse the same noise for both terms (reference default).
      bias: must-link edges first in the constrained solver.

    Returns:
      Scalar loss (NaN if S holds a NaN).
    """
    n, k, _ = check_perturbation_args(S, k, sigma, num_samples, noise)
    check_target(M_target, n)
    args = (float(sigma), num_samples, noise, bool(bias), bool(correlated_noise))
    return _partial_fy_jit(S, M_target, k, key, *args)


@partial(jax.jit, static_argnums=(4, 5, 6, 7, 8))
def _partial_fy_jit(S, M_target, k, key, sigma, num_samples, noise, bias, correlated_noise):
    C = constraints_from_target(jax.lax.stop_gradient(M_target))
    value = _partial_fy(S, k, C, key, sigma, num_samples, noise, bias, correlated_noise)
    return poison_if_nan(S, value)[0]


def partial_fy_loss_unperturbed(S: jax.Array, M_target: jax.Array, k, *, bias: bool = True):
    r"""Unperturbed partial loss :math:`F_k(\Sigma) - F_k(\Sigma; M_\Omega)`.

    Piecewise linear in S; its gradient :math:`A^*_k(\Sigma) - A^*_k(\Sigma; M_\Omega)` is
    exact almost everywhere but zero-variance and uninformative between kinks, which is why
    training uses the perturbed loss.
    """
    n = check_similarity(S)
    check_target(M_target, n)
    return _unperturbed_jit(S, M_target, check_k(k, n), bool(bias))


@partial(jax.jit, static_argnums=3)
def _unperturbed_jit(S, M_target, k, bias):
    n = S.shape[0]
    C = constraints_from_target(jax.lax.stop_gradient(M_target))
    W = edge_weights(S)
    A = adjacency(solve_forest(W, k), n, S.dtype)
    A_c = adjacency(solve_constrained_safe(W, k, prepare(C), bias), n, S.dtype)
    gap = jax.lax.stop_gradient(A - A_c)
    return poison_if_nan(S, jnp.sum(gap * 0.5 * (S + S.T)))[0]
