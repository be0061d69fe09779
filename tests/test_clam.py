"""ClAM core: energy descent, Voronoi limit, masking, gradients against finite differences,
the spherical variant, and the paper's fitting procedure on separated clusters."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numeric import finite_difference
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from diffclust.clam import (
    Dynamics,
    FitOptions,
    Memories,
    am_step,
    assign,
    completion_loss,
    energy,
    fit_clam,
    mask_values,
    recursion,
    trajectory,
)
from diffclust.clam.fit import kmeans_plus_plus, restarts_at_once


def random_memories(rng, k, d, weighted=False, scale=1.0):
    log_weights = rng.normal(size=k) if weighted else np.zeros(k)
    return Memories(jnp.asarray(scale * rng.normal(size=(k, d))), jnp.asarray(log_weights))


def numpy_recursion(x, prototypes, log_weights, beta, alpha, steps, evolves):
    """Algorithm 1's loop written out (float64 oracle)."""
    v = np.array(x, np.float64)
    for _ in range(steps):
        diff = prototypes[None, :, :] - v[:, None, :]  # (n, k, d)
        scores = -beta * np.sum(diff**2, -1) + log_weights
        p = np.exp(scores - scores.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        v = v + alpha * evolves * np.einsum("nk,nkd->nd", p, diff)
    return v


@jax.jit
def path_energies(v, prototypes, log_weights, beta, alpha):
    memories, dynamics = Memories(prototypes, log_weights), Dynamics(beta, alpha, steps=15)
    path = trajectory(v, memories, dynamics)
    return jax.vmap(lambda u: energy(u, memories, dynamics))(path)


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.sampled_from([1, 7]),
    k=st.sampled_from([1, 3, 6]),
    d=st.sampled_from([1, 4]),
    beta=st.floats(0.01, 20.0),
    alpha=st.floats(0.05, 1.0),
    weighted=st.booleans(),
)
def test_the_recursion_never_raises_the_energy(seed, n, k, d, beta, alpha, weighted):
    # A step is gradient descent on E with step alpha / 2 and E's Hessian is at most 2I.
    rng = np.random.default_rng(seed)
    with jax.enable_x64(True):
        memories = random_memories(rng, k, d, weighted)
        v = jnp.asarray(rng.normal(size=(n, d)) * 2)
        energies = np.asarray(path_energies(v, *memories, beta, alpha))
    assert np.all(np.diff(energies, axis=0) <= 1e-9 * (1 + np.abs(energies[:-1])))


@pytest.mark.parametrize("seed", range(5))
def test_with_large_beta_points_fall_to_their_nearest_prototype(seed):
    rng = np.random.default_rng(seed)
    memories = random_memories(rng, k=6, d=3, scale=3.0)
    x = rng.normal(size=(400, 3)) * 3
    d2 = ((x[:, None, :] - np.asarray(memories.prototypes)[None]) ** 2).sum(-1)
    nearest = np.sort(d2, axis=1)
    clear = nearest[:, 1] - nearest[:, 0] > 0.5  # not on a Voronoi boundary
    dynamics = Dynamics(beta=50.0, alpha=0.5, steps=40)
    end = np.asarray(recursion(jnp.asarray(x, jnp.float32), memories, dynamics))
    voronoi = d2.argmin(1)
    np.testing.assert_allclose(
        end[clear], np.asarray(memories.prototypes)[voronoi[clear]], atol=1e-3
    )
    labels = np.asarray(assign(jnp.asarray(x, jnp.float32), memories, dynamics))
    assert np.array_equal(labels[clear], voronoi[clear])


def test_recursion_and_masked_loss_match_the_written_out_algorithm():
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        memories = random_memories(rng, 4, 6, weighted=True)
        x = jnp.asarray(rng.normal(size=(9, 6)))
        dynamics = Dynamics(beta=0.7, alpha=0.2, steps=5)
        key, fill = jax.random.key(3), jnp.asarray(rng.normal(size=6))
        loss = completion_loss(memories, x, dynamics, key, 0.3, fill)
        masked = np.asarray(jax.random.bernoulli(key, 0.3, x.shape), np.float64)
    x, P, W = np.asarray(x), np.asarray(memories.prototypes), np.asarray(memories.log_weights)
    x0 = x * (1 - masked) + np.asarray(fill) * masked
    xt = numpy_recursion(x0, P, W, 0.7, 0.2, 5, masked)
    # Unmasked coordinates never move; the loss scores masked coordinates only.
    np.testing.assert_array_equal(xt[masked == 0], x0[masked == 0])
    assert 0 < masked.sum() < masked.size
    np.testing.assert_allclose(float(loss), np.mean((masked * (x - xt)) ** 2), rtol=1e-10)


def test_without_a_mask_the_loss_is_equation_8():
    rng = np.random.default_rng(1)
    with jax.enable_x64(True):
        memories = random_memories(rng, 3, 4)
        x = jnp.asarray(rng.normal(size=(7, 4)))
        dynamics = Dynamics(beta=1.3, alpha=0.25, steps=4)
        loss = completion_loss(memories, x, dynamics, jax.random.key(0), 0.0, jnp.zeros(4))
    P, W = np.asarray(memories.prototypes), np.zeros(3)
    xt = numpy_recursion(np.asarray(x), P, W, 1.3, 0.25, 4, np.ones((7, 4)))
    np.testing.assert_allclose(float(loss), np.mean((np.asarray(x) - xt) ** 2), rtol=1e-10)


@pytest.mark.parametrize("spherical", [False, True])
def test_loss_gradients_match_finite_differences(spherical):
    rng = np.random.default_rng(2)
    with jax.enable_x64(True):
        memories = random_memories(rng, 3, 4, weighted=True)
        x = jnp.asarray(rng.normal(size=(8, 4)))
        dynamics = Dynamics(beta=0.8, alpha=0.3, steps=6, spherical=spherical)
        key, fill = jax.random.key(5), jnp.mean(x, axis=0)

        def loss(prototypes, log_weights):
            mem = Memories(jnp.asarray(prototypes), jnp.asarray(log_weights))
            return float(completion_loss(mem, x, dynamics, key, 0.3, fill))

        grads = jax.grad(lambda m: completion_loss(m, x, dynamics, key, 0.3, fill))(memories)
        P, W = np.asarray(memories.prototypes), np.asarray(memories.log_weights)
        fd_p = finite_difference(lambda p: loss(p, W), P)
        fd_w = finite_difference(lambda w: loss(P, w), W)
    np.testing.assert_allclose(grads.prototypes, fd_p, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(grads.log_weights, fd_w, rtol=1e-5, atol=1e-9)


def test_the_spherical_variant_keeps_points_on_the_sphere():
    rng = np.random.default_rng(3)
    memories = random_memories(rng, 5, 8)
    dynamics = Dynamics(beta=2.0, alpha=0.5, steps=10, spherical=True)
    v = jnp.asarray(rng.normal(size=(20, 8)), jnp.float32)
    v = v / jnp.linalg.norm(v, axis=1, keepdims=True)
    for _ in range(10):
        v = am_step(v, memories, dynamics)
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_fit_recovers_separated_clusters_and_keeps_the_lowest_loss_restart():
    x, y = make_blobs(300, n_features=5, centers=4, cluster_std=0.5, random_state=0)
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    dynamics = Dynamics(beta=2.0, alpha=0.1, steps=10)
    options = FitOptions(epochs=30, batch_size=16, lr=0.05, restarts=4, mask_prob=0.2)
    fit = fit_clam(x, 4, dynamics, options, seed=0)
    labels = np.asarray(assign(jnp.asarray(x), fit.memories, dynamics))
    assert adjusted_rand_score(y, labels) > 0.95
    assert fit.losses.shape == fit.table_losses.shape == (4, 30)
    assert (
        fit.loss == pytest.approx(fit.table_losses.min())
        and fit.best_restart == fit.table_losses.min(1).argmin()
    )
    # The same seed gives the same fit.
    again = fit_clam(x, 4, dynamics, options, seed=0)
    np.testing.assert_array_equal(again.memories.prototypes, fit.memories.prototypes)


def test_fit_keeps_the_memories_whose_own_loss_is_lowest():
    # With eq. 8 (no mask) the whole-table loss of given memories is a deterministic
    # function: the kept memories, scored from scratch, must give the reported loss, and no
    # epoch of any restart may have scored lower. (Ranking by the epoch's mean batch loss
    # scored parameters that were still moving, not the ones kept.)
    x, _ = make_blobs(200, n_features=4, centers=3, cluster_std=1.0, random_state=1)
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    dynamics = Dynamics(beta=1.0, alpha=0.1, steps=10)
    options = FitOptions(epochs=15, batch_size=16, lr=0.05, restarts=3, mask_prob=0.0)
    fit = fit_clam(x, 3, dynamics, options, seed=0)
    fill = mask_values(jnp.asarray(x), "mean")
    own = completion_loss(fit.memories, jnp.asarray(x), dynamics, jax.random.key(9), 0, fill)
    # float32 sums of 800 squared errors of size ~0.1: relative rounding below 1e-5.
    assert float(own) == pytest.approx(fit.loss, rel=1e-5)
    # the same float32 number, converted to Python floats on two paths
    assert fit.loss == pytest.approx(fit.table_losses.min(), rel=1e-6)


def test_restarts_in_sequence_fit_what_restarts_vmapped_fit():
    # Running restarts 2 (or 3: a last chunk of 1) at a time only regroups the same
    # computations: each restart keeps its key, so at most the order of float32 reductions
    # changes. A table loss is a mean of 90 x 6 = 540 nonnegative terms; reordering such a sum
    # moves it by about sqrt(540) = 23 float32 roundings (u = 6e-8) when they fall at random,
    # 1.4e-6 relative, and by at most 539 u = 3e-5 if every one fell the same way. rtol 1e-5
    # is 7 times the typical shift, room for it to grow over the 10 epochs; the prototypes
    # (|rho| < 1) get rtol 1e-4 / atol 1e-5, about 80 ulps of 1. On this CPU the regrouped
    # fits are bit-identical (measured difference 0), so any shift here is the regrouping's.
    x, _ = make_blobs(90, n_features=6, centers=3, cluster_std=0.7, random_state=2)
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    dynamics = Dynamics(beta=1.0, alpha=0.2, steps=5)
    fits = [
        fit_clam(x, 3, dynamics, FitOptions(epochs=10, restarts=5, restarts_at_once=r), seed=3)
        for r in (5, 2, 3)
    ]
    for fit in fits[1:]:
        assert fit.best_restart == fits[0].best_restart
        np.testing.assert_allclose(fit.table_losses, fits[0].table_losses, rtol=1e-5)
        np.testing.assert_allclose(
            fit.memories.prototypes, fits[0].memories.prototypes, rtol=1e-4, atol=1e-5
        )
    # The default: all at once for small batches or on an accelerator; on a CPU, 2 at a time
    # from 4096 numbers a batch.
    on_cpu = jax.default_backend() == "cpu"
    assert restarts_at_once(10, 8, 90) == 10
    assert restarts_at_once(10, 8, 1024) == (2 if on_cpu else 10)
    assert restarts_at_once(1, 128, 1024) == 1


def test_kmeans_plus_plus_draws_as_d2_sampling_does():
    # Brute-force oracle on 4 points of a line: the first row is uniform, the second is drawn
    # with probability d²(first, j) / Σ d²; compare with 20000 seeded draws.
    x = jnp.asarray([[0.0], [1.0], [3.0], [7.0]])
    d2 = (np.asarray(x) - np.asarray(x).T) ** 2
    exact = d2 / d2.sum(1, keepdims=True) / 4  # P(first = i, second = j)
    keys = jax.random.split(jax.random.key(0), 20000)
    drawn = jax.vmap(lambda key: kmeans_plus_plus(key, x, 2))(keys)[:, :, 0]
    rows = np.searchsorted(np.asarray(x)[:, 0], np.asarray(drawn))
    counts = np.zeros((4, 4))
    np.add.at(counts, (rows[:, 0], rows[:, 1]), 1)
    np.testing.assert_allclose(counts / len(keys), exact, atol=0.01)


@pytest.mark.slow
def test_kmeans_plus_plus_spreads_over_separated_clusters_and_fits_without_empty_ones():
    x, y = make_blobs(200, centers=20 * np.eye(8), cluster_std=0.1, random_state=1)
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    for seed in range(10):  # one row from each blob: another from the same one is ~4e-3 likely
        prototypes = np.asarray(kmeans_plus_plus(jax.random.key(seed), jnp.asarray(x), 8))
        rows = [np.flatnonzero((x == p).all(1))[0] for p in prototypes]
        assert sorted(y[rows]) == list(range(8))
    dynamics = Dynamics(beta=2.0, alpha=0.1, steps=10)
    options = FitOptions(epochs=20, batch_size=16, lr=0.05, restarts=2, init="kmeans++")
    fit = fit_clam(x, 8, dynamics, options, seed=0)
    labels = np.asarray(assign(jnp.asarray(x), fit.memories, dynamics))
    assert np.bincount(labels, minlength=8).min() > 0 and adjusted_rand_score(y, labels) > 0.95
