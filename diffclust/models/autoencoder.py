"""Auto-encoder parts: the mirrored MLP decoder and the convolutional encoder / decoder.

Conv encoder: 32@5x5, 64@5x5, 128@3x3, all stride 2 with 'SAME' padding, then a dense
embedding (the conv auto-encoder of the deep-clustering literature, e.g. Guo et al., 2017).
The decoder mirrors it with transposed convolutions and crops to the input size, so any
image size works (28 -> 14 -> 7 -> 4 -> 8 -> 16 -> 32 -> crop 28).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax

CONV = ((32, 5), (64, 5), (128, 3))  # (channels, kernel) per stride-2 stage


class MLPDecoder(nn.Module):
    """Mirror of :class:`~diffclust.models.mlp.MLPEncoder`: embedding -> hidden[::-1] -> input."""

    output_shape: Sequence[int]
    hidden: Sequence[int] = (250, 500)

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
        for width in self.hidden:
            z = nn.relu(nn.Dense(width)(z))
        x = nn.Dense(math.prod(self.output_shape))(z)
        return x.reshape(z.shape[0], *self.output_shape)


class ConvEncoder(nn.Module):
    embedding_dim: int = 10

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        for channels, kernel in CONV:
            x = nn.relu(nn.Conv(channels, (kernel, kernel), strides=2, padding="SAME")(x))
        return nn.Dense(self.embedding_dim)(x.reshape(x.shape[0], -1))


class ConvDecoder(nn.Module):
    """Embedding -> image of ``output_shape`` (H, W, C), mirroring :class:`ConvEncoder`."""

    output_shape: Sequence[int]

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
        height, width, channels = self.output_shape
        scale = 2 ** len(CONV)
        h, w = math.ceil(height / scale), math.ceil(width / scale)
        x = nn.relu(nn.Dense(h * w * CONV[-1][0])(z)).reshape(z.shape[0], h, w, CONV[-1][0])
        stages = [(c, k) for (c, _), (_, k) in zip(CONV[-2::-1], CONV[:0:-1], strict=True)]
        for c, k in stages:
            x = nn.relu(nn.ConvTranspose(c, (k, k), strides=(2, 2), padding="SAME")(x))
        k = CONV[0][1]
        x = nn.ConvTranspose(channels, (k, k), strides=(2, 2), padding="SAME")(x)
        return x[:, :height, :width, :]


class AutoEncoder(nn.Module):
    """An encoder (the backbone: ``__call__`` embeds) with a decoder for the reconstruction
    loss. Initialise with ``method=AutoEncoder.reconstruct`` so both get parameters."""

    encoder: nn.Module
    decoder: nn.Module

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return self.encoder(x, train)

    def decode(self, z: jax.Array) -> jax.Array:
        return self.decoder(z)

    def reconstruct(self, x: jax.Array, train: bool = False) -> jax.Array:
        return self.decoder(self.encoder(x, train))
