"""The spanning-forest head: no parameters; the batch similarity matrix of the embeddings is
trained by the perturbed partial Fenchel-Young loss and clustered by the spanning forest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import jax

from diffclust.errors import UserError
from diffclust.forest import similarity
from diffclust.forest.similarity import SIMILARITY_KINDS
from diffclust.heads.base import BatchHead
from diffclust.losses import partial_fy


@dataclass
class ForestConfig:
    name: str = "forest"
    similarity: str = "sqeuclidean"  # sqeuclidean | cosine | exp
    standardize: bool = True
    temperature: float | None = None


@dataclass(frozen=True)
class ForestHead(BatchHead):
    losses: ClassVar[tuple[str, ...]] = ("partial_fy",)

    def __post_init__(self):
        if self.cfg.similarity not in SIMILARITY_KINDS:
            kinds = ", ".join(SIMILARITY_KINDS)
            raise UserError(f"head.similarity={self.cfg.similarity!r}; use one of {kinds}")
        if self.cfg.temperature is not None and self.cfg.temperature <= 0:
            raise UserError(f"head.temperature={self.cfg.temperature}; use a positive number")

    def similarity(self, params, z: jax.Array) -> jax.Array:
        cfg = self.cfg
        return similarity(
            z, kind=cfg.similarity, standardize=cfg.standardize, temperature=cfg.temperature
        )

    def loss(self, loss_cfg, params, z, labels, known, key):
        S = self.similarity(params, z)
        return partial_fy(loss_cfg, S, labels, known, self.num_classes, key)
