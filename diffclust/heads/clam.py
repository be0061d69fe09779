"""The ``clam`` head: k associative memories (METHODS.md §3, diffclust.clam).

Two uses, one head:

* classical clustering of a table (backbone ``identity``, ``train.steps=0``): the memories are
  fitted after (no) training by the paper's procedure, :func:`diffclust.clam.fit_clam`
  (random prototypes, Adam with reduce-on-plateau, epochs, restarts);
* deep ClAM (an auto-encoder backbone): the memories are fitted the same way on the embedded
  training data when the clustering loss starts, then trained jointly with the backbone on
  reconstruction + weight x the masked completion loss of each batch (eq. 9; the masked
  coordinates take the batch's per-feature mean, min or max).

Every point is assigned by running T steps of the AM recursion, then to its nearest memory.
The head works on standardised inputs: the per-feature mean and standard deviation of the data
it is fitted on are kept with the memories (not trained), so beta means the same on a table and
on an embedding of any scale (on a standardised table they are 0 and 1).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from diffclust.clam import Dynamics, FitOptions, Memories, assign, completion_loss, fit_clam
from diffclust.clam.core import MASK_VALUES, mask_values
from diffclust.clam.fit import INITS
from diffclust.clam.published import (
    MASK_DRAWS,
    PublishedOptions,
    fit_published,
    masked_count,
    paper_steps,
)
from diffclust.errors import UserError
from diffclust.heads.base import AT_START, AssigningHead, Fitted
from diffclust.losses import centroid
from diffclust.training.evaluate import silhouette

# Restarts are ranked by the silhouette on at most this many rows (a seeded sample).
SILHOUETTE_POINTS = 10000


@dataclass
class ClamConfig:
    name: str = "clam"
    num_clusters: int | None = None  # k; None: the number of classes
    beta: float = 0.1  # inverse temperature (multiplies ||rho - v||^2, eq. 4)
    steps: int = 10  # T, the recursion depth
    alpha: float | None = None  # dt/tau; None: 1/T as in the paper
    spherical: bool = False  # eq. 12: cosine similarity, unit-norm points
    weighted: bool = False  # eq. 10-11: learnt log-weights per memory
    mask_prob: float = 0.15  # 0: the unmasked loss of eq. 8
    mask_value: str = "mean"  # mean | min | max | zero
    # How the memories are fitted (the paper's TrainClAM; deep ClAM uses it to initialise):
    epochs: int = 200
    batch_size: int = 8
    lr: float = 0.01
    restarts: int = 10  # kept: the restart with the lowest training loss
    plateau_factor: float = 0.8
    plateau_patience: int = 5
    min_lr: float = 1.0e-5
    init_samples: int | None = None  # training points the memories are fitted on; None: all
    # normal: N(0.1, 0.1) prototypes as the published code; data: k random training points;
    # kmeans++: k training points by D² sampling (fewer empty clusters; an option of the
    # published code's configuration, not used in the paper's tables).
    init: str = "normal"
    # diffclust: the fit above (Bernoulli masks, optax's plateau test, the restart of lowest
    # whole-table loss kept). paper: the authors' published code detail for detail
    # (diffclust.clam.published): beta as their code uses it (exp(-beta/2 ||rho - v||^2), so
    # their Table 6 values mean what they meant there), T = int(1/alpha) + extra_steps,
    # floor(d p) column draws per row, whole-column masks every dim_change_cycle-th epoch,
    # a 10-epoch running-mean plateau test, and every restart a candidate: the one whose
    # partition has the best silhouette is kept.
    protocol: str = "diffclust"
    extra_steps: int = 0  # paper: T = int(1/alpha) + extra_steps (alpha null: 1/steps)
    mask_draw: str = "published"  # paper: published (with replacement, never column 0) | distinct
    dim_change_cycle: int = 3  # paper: epochs 3, 6, ... mask whole columns of each batch


PROTOCOLS = ("diffclust", "paper")


class MemoryParams(nn.Module):
    """The memories as parameters, so deep ClAM trains them with the backbone."""

    num_clusters: int

    @nn.compact
    def __call__(self, z: jax.Array) -> dict:
        k, d = self.num_clusters, z.shape[-1]
        return {
            "prototypes": self.param("prototypes", nn.initializers.normal(0.1), (k, d)),
            "log_weights": self.param("log_weights", nn.initializers.zeros, (k,)),
            "shift": self.param("shift", nn.initializers.zeros, (d,)),
            "scale": self.param("scale", nn.initializers.ones, (d,)),
        }


@dataclass(frozen=True)
class ClamHead(AssigningHead):
    losses: ClassVar[tuple[str, ...]] = ("none", "centroid")  # a table fit, or deep ClAM
    fit_when: ClassVar[str] = AT_START
    frozen: ClassVar[tuple[str, ...]] = ("shift", "scale")  # the fitted standardisation

    def __post_init__(self):
        cfg = self.cfg
        if cfg.init not in INITS:
            raise UserError(f"head.init={cfg.init!r}; use one of {', '.join(INITS)}")
        if cfg.mask_value not in MASK_VALUES:
            values = ", ".join(MASK_VALUES)
            raise UserError(f"head.mask_value={cfg.mask_value!r}; use one of {values}")
        if not 0.0 <= cfg.mask_prob < 1.0:
            raise UserError(f"head.mask_prob={cfg.mask_prob}; use a probability in [0, 1)")
        if cfg.beta <= 0 or cfg.steps < 1:
            raise UserError(f"head.beta={cfg.beta}, head.steps={cfg.steps}; need beta > 0, T >= 1")
        if cfg.protocol not in PROTOCOLS:
            raise UserError(f"head.protocol={cfg.protocol!r}; use one of {', '.join(PROTOCOLS)}")
        if cfg.protocol == "paper":
            if cfg.weighted or cfg.spherical or cfg.init != "normal":
                raise UserError(
                    "head.protocol=paper is the published code, which has no weighted or "
                    "spherical variant and draws memories from N(0.1, 0.1): drop head.weighted,"
                    " head.spherical and head.init"
                )
            if cfg.mask_draw not in MASK_DRAWS:
                raise UserError(
                    f"head.mask_draw={cfg.mask_draw!r}; use one of {', '.join(MASK_DRAWS)}"
                )
            if cfg.dim_change_cycle < 1 or cfg.extra_steps < 0:
                raise UserError("head.dim_change_cycle must be >= 1 and head.extra_steps >= 0")
        if not 0.0 < self.dynamics.alpha <= 1.0:
            raise UserError(
                f"head.alpha={cfg.alpha}; use 0 < alpha <= 1 (the energy then decreases)"
            )

    @property
    def module(self) -> nn.Module:
        return MemoryParams(self.num_clusters)

    @property
    def dynamics(self) -> Dynamics:
        cfg = self.cfg
        alpha = cfg.alpha if cfg.alpha is not None else 1.0 / cfg.steps
        if cfg.protocol == "paper":  # the code's exp(-beta/2 d^2) and N_steps
            return Dynamics(
                beta=cfg.beta / 2, alpha=alpha, steps=paper_steps(alpha, cfg.extra_steps)
            )
        return Dynamics(beta=cfg.beta, alpha=alpha, steps=cfg.steps, spherical=cfg.spherical)

    def _options(self, cls):
        """``cls`` (FitOptions or PublishedOptions) with the config's values of its fields."""
        given = {f.name for f in dataclasses.fields(cls)} & set(self.cfg.keys())
        return cls(**{name: self.cfg[name] for name in given})

    def published_options(self) -> PublishedOptions:
        return self._options(PublishedOptions)

    def options(self) -> FitOptions:
        return self._options(FitOptions)

    def memories(self, head_params) -> Memories:
        log_weights = head_params["log_weights"]
        if not self.cfg.weighted:
            log_weights = jax.lax.stop_gradient(log_weights)
        return Memories(head_params["prototypes"], log_weights)

    @staticmethod
    def standard(head_params, z: jax.Array) -> jax.Array:
        shift, scale = jax.lax.stop_gradient((head_params["shift"], head_params["scale"]))
        return (z - shift) / scale

    def fit(self, z: np.ndarray, seed: int) -> Fitted:
        """The paper's TrainClAM on standardised ``z``: memories and standardisation as head
        params, the cluster of each row, the kept restart's losses by epoch."""
        if len(z) < self.num_clusters:
            raise UserError(
                f"ClAM needs at least {self.num_clusters} points for {self.num_clusters} "
                f"memories, got {len(z)}; raise head.init_samples"
            )
        z = np.asarray(z, np.float32)
        shift, scale = z.mean(axis=0), z.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        if self.cfg.protocol == "paper":
            return self._fit_published((z - shift) / scale, shift, scale, seed)
        fit = fit_clam((z - shift) / scale, self.num_clusters, self.dynamics, self.options(), seed)
        if not np.isfinite(fit.loss):
            raise UserError(
                f"every ClAM restart diverged (training loss {fit.loss}); lower head.lr or "
                "head.beta"
            )
        params = {
            "prototypes": fit.memories.prototypes,
            "log_weights": fit.memories.log_weights,
            "shift": jnp.asarray(shift),
            "scale": jnp.asarray(scale),
        }
        labels = np.asarray(self.assign(params, jnp.asarray(z)))
        kept = fit.best_restart
        history = [
            {"fit_epoch": epoch + 1, "fit_loss": float(loss), "fit_table_loss": float(table)}
            for epoch, (loss, table) in enumerate(
                zip(fit.losses[kept], fit.table_losses[kept], strict=True)
            )
        ]
        return Fitted(params, labels, history)

    def _fit_published(self, x: np.ndarray, shift, scale, seed: int) -> Fitted:
        """The published code's restarts on the standardised table ``x``, each a candidate:
        the partition of the best silhouette (on ``x``, Euclidean; one cluster scores -1, a
        restart that hit a NaN loss nothing) is kept, as the code's ranking of every
        configuration x restart would choose it."""
        d = x.shape[1]
        if masked_count(d, self.cfg.mask_prob) == 0:
            raise UserError(
                f"head.mask_prob={self.cfg.mask_prob} masks floor({d} x {self.cfg.mask_prob}) "
                f"= 0 of the {d} features: nothing would be learnt; use at least {1 / d:.3g}"
            )
        fit = fit_published(x, self.num_clusters, self.dynamics, self.published_options(), seed)
        candidates, history = [], []
        for r in range(len(fit.best_loss)):
            if not np.isfinite(fit.best_loss[r]):
                continue
            memories = Memories(*(np.asarray(a[r]) for a in fit.memories))
            labels = np.asarray(assign(jnp.asarray(x), memories, self.dynamics))
            score = silhouette(x, labels, SILHOUETTE_POINTS, seed)
            score = -1.0 if score is None else score
            candidates.append((score, r, memories, labels))
            history.append(
                {
                    "restart": r,
                    "restart_silhouette": score,
                    "restart_loss": float(fit.best_loss[r]),
                    "restart_best_epoch": int(fit.best_epoch[r]),
                    "restart_epochs": int(fit.epochs_run[r]),
                }
            )
        if not candidates:
            raise UserError("every ClAM restart hit a NaN loss; lower head.lr or head.beta")
        _, kept, memories, labels = max(candidates, key=lambda c: (c[0], -c[1]))
        params = {
            "prototypes": jnp.asarray(memories.prototypes),
            "log_weights": jnp.asarray(memories.log_weights),
            "shift": jnp.asarray(shift),
            "scale": jnp.asarray(scale),
        }
        history += [
            {"fit_epoch": e + 1, "fit_loss": float(loss), "fit_lr": float(lr)}
            for e, (loss, lr) in enumerate(zip(fit.losses[kept], fit.lrs[kept], strict=True))
            if np.isfinite(loss)
        ]
        return Fitted(params, labels, history)

    def loss(self, loss_cfg, params, z, labels, known, key):
        """Deep ClAM (loss=centroid): the masked completion loss (eq. 9) of the batch
        embeddings, the masked coordinates filled with the batch's mean, min or max."""
        if loss_cfg.name == "none":
            return super().loss(loss_cfg, params, z, labels, known, key)
        z = self.standard(params, z)
        fill = jax.lax.stop_gradient(mask_values(z, self.cfg.mask_value))
        value = completion_loss(
            self.memories(params), z, self.dynamics, key, self.cfg.mask_prob, fill
        )
        return centroid(loss_cfg, value, {})

    def assign(self, head_params, z: jax.Array) -> jax.Array:
        return assign(self.standard(head_params, z), self.memories(head_params), self.dynamics)
