"""Backbones take every dataset's input shape; auto-encoder decoders mirror their encoders."""

import jax
import jax.numpy as jnp
import optax
import pytest
from runner_helpers import compose_config

from diffclust.models import BACKBONES, build_backbone
from diffclust.models.autoencoder import ConvDecoder, ConvEncoder, MLPDecoder
from diffclust.models.mlp import MLPEncoder

SHAPES = [(8, 8, 1), (28, 28, 1), (32, 32, 3)]


@pytest.mark.parametrize("name", [n for n in BACKBONES.names() if n != "resnet"])
@pytest.mark.parametrize("shape", SHAPES)
def test_backbones_embed_every_input_shape(name, shape):
    cfg = compose_config(f"backbone={name}").backbone
    model = build_backbone(cfg)
    x = jnp.ones((3, *shape))
    z = model.apply(model.init(jax.random.key(0), x), x)
    assert z.shape == (3, cfg.embedding_dim) and bool(jnp.all(jnp.isfinite(z)))


@pytest.mark.parametrize("shape", SHAPES[:2])
@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_autoencoders_reconstruct_the_input_shape_and_fit_a_batch(shape, kind):
    encoder, decoder = (
        (MLPEncoder(10), MLPDecoder(shape))
        if kind == "mlp"
        else (ConvEncoder(10), ConvDecoder(shape))
    )
    x = jax.random.uniform(jax.random.key(0), (8, *shape))
    params = {"enc": encoder.init(jax.random.key(1), x)}
    params["dec"] = decoder.init(jax.random.key(2), encoder.apply(params["enc"], x))

    def loss(p):
        return jnp.mean((decoder.apply(p["dec"], encoder.apply(p["enc"], x)) - x) ** 2)

    opt = optax.adam(1e-3)
    state = opt.init(params)
    first = loss(params)
    step = jax.jit(lambda p, s: (lambda g: opt.update(g, s, p))(jax.grad(loss)(p)))
    for _ in range(60):
        updates, state = step(params, state)
        params = optax.apply_updates(params, updates)
    assert decoder.apply(params["dec"], encoder.apply(params["enc"], x)).shape == x.shape
    assert loss(params) < 0.5 * first
