"""The counter-based Gaussian edge noise: symmetric, standard normal, independent."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from diffclust.forest import native
from diffclust.forest.noise import (
    box_muller,
    noise_sampler,
    noise_words,
    pair_square,
    sample_noise,
)

KEY = jax.random.key(3)


@pytest.mark.parametrize("kind", ["iid", "permuted"])
def test_noise_is_symmetric_standard_normal_with_zero_diagonal(kind):
    n = 64
    Z = np.asarray(sample_noise(KEY, 50, n, kind))
    np.testing.assert_array_equal(Z, Z.transpose(0, 2, 1))
    assert not Z[:, np.arange(n), np.arange(n)].any()
    edges = Z[:, *np.triu_indices(n, 1)]
    # Permuted samples share one matrix's values, so only iid samples may be pooled.
    pooled = edges.ravel() if kind == "iid" else edges[0]
    assert stats.kstest(pooled, "norm").pvalue > 1e-3
    assert abs(pooled.mean()) < 4 / np.sqrt(pooled.size)
    assert abs(pooled.std() - 1.0) < 4 / np.sqrt(pooled.size)


def test_iid_samples_and_edges_are_uncorrelated():
    edges = np.asarray(sample_noise(KEY, 200, 32))[:, *np.triu_indices(32, 1)]
    across_samples = np.corrcoef(edges[:-1].ravel(), edges[1:].ravel())[0, 1]
    across_edges = np.corrcoef(edges[:, :-1].ravel(), edges[:, 1:].ravel())[0, 1]
    # 100k pairs: the standard error of a zero correlation is ~0.003.
    assert abs(across_samples) < 0.015 and abs(across_edges) < 0.015
    # No value repeats within a sample (distinct counters, bijective hashing).
    assert all(len(np.unique(row)) == row.size for row in edges[:10])


def test_samples_are_reproducible_from_the_key_alone():
    sample = jax.jit(noise_sampler(KEY, 16))
    Z = sample_noise(KEY, 5, 16)
    np.testing.assert_array_equal(sample(3), Z[3])
    assert not np.array_equal(Z, sample_noise(jax.random.key(4), 5, 16))
    assert jnp.all(jnp.isfinite(Z))


GRID = jnp.arange(2**23, dtype=jnp.uint32) << 9  # every 23-bit uniform the generator makes
MIDPOINTS = (np.arange(2**23) + 0.5) / 2**23


def test_box_muller_radii_and_angles_are_exact_to_float32():
    """All 2^23 radii sqrt(-2 ln u) (angle fixed near 0) and all 2^23 angles (u fixed) against
    float64: a few float32 ulps of the result, |r| < 5.78 where an ulp is 4.8e-7 (4 of them:
    1.9e-6); cos and sin in [-1, 1], ulp <= 1.2e-7 (4 of them: 4.8e-7)."""
    x, _ = box_muller(GRID, jnp.zeros_like(GRID))  # t = 2^-24: cos 2 pi t = 1 - 2e-13
    radius = np.sqrt(-2.0 * np.log(MIDPOINTS))
    assert np.max(np.abs(np.asarray(x, np.float64) - radius)) < 1.9e-6
    assert radius.max() < 5.78
    half = jnp.full_like(GRID, jnp.uint32(2**22 << 9))  # u = 1/2 + 2^-24
    r = np.sqrt(-2.0 * np.log((2**22 + 0.5) / 2**23))
    x, y = box_muller(half, GRID)
    np.testing.assert_allclose(
        np.asarray(x) / r, np.cos(2 * np.pi * MIDPOINTS), rtol=0, atol=4.8e-7
    )
    np.testing.assert_allclose(
        np.asarray(y) / r, np.sin(2 * np.pi * MIDPOINTS), rtol=0, atol=4.8e-7
    )


def test_the_two_samples_of_a_pair_are_independent():
    """Samples 2p and 2p + 1 read the two triangles of one square of normals: no correlation
    between them (200 pairs x 2016 edges: a zero correlation's standard error is 0.0016, 4 of
    them 0.0063), and each alone is symmetric standard normal."""
    Z = np.asarray(sample_noise(KEY, 400, 64))
    edges = Z[:, *np.triu_indices(64, 1)]
    assert abs(np.corrcoef(edges[0::2].ravel(), edges[1::2].ravel())[0, 1]) < 0.0063
    X = np.asarray(pair_square(noise_words(KEY), jnp.uint32(3), 64))
    np.testing.assert_array_equal(Z[6][np.triu_indices(64, 1)], X[np.triu_indices(64, 1)])
    np.testing.assert_array_equal(Z[7][np.tril_indices(64, -1)], X[np.tril_indices(64, -1)])


@pytest.mark.skipif(not native.available(), reason="the native kernel is not built here")
def test_native_box_muller_is_bit_identical():
    """The CPU kernel's transform is XLA's to the bit: every radius with every angle, in three
    pairings (both round each multiply-add once, where XLA fuses them)."""
    golden = jnp.uint32(2654435761)
    for u, t in ((GRID, GRID[::-1]), (GRID[::-1] ^ 12345, GRID), (GRID | 511, GRID * golden)):
        for ours, xla in zip(native.box_muller(u, t), box_muller(u, t), strict=True):
            np.testing.assert_array_equal(ours, xla)
