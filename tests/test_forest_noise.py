"""The counter-based Gaussian edge noise: symmetric, standard normal, independent."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from diffclust.forest.noise import noise_sampler, sample_noise

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
