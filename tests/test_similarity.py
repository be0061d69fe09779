"""similarity kinds against direct formulas, and the clustering error."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.distance import cdist

from diffclust.forest import clustering_error, similarity, target_from_labels

Z = np.random.default_rng(0).normal(size=(12, 5)).astype(np.float32)


def test_sqeuclidean_is_the_standardised_negative_squared_distance():
    D = -cdist(Z, Z, "sqeuclidean")
    np.testing.assert_allclose(similarity(jnp.asarray(Z)), (D - D.mean()) / D.std(), atol=1e-4)
    np.testing.assert_allclose(similarity(jnp.asarray(Z), standardize=False), D, atol=1e-4)


def test_cosine_and_exp():
    np.testing.assert_allclose(
        similarity(jnp.asarray(Z), "cosine", standardize=False),
        1 - cdist(Z, Z, "cosine"),
        atol=1e-5,
    )
    np.testing.assert_allclose(
        similarity(jnp.asarray(Z), "exp", standardize=False, temperature=4.0),
        np.exp(-cdist(Z, Z, "sqeuclidean") / 4.0),
        atol=1e-5,
    )


def test_gradient_is_finite_with_duplicate_points():
    Zd = jnp.asarray(np.concatenate([Z, Z[:3]]))
    g = jax.grad(lambda Z: jnp.sum(similarity(Z) ** 2))(Zd)
    assert np.isfinite(g).all()


def test_bad_kind_and_shape():
    with pytest.raises(ValueError, match="kind must be one of"):
        similarity(jnp.asarray(Z), "manhattan")
    with pytest.raises(ValueError, match="Z must be an"):
        similarity(jnp.ones(3))


def test_clustering_error_is_the_mean_absolute_difference():
    M_true = target_from_labels(jnp.array([0, 0, 1, 1]))
    M_pred = target_from_labels(jnp.array([0, 0, 0, 1]))
    assert float(clustering_error(M_pred, M_true)) == pytest.approx(6 / 16)
    assert float(clustering_error(M_true, M_true)) == 0.0


@pytest.mark.parametrize("kind", ["sqeuclidean", "cosine"])
def test_temperature_scales_the_standardised_similarity(kind):
    # Standardising first would divide tau out again; after it, tau is the scale of S
    # against the perturbation noise (the forest of S / tau + sigma N is that of
    # S + sigma tau N).
    S = similarity(jnp.asarray(Z), kind)
    np.testing.assert_allclose(
        similarity(jnp.asarray(Z), kind, temperature=4.0), S / 4.0, rtol=1e-6
    )


@pytest.mark.parametrize("kind", ["sqeuclidean", "cosine", "exp"])
def test_gradient_is_finite_when_the_embeddings_collapse(kind):
    # Every row equal: S is constant, its std 0; d std / d S would be 0 / 0 with a plain
    # sqrt, so the gradient was NaN. The collapsed S carries no signal: its gradient is 0.
    collapsed = jnp.ones((6, 3))
    g = jax.grad(lambda Z: jnp.sum(similarity(Z, kind) * jnp.arange(36.0).reshape(6, 6)))(collapsed)
    assert np.isfinite(g).all()
