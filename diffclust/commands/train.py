"""diffclust train [overrides]: one run, or a sweep with -m (Hydra)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode

from diffclust.config import register_configs
from diffclust.config.errors import config_error_line
from diffclust.config.schema import CONF_DIR
from diffclust.errors import UserError

HELP = "train and evaluate (Hydra overrides, +experiment=NAME, -m sweeps, --cfg job, --help)"
FAILED: set[str] = set()  # run dirs of failed jobs, collected in the launching process


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="config")
def _train(cfg) -> None:
    from diffclust.training import run  # JAX loads only when training

    for noisy in ("absl", "jax"):  # orbax logs every save, jax its backend search, at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    experiment = hydra_cfg.runtime.choices.get("experiment")
    (run_dir / "error.txt").unlink(missing_ok=True)  # from an earlier, failed attempt
    try:
        results = run(cfg, run_dir, experiment)
    except UserError as err:
        print(f"diffclust train: error: {err}", file=sys.stderr)
        (run_dir / "error.txt").write_text(f"{err}\n")  # a failed run says why, for tables
        if hydra_cfg.mode == RunMode.MULTIRUN:  # the other jobs of the sweep go on
            FAILED.add(str(run_dir))
            return
        raise SystemExit(2) from None
    test = results["test"]
    unsupervised = (
        f"test accuracy {test['accuracy']:.4f}, NMI {test['nmi']:.4f}, ARI {test['ari']:.4f}; "
        if "accuracy" in test
        else ""
    )
    if test.get("silhouette") is not None:
        unsupervised = f"test silhouette {test['silhouette']:.4f}, " + unsupervised
    empty = test.get("cluster_sizes", []).count(0)
    if empty:  # a collapsed partition: say so, the silhouette alone would flatter it
        sizes = len(test["cluster_sizes"])
        print(f"note: {empty} of the {sizes} clusters are empty (cluster_sizes in results.json)")
    print(
        f"{unsupervised}test clustering precision {test['clustering_precision']:.4f} "
        f"(error {test['clustering_error']:.4f}, best step {results['best_step']} of "
        f"{results['steps']}, {results['wall_time_s']:.0f} s) - run dir {run_dir}"
    )


class ReportFailures(Callback):
    """Collects the failed jobs of a sweep in the launching process (jobs of parallel
    launchers run elsewhere): each failed job left an error.txt in its run directory."""

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep = Path(config.hydra.sweep.dir)
        FAILED.update(str(p.parent) for p in sweep.glob("*/error.txt"))


def main(argv: list[str]) -> int:
    register_configs()
    sys.argv = ["diffclust train", *argv]
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises config errors instead of printing them
    try:
        _train()
    except HydraException as err:  # the overrides do not compose into a valid config
        print(f"diffclust train: error: {config_error_line(err)}", file=sys.stderr)
        return 2
    if FAILED:
        failed = ", ".join(sorted(FAILED))
        print(f"diffclust train: {len(FAILED)} job(s) failed: {failed}", file=sys.stderr)
        return 1
    return 0
