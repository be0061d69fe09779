"""LeNet-5 as used by the forest paper's supervised experiments (two conv + pool stages)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax


class LeNet(nn.Module):
    """conv 6@5x5 - max-pool 2 - conv 16@5x5 - max-pool 2 - dense 120 - dense 84 - embedding.

    'SAME' padding lets the same network take 8x8 digits, 28x28 MNIST and 32x32 CIFAR images.
    """

    embedding_dim: int = 64
    channels: Sequence[int] = (6, 16)
    hidden: Sequence[int] = (120, 84)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        for c in self.channels:
            x = nn.relu(nn.Conv(c, (5, 5), padding="SAME")(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
        x = x.reshape(x.shape[0], -1)
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(self.embedding_dim)(x)
