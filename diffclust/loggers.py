"""The ``logger`` config group: where metrics go besides the run's own metrics.jsonl."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from diffclust.registry import Registry

LOGGERS: Registry = Registry("logger")


@dataclass
class NoLoggerConfig:
    name: str = "none"


@dataclass
class WandbConfig:
    """Weights & Biases; offline by default (no network or account needed, `wandb sync` later)."""

    name: str = "wandb"
    project: str = "diffclust"
    mode: str = "offline"  # offline | online | disabled
    group: str | None = None
    tags: list[str] | None = None


class NullLogger:
    def log(self, record: dict) -> None:
        pass

    def finish(self) -> None:
        pass


WANDB_ID = "wandb_id.txt"


def wandb_run_id(run_dir: Path) -> str:
    """The wandb run id of ``run_dir``: the one kept in RUN/wandb_id.txt, or a new one written
    there, so that every segment of a resumed run logs to the same wandb run."""
    path = run_dir / WANDB_ID
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    run_id = secrets.token_hex(6)  # wandb ids: letters and digits, unique per project
    path.write_text(run_id + "\n")
    return run_id


class WandbLogger:
    """A run directory is one wandb run: logging to it again (a resume) continues that run
    (``resume="allow"`` with its kept id; offline, ``wandb sync`` merges the segments)."""

    def __init__(self, cfg: WandbConfig, run_dir: Path, config: dict, name: str):
        import wandb

        self.run = wandb.init(
            project=cfg.project,
            mode=cfg.mode,
            group=cfg.group,
            tags=cfg.tags,
            dir=str(run_dir),
            name=name,
            config=config,
            id=wandb_run_id(run_dir),
            resume="allow",
            reinit="finish_previous",
        )

    def log(self, record: dict) -> None:
        self.run.log({k: v for k, v in record.items() if k != "step"}, step=record["step"])

    def finish(self) -> None:
        self.run.finish()


LOGGERS.register("none", NoLoggerConfig)(lambda cfg, run_dir, config, name: NullLogger())
LOGGERS.register("wandb", WandbConfig)(WandbLogger)


def build_logger(cfg, run_dir: Path, config: dict, name: str):
    return LOGGERS.get(cfg.name)(cfg, run_dir, config, name)
