"""The ``backbone`` config group: Flax networks that embed a batch, one schema per option."""

from __future__ import annotations

from dataclasses import dataclass, field

import flax.linen as nn

from diffclust.models.lenet import LeNet
from diffclust.models.mlp import MLPEncoder
from diffclust.registry import Registry

BACKBONES: Registry = Registry("backbone")


@dataclass
class LeNetConfig:
    name: str = "lenet"
    embedding_dim: int = 64
    channels: list[int] = field(default_factory=lambda: [6, 16])
    hidden: list[int] = field(default_factory=lambda: [120, 84])


@dataclass
class MLPConfig:
    name: str = "mlp"
    embedding_dim: int = 10
    hidden: list[int] = field(default_factory=lambda: [500, 250])


@BACKBONES.register("lenet", LeNetConfig)
def lenet(cfg: LeNetConfig) -> nn.Module:
    return LeNet(cfg.embedding_dim, tuple(cfg.channels), tuple(cfg.hidden))


@BACKBONES.register("mlp", MLPConfig)
def mlp(cfg: MLPConfig) -> nn.Module:
    return MLPEncoder(cfg.embedding_dim, tuple(cfg.hidden))


def build_backbone(cfg) -> nn.Module:
    return BACKBONES.get(cfg.name)(cfg)
