"""The jitted pieces of a run: initial state, training step, embeddings and evaluations.

The state is a plain pytree orbax can save: {'params': {'backbone', 'head'}, 'batch_stats',
'opt_state', 'step'}; ``batch_stats`` holds BatchNorm statistics (empty without BatchNorm).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from diffclust.models.autoencoder import AutoEncoder


def init_state(backbone, head, optimizer, input_shape, seed: int) -> dict:
    key_backbone, key_head = jax.random.split(jax.random.key(seed))
    dummy = jnp.zeros((1, *input_shape), jnp.float32)
    # An auto-encoder initialises through its decoder too.
    method = AutoEncoder.reconstruct if isinstance(backbone, AutoEncoder) else None
    variables = backbone.init(key_backbone, dummy, method=method)
    batch_stats = variables.get("batch_stats", {})
    head_params = {}
    if head.module is not None:
        z = backbone.apply(variables, dummy)
        head_params = head.module.init(key_head, z)["params"]
    params = {"backbone": variables.get("params", {}), "head": head_params}
    return {
        "params": params,
        "batch_stats": batch_stats,
        "opt_state": optimizer.init(params),
        "step": jnp.int32(0),
    }


def embed(backbone, params, batch_stats, x, train: bool):
    """Backbone embedding; in training also the updated BatchNorm statistics."""
    variables = {"params": params["backbone"]}
    if not batch_stats:
        return backbone.apply(variables, x, train=train), batch_stats
    variables["batch_stats"] = batch_stats
    if not train:
        return backbone.apply(variables, x, train=False), batch_stats
    z, updates = backbone.apply(variables, x, train=True, mutable=["batch_stats"])
    return z, updates["batch_stats"]


def reconstruction_loss(backbone, params, z, x) -> jax.Array:
    """ℓ_r = (1/n) Σ_i ||x_i - g(f(x_i))||² (the OT paper's eq. 2), per-example sums."""
    x_hat = backbone.apply({"params": params["backbone"]}, z, method=AutoEncoder.decode)
    return jnp.mean(jnp.sum((x_hat - x).reshape(x.shape[0], -1) ** 2, axis=1))


def mask_inputs(x: jax.Array, rate: float, key: jax.Array) -> jax.Array:
    """Zeroes each input entry with probability ``rate``: the corruption of a denoising
    auto-encoder (Vincent et al. 2010), as in DEC's pre-training (Xie et al. 2016)."""
    if rate == 0.0:
        return x
    return jnp.where(jax.random.bernoulli(key, rate, x.shape), 0.0, x)


def make_train_step(
    backbone, head, loss_cfg, optimizer, clustering: bool = True, input_noise: float = 0.0
):
    """``train_step(state, x, y, known, key) -> (state, loss, metrics)``.

    The loss is ``head.loss(loss_cfg, ...)``; with an auto-encoder, ℓ_r + that loss;
    ``clustering=False`` drops the latter (pre-training). ``input_noise`` makes it a denoising
    auto-encoder: the encoder sees masked inputs, the decoder must give back the clean ones.
    A step whose loss reports ``metrics["skip"]`` (e.g. a Sinkhorn that did not converge)
    leaves the state as it was.
    """
    autoencoder = isinstance(backbone, AutoEncoder)

    def objective(params, batch_stats, x, y, known, key):
        key, noise_key = jax.random.split(key)
        x_in = mask_inputs(x, input_noise, noise_key) if autoencoder else x
        z, batch_stats = embed(backbone, params, batch_stats, x_in, train=True)
        loss, metrics = jnp.zeros((), z.dtype), {}
        if clustering:
            loss, metrics = head.loss(loss_cfg, params["head"], z, y, known, key)
        if autoencoder:
            recon = reconstruction_loss(backbone, params, z, x)
            loss, metrics = loss + recon, {**metrics, "reconstruction": recon}
        return loss, (batch_stats, metrics)

    @jax.jit
    def train_step(state, x, y, known, key):
        (loss, (batch_stats, metrics)), grads = jax.value_and_grad(objective, has_aux=True)(
            state["params"], state["batch_stats"], x, y, known, key
        )
        updates, opt_state = optimizer.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        new = {"params": params, "batch_stats": batch_stats, "opt_state": opt_state}
        if "skip" in metrics:
            skip = metrics.pop("skip")
            new = jax.tree.map(lambda n, o: jnp.where(skip, o, n), new, _without_step(state))
            metrics["skipped"] = skip.astype(jnp.float32)
        return {**new, "step": state["step"] + 1}, loss, metrics

    return train_step


def _without_step(state: dict) -> dict:
    return {k: v for k, v in state.items() if k != "step"}


def make_embed(backbone):
    @jax.jit
    def embed_eval(state, x):
        return embed(backbone, state["params"], state["batch_stats"], x, train=False)[0]

    return embed_eval
