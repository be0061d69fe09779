"""The ``loss`` config group: training objectives on a head's output.

A loss is ``fn(cfg, head, head_params, z, labels, known, key) -> (scalar, metrics)`` where
``known`` marks the points whose label the objective may use and ``metrics`` is a dict of
scalars for metrics.jsonl (a boolean ``skip`` asks the step not to update); each loss names
the heads it fits. With an auto-encoder backbone the training step adds the reconstruction.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax

from diffclust.errors import UserError
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


HEADS_OF = {
    "partial_fy": ("forest",),
    "cross_entropy": ("classifier",),
    "centroid": ("ot", "soft_kmeans", "clam"),
    "none": ("kmeans", "clam", "spectral", "agglomerative"),
}


@LOSSES.register("partial_fy", PartialFYConfig)
def partial_fy(cfg: PartialFYConfig, head, head_params, z, labels, known, key) -> jax.Array:
    S = head.similarity(head_params, z)
    value = partial_fy_loss(
        S,
        target_from_labels(labels, known),
        head.num_classes,
        sigma=cfg.sigma,
        num_samples=cfg.num_samples,
        key=key,
        correlated_noise=cfg.correlated_noise,
        bias=cfg.bias,
        noise=cfg.noise,
    )
    return value, {}


@LOSSES.register("cross_entropy", CrossEntropyConfig)
def cross_entropy(cfg: CrossEntropyConfig, head, head_params, z, labels, known, key):
    logits = head.logits(head_params, z)
    targets = optax.smooth_labels(jax.nn.one_hot(labels, head.num_classes), cfg.label_smoothing)
    per_point = optax.softmax_cross_entropy(logits, targets)
    weight = known.astype(per_point.dtype)
    return jnp.sum(per_point * weight) / jnp.maximum(jnp.sum(weight), 1.0), {}


@LOSSES.register("centroid", CentroidLossConfig)
def centroid(cfg: CentroidLossConfig, head, head_params, z, labels, known, key):
    value, metrics = head.clustering_loss(head_params, z, key)
    return cfg.weight * value, {"clustering_loss": value, **metrics}


@LOSSES.register("none", NoLossConfig)
def no_loss(cfg: NoLossConfig, head, head_params, z, labels, known, key):
    return jnp.zeros((), z.dtype), {}


def build_loss(cfg, head_name: str):
    """The loss function, after checking it fits the head."""
    fn = LOSSES.get(cfg.name)
    if head_name not in HEADS_OF[cfg.name]:
        raise UserError(
            f"loss={cfg.name} does not train head={head_name}; it fits head="
            f"{'|'.join(HEADS_OF[cfg.name])}"
        )
    return lambda *args: fn(cfg, *args)
