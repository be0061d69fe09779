"""The spanning-forest head: no parameters, a batch similarity matrix for the forest solvers."""

from __future__ import annotations

from dataclasses import dataclass

import jax

from diffclust.forest import similarity


@dataclass
class ForestConfig:
    name: str = "forest"
    similarity: str = "sqeuclidean"  # sqeuclidean | cosine | exp
    standardize: bool = True
    temperature: float | None = None


@dataclass(frozen=True)
class ForestHead:
    cfg: ForestConfig
    num_classes: int
    assigns = False  # evaluated by the spanning forest of its similarity
    module = None  # nothing to train: the backbone's embedding is clustered directly

    def similarity(self, head_params, z: jax.Array) -> jax.Array:
        cfg = self.cfg
        return similarity(
            z, kind=cfg.similarity, standardize=cfg.standardize, temperature=cfg.temperature
        )
