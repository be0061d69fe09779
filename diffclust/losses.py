"""The ``loss`` config group: training objectives, as pure functions of a head's outputs.

Each returns ``(scalar, metrics)``, ``metrics`` a dict of scalars for metrics.jsonl. A head
names the options that train it (``Head.losses``) and calls them from ``Head.loss`` with what
they need (a similarity matrix, logits, its own clustering loss). With an auto-encoder
backbone the training step adds the reconstruction.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax

from diffclust.forest import partial_fy_loss, target_from_labels
from diffclust.registry import Registry

LOSSES: Registry = Registry("loss")


@dataclass
class PartialFYConfig:
    """Perturbed partial Fenchel-Young loss (forest paper, §5; METHODS.md §1)."""

    name: str = "partial_fy"
    sigma: float = 0.1
    num_samples: int = 1000
    correlated_noise: bool = True
    noise: str = "iid"  # iid | permuted
    bias: bool = True


@dataclass
class CrossEntropyConfig:
    name: str = "cross_entropy"
    label_smoothing: float = 0.0


@dataclass
class CentroidLossConfig:
    """The centroid head's clustering loss (OT or soft k-means), weighted against the
    auto-encoder's reconstruction: ℓ_r + weight x ℓ_c (the paper's problem (P))."""

    name: str = "centroid"
    weight: float = 1.0


@dataclass
class NoLossConfig:
    """No clustering loss: an auto-encoder trains on reconstruction alone (AE + k-means)."""

    name: str = "none"


@LOSSES.register("partial_fy", PartialFYConfig)
def partial_fy(
    cfg: PartialFYConfig, S: jax.Array, labels, known, k: int, key
) -> tuple[jax.Array, dict]:
    """The partial Fenchel-Young loss of similarity ``S`` against the clustering of the known
    labels (forest paper, eq. 7 and appendix Prop. 1)."""
    value = partial_fy_loss(
        S,
        target_from_labels(labels, known),
        k,
        sigma=cfg.sigma,
        num_samples=cfg.num_samples,
        key=key,
        correlated_noise=cfg.correlated_noise,
        bias=cfg.bias,
        noise=cfg.noise,
    )
    return value, {}


@LOSSES.register("cross_entropy", CrossEntropyConfig)
def cross_entropy(cfg: CrossEntropyConfig, logits: jax.Array, labels, known):
    """Mean cross-entropy over the points whose label is known (the baseline's loss)."""
    targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), cfg.label_smoothing)
    per_point = optax.softmax_cross_entropy(logits, targets)
    weight = known.astype(per_point.dtype)
    return jnp.sum(per_point * weight) / jnp.maximum(jnp.sum(weight), 1.0), {}


@LOSSES.register("centroid", CentroidLossConfig)
def centroid(cfg: CentroidLossConfig, value: jax.Array, metrics: dict):
    """weight x a head's clustering loss ``value``, which metrics.jsonl records unweighted."""
    return cfg.weight * value, {"clustering_loss": value, **metrics}


@LOSSES.register("none", NoLossConfig)
def no_loss(cfg: NoLossConfig, z: jax.Array):
    return jnp.zeros((), z.dtype), {}
