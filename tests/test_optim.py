"""The optimisers against Adam's first step written out by hand."""

import jax.numpy as jnp
import numpy as np
import optax
from omegaconf import OmegaConf

from diffclust.optim import AdamWConfig, build_optimizer


def first_update(decoupled: bool, params, grads, lr=0.1, weight_decay=0.5):
    cfg = OmegaConf.structured(AdamWConfig(lr=lr, weight_decay=weight_decay, decoupled=decoupled))
    opt = build_optimizer(cfg)
    updates, _ = opt.update(grads, opt.init(params), params)
    return np.asarray(updates)


def test_adamw_decays_apart_from_adam_and_the_l2_variant_inside_it():
    # Adam's first step is -lr * g / (|g| + eps) = -lr * sign(g) (bias-corrected moments),
    # up to float32: 1 - b2 = 1 - 0.999 is off by 1.3e-5 relative in float32, hence atol
    # 3e-5 * lr on updates of size lr.
    params, grads = jnp.array([1.0, -2.0, 3.0]), jnp.array([0.3, 0.3, -2.0])
    lr, wd = 0.1, 0.5
    decoupled = -lr * (np.sign(grads) + wd * params)  # optax.adamw: decay after Adam
    coupled = -lr * np.sign(grads + wd * params)  # l2 in the gradient, then Adam
    np.testing.assert_allclose(first_update(True, params, grads, lr, wd), decoupled, atol=3e-5 * lr)
    np.testing.assert_allclose(first_update(False, params, grads, lr, wd), coupled, atol=3e-5 * lr)
    assert not np.allclose(decoupled, coupled)
    reference = optax.adamw(lr, weight_decay=wd).update(grads, optax.adamw(lr).init(params), params)
    np.testing.assert_allclose(first_update(True, params, grads, lr, wd), reference[0], rtol=1e-6)
