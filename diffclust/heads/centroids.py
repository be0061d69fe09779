"""Heads with K centres in the embedding space (METHODS.md §2).

* ``ot``: learnable centres, entropic OT with the cluster-size prior w (Genevay et al.);
* ``soft_kmeans``: learnable centres, softmin assignments (DKM, the paper's Prop. 2);
* ``kmeans``: centres fitted by scikit-learn's k-means after training (the baselines).

Every point is assigned to its nearest centre; the centres of all three start from k-means on
the embedded training data (``fit``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from diffclust.centroids import (
    check_momentum_start,
    check_proportions,
    nearest_centre,
    ot_clustering,
    soft_kmeans,
)
from diffclust.errors import UserError
from diffclust.heads.base import AFTER, AT_START, AssigningHead, Fitted
from diffclust.losses import centroid


@dataclass
class OTConfig:
    name: str = "ot"
    num_clusters: int | None = None  # K; None: the number of classes
    proportions: list[float] | None = None  # the size prior w; None: uniform 1/K
    # epsilon is relative: epsilon x the batch's mean cost (so it does not depend on the
    # embedding's scale). The paper's 1e-2 is absolute: set relative_epsilon=false for it.
    epsilon: float = 0.01
    relative_epsilon: bool = True
    max_iterations: int = 1000
    threshold: float = 1e-3  # Sinkhorn stops when the marginal error is below this
    # Adaptive momentum (Lehmann et al. 2021) from this iteration on (a multiple of 10, >= 20);
    # null: plain Sinkhorn. About 3x fewer iterations on this sharp problem.
    momentum_start: int | None = 50
    # A step whose Sinkhorn did not converge: "skip" leaves the parameters unchanged (its
    # plan breaks the size constraint, the point of the method); "use" applies it anyway.
    # Either way `sinkhorn_converged` and `skipped` are in metrics.jsonl.
    on_nonconverged: str = "skip"
    init_samples: int = 10000  # training points embedded for the k-means initialisation


@dataclass
class SoftKMeansConfig:
    name: str = "soft_kmeans"
    num_clusters: int | None = None
    epsilon: float = 0.01  # relative to the batch's mean cost, as for ot
    relative_epsilon: bool = True
    init_samples: int = 10000


@dataclass
class KMeansConfig:
    name: str = "kmeans"
    num_clusters: int | None = None
    n_init: int = 10  # restarts, the best inertia kept (the ClAM paper: 1000)
    init: str = "k-means++"  # k-means++ | random
    max_iter: int = 300
    init_samples: int | None = None  # None: fit on every training point


class Centres(nn.Module):
    """K centres of dimension d: a parameter, replaced by k-means before it is trained."""

    num_clusters: int

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        init = nn.initializers.normal(1.0)
        return self.param("centres", init, (self.num_clusters, z.shape[-1]))


@dataclass(frozen=True)
class CentresHead(AssigningHead):
    """Every point goes to its nearest centre (the head parameter ``centres``)."""

    def assign(self, params, z: jax.Array) -> jax.Array:
        return nearest_centre(z, params["centres"])

    def fit_kmeans(self, z: np.ndarray, seed: int, **options) -> Fitted:
        """k-means centres for embeddings ``z`` and the cluster of each row."""
        model = kmeans(z, self.num_clusters, seed=seed, **options)
        return Fitted({"centres": jnp.asarray(model.cluster_centers_, jnp.float32)}, model.labels_)


@dataclass(frozen=True)
class KMeansHead(CentresHead):
    """scikit-learn's k-means on the embedded training data after training (the baselines)."""

    fit_when: ClassVar[str] = AFTER

    def __post_init__(self):
        if self.cfg.init not in ("k-means++", "random"):
            raise UserError(f"head.init={self.cfg.init!r}; use k-means++ or random")

    def fit(self, z: np.ndarray, seed: int) -> Fitted:
        cfg = self.cfg
        return self.fit_kmeans(z, seed, n_init=cfg.n_init, init=cfg.init, max_iter=cfg.max_iter)


@dataclass(frozen=True)
class TrainedCentresHead(CentresHead):
    """Learnable centres, started by k-means (10 restarts) when the clustering loss starts,
    then trained with the backbone on ``clustering_loss`` (the ``centroid`` loss)."""

    losses: ClassVar[tuple[str, ...]] = ("centroid",)
    fit_when: ClassVar[str] = AT_START

    @property
    def module(self) -> nn.Module:
        return Centres(self.num_clusters)

    def fit(self, z: np.ndarray, seed: int) -> Fitted:
        return self.fit_kmeans(z, seed, n_init=10)

    def loss(self, loss_cfg, params, z, labels, known, key):
        return centroid(loss_cfg, *self.clustering_loss(params, z))


@dataclass(frozen=True)
class SoftKMeansHead(TrainedCentresHead):
    def clustering_loss(self, params, z: jax.Array) -> tuple[jax.Array, dict]:
        cfg = self.cfg
        out = soft_kmeans(
            z, params["centres"], epsilon=cfg.epsilon, relative_epsilon=cfg.relative_epsilon
        )
        return out.cost, {}


@dataclass(frozen=True)
class OTHead(TrainedCentresHead):
    skip_hint: ClassVar[str] = (
        "Sinkhorn did not converge; raise head.epsilon or head.max_iterations"
    )

    def __post_init__(self):
        cfg = self.cfg
        if cfg.on_nonconverged not in ("skip", "use"):
            raise UserError(f"head.on_nonconverged={cfg.on_nonconverged!r}; use skip or use")
        try:
            check_momentum_start(cfg.momentum_start)
        except ValueError as err:
            raise UserError(f"head.{err} (null: plain Sinkhorn)") from None
        if cfg.proportions is not None:
            try:
                check_proportions(cfg.proportions, self.num_clusters)
            except ValueError as err:
                raise UserError(
                    f"head.proportions {err}; give {self.num_clusters} non-negative "
                    "numbers summing to 1, or null for uniform"
                ) from None

    def proportions(self) -> jax.Array:
        if self.cfg.proportions is None:
            return jnp.full((self.num_clusters,), 1.0 / self.num_clusters)
        return jnp.asarray(self.cfg.proportions, jnp.float32)

    def clustering_loss(self, params, z: jax.Array) -> tuple[jax.Array, dict]:
        """(the OT cost, metrics); metrics["skip"] is True when the step should not apply."""
        cfg = self.cfg
        out = ot_clustering(
            z,
            params["centres"],
            self.proportions(),
            epsilon=cfg.epsilon,
            relative_epsilon=cfg.relative_epsilon,
            max_iterations=cfg.max_iterations,
            threshold=cfg.threshold,
            momentum_start=cfg.momentum_start,
        )
        skip = jnp.logical_not(out.converged) & (cfg.on_nonconverged == "skip")
        metrics = {
            "sinkhorn_converged": out.converged.astype(jnp.float32),
            "sinkhorn_iterations": out.iterations.astype(jnp.float32),
            "skip": skip,
        }
        return out.cost, metrics


def kmeans(
    z: np.ndarray,
    num_clusters: int,
    seed: int,
    n_init: int = 10,
    init: str = "k-means++",
    max_iter: int = 300,
):
    """scikit-learn k-means (best of n_init starts) fitted on embeddings ``z``."""
    from sklearn.cluster import KMeans

    if len(z) < num_clusters:
        raise UserError(
            f"k-means needs at least {num_clusters} points to place {num_clusters} centres, "
            f"got {len(z)}; raise head.init_samples"
        )
    model = KMeans(num_clusters, init=init, n_init=n_init, max_iter=max_iter, random_state=seed)
    return model.fit(np.asarray(z, np.float64))
