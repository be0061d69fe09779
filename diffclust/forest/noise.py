r"""Symmetric Gaussian perturbations of edge weights.

Each of the n(n-1)/2 edges gets its own standard normal; Z is symmetric with a zero diagonal,
so :math:`\Sigma + \varepsilon Z` perturbs each edge weight once (METHODS.md §1).

Two samplers:

* ``"iid"``: num_samples independent matrices, the estimator of the paper.
* ``"permuted"``: one symmetric Gaussian matrix G per call, relabelled for each sample by an
  independent uniformly random vertex permutation, Z_b = P_b G P_b^T. Each Z_b is exactly a
  symmetric i.i.d. Gaussian matrix, so Monte-Carlo means stay unbiased; the samples are only
  weakly dependent (they share G's values on different edges).

Generator. Samples come in pairs (2p, 2p + 1), and each edge {i < j} of a pair gets two
uniforms: u from a keyed integer hash of (key, p, counter i n + j), t from that of the counter
j n + i (23 bits each, midpoints of a 2^-23 grid). Box and Muller's transform makes them two
independent standard normals, sqrt(-2 ln u) cos(2 pi t) for sample 2p and sqrt(-2 ln u)
sin(2 pi t) for sample 2p + 1 (:func:`box_muller`). The hash rounds are bijections of 32-bit
words, so for a fixed key and pair distinct counters get distinct bits. Stored as one square
X_p (:func:`pair_square`), sample 2p reads its edge at X_p[i, j], sample 2p + 1 at X_p[j, i]:
one logarithm and one square root serve two samples (the batched solvers draw n^2 / 2
normals per sample). A single sample's matrix is still elementwise in (i, j), so it fuses into
W0 + sigma Z and can be generated where it is solved (see ``noise_sampler``).
"""

from __future__ import annotations

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
# sin(pi f / 2) / f and cos(pi f / 2) on [0, 1] as polynomials in f^2, least squares on
# Chebyshev nodes: 1.7e-7 from the exact values at most in float32 (tested over all 2^24 angles).
_SIN = (0.00015186275413725525, -0.004674552474170923, 0.07969020307064056,
        -0.6459638476371765, 1.5707963705062866)  # fmt: skip
_COS = (0.000859465915709734, -0.020813362672924995, 0.2536526620388031,
        -1.2336987257003784, 1.0)  # fmt: skip


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


def _uniform(bits: jax.Array, scale: float) -> jax.Array:
    """scale (m + 1/2) 2^-23 of the top 23 bits m: never 0 or scale, and exact in float32
    (a 24-bit grid's midpoints would need 25 bits)."""
    return ((bits >> 9).astype(jnp.float32) + 0.5) * (scale / 2**23)


# Jitted so that eager calls compile it as one kernel, as inside any jitted caller: XLA
# contracts its multiply-adds into FMAs there, so op-by-op evaluation would differ in the last
# bit and the same key would not give the same noise everywhere.
@jax.jit
def box_muller(bits_u: jax.Array, bits_t: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""Two independent standard normals from two uint32 words (Box and Muller, 1958).

    .. math:: r = \sqrt{-2 \ln u}, \qquad (r \cos 2\pi t,\; r \sin 2\pi t)

    with u and t the midpoints of the 23-bit grid cells of the words' top bits. The angle is
    reduced to a quarter turn q + f (f in [0, 1)), where sin and cos are polynomials; ln is a
    bit-level polynomial (XLA:CPU's is five times slower). Radii reach sqrt(2 ln 2^24) = 5.77.
    """
    r = jnp.sqrt(-2.0 * _log(_uniform(bits_u, 1.0)))
    turns = _uniform(bits_t, 4.0)  # in quarter turns, [0, 4)
    quarter = turns.astype(jnp.int32)
    f = turns - quarter.astype(jnp.float32)
    g = f * f
    sin, cos = f * _horner(_SIN, g), _horner(_COS, g)
    c = jnp.select([quarter == 0, quarter == 1, quarter == 2], [cos, -sin, -cos], sin)
    s = jnp.select([quarter == 0, quarter == 1, quarter == 2], [sin, cos, -sin], -cos)
    return r * c, r * s


def _check_size(n: int) -> None:
    if n > MAX_VERTICES:
        raise ValueError(f"the noise generator supports n <= {MAX_VERTICES} vertices, got {n}.")


def _bits(words: jax.Array, pair: jax.Array, counter: jax.Array) -> jax.Array:
    pair_word = _mix(jnp.asarray(pair, jnp.uint32) + words[1])
    return _mix(_mix(_mix(counter ^ words[0]) ^ pair_word) + words[2])


def _edge_normal(words, pair, i, j, n: int, upper: jax.Array, dtype) -> jax.Array:
    """The normal of edge {i, j} for the pair's even sample (``upper``) or its odd one."""
    lo, hi = jnp.minimum(i, j), jnp.maximum(i, j)
    x, y = box_muller(_bits(words, pair, lo * n + hi), _bits(words, pair, hi * n + lo))
    return jnp.where(upper, x, y).astype(dtype)


def pair_square(words: jax.Array, pair: jax.Array, n: int, dtype=jnp.float32) -> jax.Array:
    """X_p: the (n, n) normals shared by samples 2p (upper triangle) and 2p + 1 (lower)."""
    _check_size(n)
    i = jax.lax.broadcasted_iota(jnp.uint32, (n, n), 0)
    j = jax.lax.broadcasted_iota(jnp.uint32, (n, n), 1)
    return _edge_normal(words, pair, i, j, jnp.uint32(n), i <= j, dtype)


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
    Z = _edge_normal(words, b >> 1, i, j, jnp.uint32(n), (b & 1) == 0, dtype)
    return jnp.where(i == j, 0, Z)


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
