"""ResNet with a CIFAR stem (3x3 conv, no max-pool), as in the forest paper's CIFAR-10 runs.

ResNet-18 uses basic blocks (2, 2, 2, 2), ResNet-50 bottleneck blocks (3, 4, 6, 3) with
expansion 4 (He et al., 2016). BatchNorm statistics live in the ``batch_stats`` collection:
updated in training (``train=True``, mutable), running averages in evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp


class BasicBlock(nn.Module):
    features: int
    strides: int = 1
    expansion = 1

    @nn.compact
    def __call__(self, x, norm):
        y = nn.Conv(self.features, (3, 3), self.strides, padding=1, use_bias=False)(x)
        y = nn.relu(norm()(y))
        y = nn.Conv(self.features, (3, 3), padding=1, use_bias=False)(y)
        y = norm(scale_init=nn.initializers.zeros)(y)
        return nn.relu(y + _shortcut(x, y.shape[-1], self.strides, norm))


class Bottleneck(nn.Module):
    features: int
    strides: int = 1
    expansion = 4

    @nn.compact
    def __call__(self, x, norm):
        y = nn.relu(norm()(nn.Conv(self.features, (1, 1), use_bias=False)(x)))
        y = nn.Conv(self.features, (3, 3), self.strides, padding=1, use_bias=False)(y)
        y = nn.relu(norm()(y))
        y = nn.Conv(self.features * 4, (1, 1), use_bias=False)(y)
        y = norm(scale_init=nn.initializers.zeros)(y)
        return nn.relu(y + _shortcut(x, y.shape[-1], self.strides, norm))


def _shortcut(x, features: int, strides: int, norm):
    if x.shape[-1] == features and strides == 1:
        return x
    return norm()(nn.Conv(features, (1, 1), strides, use_bias=False)(x))


DEPTHS = {18: (BasicBlock, (2, 2, 2, 2)), 50: (Bottleneck, (3, 4, 6, 3))}


class ResNet(nn.Module):
    depth: int = 18
    embedding_dim: int = 128
    widths: Sequence[int] = (64, 128, 256, 512)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        block, counts = DEPTHS[self.depth]
        norm = partial(nn.BatchNorm, use_running_average=not train, momentum=0.9, epsilon=1e-5)
        x = nn.relu(norm()(nn.Conv(self.widths[0], (3, 3), padding=1, use_bias=False)(x)))
        for stage, (width, count) in enumerate(zip(self.widths, counts, strict=True)):
            for i in range(count):
                strides = 2 if stage > 0 and i == 0 else 1
                x = block(width, strides)(x, norm)
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.embedding_dim)(x)
