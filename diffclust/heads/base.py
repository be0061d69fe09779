"""The head interface: everything the runner asks of a clustering head, in one place.

A head turns a batch of backbone embeddings into clusters. The runner (``diffclust.training``)
knows heads only through this interface, so a new head family is a module here, one registry
line in ``heads/__init__.py`` and one YAML in ``conf/head/`` (README, "Adding a head").

A run drives a head through five steps:

1. **parameters**: ``module`` is a Flax module whose parameters the optimiser trains with the
   backbone (initialised on an embedding batch), or None. ``frozen`` names head parameters
   the optimiser must leave alone (no gradient step, no weight decay).
2. **training**: ``loss(loss_cfg, params, z, labels, known, key) -> (value, metrics)`` for
   each option of the ``loss`` group named in ``losses``. ``known`` marks the labels it may
   use; a boolean ``metrics["skip"]`` asks the step not to update.
3. **fitting**: ``fit(z, seed) -> Fitted(params, clusters, history)`` on embedded training
   points, at the step ``fit_step`` gives: never (None), when the clustering loss starts
   (then trained further), or after training (``math.inf``); ``history`` (per-epoch losses
   of an iterative fit) goes to metrics.jsonl.
4. **validation**: ``evaluate(embed, params, x, y, cfg) -> metrics``, whose
   ``clustering_error`` early stopping and checkpoint selection read (lower is better).
5. **test**: ``test(embed, params, data, cfg, seed, fit_clusters) -> (metrics, clusters)``;
   ``clusters`` (one per test point) is None for heads that only cluster batches.

``embed`` is the run's one compiled embedding, a function of an input batch. Two bases give
steps 4 and 5: :class:`BatchHead` (a similarity matrix per batch, clustered by the exact
spanning forest: the forest paper's batch-wise error) and :class:`AssigningHead` (a cluster
per point, scored by accuracy, NMI, ARI, silhouette and the same batch-wise error).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, NamedTuple

import flax.linen as nn
import jax
import numpy as np

from diffclust.errors import UserError
from diffclust.losses import no_loss
from diffclust.training.batches import embed_all
from diffclust.training.evaluate import clustering_metrics, partition_metrics

Embed = Callable[[np.ndarray], jax.Array]

NEVER, AT_START, AFTER = "never", "start", "after"  # values of Head.fit_when


class Fitted(NamedTuple):
    """What ``Head.fit`` found on the rows of ``z``."""

    params: dict  # the head parameters
    clusters: np.ndarray  # the cluster of each row
    history: list[dict] = []  # per-epoch records of an iterative fit, e.g. {"fit_loss": ..}


@dataclass(frozen=True)
class Head:
    """Base of every head: the configuration, the number of classes and the defaults of the
    lifecycle above (no parameters, never fitted, only the ``none`` loss)."""

    cfg: Any
    num_classes: int

    losses: ClassVar[tuple[str, ...]] = ("none",)
    fit_when: ClassVar[str] = NEVER  # NEVER | AT_START (of the clustering loss) | AFTER
    places_new_points: ClassVar[bool] = True  # False: it can only partition what it was fitted on
    frozen: ClassVar[tuple[str, ...]] = ()
    skip_hint: ClassVar[str] = ""  # why a loss asks to skip steps, and what to do about it

    @property
    def module(self) -> nn.Module | None:
        return None

    def loss(self, loss_cfg, params, z: jax.Array, labels, known, key) -> tuple[jax.Array, dict]:
        """The ``none`` loss: nothing trains the head (an auto-encoder still reconstructs)."""
        return no_loss(loss_cfg, z)

    def fit(self, z: np.ndarray, seed: int) -> Fitted:
        raise UserError(f"head={self.cfg.name} is not fitted to data")  # fit_when is NEVER

    def fit_step(self, loss_name: str, pretrain_steps: int, steps: int) -> float | None:
        """When the runner fits the head: None (never), the step the clustering loss starts
        (a head it trains), or math.inf (after training: no loss trains it, or no step does)."""
        if self.fit_when == NEVER:
            return None
        if self.fit_when == AT_START and loss_name != "none" and pretrain_steps < steps:
            return pretrain_steps
        return math.inf

    def check_loss(self, loss_name: str) -> None:
        if loss_name not in self.losses:
            raise UserError(
                f"loss={loss_name} does not train head={self.cfg.name}; use loss="
                f"{' or loss='.join(self.losses)}"
            )


class BatchHead(Head):
    """A head scored batch by batch: the spanning forest of ``similarity(params, z)`` with k =
    the number of classes, against the batch's labels (the forest paper's batch-wise error)."""

    def similarity(self, params, z: jax.Array) -> jax.Array:
        raise UserError(f"head={self.cfg.name} defines no similarity")  # every subclass does

    @cached_property
    def _similarity(self):
        return jax.jit(self.similarity)

    def evaluate(self, embed: Embed, params, x, y, cfg) -> dict:
        return clustering_metrics(
            lambda xb: self._similarity(params, embed(xb)), x, y, self.num_classes, cfg
        )

    def test(self, embed: Embed, params, data, cfg, seed: int, fit_clusters=None):
        return self.evaluate(embed, params, data.x_test, data.y_test, cfg), None


class AssigningHead(Head):
    """A head that puts every point in one of ``num_clusters`` clusters: ``assign``. Its
    config has ``num_clusters`` (null: the number of classes)."""

    @property
    def num_clusters(self) -> int:
        return self.cfg.num_clusters or self.num_classes

    def assign(self, params, z: jax.Array) -> jax.Array:
        raise UserError(f"head={self.cfg.name} cannot place new points")

    @cached_property
    def _assign(self):
        return jax.jit(self.assign)

    def evaluate(self, embed: Embed, params, x, y, cfg) -> dict:
        clusters = embed_all(lambda xb: self._assign(params, embed(xb)), x)
        return partition_metrics(clusters, y, cfg)

    def test(self, embed: Embed, params, data, cfg, seed: int, fit_clusters=None):
        """Metrics of the test partition, with the silhouette in the space it was clustered
        in and every cluster's size. On a whole table (transductive) the partition is the one
        the fit found, if it covered every point; otherwise each test point is assigned."""
        z = embed_all(embed, data.x_test)
        if data.transductive and fit_clusters is not None:
            clusters = np.asarray(fit_clusters)
        else:
            clusters = embed_all(lambda zb: self._assign(params, zb), z)
        metrics = partition_metrics(
            clusters, data.y_test, cfg, z=z, seed=seed, num_clusters=self.num_clusters
        )
        return metrics, clusters
