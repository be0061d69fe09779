"""The ``backbone`` config group: Flax networks that embed a batch, one schema per option."""

from __future__ import annotations

from dataclasses import dataclass, field

import flax.linen as nn

from diffclust.errors import UserError
from diffclust.models.autoencoder import AutoEncoder, ConvDecoder, ConvEncoder, MLPDecoder
from diffclust.models.lenet import LeNet
from diffclust.models.mlp import MLPEncoder
from diffclust.models.resnet import DEPTHS, ResNet
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
    decoder: bool = False  # an auto-encoder: the mirrored decoder adds a reconstruction loss


@dataclass
class ResNetConfig:
    """ResNet with a CIFAR stem; depth 18 or 50."""

    name: str = "resnet"
    depth: int = 50
    embedding_dim: int = 128


@dataclass
class ConvConfig:
    """The conv auto-encoder's encoder (32/64/128 channels, kernels 5/5/3, stride 2)."""

    name: str = "conv"
    embedding_dim: int = 10
    decoder: bool = False  # an auto-encoder: the mirrored decoder adds a reconstruction loss


@BACKBONES.register("conv", ConvConfig)
def conv(cfg: ConvConfig, input_shape: tuple[int, ...]) -> nn.Module:
    encoder = ConvEncoder(cfg.embedding_dim)
    if not cfg.decoder:
        return encoder
    if len(input_shape) != 3:
        raise UserError(
            f"backbone=conv needs images (H, W, C); this dataset has inputs of shape {input_shape}"
        )
    return AutoEncoder(encoder, ConvDecoder(input_shape))


@dataclass
class IdentityConfig:
    """No network: flattened inputs are the embedding (k-means on raw pixels)."""

    name: str = "identity"


class Identity(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        return x.reshape(x.shape[0], -1)


@BACKBONES.register("identity", IdentityConfig)
def identity(cfg: IdentityConfig, input_shape: tuple[int, ...]) -> nn.Module:
    return Identity()


@dataclass
class LinearConfig:
    """A linear map of flattened inputs (the denoising experiment's 4x2 theta)."""

    name: str = "linear"
    embedding_dim: int = 2
    use_bias: bool = False
    init_std: float | None = None  # weights ~ N(0, init_std^2); None: LeCun normal


class Linear(nn.Module):
    embedding_dim: int
    use_bias: bool
    init_std: float | None = None

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = x.reshape(x.shape[0], -1)
        init = nn.initializers.lecun_normal()
        if self.init_std is not None:
            init = nn.initializers.normal(self.init_std)
        return nn.Dense(self.embedding_dim, use_bias=self.use_bias, kernel_init=init)(x)


@BACKBONES.register("linear", LinearConfig)
def linear(cfg: LinearConfig, input_shape: tuple[int, ...]) -> nn.Module:
    return Linear(cfg.embedding_dim, cfg.use_bias, cfg.init_std)


@BACKBONES.register("lenet", LeNetConfig)
def lenet(cfg: LeNetConfig, input_shape: tuple[int, ...]) -> nn.Module:
    return LeNet(cfg.embedding_dim, tuple(cfg.channels), tuple(cfg.hidden))


@BACKBONES.register("mlp", MLPConfig)
def mlp(cfg: MLPConfig, input_shape: tuple[int, ...]) -> nn.Module:
    encoder = MLPEncoder(cfg.embedding_dim, tuple(cfg.hidden))
    if not cfg.decoder:
        return encoder
    return AutoEncoder(encoder, MLPDecoder(input_shape, tuple(reversed(cfg.hidden))))


@BACKBONES.register("resnet", ResNetConfig)
def resnet(cfg: ResNetConfig, input_shape: tuple[int, ...]) -> nn.Module:
    if cfg.depth not in DEPTHS:
        raise UserError(
            f"backbone.depth={cfg.depth} is not available; choose one of {sorted(DEPTHS)}"
        )
    return ResNet(cfg.depth, cfg.embedding_dim)


def build_backbone(cfg, input_shape: tuple[int, ...]) -> nn.Module:
    """The backbone for inputs of ``input_shape`` (a decoder must know what to rebuild)."""
    return BACKBONES.get(cfg.name)(cfg, tuple(input_shape))
