"""A run with gradient steps: ``train_and_evaluate(cfg, run_dir)``.

create state → loop of train step / evaluate / checkpoint → restore the selected parameters →
test → write. The head decides when it is fitted (``Head.fit_step``) and how it is scored.
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path

import jax
from tqdm import tqdm

from diffclust.errors import UserError
from diffclust.models.autoencoder import AutoEncoder
from diffclust.training.batches import augment_images
from diffclust.training.console import print_start
from diffclust.training.finish import check_run, fit_head, test_and_write
from diffclust.training.parts import Parts, build_parts
from diffclust.training.recorder import EarlyStopping, Recorder
from diffclust.training.steps import make_train_step

log = logging.getLogger(__name__)


def train_and_evaluate(cfg, run_dir: Path, experiment: str | None = None) -> dict:
    """Trains the configured model in ``run_dir`` and returns (and writes) its results."""
    parts = build_parts(cfg)
    check_training(cfg, parts)
    train, head = cfg.train, parts.head
    fit_at = head.fit_step(cfg.loss.name, train.pretrain_steps, train.steps)
    next_batch = batches(cfg, parts)
    train_step, pretrain_step = (
        make_train_step(
            parts.backbone, head, cfg.loss, parts.optimizer, clustering, train.input_noise
        )
        for clustering in (True, False)
    )
    with Recorder(cfg, run_dir, experiment) as recorder:
        state, start = recorder.restore_latest(parts.init_state(cfg.seed))
        print_start(run_dir, parts, train.steps, start)
        stopping = EarlyStopping(train.select, train.patience, recorder.evaluations())
        running = RunningMeans()
        step = start
        for step in progress(start, train.steps, cfg.quiet):
            if step == fit_at:
                state, _ = fit_head(parts, state, cfg, recorder, step)
            step_fn = pretrain_step if step < train.pretrain_steps else train_step
            state, loss, metrics = step_fn(state, *next_batch(step))
            running.add(metrics)
            done = step + 1
            log_now, eval_now = done % train.log_every == 0, done % train.eval_every == 0
            if not (log_now or eval_now or done == train.steps):
                continue  # reading the loss would wait for the device at every step
            loss = finite_loss(loss, done, recorder)
            if log_now:
                recorder.log({"step": done, "loss": loss, **running.means(head.skip_hint, done)})
            if not (eval_now or done == train.steps):
                continue
            if fit_at is not None and done <= fit_at:
                recorder.save(done, state, math.inf)  # nothing fitted to score yet
                continue
            val = evaluate(parts, state, parts.data.x_val, parts.data.y_val, cfg)
            recorder.log({"step": done, **{f"val_{k}": v for k, v in val.items()}})
            log.info(
                "step %d: loss %.4f, val clustering error %.4f", done, loss, val["clustering_error"]
            )
            recorder.save(done, state, val["clustering_error"])
            if stopping.update(done, val["clustering_error"]):
                break
        steps = recorder.latest_step() or step
        state, best = select_parameters(recorder, stopping, state, train.select, steps)
        fit_clusters = None
        if fit_at == math.inf:  # fitted on the final embedding
            state, fit_clusters = fit_head(parts, state, cfg, recorder, steps)
        return test_and_write(cfg, parts, state, recorder, best, steps, fit_clusters)


def evaluate(parts: Parts, state: dict, x, y, cfg) -> dict:
    return parts.head.evaluate(parts.embedder(state), state["params"]["head"], x, y, cfg.train)


def select_parameters(recorder, stopping, state, select: str, steps: int) -> tuple[dict, int]:
    """The parameters to test: the best checkpoint by validation clustering error, or the
    last ones (select=last: no label chose them, the unsupervised protocols)."""
    if select == "last":
        return state, steps
    best = recorder.best_checkpoint()
    if best is None or not stopping.evaluated:
        raise UserError("no evaluation ran; set train.eval_every <= train.steps")
    return recorder.restore(best, state), best


def batches(cfg, parts: Parts):
    """``step -> (x, y, known, key)``: the step's batch, a pure function of (seed, step)."""
    data, known, augment = parts.data, parts.split.known, cfg.dataset.get("augment", False)
    base_key = jax.random.key(cfg.seed + 1)

    def next_batch(step: int):
        idx = parts.split.batch(cfg.train.batch_size, cfg.seed, step)
        x = augment_images(data.x_train[idx], cfg.seed, step) if augment else data.x_train[idx]
        return x, data.y_train[idx], known[idx], jax.random.fold_in(base_key, step)

    return next_batch


def finite_loss(loss: jax.Array, step: int, recorder: Recorder) -> float:
    """The loss as a float, checked before any checkpoint of these parameters is written."""
    loss = float(loss)
    if not math.isfinite(loss):
        raise UserError(
            f"the training loss became {loss} by step {step}; the last good checkpoint "
            f"(step {recorder.latest_step()}) is kept in {recorder.run_dir}/checkpoints; "
            "lower optim.lr or check the data"
        )
    return loss


class RunningMeans:
    """Means of a training step's extra metrics between two log lines; summed on the device
    so that no step waits for them."""

    def __init__(self):
        self.sums: dict[str, jax.Array] = {}
        self.counts: dict[str, int] = {}

    def add(self, metrics: dict) -> None:
        for key, value in metrics.items():
            self.sums[key] = self.sums[key] + value if key in self.sums else value
            self.counts[key] = self.counts.get(key, 0) + 1

    def means(self, skip_hint: str, step: int) -> dict[str, float]:
        means = {k: float(v) / self.counts[k] for k, v in self.sums.items()}
        self.sums, self.counts = {}, {}
        if means.get("skipped") == 1.0:
            log.warning("no step up to %d was applied: %s", step, skip_hint)
        return means


def progress(start: int, steps: int, quiet: bool):
    """The steps to run, with a progress bar on a terminal (none in batch jobs' log files)."""
    bar = not quiet and sys.stderr.isatty()
    return tqdm(range(start, steps), initial=start, total=steps, disable=not bar, unit="step")


def check_training(cfg, parts: Parts) -> None:
    check_run(cfg, parts)
    train, head = cfg.train, parts.head
    if train.batch_size < parts.data.num_classes:
        raise UserError(
            f"train.batch_size={train.batch_size} is smaller than the {parts.data.num_classes} "
            "classes; a batch must hold at least k = number of classes points"
        )
    if train.select not in ("best", "last"):
        raise UserError(f"train.select={train.select!r}; use best or last")
    fit_at = head.fit_step(cfg.loss.name, train.pretrain_steps, train.steps)
    if fit_at == math.inf and train.select == "best":
        raise UserError(
            f"head={cfg.head.name} is fitted after training, so no validation error can "
            "choose a checkpoint; set train.select=last"
        )
    if train.pretrain_steps and not isinstance(parts.backbone, AutoEncoder):
        raise UserError(
            "train.pretrain_steps trains the reconstruction alone, so it needs an "
            "auto-encoder: set backbone.decoder=true (backbone=mlp or conv)"
        )
    parts.split.counts(train.batch_size)  # fails early if a pool cannot fill its share
