"""Similarity matrices of embeddings, and the batch-wise clustering error."""

from __future__ import annotations

import jax
import jax.numpy as jnp

SIMILARITY_KINDS = ("sqeuclidean", "cosine", "exp")


def _sqdist(Z: jax.Array) -> jax.Array:
    # The Gram expansion keeps gradients finite on the diagonal, where sqrt or norms of zero
    # differences would not be.
    sq = jnp.sum(Z * Z, axis=-1)
    return jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * Z @ Z.T, 0.0)


def similarity(
    Z: jax.Array,
    kind: str = "sqeuclidean",
    standardize: bool = True,
    temperature: float | None = None,
) -> jax.Array:
    r"""Pairwise similarity :math:`\Sigma` of embeddings Z (n, d).

    * ``"sqeuclidean"``: :math:`\Sigma_{ij} = -\|z_i - z_j\|^2` (the reference);
    * ``"cosine"``: :math:`\Sigma_{ij} = \langle z_i, z_j\rangle / (\|z_i\|\|z_j\|)`;
    * ``"exp"``: :math:`\Sigma_{ij} = \exp(-\|z_i - z_j\|^2 / \tau)` (METHODS.md §1).

    With ``standardize``, :math:`\Sigma \leftarrow (\Sigma - \mathrm{mean}\,\Sigma) /
    \mathrm{std}\,\Sigma` over all n^2 entries as in the reference code, so that the noise
    scale sigma does not depend on the embedding scale (std is
    :math:`\sqrt{\mathrm{var} + 10^{-12}}`: finite gradients when the embeddings collapse).
    ``temperature`` :math:`\tau` (default 1) divides the first two kinds after the
    standardisation, which would otherwise undo it: it sets the scale of :math:`\Sigma`
    against the noise, as sigma x tau would.
    """
    if jnp.ndim(Z) != 2:
        raise ValueError(f"Z must be an (n, d) matrix of embeddings, got shape {jnp.shape(Z)}.")
    tau = 1.0 if temperature is None else temperature
    if kind == "sqeuclidean":
        S = -_sqdist(Z)
    elif kind == "cosine":
        U = Z / jnp.maximum(jnp.linalg.norm(Z, axis=-1, keepdims=True), 1e-12)
        S = U @ U.T
    elif kind == "exp":
        S = jnp.exp(-_sqdist(Z) / tau)
    else:
        raise ValueError(f"kind must be one of {SIMILARITY_KINDS}, got {kind!r}.")
    if standardize:
        centred = S - jnp.mean(S)
        S = centred / jnp.sqrt(jnp.mean(centred**2) + 1e-12)
    return S if kind == "exp" else S / tau


def clustering_error(M_pred: jax.Array, M_true: jax.Array) -> jax.Array:
    r"""Batch-wise clustering error :math:`\frac{1}{n^2}\sum_{ij} |M^{pred}_{ij} - M^{true}_{ij}|`.

    The paper's metric (Stewart et al., NeurIPS 2023, §4.1); precision is 1 - error.
    """
    if jnp.shape(M_pred) != jnp.shape(M_true):
        raise ValueError(
            f"M_pred and M_true must have the same shape, got {jnp.shape(M_pred)} and "
            f"{jnp.shape(M_true)}."
        )
    return jnp.mean(jnp.abs(M_pred - M_true))
