"""Cross-entropy baseline head: a dense layer on the embedding, trained on the known labels;
evaluated like the forest head, by clustering its embedding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import flax.linen as nn
import jax

from diffclust.forest import similarity
from diffclust.heads.base import BatchHead
from diffclust.losses import cross_entropy


@dataclass
class ClassifierConfig:
    name: str = "classifier"


@dataclass(frozen=True)
class ClassifierHead(BatchHead):
    losses: ClassVar[tuple[str, ...]] = ("cross_entropy",)

    @property
    def module(self) -> nn.Module:
        return nn.Dense(self.num_classes)

    def similarity(self, params, z: jax.Array) -> jax.Array:
        """The baseline is evaluated like the forest head: its embedding is clustered."""
        return similarity(z)

    def loss(self, loss_cfg, params, z, labels, known, key):
        logits = self.module.apply({"params": params}, z)
        return cross_entropy(loss_cfg, logits, labels, known)
