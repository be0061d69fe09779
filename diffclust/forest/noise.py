r"""Symmetric Gaussian perturbations of edge weights.

Each of the n(n-1)/2 edges gets its own standard normal; Z is symmetric with a zero diagonal,
so :math:`\Sigma + \varepsilon Z` perturbs each edge weight once (METHODS.md §1).

Two samplers:

* ``"iid"``: num_samples independent matrices, the estimator of the paper.
* ``"permuted"``: one symmetric Gaussian matrix G per call, relabelled for each sample by an
  independent uniformly random vertex permutation, Z_b = P_b G P_b^T. Each Z_b is exactly a
  symmetric i.i.d. Gaussian matrix, so Monte-Carlo means stay unbiased; the samples are only
  weakly dependent (they share G's values on different edges).

Generator. Entry (b, i, j) is a pure function of the key, the sample b and the edge
{min(i, j), max(i, j)}: a keyed integer hash of the counters gives 24 uniform bits, and the
inverse normal CDF (sqrt(2) erfinv) turns them into a normal, as jax.random.normal does.
Being elementwise, it fuses into W0 + sigma Z, symmetry costs nothing, and each sample can
be generated where it is solved (see ``noise_sampler``). jax.random's threefry costs ~20 ns
per draw on a CPU, and drawing, masking and mirroring full matrices ~80 ns per entry, which
dominated the perturbed solvers; this costs ~10 ns. For a fixed key and sample, distinct
edges get distinct counters and the hash rounds are bijections of 32-bit words, so no two
edges of one sample share their bits.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

NOISE_KINDS = ("iid", "permuted")
MAX_VERTICES = 2**16  # edge counters lo * n + hi must fit in 32 bits


def _mix(x: jax.Array) -> jax.Array:
    """A 32-bit bijective integer hash with low avalanche bias (Wellons' "lowbias32")."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def _normal_from_bits(bits: jax.Array, dtype) -> jax.Array:
    """Standard normal from the top 24 bits: v in (-1, 1) on odd multiples of 2^-24, never
    +-1 (erfinv would be infinite), then sqrt(2) erfinv(v)."""
    v = ((bits >> 8).astype(jnp.float32) * 2.0 - (2**24 - 1)) * (1.0 / 2**24)
    return (jnp.sqrt(2.0) * jax.lax.erf_inv(v)).astype(dtype)


def _symmetric_normal(words: jax.Array, b: jax.Array, n: int, dtype) -> jax.Array:
    """(n, n) symmetric standard normals of sample b, zero diagonal, from counters."""
    if n > MAX_VERTICES:
        raise ValueError(f"the noise generator supports n <= {MAX_VERTICES} vertices, got {n}.")
    i = jax.lax.broadcasted_iota(jnp.uint32, (n, n), 0)
    j = jax.lax.broadcasted_iota(jnp.uint32, (n, n), 1)
    edge = jnp.minimum(i, j) * jnp.uint32(n) + jnp.maximum(i, j)
    sample = _mix(jnp.asarray(b, jnp.uint32) + words[1])
    bits = _mix(_mix(_mix(edge ^ words[0]) ^ sample) + words[2])
    return jnp.where(i == j, 0, _normal_from_bits(bits, dtype))


def noise_sampler(key: jax.Array, n: int, kind: str = "iid", dtype=jnp.float32):
    """A function b -> Z_b, the (n, n) perturbation of sample b (jit- and vmap-able in b).

    Samples are generated where they are used, one at a time, so that a batch of
    num_samples perturbed matrices never has to exist in memory at once.
    """
    if kind == "iid":
        words = jax.random.bits(key, (3,), jnp.uint32)
        return lambda b: _symmetric_normal(words, b, n, dtype)
    if kind == "permuted":
        key_g, key_p = jax.random.split(key)
        G = _symmetric_normal(jax.random.bits(key_g, (3,), jnp.uint32), 0, n, dtype)

        def permuted(b):
            p = jax.random.permutation(jax.random.fold_in(key_p, b), n)
            return G[p[:, None], p[None, :]]

        return permuted
    raise ValueError(f"noise must be one of {NOISE_KINDS}, got {kind!r}.")


def sample_noise(key: jax.Array, num_samples: int, n: int, kind: str = "iid", dtype=jnp.float32):
    """(num_samples, n, n) symmetric standard-normal edge perturbations, all at once."""
    return jax.vmap(noise_sampler(key, n, kind, dtype))(jnp.arange(num_samples))
