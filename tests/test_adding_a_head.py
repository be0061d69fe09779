"""README, "Adding a head", followed literally: a toy head defined here trains through the
runner with nothing in diffclust.training changed."""

from dataclasses import dataclass
from typing import ClassVar

import flax.linen as nn
import numpy as np
import pytest
from hydra.core.config_store import ConfigStore
from runner_helpers import compose_config

from diffclust.data import load_dataset
from diffclust.forest import similarity
from diffclust.heads import HEADS
from diffclust.heads.base import BatchHead
from diffclust.losses import partial_fy
from diffclust.training.batches import eval_batches
from diffclust.training.train import train_and_evaluate


# 1. The head's config (its schema: every default in one place) and the head itself.
@dataclass
class ProjectionConfig:
    name: str = "projection"
    features: int = 8


class ProjectionHead(BatchHead):
    """Clusters a learnt linear projection of the embedding."""

    losses: ClassVar[tuple[str, ...]] = ("partial_fy",)

    @property
    def module(self) -> nn.Module:
        return nn.Dense(self.cfg.features)

    def similarity(self, params, z):
        return similarity(self.module.apply({"params": params}, z))

    def loss(self, loss_cfg, params, z, labels, known, key):
        S = self.similarity(params, z)
        return partial_fy(loss_cfg, S, labels, known, self.num_classes, key)


@pytest.fixture
def projection_head():
    # 2. One registry line (in diffclust/heads/__init__.py for a head of the package).
    HEADS.register("projection", ProjectionConfig)(ProjectionHead)
    # 3. The YAML conf/head/projection.yaml, here stored in Hydra's ConfigStore instead:
    #    defaults: [/schema/head/projection@_here_, _self_]
    ConfigStore.instance().store(group="head", name="projection", node=ProjectionConfig)
    yield
    del HEADS.entries["projection"]  # the other tests see the package's heads only


def test_a_toy_head_trains_through_the_runner(tmp_path, projection_head):
    cfg = compose_config(
        "+experiment=digits_full",
        "head=projection",
        "loss.num_samples=50",
        # 600 steps: at 300 the toy head is still at a validation error of 0.12-0.16, where
        # test precision over seeds 0-3 spread 0.80-0.90 (one seed below chance); at 600 it is
        # 0.90-0.94 on the same seeds.
        "train.steps=600",
        "train.eval_every=100",
        "quiet=true",
    )
    results = train_and_evaluate(cfg, tmp_path, "projection")
    assert results["config"]["head"] == {"name": "projection", "features": 8}
    # Chance, computed on the same test batches: the precision of 200 random partitions
    # with the classes' sizes (labels shuffled within the test set), about 0.82. The toy
    # head must beat the best of them.
    y = load_dataset(cfg.dataset, cfg.seed).y_test
    rng = np.random.default_rng(0)
    chance = max(_precision(rng.permutation(y), y, cfg.train) for _ in range(200))
    precision = results["test"]["clustering_precision"]
    print(f"toy head precision {precision:.4f}, best of 200 random partitions {chance:.4f}")
    assert precision > chance


def _precision(clusters, y, train_cfg) -> float:
    batches = eval_batches(len(y), train_cfg.eval_batch_size, train_cfg.eval_batches)
    errors = [
        np.mean((clusters[i][:, None] == clusters[i][None]) != (y[i][:, None] == y[i][None]))
        for i in batches
    ]
    return 1.0 - float(np.mean(errors))
