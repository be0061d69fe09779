"""Cross-entropy baseline head: a dense layer on the embedding; clustering uses the embedding."""

from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import jax

from diffclust.forest import similarity


@dataclass
class ClassifierConfig:
    name: str = "classifier"


@dataclass(frozen=True)
class ClassifierHead:
    cfg: ClassifierConfig
    num_classes: int
    assigns = False  # evaluated by the spanning forest of its similarity

    @property
    def module(self) -> nn.Module:
        return nn.Dense(self.num_classes)

    def logits(self, head_params, z: jax.Array) -> jax.Array:
        return self.module.apply({"params": head_params}, z)

    def similarity(self, head_params, z: jax.Array) -> jax.Array:
        """The baseline is evaluated like the forest head: its embedding is clustered."""
        return similarity(z)
