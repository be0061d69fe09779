"""TrainClAM as the authors' published code runs it (github.com/bsaha205/clam: amc_t.py,
helper.py, mhn.py, hyper_params.py), detail for detail: ``head.protocol=paper``.

Where that code and the paper's text differ, the code is followed (it made the paper's
numbers); every such choice, and what this port does differently, is listed in the README
(ClAM at the paper's fidelity). Per restart, from memories drawn from N(0.1, 0.1²):

* epochs 1..N over the standardised table, reshuffled each epoch, in batches of B with the
  last one partial; one Adam step (Keras' Adam, ε = 1e-7) per batch on the masked completion
  loss, the mean over the batch's B·d entries of the squared error on masked coordinates;
* masks: ⌊d·p⌋ column draws per row (``published``: uniform over columns 1..d-1, with
  replacement, as ``np.random.randint(1, d, q)``; ``distinct``: exactly ⌊d·p⌋ distinct columns
  of all d); on epochs divisible by ``dim_change_cycle`` every row of a batch shares one mask;
  a masked coordinate starts at the feature's zero / mean / min / max over the table, and only
  masked coordinates move during the T steps;
* the epoch loss is the sum of its batch losses; the parameters of the lowest epoch loss are
  kept; from epoch 10 the mean of the last 10 epoch losses is compared with the previous
  mean: a fall below 1e-3 (absolute) is a stalled epoch, and 5 stalled epochs in a row
  multiply the learning rate by 0.8; training stops when the rate falls below 1e-6, or when
  an epoch's loss is NaN (the restart then yields nothing).

Every restart is a candidate of its own (the code ranks each configuration x restart by the
silhouette); choosing among them is the head's job. All restarts run at once (vmapped), all
epochs in one jitted program.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from diffclust.clam.core import Dynamics, Memories, mask_values, recursion

MASK_DRAWS = ("published", "distinct")


@dataclass(frozen=True)
class PublishedOptions:
    """hyper_params.py's constants and a configuration's searched values."""

    epochs: int = 200  # N_ep
    batch_size: int = 8
    lr: float = 0.01  # the initial learning rate
    restarts: int = 10  # N_init (1 in the published file, 10 in the paper)
    mask_prob: float = 0.15  # p: ⌊d·p⌋ column draws per row
    mask_value: str = "mean"  # zero | mean | min | max of each standardised feature
    mask_draw: str = "published"  # published | distinct (see the module docstring)
    dim_change_cycle: int = 3  # epochs divisible by it mask whole columns of a batch
    window: int = 10  # epochs in the plateau test's running mean
    threshold: float = 1e-3  # loss_threshold: an absolute fall of that mean
    patience: int = 5  # max_patience
    factor: float = 0.8  # reduce_frac
    stop_lr: float = 1e-6  # learning_rate_threshold: training stops below it
    adam_eps: float = 1e-7  # Keras' default
    init_mean: float = 0.1  # mu
    init_std: float = 0.1  # sigma


def masked_count(d: int, mask_prob: float) -> int:
    """⌊d·p⌋, as ``int(dimension * mask_prob)`` in helper.py."""
    return int(d * mask_prob)


def paper_steps(alpha: float, extra: int = 0) -> int:
    """T = int(1/α) + extra steps (amc_t.py's ``N_steps``)."""
    return int(1 / alpha) + extra


def draw_masks(key: jax.Array, rows: int, d: int, q: int, draw: str) -> jax.Array:
    """(rows, d) float masks, 1 on masked coordinates: per row q uniform draws of a column in
    1..d-1 with replacement (``published``: column 0 never masked, repeats masking fewer), or
    q distinct columns of all d (``distinct``)."""
    if draw == "published":
        columns = jax.random.randint(key, (rows, q), 1, d)
        return jnp.zeros((rows, d)).at[jnp.arange(rows)[:, None], columns].set(1.0)
    # The q smallest of d uniforms per row: a uniform q-subset, exactly q columns.
    ranks = jnp.argsort(jnp.argsort(jax.random.uniform(key, (rows, d)), axis=1), axis=1)
    return (ranks < q).astype(jnp.float32)


def batch_masks(
    key: jax.Array, epoch: jax.Array, batch: int, d: int, q: int, cycle: int, draw: str
) -> jax.Array:
    """One batch's masks in epoch ``epoch`` (counted from 1): on epochs divisible by
    ``cycle`` a single draw shared by every row (helper.py's ``is_entire_dim``), else one
    per row."""
    per_row = draw_masks(key, batch, d, q, draw)
    return jnp.where(epoch % cycle == 0, jnp.broadcast_to(per_row[0], per_row.shape), per_row)


class Plateau(NamedTuple):
    """amc_t.py's learning-rate schedule state."""

    lr: jax.Array
    patience: jax.Array  # stalled epochs in a row
    window: jax.Array  # (window,) the last epoch losses, oldest first
    prev_mean: jax.Array  # 100000 before the first test
    stopped: jax.Array  # the rate fell below stop_lr (or a loss was NaN): no more epochs


def plateau_start(lr, window: int) -> Plateau:
    return Plateau(
        jnp.asarray(lr, jnp.float32),
        jnp.int32(0),
        jnp.zeros(window),
        jnp.float32(100000.0),
        jnp.bool_(False),
    )


def plateau_update(
    state: Plateau, epoch: jax.Array, loss: jax.Array, options: PublishedOptions
) -> Plateau:
    """The schedule after epoch ``epoch`` (from 1) whose summed batch loss is ``loss``: from
    epoch ``window`` on, the running mean's fall below ``threshold`` counts a stalled epoch,
    and ``patience`` of them in a row scale the rate by ``factor``; below ``stop_lr`` (or on
    a NaN loss) training stops."""
    window = jnp.concatenate([state.window[1:], loss[None]])
    mean = jnp.mean(window)
    tested = epoch >= options.window
    stalled = state.prev_mean - mean < options.threshold
    patience = jnp.where(stalled, state.patience + 1, 0)
    reduce = patience == options.patience
    lr = jnp.where(tested & reduce, state.lr * options.factor, state.lr)
    patience = jnp.where(reduce, 0, patience)
    return Plateau(
        lr=lr,
        patience=jnp.where(tested, patience, state.patience),
        window=window,
        prev_mean=jnp.where(tested, mean, state.prev_mean),
        stopped=state.stopped | (lr < options.stop_lr) | jnp.isnan(loss),
    )


class KerasAdam(NamedTuple):
    m: Memories
    v: Memories
    t: jax.Array


def keras_adam(grads: Memories, state: KerasAdam, lr: jax.Array, eps: float):
    """TF 2.4 Keras Adam: lr·√(1-β₂ᵗ)/(1-β₁ᵗ) · m / (√v + ε) (its ε sits outside the bias
    correction, unlike optax's)."""
    b1, b2 = 0.9, 0.999
    t = state.t + 1
    m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state.m, grads)
    v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, state.v, grads)
    rate = lr * jnp.sqrt(1 - b2**t) / (1 - b1**t)
    step = jax.tree.map(lambda m, v: -rate * m / (jnp.sqrt(v) + eps), m, v)
    return step, KerasAdam(m, v, t)


def batch_loss(
    memories: Memories,
    x: jax.Array,
    masks: jax.Array,
    fill: jax.Array,
    rows: jax.Array,
    dynamics: Dynamics,
) -> jax.Array:
    """helper.py's mean_squared_loss of a batch: masked coordinates start at ``fill`` and
    alone evolve; mean of mask·(x - x^T)² over the batch's real rows (``rows`` 1, padding 0)
    times d."""
    x0 = x * (1.0 - masks) + fill * masks
    xt = recursion(x0, memories, dynamics, evolves=masks)
    errors = jnp.sum(masks * (x - xt) ** 2, axis=1)
    return jnp.sum(rows * errors) / (jnp.sum(rows) * x.shape[1])


class PublishedFit(NamedTuple):
    """Per restart (leading axis R): the memories of its lowest epoch loss, that loss (inf
    when the restart hit a NaN: it yields nothing), its epoch, the epochs run, and each
    epoch's summed loss and learning rate (NaN after the stop)."""

    memories: Memories
    best_loss: np.ndarray
    best_epoch: np.ndarray
    epochs_run: np.ndarray
    losses: np.ndarray
    lrs: np.ndarray


class _Shape(NamedTuple):
    k: int
    steps: int
    batch: int
    batches: int
    restarts: int
    q: int
    options: PublishedOptions


def fit_published(
    x: np.ndarray, k: int, dynamics: Dynamics, options: PublishedOptions, seed: int
) -> PublishedFit:
    """Runs ``options.restarts`` restarts of the published TrainClAM on the standardised rows
    of ``x`` (n, d); ``dynamics.beta`` multiplies the squared distance (the code's β/2)."""
    if options.mask_draw not in MASK_DRAWS:
        raise ValueError(f"mask draw {options.mask_draw!r}; use one of {MASK_DRAWS}")
    x = jnp.asarray(x, jnp.float32)
    n, d = x.shape
    batch = min(options.batch_size, n)
    shape = _Shape(
        k=k,
        steps=dynamics.steps,
        batch=batch,
        batches=-(-n // batch),
        restarts=options.restarts,
        q=masked_count(d, options.mask_prob),
        # lr is traced with beta and alpha: one compilation serves a grid over all three.
        options=dataclasses.replace(options, lr=0.0),
    )
    numbers = tuple(jnp.float32(v) for v in (dynamics.beta, dynamics.alpha, options.lr))
    keys = jax.random.split(jax.random.key(seed), options.restarts)
    fit = _fit(shape, x, keys, numbers)
    return PublishedFit(*jax.tree.map(np.asarray, fit))


@functools.partial(jax.jit, static_argnums=0)
def _fit(shape: _Shape, x: jax.Array, keys: jax.Array, numbers: tuple):
    options = shape.options
    n, d = x.shape
    dynamics = Dynamics(numbers[0], numbers[1], shape.steps)
    fill = mask_values(x, options.mask_value)
    padded = shape.batches * shape.batch
    # The last batch is partial: its missing rows are padding that the loss ignores.
    rows = (jnp.arange(padded) < n).astype(jnp.float32).reshape(shape.batches, shape.batch)
    loss_and_grad = jax.value_and_grad(batch_loss)

    def batch_step(carry, inputs):
        memories, adam, lr, active = carry
        idx, real, key, epoch = inputs
        masks = batch_masks(
            key, epoch, shape.batch, d, shape.q, options.dim_change_cycle, options.mask_draw
        )
        loss, grads = loss_and_grad(memories, x[idx], masks, fill, real, dynamics)
        grads = grads._replace(log_weights=jnp.zeros_like(grads.log_weights))  # not trained
        step, new_adam = keras_adam(grads, adam, lr, options.adam_eps)
        memories = jax.tree.map(lambda p, s: p + jnp.where(active, s, 0.0), memories, step)
        adam = jax.tree.map(lambda new, old: jnp.where(active, new, old), new_adam, adam)
        return (memories, adam, lr, active), loss

    def epoch_step(carry, inputs):
        memories, adam, plateau, best, best_loss, best_epoch, epochs_run = carry
        epoch, key = inputs
        order_key, mask_key = jax.random.split(key)
        order = jnp.concatenate(
            [jax.random.permutation(order_key, n), jnp.zeros(padded - n, jnp.int32)]
        )
        active = ~plateau.stopped
        inputs = (
            order.reshape(shape.batches, shape.batch),
            rows,
            jax.random.split(mask_key, shape.batches),
            jnp.full(shape.batches, epoch),
        )
        (memories, adam, _, _), losses = jax.lax.scan(
            batch_step, (memories, adam, plateau.lr, active), inputs
        )
        loss = jnp.sum(losses)
        better = active & (loss < best_loss)  # NaN never is
        best = jax.tree.map(lambda new, old: jnp.where(better, new, old), memories, best)
        best_loss = jnp.where(better, loss, best_loss)
        best_epoch = jnp.where(better, epoch, best_epoch)
        lr = plateau.lr
        plateau = jax.tree.map(
            lambda new, old: jnp.where(active, new, old),
            plateau_update(plateau, epoch, loss, options),
            plateau,
        )
        # A NaN epoch ends the restart with nothing (amc_t.py writes no record for it).
        best_loss = jnp.where(active & jnp.isnan(loss), jnp.inf, best_loss)
        epochs_run = epochs_run + active
        record = (jnp.where(active, loss, jnp.nan), jnp.where(active, lr, jnp.nan))
        return (memories, adam, plateau, best, best_loss, best_epoch, epochs_run), record

    def one_restart(key):
        init_key, train_key = jax.random.split(key)
        noise = jax.random.normal(init_key, (shape.k, d))
        memories = Memories(options.init_mean + options.init_std * noise, jnp.zeros(shape.k))
        zeros = jax.tree.map(jnp.zeros_like, memories)
        carry = (
            memories,
            KerasAdam(zeros, zeros, jnp.int32(0)),
            plateau_start(numbers[2], options.window),
            memories,
            jnp.float32(jnp.inf),
            jnp.int32(0),
            jnp.int32(0),
        )
        epochs = jnp.arange(1, options.epochs + 1)
        carry, (losses, lrs) = jax.lax.scan(
            epoch_step, carry, (epochs, jax.random.split(train_key, options.epochs))
        )
        _, _, _, best, best_loss, best_epoch, epochs_run = carry
        return best, best_loss, best_epoch, epochs_run, losses, lrs

    return jax.vmap(one_restart)(keys)
