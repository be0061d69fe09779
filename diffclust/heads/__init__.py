"""The ``head`` config group: what turns a batch embedding into clusters (and trains it).

A head exposes ``module`` (a Flax module with trainable parameters, or None) and
``similarity(head_params, z)``, the matrix the spanning-forest evaluation clusters.
"""

from __future__ import annotations

from diffclust.heads.classifier import ClassifierConfig, ClassifierHead
from diffclust.heads.forest import ForestConfig, ForestHead
from diffclust.registry import Registry

HEADS: Registry = Registry("head")
HEADS.register("forest", ForestConfig)(ForestHead)
HEADS.register("classifier", ClassifierConfig)(ClassifierHead)


def build_head(cfg, num_classes: int):
    return HEADS.get(cfg.name)(cfg, num_classes)
