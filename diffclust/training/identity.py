"""Run identity: a run directory holds one run, described by the config that produced it.

A launch is checked before anything in its directory changes (:func:`check_launch`):

- a new run (``resume=false``) needs a directory that holds no run (none of :data:`RUN_FILES`);
  once accepted, :func:`record_launch` writes ``config.yaml`` (the resolved config) and
  ``overrides.yaml`` (the command's overrides), never rewritten afterwards;
- ``resume=true`` needs a recorded run, and a composed config equal to the recorded one except
  for the keys in :data:`RESUMABLE`; a run whose results already cover the asked steps and
  patience is finished, and resuming it changes nothing;
- in a sweep, ``resume=true`` continues the sweep: a job whose directory holds nothing yet
  starts as a new run, so a stopped sweep launched again with its ``hydra.sweep.dir`` skips
  the finished jobs, resumes the stopped ones and starts the rest.
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from diffclust.errors import UserError
from diffclust.training.records import RUN_CONFIG, read_config, run_config_path

# Whatever a run writes: a directory holding any of them holds a run (or its remains).
RUN_FILES = (
    RUN_CONFIG,
    "results.json",
    "checkpoints",
    "metrics.jsonl",
    "error.txt",
    "clusters.npy",
    "clock.json",
    ".hydra",
)
# The keys a resumed run may change: how long it trains, and how it reports. Anything else
# (seed, data, model, loss, optimiser, ...) would make the run a different experiment.
RESUMABLE = ("train.steps", "train.patience", "train.pictures", "logger", "quiet", "resume")
OVERRIDES = "overrides.yaml"

NEW, RESUME, FINISHED = "new", "resume", "finished"


def held_files(run_dir: Path) -> list[str]:
    return [name for name in RUN_FILES if (run_dir / name).exists()]


def check_launch(cfg: DictConfig, run_dir: Path, sweep: bool = False) -> str:
    """NEW, RESUME or FINISHED for a launch of ``cfg`` into ``run_dir`` (a job of a sweep if
    ``sweep``); a UserError (and nothing changed) for a launch that would overwrite or
    mislabel a run."""
    held = held_files(run_dir)
    if cfg.resume and sweep and not held:  # a job the stopped sweep had not reached
        return NEW
    if not cfg.resume:
        if held:
            raise UserError(
                f"{run_dir} already holds a run ({', '.join(held)}); pass resume=true to "
                "continue it, or choose a new hydra.run.dir (nothing was changed)"
            )
        return NEW
    recorded_path = run_config_path(run_dir)
    if recorded_path is None:
        raise UserError(
            f"resume=true, but {run_dir} holds no run to resume (no {RUN_CONFIG}); "
            "drop resume=true to start a new run there"
        )
    recorded = read_config(recorded_path)
    composed = OmegaConf.to_container(cfg, resolve=True)
    changed = [key for key in differing_keys(recorded, composed) if not resumable(key)]
    if changed:
        shown = ", ".join(
            f"{key}={_value(composed, key)} (recorded {_value(recorded, key)})" for key in changed
        )
        raise UserError(
            f"resume=true with a config that differs from {recorded_path} in {shown}; only "
            f"{', '.join(RESUMABLE)} may change on resume (nothing was changed)"
        )
    if finished(run_dir, recorded, composed):
        return FINISHED
    latest, steps = latest_checkpoint(run_dir), composed["train"]["steps"]
    if latest is not None and steps < latest:
        raise UserError(
            f"train.steps={steps} is below the latest checkpoint of {run_dir} (step {latest}); "
            f"resume with train.steps >= {latest} (nothing was changed)"
        )
    return RESUME


def latest_checkpoint(run_dir: Path) -> int | None:
    """The step of the newest checkpoint (orbax names each directory by its step)."""
    steps = [int(p.name) for p in (run_dir / "checkpoints").glob("*") if p.name.isdigit()]
    return max(steps, default=None)


def finished(run_dir: Path, recorded: dict, composed: dict) -> bool:
    """The run has results that already cover the composed config's steps and patience (read
    from results.json's config, which a resume that trained further updated)."""
    path = run_dir / "results.json"
    if not path.is_file():
        return False
    try:
        done = json.loads(path.read_text()).get("config", recorded)["train"]
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise UserError(
            f"cannot read {path} ({type(err).__name__}: {err}); move it aside to resume"
        ) from None
    wanted = composed["train"]
    return wanted["steps"] <= done["steps"] and wanted["patience"] <= done["patience"]


def record_launch(cfg: DictConfig, run_dir: Path, overrides: list[str], status: str) -> None:
    """Writes the record of an accepted new run; on resume, clears a failed attempt's error."""
    if status == NEW:
        OmegaConf.save(OmegaConf.to_container(cfg, resolve=True), run_dir / RUN_CONFIG)
        OmegaConf.save(OmegaConf.create(list(overrides)), run_dir / OVERRIDES)
    else:
        (run_dir / "error.txt").unlink(missing_ok=True)


def differing_keys(a, b, path: str = "") -> list[str]:
    """The dotted keys whose values differ between two nested dicts (a key only one has too)."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return [] if a == b else [path]
    return [
        found
        for key in sorted(set(a) | set(b), key=str)
        for found in differing_keys(
            a.get(key, _ABSENT), b.get(key, _ABSENT), f"{path}.{key}" if path else str(key)
        )
    ]


def resumable(dotted: str) -> bool:
    return any(dotted == key or dotted.startswith(key + ".") for key in RESUMABLE)


def _value(tree: dict, dotted: str) -> str:
    """The value at ``dotted`` as an override would write it (true, null, 0.1, digits)."""
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return "absent"
        node = node[part]
    return json.dumps(node) if node is None or isinstance(node, bool) else str(node)


_ABSENT = object()
