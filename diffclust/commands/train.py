"""diffclust train [overrides]: one run, or a sweep with -m (Hydra)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from diffclust.config import register_configs
from diffclust.config.preflight import check_overrides
from diffclust.config.schema import CONF_DIR
from diffclust.errors import UserError

HELP = "train and evaluate (Hydra overrides, +experiment=NAME, -m sweeps, --cfg job, --help)"
FAILED: list[str] = []


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="config")
def _train(cfg) -> None:
    from diffclust.training.loop import train_and_evaluate  # JAX loads only when training

    for noisy in ("absl", "jax"):  # orbax logs every save, jax its backend search, at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    experiment = hydra_cfg.runtime.choices.get("experiment")
    try:
        results = train_and_evaluate(cfg, run_dir, experiment)
    except UserError as err:
        print(f"diffclust train: error: {err}", file=sys.stderr)
        if hydra_cfg.mode == RunMode.MULTIRUN:  # the other jobs of the sweep go on
            FAILED.append(str(run_dir))
            return
        raise SystemExit(2) from None
    test = results["test"]
    print(
        f"test clustering precision {test['clustering_precision']:.4f} "
        f"(error {test['clustering_error']:.4f}, best step {results['best_step']} of "
        f"{results['steps']}, {results['wall_time_s']:.0f} s) - run dir {run_dir}"
    )


def main(argv: list[str]) -> int:
    register_configs()
    try:
        check_overrides(argv)
    except UserError as err:
        print(f"diffclust train: error: {err}", file=sys.stderr)
        return 2
    sys.argv = ["diffclust train", *argv]
    _train()
    if FAILED:
        print(f"diffclust train: {len(FAILED)} job(s) failed: {', '.join(FAILED)}", file=sys.stderr)
        return 1
    return 0
