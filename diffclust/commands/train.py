"""diffclust train [overrides]: one run, or a sweep with -m (Hydra)."""

from __future__ import annotations

import logging
import os
import shlex
import sys
from contextlib import contextmanager
from pathlib import Path

import hydra
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode

from diffclust.config import register_configs
from diffclust.config.checks import check_config
from diffclust.config.errors import config_error_line, yaml_error_line
from diffclust.config.schema import CONF_DIR
from diffclust.errors import UserError, exit_code
from diffclust.sweeps import register_sweeper
from diffclust.training.identity import (
    FINISHED,
    check_launch,
    held_files,
    latest_checkpoint,
    record_launch,
)

log = logging.getLogger(__name__)
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # Hydra's
HELP = "train and evaluate (Hydra overrides, +experiment=NAME, -m sweeps, --cfg job, --help)"
FAILED: set[str] = set()  # run dirs of failed jobs, collected in the launching process


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="config")
def _train(cfg) -> None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    sweep = hydra_cfg.mode == RunMode.MULTIRUN
    try:  # nothing in run_dir has changed yet, nor will it if the launch is refused
        check_config(cfg)
        status = check_launch(cfg, run_dir, sweep)
    except UserError as err:
        refuse(err, run_dir, sweep)
        return
    if status == FINISHED:
        print(f"{run_dir} is finished (results.json): nothing to resume, no file changed")
        return
    record_launch(cfg, run_dir, list(hydra_cfg.overrides.task), status)
    with run_log(run_dir):
        results = run_job(cfg, run_dir, hydra_cfg, sweep)
    if results is not None:
        print_results(results, run_dir)


def refuse(err: UserError, run_dir: Path, sweep: bool) -> None:
    """A launch refused before it touched ``run_dir``: one line, exit 2 or 3 (a sweep goes on,
    its failed job recorded in an error.txt if the job's directory holds no other run)."""
    print(f"diffclust train: error: {err}", file=sys.stderr)
    if not sweep:
        raise SystemExit(exit_code(err))
    FAILED.add(str(run_dir))
    if not held_files(run_dir):
        (run_dir / "error.txt").write_text(f"{err}\n")


def run_job(cfg, run_dir: Path, hydra_cfg, sweep: bool) -> dict | None:
    """The accepted run; a failure leaves error.txt (what and why, for tables), an interrupt
    the command that resumes it."""
    from diffclust.training import run  # JAX loads only when training

    for noisy in ("absl", "jax"):  # orbax logs every save, jax its backend search, at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return run(cfg, run_dir, hydra_cfg.runtime.choices.get("experiment"))
    except UserError as err:
        print(f"diffclust train: error: {err}", file=sys.stderr)
        (run_dir / "error.txt").write_text(f"{err}\n")  # a failed run says why, for tables
        if not sweep:  # the other jobs of a sweep go on
            raise SystemExit(exit_code(err)) from None
    except KeyboardInterrupt:
        latest = latest_checkpoint(run_dir)
        kept = "before its first checkpoint" if latest is None else f"(checkpoint {latest} kept)"
        command = resume_command(hydra_cfg.overrides.task, run_dir)
        print(f"diffclust train: interrupted {kept}; resume with: {command}", flush=True)
        raise SystemExit(130) from None
    except Exception as err:  # a bug: the traceback goes to train.log, the run is failed
        log.exception("the run failed")
        (run_dir / "error.txt").write_text(f"{type(err).__name__}: {err}\n")
        if not sweep:
            raise
    FAILED.add(str(run_dir))
    return None


def resume_command(overrides, run_dir: Path) -> str:
    kept = [o for o in overrides if not o.lstrip("+~").startswith("resume=")]
    words = ["diffclust", "train", *kept, "resume=true", f"hydra.run.dir={run_dir}"]
    return " ".join(shlex.quote(word) for word in words)


@contextmanager
def run_log(run_dir: Path):
    """The run's log lines also go to run_dir/train.log (appended to on resume), from the
    moment the launch is accepted (Hydra's own file handler would touch refused runs too)."""
    handler = logging.FileHandler(run_dir / "train.log")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def print_results(results: dict, run_dir: Path) -> None:
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
    launchers run elsewhere): each failed job left an error.txt in its run directory. Those
    already there at the start are an earlier launch's (a continued study's sweep dir)."""

    def on_multirun_start(self, config, **kwargs) -> None:
        self.before = set(Path(config.hydra.sweep.dir).glob("*/error.txt"))

    def on_multirun_end(self, config, **kwargs) -> None:
        errors = set(Path(config.hydra.sweep.dir).glob("*/error.txt")) - self.before
        FAILED.update(str(p.parent) for p in errors)


def main(argv: list[str]) -> int:
    register_configs()
    register_sweeper()
    sys.argv = ["diffclust train", *argv]
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises config errors instead of printing them
    try:
        _train()
    except HydraException as err:  # the overrides do not compose into a valid config
        print(f"diffclust train: error: {config_error_line(err)}", file=sys.stderr)
        return 2
    except UserError as err:  # a sweeper's settings (hydra/sweeper=optuna)
        print(f"diffclust train: error: {err}", file=sys.stderr)
        return 2
    except yaml.YAMLError as err:  # an edited conf/ file (or an experiment's) does not parse
        print(f"diffclust train: error: {yaml_error_line(err)}", file=sys.stderr)
        return 2
    if FAILED:
        failed = ", ".join(sorted(FAILED))
        print(f"diffclust train: {len(FAILED)} job(s) failed: {failed}", file=sys.stderr)
        return 1
    return 0
