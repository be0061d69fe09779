"""One run: ``train_and_evaluate`` (gradient steps) or ``fit_and_evaluate`` (a whole-table fit,
``train.steps=0``); ``run`` picks the one the config asks for."""

from __future__ import annotations

from pathlib import Path


def run(cfg, run_dir: Path, experiment: str | None = None) -> dict:
    from diffclust.training.fit import fit_and_evaluate
    from diffclust.training.train import train_and_evaluate

    shape = fit_and_evaluate if cfg.train.steps == 0 else train_and_evaluate
    return shape(cfg, run_dir, experiment)
