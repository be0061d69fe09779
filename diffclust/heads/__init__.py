"""The ``head`` config group: what turns a batch embedding into clusters (and trains it).

A head exposes ``module`` (a Flax module with trainable parameters, or None) and either
``similarity(head_params, z)``, the matrix the spanning-forest evaluation clusters, or, when
``assigns`` is true, ``assign(head_params, z)``: a cluster index per point, and
``fit(z, seed) -> (head_params, clusters)``, which fits the head on embedded training points
(the start of trained centroid heads; the whole of kmeans, spectral and agglomerative).
"""

from __future__ import annotations

from diffclust.heads.centroids import CentroidHead, KMeansConfig, OTConfig, SoftKMeansConfig
from diffclust.heads.clam import ClamConfig, ClamHead
from diffclust.heads.classifier import ClassifierConfig, ClassifierHead
from diffclust.heads.forest import ForestConfig, ForestHead
from diffclust.heads.partitions import AgglomerativeConfig, PartitionHead, SpectralConfig
from diffclust.registry import Registry

HEADS: Registry = Registry("head")
HEADS.register("forest", ForestConfig)(ForestHead)
HEADS.register("classifier", ClassifierConfig)(ClassifierHead)
HEADS.register("ot", OTConfig)(CentroidHead)
HEADS.register("soft_kmeans", SoftKMeansConfig)(CentroidHead)
HEADS.register("kmeans", KMeansConfig)(CentroidHead)
HEADS.register("clam", ClamConfig)(ClamHead)
HEADS.register("spectral", SpectralConfig)(PartitionHead)
HEADS.register("agglomerative", AgglomerativeConfig)(PartitionHead)


def build_head(cfg, num_classes: int):
    return HEADS.get(cfg.name)(cfg, num_classes)
