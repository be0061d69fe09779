"""Orbax checkpoints of a run: the latest (to resume) and the best by validation error."""

from __future__ import annotations

import glob
import math
from pathlib import Path

import orbax.checkpoint as ocp

from diffclust.errors import UserError

METRIC = "val_clustering_error"


def _error(metrics: dict) -> float:
    """The checkpoint's validation error; inf for one saved before anything could be scored
    (recorded as null: orbax writes its metrics as JSON, and inf is not JSON)."""
    value = metrics[METRIC]
    return math.inf if value is None else value


def _rank(metrics: dict) -> tuple[float, int]:
    """Lower is better: the error, then the step, so that of equal errors the first is the
    best, as early stopping counts its patience from it (orbax's stable sort would keep the
    last; a denoising run at 0 error from step 1 would report step 101). Checkpoints written
    before the step was recorded rank as step 0."""
    return _error(metrics), metrics.get("step", 0)


class Checkpoints:
    """Keeps the latest checkpoint and the one with the lowest validation error.

    ``best_fn`` alone would let orbax delete the latest step and break resume, hence the
    explicit any-of(latest, best) preservation policy.
    """

    def __init__(self, run_dir: Path, resume: bool):
        directory = (run_dir / "checkpoints").resolve()
        if glob.escape(str(directory)) != str(directory):
            # etils' epath globs `directory/ocdbt.process_*` with the directory unescaped, so
            # under a `[` orbax finds no shards, skips their merge, and the checkpoint it
            # marks committed cannot be restored.
            raise UserError(
                f"{run_dir}: orbax cannot restore checkpoints under a path holding *, ? or [ "
                "(it finds their files by glob); choose a hydra.run.dir without them"
            )
        if directory.exists() and any(directory.iterdir()) and not resume:
            raise UserError(
                f"{run_dir} already holds checkpoints; pass resume=true to continue that run, "
                "or choose a new hydra.run.dir (nothing was overwritten)"
            )
        policy = ocp.checkpoint_managers.AnyPreservationPolicy(
            [
                ocp.checkpoint_managers.LatestN(n=1),
                # BestN keeps the highest keys: the negated rank.
                ocp.checkpoint_managers.BestN(
                    get_metric_fn=lambda m: tuple(-x for x in _rank(m)), n=1
                ),
            ]
        )
        options = ocp.CheckpointManagerOptions(
            preservation_policy=policy,
            best_fn=_rank,
            best_mode="min",
            enable_async_checkpointing=False,
        )
        self.manager = ocp.CheckpointManager(directory, options=options)

    def save(self, step: int, state, val_error: float) -> None:
        error = val_error if math.isfinite(val_error) else None  # NaN or inf: not scored
        metrics = {METRIC: error, "step": step}
        self.manager.save(step, args=ocp.args.StandardSave(state), metrics=metrics)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def best_step(self) -> int | None:
        return self.manager.best_step()

    def restore(self, step: int, like):
        try:
            return self.manager.restore(step, args=ocp.args.StandardRestore(like))
        except ValueError as err:  # orbax: the saved tree does not match the model's
            first = str(err).splitlines()[0]
            raise UserError(
                f"checkpoint {step} in {self.manager.directory} does not fit this model "
                f"({first}); resume with the config and diffclust version that wrote it"
            ) from None

    def close(self) -> None:
        self.manager.close()
