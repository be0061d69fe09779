"""The ``head`` config group: what turns a batch embedding into clusters (and trains it).

The interface every head implements, and the run's lifecycle it follows, are documented in
:mod:`diffclust.heads.base`.
"""

from __future__ import annotations

from diffclust.heads.base import AssigningHead, BatchHead, Head
from diffclust.heads.centroids import (
    KMeansConfig,
    KMeansHead,
    OTConfig,
    OTHead,
    SoftKMeansConfig,
    SoftKMeansHead,
)
from diffclust.heads.clam import ClamConfig, ClamHead
from diffclust.heads.classifier import ClassifierConfig, ClassifierHead
from diffclust.heads.forest import ForestConfig, ForestHead
from diffclust.heads.partitions import (
    AgglomerativeConfig,
    AgglomerativeHead,
    SpectralConfig,
    SpectralHead,
)
from diffclust.registry import Registry

HEADS: Registry = Registry("head")
HEADS.register("forest", ForestConfig)(ForestHead)
HEADS.register("classifier", ClassifierConfig)(ClassifierHead)
HEADS.register("ot", OTConfig)(OTHead)
HEADS.register("soft_kmeans", SoftKMeansConfig)(SoftKMeansHead)
HEADS.register("kmeans", KMeansConfig)(KMeansHead)
HEADS.register("clam", ClamConfig)(ClamHead)
HEADS.register("spectral", SpectralConfig)(SpectralHead)
HEADS.register("agglomerative", AgglomerativeConfig)(AgglomerativeHead)

__all__ = ["HEADS", "AssigningHead", "BatchHead", "Head", "build_head"]


def build_head(cfg, num_classes: int, loss_name: str) -> Head:
    """The configured head, after checking that loss ``loss_name`` can train it."""
    head = HEADS.get(cfg.name)(cfg, num_classes)
    head.check_loss(loss_name)
    return head
