r"""Symmetric Gaussian perturbations of edge weights.

Each of the n(n-1)/2 edges gets its own standard normal; Z is symmetric with a zero diagonal,
so :math:`\Sigma + \varepsilon Z` perturbs each edge weight once (METHODS.md §1).

Two samplers:

* ``"iid"``: num_samples independent matrices, the estimator of the paper.
* ``"permuted"``: one symmetric Gaussian matrix G per call, relabelled for each sample by an
  independent uniformly random vertex permutation, Z_b = P_b G P_b^T. Each Z_b is exactly a
  symmetric i.i.d. Gaussian matrix, so Monte-Carlo means stay unbiased; the samples are only
  weakly dependent (they share G's values on different edges).

Generator. Samples come in pairs (2p, 2p + 1) that share one square of n^2 normals X_p:
sample 2p reads its edge {i < j} at X_p[i, j], sample 2p + 1 at X_p[j, i]. Entry (p, i, j) of
X is a pure function of the key, the pair p and the ordered counter i n + j: a keyed integer
hash gives 24 uniform bits, and the inverse normal CDF turns them into a normal (Giles'
single-precision erfinv; see :func:`normal_from_bits`). The hash rounds are bijections of
32-bit words, so for a fixed key and pair distinct counters get distinct bits: every edge of
every sample has its own normal, and one square of n^2 normals serves two samples (the
batched solver, batched.py, draws n^2 / 2 normals per sample instead of n^2). A single
sample's matrix is still elementwise in (i, j), so it fuses into W0 + sigma Z and can be
generated where it is solved (see ``noise_sampler``).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

NOISE_KINDS = ("iid", "permuted")
MAX_VERTICES = 2**16  # edge counters i * n + j must fit in 32 bits


def _mix(x: jax.Array) -> jax.Array:
    """A 32-bit bijective integer hash with low avalanche bias (Wellons' "lowbias32")."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def _horner(coefficients, x):
    p = jnp.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        p = p * x + c
    return p


# ln(x) = ln(m) + e ln 2 with m in [sqrt(1/2), sqrt(2)): Cephes' logf polynomial (|error| of
# about 1 float32 ulp), written out because XLA:CPU's log is five times slower than this.
_LOG = (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
        1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
        3.3333331174e-1)  # fmt: skip
# Giles (2010), "Approximating the erfinv function", single precision, central and tail.
_ERFINV_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                   0.00021858087, -0.00125372503, -0.00417768164, 0.246640727,
                   1.50140941)  # fmt: skip
_ERFINV_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
                0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)  # fmt: skip


def _log(x: jax.Array) -> jax.Array:
    """Natural log of positive normal float32 x."""
    bits = jax.lax.bitcast_convert_type(x, jnp.int32)
    exponent = (bits >> 23) - 127
    m = jax.lax.bitcast_convert_type((bits & 0x007FFFFF) | 0x3F800000, jnp.float32)  # [1, 2)
    big = m > 1.41421356
    m = jnp.where(big, 0.5 * m, m)
    exponent = jnp.where(big, exponent + 1, exponent)
    f = m - 1.0
    z = f * f
    y = f * z * _horner(_LOG, f) - 0.5 * z
    return f + y + exponent.astype(jnp.float32) * 0.6931471805599453


# Jitted so that eager calls compile it as one kernel, as inside any jitted caller: XLA
# contracts its multiply-adds into FMAs there, so op-by-op evaluation would differ in the last
# bit and the same key would not give the same noise everywhere.
@partial(jax.jit, static_argnums=1)
def normal_from_bits(bits: jax.Array, dtype=jnp.float32) -> jax.Array:
    r"""Standard normal from the top 24 bits of uint32 words.

    v in (-1, 1) on odd multiples of 2^-24 (never +-1), then :math:`\sqrt2\,
    \mathrm{erfinv}(v)` by Giles' two polynomials in w = -ln((1 - v)(1 + v)). Equals the
    exact quantile :math:`\Phi^{-1}((m + 1/2) / 2^{24})` of the 24-bit integer m within
    1.1e-6 over all 2^24 values (tested), a tenth of the error of XLA's erf_inv, at a third
    of its cost on a CPU. Values lie in [-5.42, 5.42].
    """
    v = ((bits >> 8).astype(jnp.float32) * 2.0 - (2**24 - 1)) * (1.0 / 2**24)
    w = -_log((1.0 - v) * (1.0 + v))
    central = _horner(_ERFINV_CENTRAL, w - 2.5)
    tail = _horner(_ERFINV_TAIL, jnp.sqrt(w) - 3.0)
    return (jnp.sqrt(2.0) * jnp.where(w < 5.0, central, tail) * v).astype(dtype)


def _check_size(n: int) -> None:
    if n > MAX_VERTICES:
        raise ValueError(f"the noise generator supports n <= {MAX_VERTICES} vertices, got {n}.")


def _bits(words: jax.Array, pair: jax.Array, counter: jax.Array) -> jax.Array:
    pair_word = _mix(jnp.asarray(pair, jnp.uint32) + words[1])
    return _mix(_mix(_mix(counter ^ words[0]) ^ pair_word) + words[2])


def pair_square(words: jax.Array, pair: jax.Array, n: int, dtype=jnp.float32) -> jax.Array:
    """X_p: the (n, n) normals shared by samples 2p (upper triangle) and 2p + 1 (lower)."""
    _check_size(n)
    i = jax.lax.broadcasted_iota(jnp.uint32, (n, n), 0)
    j = jax.lax.broadcasted_iota(jnp.uint32, (n, n), 1)
    return normal_from_bits(_bits(words, pair, i * jnp.uint32(n) + j), dtype)


def split_pair(X: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(Z_2p, Z_2p+1) from X_p (trailing (n, n) axes): its triangles mirrored, zero diagonal."""
    n = X.shape[-1]
    i = jax.lax.broadcasted_iota(jnp.int32, (n, n), 0)
    j = jax.lax.broadcasted_iota(jnp.int32, (n, n), 1)
    XT = jnp.swapaxes(X, -1, -2)
    zero = jnp.zeros((), X.dtype)
    even = jnp.where(i < j, X, jnp.where(i > j, XT, zero))
    odd = jnp.where(i > j, X, jnp.where(i < j, XT, zero))
    return even, odd


def _symmetric_normal(words: jax.Array, b: jax.Array, n: int, dtype) -> jax.Array:
    """(n, n) symmetric standard normals of sample b, zero diagonal: the triangle of X_{b//2}
    that b's parity names, computed entry by entry (no X, no transpose)."""
    _check_size(n)
    b = jnp.asarray(b, jnp.uint32)
    i = jax.lax.broadcasted_iota(jnp.uint32, (n, n), 0)
    j = jax.lax.broadcasted_iota(jnp.uint32, (n, n), 1)
    lo, hi = jnp.minimum(i, j), jnp.maximum(i, j)
    counter = jnp.where((b & 1) == 0, lo * jnp.uint32(n) + hi, hi * jnp.uint32(n) + lo)
    return jnp.where(i == j, 0, normal_from_bits(_bits(words, b >> 1, counter), dtype))


def noise_words(key: jax.Array) -> jax.Array:
    """The three uint32 words of the iid generator that a key stands for."""
    return jax.random.bits(key, (3,), jnp.uint32)


def noise_sampler(key: jax.Array, n: int, kind: str = "iid", dtype=jnp.float32):
    """A function b -> Z_b, the (n, n) perturbation of sample b (jit- and vmap-able in b).

    Samples are generated where they are used, one at a time, so that a batch of
    num_samples perturbed matrices never has to exist in memory at once.
    """
    if kind == "iid":
        words = noise_words(key)
        return lambda b: _symmetric_normal(words, b, n, dtype)
    if kind == "permuted":
        key_g, key_p = jax.random.split(key)
        G = _symmetric_normal(noise_words(key_g), 0, n, dtype)

        def permuted(b):
            p = jax.random.permutation(jax.random.fold_in(key_p, b), n)
            return G[p[:, None], p[None, :]]

        return permuted
    raise ValueError(f"noise must be one of {NOISE_KINDS}, got {kind!r}.")


def sample_noise(key: jax.Array, num_samples: int, n: int, kind: str = "iid", dtype=jnp.float32):
    """(num_samples, n, n) symmetric standard-normal edge perturbations, all at once."""
    return jax.vmap(noise_sampler(key, n, kind, dtype))(jnp.arange(num_samples))
