"""What a run's config builds: its data, split, networks, optimiser, and the one compiled
embedding that evaluation, fitting, the probe and the pictures share."""

from __future__ import annotations

import logging
from typing import NamedTuple

import flax.linen as nn
import jax
import numpy as np
import optax

from diffclust.data import Dataset, load_dataset
from diffclust.heads import Head, build_head
from diffclust.models import build_backbone
from diffclust.optim import build_optimizer
from diffclust.splits import Split, make_split
from diffclust.training.batches import embed_all
from diffclust.training.steps import init_state, make_embed

log = logging.getLogger(__name__)


class Parts(NamedTuple):
    data: Dataset
    split: Split
    backbone: nn.Module
    head: Head
    optimizer: optax.GradientTransformation
    embed: callable  # jitted (state, x) -> backbone embedding (inference mode)

    def init_state(self, seed: int) -> dict:
        return init_state(self.backbone, self.head, self.optimizer, self.data.input_shape, seed)

    def embedder(self, state: dict):
        """The embedding of input batches with ``state``'s parameters."""
        return lambda x: self.embed(state, x)

    def embed_all(self, state: dict, x: np.ndarray) -> np.ndarray:
        return embed_all(self.embedder(state), x)


def build_parts(cfg) -> Parts:
    log.info("loading dataset %s", cfg.dataset.name)
    data = load_dataset(cfg.dataset, cfg.seed)
    split = make_split(cfg.split, data, cfg.seed)
    backbone = build_backbone(cfg.backbone, data.input_shape)
    head = build_head(cfg.head, data.num_classes, cfg.loss.name)
    optimizer = freeze(build_optimizer(cfg.optim), head.frozen)
    return Parts(data, split, backbone, head, optimizer, make_embed(backbone))


def freeze(optimizer: optax.GradientTransformation, frozen: tuple[str, ...]):
    """``optimizer`` on every parameter but the head parameters named in ``frozen``, which
    stay as they are: no gradient step and no (decoupled) weight decay either."""
    if not frozen:
        return optimizer

    def labels(params):
        head = {
            name: jax.tree.map(lambda _, n=name: "frozen" if n in frozen else "train", value)
            for name, value in params["head"].items()
        }
        return {"backbone": jax.tree.map(lambda _: "train", params["backbone"]), "head": head}

    return optax.multi_transform({"train": optimizer, "frozen": optax.set_to_zero()}, labels)
