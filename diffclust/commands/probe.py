"""diffclust probe RUN_DIR: the linear-probe transfer test of a finished run's best checkpoint
(forest paper §11.2), written into its results.json under "probe"."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from omegaconf import OmegaConf

from diffclust.errors import UserError

HELP = "linear-probe transfer error of a run's best checkpoint (updates its results.json)"


def probe_run(run_dir: Path) -> dict:
    from diffclust.training.checkpoints import Checkpoints
    from diffclust.training.finish import transfer_probe
    from diffclust.training.parts import build_parts
    from diffclust.training.records import run_config_path, write_results

    config_path = run_config_path(run_dir)
    if config_path is None:
        raise UserError(
            f"{run_dir} is not a diffclust run directory (no config.yaml or .hydra/config.yaml)"
        )
    cfg = OmegaConf.load(config_path)
    parts = build_parts(cfg)
    if not len(parts.split.holdout):
        raise UserError(f"split={cfg.split.name} holds no points out; probe needs split=semi")
    checkpoints = Checkpoints(run_dir, resume=True)
    try:
        best = checkpoints.best_step()
        if best is None:
            raise UserError(f"{run_dir} has no checkpoint to probe")
        state = checkpoints.restore(best, parts.init_state(cfg.seed))
    finally:
        checkpoints.close()
    probe = transfer_probe(parts, state, cfg.seed)
    results_path = run_dir / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results["probe"] = probe
    write_results(run_dir, results)
    return probe


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="diffclust probe", description=__doc__)
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        probe = probe_run(args.run_dir)
    except UserError as err:
        print(f"diffclust probe: error: {err}", file=sys.stderr)
        return 2
    print(f"probe test error {probe['test_error']:.4f} - written to {args.run_dir}/results.json")
    return 0
