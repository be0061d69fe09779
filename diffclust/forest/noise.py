r"""Symmetric Gaussian perturbations of edge weights.

Each of the n(n-1)/2 edges gets its own standard normal; Z is symmetric with a zero diagonal,
so :math:`\Sigma + \varepsilon Z` perturbs each edge weight once (METHODS.md §1).

Two samplers:

* ``"iid"``: num_samples independent matrices, the estimator of the paper. Costs
  num_samples * n^2 normal draws, which dominates at large n on a CPU.
* ``"permuted"``: one symmetric Gaussian matrix G per call, relabelled for each sample by an
  independent uniformly random vertex permutation, Z_b = P_b G P_b^T. Each Z_b is exactly a
  symmetric i.i.d. Gaussian matrix, so Monte-Carlo means stay unbiased; the samples are only
  weakly dependent (they share G's values on different edges). n^2 draws in total.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

NOISE_KINDS = ("iid", "permuted")


def _symmetric_normal(key: jax.Array, shape: tuple[int, ...], dtype) -> jax.Array:
    """Standard normals on the strict upper triangle, mirrored; zero diagonal."""
    upper = jnp.triu(jax.random.normal(key, shape, dtype), k=1)
    return upper + jnp.swapaxes(upper, -1, -2)


def sample_noise(key: jax.Array, num_samples: int, n: int, kind: str = "iid", dtype=jnp.float32):
    """(num_samples, n, n) symmetric standard-normal edge perturbations."""
    if kind == "iid":
        return _symmetric_normal(key, (num_samples, n, n), dtype)
    if kind == "permuted":
        key_g, key_p = jax.random.split(key)
        G = _symmetric_normal(key_g, (n, n), dtype)
        perms = jax.vmap(lambda k: jax.random.permutation(k, n))(
            jax.random.split(key_p, num_samples)
        )
        return jax.vmap(lambda p: G[p[:, None], p[None, :]])(perms)
    raise ValueError(f"noise must be one of {NOISE_KINDS}, got {kind!r}.")
