"""Heads that partition a fixed set of points and cannot place new ones: scikit-learn's
spectral and agglomerative clustering, the ClAM paper's classical baselines (its appendix
Table 7 lists the grids). They run on a whole table (``dataset.test_size=0``) after training
(``train.steps=0`` with the ``identity`` backbone: the standardised features)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from diffclust.errors import UserError
from diffclust.heads.base import AFTER, AssigningHead, Fitted


@dataclass
class SpectralConfig:
    name: str = "spectral"
    num_clusters: int | None = None
    affinity: str = "rbf"  # rbf | nearest_neighbors
    gamma: float = 1.0  # rbf kernel coefficient
    n_neighbors: int = 10  # nearest_neighbors graph
    assign_labels: str = "kmeans"  # kmeans | discretize | cluster_qr
    n_init: int = 10  # k-means restarts on the spectral embedding (the paper: 1000)
    init_samples: int | None = None


@dataclass
class AgglomerativeConfig:
    name: str = "agglomerative"
    num_clusters: int | None = None
    metric: str = "euclidean"  # euclidean | l1 | l2 | manhattan | cosine
    linkage: str = "ward"  # ward (euclidean only) | complete | average | single
    init_samples: int | None = None


@dataclass(frozen=True)
class PartitionHead(AssigningHead):
    """A scikit-learn clustering of the points it is fitted on (after training)."""

    fit_when: ClassVar[str] = AFTER
    places_new_points: ClassVar[bool] = False

    def fit(self, z: np.ndarray, seed: int) -> Fitted:
        try:
            labels = self.model(seed).fit_predict(np.asarray(z, np.float64))
        except ValueError as err:  # e.g. an unknown affinity or linkage name
            raise UserError(f"head={self.cfg.name}: {err}") from None
        return Fitted({}, labels.astype(np.int32))


@dataclass(frozen=True)
class SpectralHead(PartitionHead):
    def model(self, seed: int):
        from sklearn.cluster import SpectralClustering

        cfg = self.cfg
        return SpectralClustering(
            self.num_clusters,
            affinity=cfg.affinity,
            gamma=cfg.gamma,
            n_neighbors=cfg.n_neighbors,
            assign_labels=cfg.assign_labels,
            n_init=cfg.n_init,
            random_state=seed,
        )


@dataclass(frozen=True)
class AgglomerativeHead(PartitionHead):
    def __post_init__(self):
        cfg = self.cfg
        if cfg.linkage == "ward" and cfg.metric != "euclidean":
            raise UserError(
                f"head.linkage=ward needs head.metric=euclidean (got {cfg.metric}); "
                "choose complete, average or single linkage for other metrics"
            )

    def model(self, seed: int):
        from sklearn.cluster import AgglomerativeClustering

        cfg = self.cfg
        return AgglomerativeClustering(self.num_clusters, metric=cfg.metric, linkage=cfg.linkage)
