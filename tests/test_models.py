"""Backbones take every dataset's input shape; auto-encoder decoders mirror their encoders."""

import math

import jax
import jax.numpy as jnp
import optax
import pytest
from runner_helpers import compose_config

from diffclust.models import BACKBONES, build_backbone
from diffclust.models.autoencoder import AutoEncoder, ConvDecoder, ConvEncoder, MLPDecoder
from diffclust.models.mlp import MLPEncoder

SHAPES = [(8, 8, 1), (28, 28, 1), (32, 32, 3)]


@pytest.mark.parametrize("name", [n for n in BACKBONES.names() if n != "resnet"])
@pytest.mark.parametrize("shape", SHAPES)
def test_backbones_embed_every_input_shape(name, shape):
    cfg = compose_config(f"backbone={name}").backbone
    model = build_backbone(cfg, shape)
    x = jnp.ones((3, *shape))
    z = model.apply(model.init(jax.random.key(0), x), x)
    dim = cfg.embedding_dim if "embedding_dim" in cfg else math.prod(shape)
    assert z.shape == (3, dim) and bool(jnp.all(jnp.isfinite(z)))


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_decoder_option_makes_an_autoencoder_of_the_input_shape(name):
    cfg = compose_config(f"backbone={name}", "backbone.decoder=true").backbone
    model = build_backbone(cfg, (28, 28, 1))
    assert isinstance(model, AutoEncoder)
    x = jnp.ones((2, 28, 28, 1))
    variables = model.init(jax.random.key(0), x, method=AutoEncoder.reconstruct)
    assert set(variables["params"]) == {"encoder", "decoder"}
    assert model.apply(variables, x).shape == (2, 10)
    assert model.apply(variables, x, method=AutoEncoder.reconstruct).shape == x.shape


@pytest.mark.slow
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
