"""The ``optim`` config group: optax optimisers."""

from __future__ import annotations

from dataclasses import dataclass

import optax

from diffclust.registry import Registry

OPTIMIZERS: Registry = Registry("optim")


@dataclass
class AdamWConfig:
    """Adam with weight decay, the forest paper's defaults (lr 3e-4, betas (0.9, 0.999),
    decay 1e-4). The paper says "Adam with an l2 weight decay"; its published code's
    ``--optimizer adamw`` is ``optax.adamw``, decoupled decay (Loshchilov & Hutter), our
    default. ``decoupled=false`` adds the l2 term to the gradient before Adam instead."""

    name: str = "adamw"
    lr: float = 3e-4
    b1: float = 0.9
    b2: float = 0.999
    weight_decay: float = 1e-4  # 0: plain Adam
    decoupled: bool = True
    decay_every: int | None = None  # step decay: lr x decay_factor every this many steps
    decay_factor: float = 0.5


def learning_rate(cfg) -> optax.Schedule | float:
    if cfg.decay_every is None:
        return cfg.lr
    return optax.exponential_decay(cfg.lr, cfg.decay_every, cfg.decay_factor, staircase=True)


@OPTIMIZERS.register("adamw", AdamWConfig)
def adamw(cfg: AdamWConfig) -> optax.GradientTransformation:
    lr = learning_rate(cfg)
    if cfg.decoupled:
        return optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, weight_decay=cfg.weight_decay)
    adam = optax.adam(lr, b1=cfg.b1, b2=cfg.b2)
    return optax.chain(optax.add_decayed_weights(cfg.weight_decay), adam)


@dataclass
class SGDConfig:
    name: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.0


@OPTIMIZERS.register("sgd", SGDConfig)
def sgd(cfg: SGDConfig) -> optax.GradientTransformation:
    return optax.sgd(cfg.lr, momentum=cfg.momentum or None)


def build_optimizer(cfg) -> optax.GradientTransformation:
    return OPTIMIZERS.get(cfg.name)(cfg)
