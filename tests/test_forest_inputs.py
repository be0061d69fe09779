"""User mistakes raise one clear ValueError naming the argument; NaN never looks plausible."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffclust.forest import (
    constrained_spanning_forest,
    partial_fy_loss,
    perturbed_spanning_forest,
    reference_spanning_forest,
    spanning_forest,
    target_from_labels,
)

S = jnp.asarray(np.random.default_rng(0).normal(size=(6, 6)), jnp.float32)
C = jnp.zeros((6, 6), jnp.int8)
KEY = jax.random.key(0)


@pytest.mark.parametrize("solver", [spanning_forest, reference_spanning_forest])
@pytest.mark.parametrize(
    "args, match",
    [
        ((jnp.ones((3, 4)), 1), "S must be a square"),
        ((jnp.ones((2, 3, 3)), 1), "S must be a square"),
        ((jnp.ones((4, 4), jnp.int32), 1), "floating"),
        ((S, 0), "1 <= k <= n"),
        ((S, 7), "1 <= k <= n"),
        ((S, 2.0), "k must be an integer"),
    ],
)
def test_bad_similarity_or_k(solver, args, match):
    with pytest.raises(ValueError, match=match):
        solver(*args)


@pytest.mark.parametrize(
    "bad_C, match",
    [
        (jnp.zeros((5, 5), jnp.int8), r"C must have shape \(6, 6\)"),
        (C.at[0, 1].set(2), "found \\[2\\]"),
    ],
)
def test_bad_constraints(bad_C, match):
    with pytest.raises(ValueError, match=match):
        constrained_spanning_forest(S, 2, bad_C)
    with pytest.raises(ValueError, match=match):
        perturbed_spanning_forest(S, 2, sigma=0.1, num_samples=4, key=KEY, C=bad_C)


def test_bad_perturbation_arguments():
    with pytest.raises(ValueError, match="sigma must be > 0"):
        perturbed_spanning_forest(S, 2, sigma=0.0, num_samples=4, key=KEY)
    with pytest.raises(ValueError, match="num_samples"):
        perturbed_spanning_forest(S, 2, sigma=0.1, num_samples=0, key=KEY)
    with pytest.raises(ValueError, match="noise must be one of"):
        perturbed_spanning_forest(S, 2, sigma=0.1, num_samples=4, key=KEY, noise="gumbel")
    with pytest.raises(ValueError, match="M_target must have shape"):
        partial_fy_loss(S, jnp.ones((5, 5)), 2, sigma=0.1, num_samples=4, key=KEY)
    with pytest.raises(ValueError, match="M_target must be floating"):
        partial_fy_loss(S, jnp.ones((6, 6), jnp.int32), 2, sigma=0.1, num_samples=4, key=KEY)


def test_traced_k_is_clipped_not_out_of_range():
    A, _ = jax.jit(spanning_forest)(S, 99)
    assert float(A.sum()) == 0.0  # clipped to k = n: no edges


def test_nan_similarity_gives_nan_not_a_forest():
    bad = S.at[1, 2].set(jnp.nan)
    for A, M in [spanning_forest(bad, 2), constrained_spanning_forest(bad, 2, C)]:
        assert np.isnan(A).all() and np.isnan(M).all()
    A, F, M = perturbed_spanning_forest(bad, 2, sigma=0.1, num_samples=4, key=KEY)
    assert np.isnan(A).all() and np.isnan(F) and np.isnan(M).all()
    M_t = target_from_labels(jnp.arange(6) % 2)
    value, grad = jax.value_and_grad(
        lambda S: partial_fy_loss(S, M_t, 2, sigma=0.1, num_samples=4, key=KEY)
    )(bad)
    assert np.isnan(value) and np.isnan(grad).any()
