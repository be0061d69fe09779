"""Fully connected encoder (and the mirrored decoder used by auto-encoders)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax


class MLPEncoder(nn.Module):
    """Flatten, ReLU hidden layers, linear embedding (500-250-10 in the OT paper)."""

    embedding_dim: int = 10
    hidden: Sequence[int] = (500, 250)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = x.reshape(x.shape[0], -1)
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(self.embedding_dim)(x)
