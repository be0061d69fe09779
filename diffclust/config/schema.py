"""The root config schema, and the registration of every group option's schema.

The YAML options under ``conf/<group>/<name>.yaml`` extend ``/schema/<group>/<name>``, the
dataclass of the same registry entry, so an unknown key or a wrong type fails at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from diffclust.data import DATASETS
from diffclust.heads import HEADS
from diffclust.loggers import LOGGERS
from diffclust.losses import LOSSES
from diffclust.models import BACKBONES
from diffclust.optim import OPTIMIZERS
from diffclust.splits import SPLITS
from diffclust.sweeps.config import OptunaSweeperConfig

GROUPS = {
    "dataset": DATASETS,
    "backbone": BACKBONES,
    "head": HEADS,
    "loss": LOSSES,
    "split": SPLITS,
    "optim": OPTIMIZERS,
    "logger": LOGGERS,
}
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


@dataclass
class TrainConfig:
    """Steps, evaluation and early stopping; every count is in optimisation steps."""

    steps: int = 30000
    batch_size: int = 64
    eval_every: int = 500
    eval_batch_size: int = 64  # the paper's batch-wise clustering error uses batches of 64
    eval_batches: int | None = None  # validation batches per evaluation; None: all of them
    patience: int = 10000  # stop after this many steps without validation improvement
    log_every: int = 50
    # Which parameters are tested: "best" by validation clustering error (early stopping
    # with patience), or "last" (no label chooses anything: unsupervised protocols).
    select: str = "best"
    pretrain_steps: int = 0  # auto-encoders: steps of reconstruction alone first ("(p)")
    input_noise: float = 0.0  # auto-encoders: masking rate of a denoising AE (DEC uses 0.2)
    pictures: bool = True  # curves.png and tsne.png in the run directory
    tsne_points: int = 1000  # validation points in the t-SNE picture (t-SNE is O(n^2))
    silhouette_points: int = 10000  # test silhouette on a seeded sample of this many points


@dataclass
class Config:
    dataset: Any = MISSING
    backbone: Any = MISSING
    head: Any = MISSING
    loss: Any = MISSING
    split: Any = MISSING
    optim: Any = MISSING
    logger: Any = MISSING
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0  # data split, initialisation, batch order and noise
    resume: bool = False  # continue from the run directory's latest checkpoint
    quiet: bool = False  # no progress bar
    # A free label that `diffclust tables` can group by, e.g. tag=eq8 for an ablation whose
    # runs must stay apart from the method's own (--by ... tag --wide head.name tag).
    tag: str = ""


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    for group, registry in GROUPS.items():
        for name, schema in registry.schemas().items():
            cs.store(group=f"schema/{group}", name=name, node=schema)
    cs.store(group="schema/hydra/sweeper", name="optuna", node=OptunaSweeperConfig)
