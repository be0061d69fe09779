"""The head interface as the runner uses it: which losses train a head, when it is fitted,
and parameters the optimiser must leave alone."""

import math

import jax
import numpy as np
import pytest
from runner_helpers import compose_config

from diffclust.errors import UserError
from diffclust.heads import HEADS, build_head
from diffclust.training.finish import fit_head
from diffclust.training.parts import build_parts
from diffclust.training.steps import make_train_step


def test_deep_clam_standardisation_stays_frozen_under_weight_decay():
    # shift / scale standardise the embedding the memories were fitted on; a stop_gradient
    # kept gradients off them, but decoupled weight decay still pulled scale towards 0.
    cfg = compose_config(
        "+experiment=digits_deep_clam", "optim.weight_decay=0.5", "head.epochs=2", "quiet=true"
    )
    parts = build_parts(cfg)
    state, _ = fit_head(parts, parts.init_state(cfg.seed), cfg)
    step = make_train_step(parts.backbone, parts.head, cfg.loss, parts.optimizer)
    x, y = parts.data.x_train[:64], parts.data.y_train[:64]
    new, _, _ = step(state, x, y, np.ones(64, bool), jax.random.key(0))
    before, after = state["params"]["head"], new["params"]["head"]
    for frozen in ("shift", "scale"):
        np.testing.assert_array_equal(after[frozen], before[frozen])
    assert not np.allclose(after["prototypes"], before["prototypes"])


@pytest.mark.parametrize(
    ("head", "loss", "when"),
    [
        ("forest", "partial_fy", None),
        ("classifier", "cross_entropy", None),
        ("ot", "centroid", 100),  # when the clustering loss starts
        ("soft_kmeans", "centroid", 100),
        ("clam", "centroid", 100),
        ("clam", "none", math.inf),  # nothing trains it: fitted on the final embedding
        ("kmeans", "none", math.inf),
        ("spectral", "none", math.inf),
    ],
)
def test_each_head_says_when_it_is_fitted(head, loss, when):
    cfg = compose_config(f"head={head}", f"loss={loss}")
    assert build_head(cfg.head, 10, loss).fit_step(loss, 100, 1000) == when


def test_a_head_refuses_a_loss_that_does_not_train_it():
    for name in HEADS.names():
        head_cfg = compose_config(f"head={name}").head
        with pytest.raises(UserError, match=f"does not train head={name}"):
            build_head(head_cfg, 10, "cross_entropy" if name != "classifier" else "partial_fy")
