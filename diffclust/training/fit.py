"""A run with no gradient step: ``fit_and_evaluate(cfg, run_dir)`` (``train.steps=0``).

The classical protocol of the ClAM paper's tables and the k-means, spectral and agglomerative
baselines: the head is fitted once on the embedded training data (with the ``identity``
backbone, the standardised table itself), then tested and written.
"""

from __future__ import annotations

from pathlib import Path

from diffclust.training.console import print_start
from diffclust.training.finish import check_run, fit_head, test_and_write
from diffclust.training.parts import build_parts
from diffclust.training.recorder import Recorder


def fit_and_evaluate(cfg, run_dir: Path, experiment: str | None = None) -> dict:
    """Fits the configured head in ``run_dir`` and returns (and writes) its results."""
    parts = build_parts(cfg)
    check_run(cfg, parts)
    with Recorder(cfg, run_dir, experiment, checkpoints=False) as recorder:
        state, fit_clusters = parts.init_state(cfg.seed), None
        print_start(run_dir, parts, 0, 0)
        if parts.head.fit_step(cfg.loss.name, 0, 0) is not None:
            state, fit_clusters = fit_head(parts, state, cfg, recorder)
        return test_and_write(cfg, parts, state, recorder, 0, 0, fit_clusters)
