"""TrainClAM (Algorithm 1) as the paper runs it: random prototypes, Adam, the learning rate
times 0.8 after 5 epochs without improvement (down to 1e-5), N epochs, R restarts, and the
parameters of the lowest training loss kept (appendix A.3, B.1).

"Lowest training loss" is measured on the parameters that are kept: after each epoch, the
loss of its final memories on the whole table, under one fixed mask shared by every epoch
and restart (a paired comparison). The epoch's mean batch loss, which the paper's code
ranks by, averages over parameters that changed during the epoch; it still drives the
plateau schedule.

All R restarts train together and all epochs run in one jitted program (a scan over epochs of
a scan over batches), so a whole fit is one compilation and no Python per step. On an
accelerator the restarts are vmapped at once; on a CPU, restarts whose batches are large run
two at a time (see :func:`restarts_at_once`), which gives the same fit up to float rounding.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from diffclust.clam.core import Dynamics, Memories, completion_loss, mask_values


@dataclass(frozen=True)
class FitOptions:
    epochs: int = 200
    batch_size: int = 8
    lr: float = 0.01
    restarts: int = 10
    mask_prob: float = 0.15  # 0: the unmasked loss of eq. 8
    mask_value: str = "mean"  # mean | min | max of each feature
    weighted: bool = False  # learn log ε_μ too (eq. 10-11)
    plateau_factor: float = 0.8
    plateau_patience: int = 5  # epochs
    plateau_rtol: float = 1e-3  # relative improvement of the epoch loss that counts
    min_lr: float = 1e-5
    # "normal": prototypes start as N(init_mean, init_std) draws, as in the published code
    # (made for standardised features); "data": as k distinct random rows of x (any scale);
    # "kmeans++": as k rows of x drawn by D² sampling, spread over the data, so fewer
    # memories start (and stay) where no point ends up: fewer empty clusters.
    init: str = "normal"
    init_mean: float = 0.1
    init_std: float = 0.1
    # How many restarts are vmapped together (the others follow in sequence); None: the
    # choice of restarts_at_once(). How the fit is computed, not what it fits.
    restarts_at_once: int | None = None


class Fit(NamedTuple):
    memories: Memories  # of the best restart, after its epoch of lowest whole-table loss
    loss: float  # that loss
    losses: np.ndarray  # (restarts, epochs) mean batch loss of each epoch
    table_losses: np.ndarray  # (restarts, epochs) whole-table loss after each epoch
    best_restart: int


# One restart's batch (rows x features) from which a CPU fit runs restarts two at a time.
CHUNKED_FROM = 4096


def restarts_at_once(restarts: int, batch: int, d: int) -> int:
    """How many restarts to vmap together: all of them on an accelerator or when batches are
    small; on a CPU, 2 when one restart's batch holds at least CHUNKED_FROM numbers. There a
    vmapped step over all restarts streams arrays (and a scan of T steps' residuals) that
    outgrow the caches, and two workers on two cores do better with smaller steps. Two
    workers at once (scripts/bench_clam_fit.py --workers 2): on Yale's 165 x 1024, 2 at a
    time is 1.29 times faster at batch 8 and 1.18 at batch 128; on Movement Libras' 360 x
    90, 1.09 at batch 128, but 0.68 at batch 8 (720 numbers), where all stay vmapped."""
    if jax.default_backend() != "cpu" or batch * d < CHUNKED_FROM:
        return restarts
    return min(2, restarts)


class _Shape(NamedTuple):
    """What fixes the compiled program; the numbers (beta, alpha, lr, ...) are traced, so one
    compilation serves a whole hyperparameter grid over them (e.g. a Hydra multirun)."""

    k: int
    steps: int
    spherical: bool
    epochs: int
    batch: int
    batches: int
    restarts: int
    at_once: int  # restarts vmapped together
    weighted: bool
    masked: bool
    mask_value: str
    init: str
    patience: int
    plateau_factor: float
    plateau_rtol: float


def _optimizer(shape: _Shape, numbers: dict) -> optax.GradientTransformation:
    # The plateau test sees the mean batch loss of each epoch (accumulation_size batches).
    return optax.chain(
        optax.adam(numbers["lr"]),
        optax.contrib.reduce_on_plateau(
            factor=shape.plateau_factor,
            patience=shape.patience,
            rtol=shape.plateau_rtol,
            accumulation_size=shape.batches,
            min_scale=numbers["min_lr"] / numbers["lr"],
        ),
    )


INITS = ("normal", "data", "kmeans++")


def kmeans_plus_plus(key: jax.Array, x: jax.Array, k: int) -> jax.Array:
    """k rows of ``x`` (n, d) drawn by D² sampling (Arthur & Vassilvitskii, 2007): the first
    uniformly, each next one with probability proportional to its squared distance to the
    nearest row drawn so far. Rows already drawn have distance 0 and are not drawn again
    (unless every row coincides with one, when the draw is uniform)."""
    keys = jax.random.split(key, k)
    first = jax.random.randint(keys[0], (), 0, x.shape[0])
    rows = jnp.zeros((k,), jnp.int32).at[0].set(first)
    d2 = jnp.sum((x - x[first]) ** 2, axis=-1)

    def draw(i, carry):
        rows, d2 = carry
        logits = jnp.where(d2 > 0, jnp.log(jnp.where(d2 > 0, d2, 1.0)), -jnp.inf)
        logits = jnp.where(jnp.any(d2 > 0), logits, 0.0)
        row = jax.random.categorical(keys[i], logits)
        return rows.at[i].set(row), jnp.minimum(d2, jnp.sum((x - x[row]) ** 2, axis=-1))

    rows, _ = jax.lax.fori_loop(1, k, draw, (rows, d2))
    return x[rows]


def init_memories(key: jax.Array, x: jax.Array, k: int, init: str, numbers: dict) -> Memories:
    if init == "data":
        prototypes = x[jax.random.choice(key, x.shape[0], (k,), replace=False)]
    elif init == "kmeans++":
        prototypes = kmeans_plus_plus(key, x, k)
    else:
        noise = jax.random.normal(key, (k, x.shape[1]))
        prototypes = numbers["init_mean"] + numbers["init_std"] * noise
    return Memories(prototypes, jnp.zeros((k,), x.dtype))


def fit_clam(x: np.ndarray, k: int, dynamics: Dynamics, options: FitOptions, seed: int) -> Fit:
    """Learns k memories for the rows of ``x`` (n, d); see the module docstring."""
    if options.init not in INITS:
        raise ValueError(f"init {options.init!r}; use one of {INITS}")
    if options.restarts_at_once is not None and options.restarts_at_once < 1:
        raise ValueError(f"restarts_at_once={options.restarts_at_once}; use None or >= 1")
    x = jnp.asarray(x, jnp.float32)
    n = x.shape[0]
    batch = min(options.batch_size, n)
    shape = _Shape(
        k=k,
        steps=dynamics.steps,
        spherical=dynamics.spherical,
        epochs=options.epochs,
        batch=batch,
        batches=-(-n // batch),  # the last batch is completed with the epoch's first points
        restarts=options.restarts,
        at_once=options.restarts_at_once or restarts_at_once(options.restarts, batch, x.shape[1]),
        weighted=options.weighted,
        masked=options.mask_prob > 0,
        mask_value=options.mask_value,
        init=options.init,
        patience=options.plateau_patience,
        plateau_factor=options.plateau_factor,
        plateau_rtol=options.plateau_rtol,
    )
    numbers = {
        name: jnp.float32(value)
        for name, value in [
            ("beta", dynamics.beta),
            ("alpha", dynamics.alpha),
            ("lr", options.lr),
            ("mask_prob", options.mask_prob),
            ("min_lr", options.min_lr),
            ("init_mean", options.init_mean),
            ("init_std", options.init_std),
        ]
    }
    key, score_key = jax.random.split(jax.random.key(seed))
    keys = jax.random.split(key, options.restarts)
    best, best_loss, losses, table_losses = _fit(shape, x, keys, score_key, numbers)
    winner = int(jnp.argmin(best_loss))
    return Fit(
        memories=jax.tree.map(lambda a: a[winner], best),
        loss=float(best_loss[winner]),
        losses=np.asarray(losses),
        table_losses=np.asarray(table_losses),
        best_restart=winner,
    )


@functools.partial(jax.jit, static_argnums=0)
def _fit(shape: _Shape, x: jax.Array, keys: jax.Array, score_key: jax.Array, numbers: dict):
    """All restarts (``shape.at_once`` vmapped at a time) over all epochs: (best memories,
    their whole-table loss, mean batch losses, whole-table losses)."""
    n = x.shape[0]
    dynamics = Dynamics(numbers["beta"], numbers["alpha"], shape.steps, shape.spherical)
    mask_prob = numbers["mask_prob"] if shape.masked else 0.0
    fill = mask_values(x, shape.mask_value)
    optimizer = _optimizer(shape, numbers)

    def loss_fn(memories, xb, key):
        if not shape.weighted:
            memories = memories._replace(log_weights=jax.lax.stop_gradient(memories.log_weights))
        return completion_loss(memories, xb, dynamics, key, mask_prob, fill)

    def batch_step(carry, inputs):
        memories, opt_state = carry
        idx, key = inputs
        loss, grads = jax.value_and_grad(loss_fn)(memories, x[idx], key)
        updates, opt_state = optimizer.update(grads, opt_state, memories, value=loss)
        return (optax.apply_updates(memories, updates), opt_state), loss

    def epoch(carry, key):
        memories, opt_state, best, best_loss = carry
        order_key, mask_key = jax.random.split(key)
        order = jnp.resize(jax.random.permutation(order_key, n), (shape.batches * shape.batch,))
        inputs = (
            order.reshape(shape.batches, shape.batch),
            jax.random.split(mask_key, shape.batches),
        )
        (memories, opt_state), losses = jax.lax.scan(batch_step, (memories, opt_state), inputs)
        table_loss = loss_fn(memories, x, score_key)  # of the memories that may be kept
        better = table_loss < best_loss
        best = jax.tree.map(lambda new, old: jnp.where(better, new, old), memories, best)
        carry = (memories, opt_state, best, jnp.minimum(table_loss, best_loss))
        return carry, (jnp.mean(losses), table_loss)

    def one_restart(key):
        init_key, train_key = jax.random.split(key)
        memories = init_memories(init_key, x, shape.k, shape.init, numbers)
        carry = (memories, optimizer.init(memories), memories, jnp.float32(jnp.inf))
        (_, _, best, best_loss), (losses, table_losses) = jax.lax.scan(
            epoch, carry, jax.random.split(train_key, shape.epochs)
        )
        return best, best_loss, losses, table_losses

    if shape.at_once >= shape.restarts:
        return jax.vmap(one_restart)(keys)
    return jax.lax.map(one_restart, keys, batch_size=shape.at_once)
