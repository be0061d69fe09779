"""A run directory while a run writes it: checkpoints, metrics.jsonl, clock.json, the logger
and results.json, and the early-stopping bookkeeping that reads them back on resume."""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from omegaconf import OmegaConf

from diffclust.loggers import build_logger
from diffclust.training.checkpoints import Checkpoints
from diffclust.training.provenance import code_version, devices, iso_utc
from diffclust.training.records import Records, read_clock, read_jsonl, write_clock, write_results


class Recorder:
    """Opens ``run_dir`` for the run ``cfg`` (a resumed one from its latest checkpoint).

    ``checkpoints=False`` (whole-table fits: nothing is trained) keeps no checkpoints."""

    def __init__(self, cfg, run_dir: Path, experiment: str | None, checkpoints: bool = True):
        self.run_dir, self.experiment = run_dir, experiment
        self.started, self.cpu_started = time.time(), time.process_time()
        self.checkpoints = Checkpoints(run_dir, cfg.resume) if checkpoints else None
        self.resumed_from = self.checkpoints.latest_step() if cfg.resume and checkpoints else None
        self.records = Records(run_dir, self.resumed_from)
        self.earlier_s, self.earlier_cpu_s, earlier = read_clock(run_dir, self.resumed_from)
        # Which code and device ran each segment: a resume may run other code than the start.
        this = {"from_step": self.resumed_from or 0, "started": iso_utc(self.started)}
        self.segments = [*earlier, {**this, **code_version(), "device": devices()}]
        self.config = OmegaConf.to_container(cfg, resolve=True)
        self.logger = build_logger(cfg.logger, run_dir, self.config, experiment or run_dir.name)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        if self.checkpoints is not None:
            self.checkpoints.close()
        self.logger.finish()

    def restore_latest(self, state: dict) -> tuple[dict, int]:
        """(state, first step to run): the latest checkpoint's when resuming."""
        if self.resumed_from is None:
            return state, 0
        return self.checkpoints.restore(self.resumed_from, state), self.resumed_from

    def log(self, record: dict) -> None:
        self.records.append(record)
        self.logger.log(record)

    def save(self, step: int, state: dict, val_error: float) -> None:
        with deferred_interrupt():  # Ctrl-C lands after the checkpoint, not inside orbax
            self.checkpoints.save(step, state, val_error)
            write_clock(self.run_dir, step, self.elapsed_s(), self.cpu_s(), self.segments)

    def elapsed_s(self) -> float:
        """Wall time of the run: every earlier segment up to its checkpoint, and this one."""
        return self.earlier_s + time.time() - self.started

    def cpu_s(self) -> float | None:
        """CPU time of the run's process (all its threads, user and system) over the same
        segments; None if an earlier segment did not record it. Unlike the wall time it does
        not grow while the process waits for the cores or is stopped (SIGSTOP)."""
        if self.earlier_cpu_s is None:
            return None
        return self.earlier_cpu_s + time.process_time() - self.cpu_started

    def latest_step(self) -> int | None:
        return self.checkpoints.latest_step()

    def restore(self, step: int, state: dict) -> dict:
        return self.checkpoints.restore(step, state)

    def best_checkpoint(self) -> int | None:
        return self.checkpoints.best_step()

    def evaluations(self) -> list[dict]:
        """The validation records kept so far (a resumed run's, up to its checkpoint)."""
        if not self.records.path.is_file():  # nothing logged yet
            return []
        return [r for r in read_jsonl(self.records.path) if "val_clustering_error" in r]

    def write_results(self, results: dict) -> None:
        write_results(self.run_dir, results)


@contextmanager
def deferred_interrupt():
    """Holds back SIGINT (Ctrl-C) until the block is done, then raises KeyboardInterrupt: a
    checkpoint is written whole or not at all (orbax's asynchronous rename, interrupted,
    leaves a temporary directory and unawaited coroutines behind)."""
    if threading.current_thread() is not threading.main_thread():  # only it gets signals
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda *_: received.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


class EarlyStopping:
    """The best validation clustering error so far and its step; stop after ``patience``
    steps without improvement (``select=best``; ``select=last`` never stops early)."""

    def __init__(self, select: str, patience: int, evaluations: list[dict]):
        self.select, self.patience = select, patience
        self.best_error, self.best_step = math.inf, 0
        for record in evaluations:
            self.update(record["step"], record["val_clustering_error"])

    def update(self, step: int, error: float) -> bool:
        """Records an evaluation; True when training should stop."""
        if error < self.best_error:
            self.best_error, self.best_step = error, step
        return self.select == "best" and step - self.best_step >= self.patience

    @property
    def evaluated(self) -> bool:
        return math.isfinite(self.best_error)
