"""One run: build the parts named by the config, train with early stopping, evaluate, record.

results = train_and_evaluate(cfg, run_dir)
"""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from omegaconf import OmegaConf
from tqdm import tqdm

from diffclust.data import Dataset, load_dataset
from diffclust.errors import UserError
from diffclust.heads import build_head
from diffclust.loggers import build_logger
from diffclust.losses import build_loss
from diffclust.models import build_backbone
from diffclust.optim import build_optimizer
from diffclust.reports.plots import curves_picture, tsne_picture
from diffclust.splits import Split, make_split
from diffclust.training.batches import augment_images
from diffclust.training.checkpoints import Checkpoints
from diffclust.training.evaluate import clustering_metrics
from diffclust.training.probe import embed_all, probe_error
from diffclust.training.records import Records, read_jsonl, write_results

log = logging.getLogger(__name__)


def init_state(backbone, head, optimizer, input_shape, seed: int) -> dict:
    """{'params': {'backbone', 'head'}, 'batch_stats', 'opt_state', 'step'}: a plain pytree
    orbax can save. ``batch_stats`` holds BatchNorm statistics (empty without BatchNorm)."""
    key_backbone, key_head = jax.random.split(jax.random.key(seed))
    dummy = jnp.zeros((1, *input_shape), jnp.float32)
    variables = backbone.init(key_backbone, dummy)
    batch_stats = variables.get("batch_stats", {})
    head_params = {}
    if head.module is not None:
        z = backbone.apply(variables, dummy)
        head_params = head.module.init(key_head, z)["params"]
    params = {"backbone": variables["params"], "head": head_params}
    return {
        "params": params,
        "batch_stats": batch_stats,
        "opt_state": optimizer.init(params),
        "step": jnp.int32(0),
    }


def embed(backbone, params, batch_stats, x, train: bool):
    """Backbone embedding; in training also the updated BatchNorm statistics."""
    variables = {"params": params["backbone"]}
    if not batch_stats:
        return backbone.apply(variables, x, train=train), batch_stats
    variables["batch_stats"] = batch_stats
    if not train:
        return backbone.apply(variables, x, train=False), batch_stats
    z, updates = backbone.apply(variables, x, train=True, mutable=["batch_stats"])
    return z, updates["batch_stats"]


def make_train_step(backbone, head, loss_fn, optimizer):
    def objective(params, batch_stats, x, y, known, key):
        z, batch_stats = embed(backbone, params, batch_stats, x, train=True)
        return loss_fn(head, params["head"], z, y, known, key), batch_stats

    @jax.jit
    def train_step(state, x, y, known, key):
        (loss, batch_stats), grads = jax.value_and_grad(objective, has_aux=True)(
            state["params"], state["batch_stats"], x, y, known, key
        )
        updates, opt_state = optimizer.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        new = {"params": params, "batch_stats": batch_stats, "opt_state": opt_state}
        return {**new, "step": state["step"] + 1}, loss

    return train_step


def make_embed(backbone):
    @jax.jit
    def embed_eval(state, x):
        return embed(backbone, state["params"], state["batch_stats"], x, train=False)[0]

    return embed_eval


def make_embed_similarity(backbone, head):
    @jax.jit
    def embed_similarity(state, x):
        z, _ = embed(backbone, state["params"], state["batch_stats"], x, train=False)
        return head.similarity(state["params"]["head"], z)

    return embed_similarity


def _fmt(record: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in record.items() if k != "step")


def _best_so_far(records_path: Path, upto: int) -> tuple[float, int]:
    evals = [r for r in read_jsonl(records_path) if "val_clustering_error" in r]
    evals = [r for r in evals if r["step"] <= upto]
    if not evals:
        return math.inf, 0
    best = min(evals, key=lambda r: r["val_clustering_error"])
    return best["val_clustering_error"], best["step"]


class Parts(NamedTuple):
    """What a run's config builds: its data, split, networks, optimiser and initial state."""

    data: Dataset
    split: Split
    backbone: nn.Module
    head: Any
    optimizer: optax.GradientTransformation
    state: dict


def build_parts(cfg) -> Parts:
    data = load_dataset(cfg.dataset, cfg.seed)
    split = make_split(cfg.split, data, cfg.seed)
    backbone = build_backbone(cfg.backbone)
    head = build_head(cfg.head, data.num_classes)
    optimizer = build_optimizer(cfg.optim)
    state = init_state(backbone, head, optimizer, data.input_shape, cfg.seed)
    return Parts(data, split, backbone, head, optimizer, state)


def transfer_probe(parts: Parts, state: dict, seed: int) -> dict | None:
    """The linear probe of the frozen backbone (None when the split holds nothing out)."""
    data, split = parts.data, parts.split
    if not len(split.holdout):
        return None
    embed_fn = make_embed(parts.backbone)
    frozen = lambda x: embed_fn(state, x)  # noqa: E731
    holdout_z = embed_all(frozen, data.x_train[split.holdout])
    test_z = embed_all(frozen, data.x_test)
    probe = probe_error(holdout_z, data.y_train[split.holdout], test_z, data.y_test, seed)
    log.info("transfer probe: test error %.4f", probe["test_error"])
    return probe


def run_pictures(parts: Parts, state: dict, run_dir: Path, cfg, title: str) -> None:
    """curves.png (metrics.jsonl) and tsne.png (a seeded sample of validation embeddings)."""
    data = parts.data
    curves_picture(read_jsonl(run_dir / "metrics.jsonl"), run_dir / "curves.png", title)
    idx = np.sort(
        np.random.default_rng(cfg.seed).permutation(len(data.y_val))[: cfg.train.tsne_points]
    )
    embed_fn = make_embed(parts.backbone)
    z = embed_all(lambda x: embed_fn(state, x), data.x_val[idx])
    tsne_picture(z, data.y_val[idx], run_dir / "tsne.png", cfg.seed, f"{title}: validation t-SNE")


def train_and_evaluate(cfg, run_dir: Path, experiment: str | None = None) -> dict:
    """Trains the configured model in ``run_dir`` and returns (and writes) its results."""
    started = time.time()
    train = cfg.train
    parts = build_parts(cfg)
    data, split, backbone, head, optimizer, state = parts
    known = split.known
    loss_fn = build_loss(cfg.loss, cfg.head.name)
    split.counts(train.batch_size)  # fails early if a pool cannot fill its share
    for key in ("batch_size", "eval_batch_size"):
        if train[key] < data.num_classes:
            raise UserError(
                f"train.{key}={train[key]} is smaller than the {data.num_classes} classes; "
                "a batch must hold at least k = number of classes points"
            )

    checkpoints = Checkpoints(run_dir, cfg.resume)
    start = checkpoints.latest_step() if cfg.resume else None
    if start is not None:
        state = checkpoints.restore(start, state)
    records = Records(run_dir, start)
    best_error, best_step = _best_so_far(records.path, start or 0)
    start = start or 0

    config = OmegaConf.to_container(cfg, resolve=True)
    logger = build_logger(cfg.logger, run_dir, config, experiment or run_dir.name)
    train_step = make_train_step(backbone, head, loss_fn, optimizer)
    embed_similarity = make_embed_similarity(backbone, head)
    base_key = jax.random.key(cfg.seed + 1)
    augment = getattr(cfg.dataset, "augment", False)

    def evaluate(x, y):
        fn = lambda xb: embed_similarity(state, xb)  # noqa: E731
        return clustering_metrics(fn, x, y, data.num_classes, train)

    step = start
    bar = not cfg.quiet and sys.stderr.isatty()  # no bar in log files of batch jobs
    progress = tqdm(
        range(start, train.steps), initial=start, total=train.steps, disable=not bar, unit="step"
    )
    try:
        for step in progress:
            idx = split.batch(train.batch_size, cfg.seed, step)
            x = data.x_train[idx]
            if augment:
                x = augment_images(x, cfg.seed, step)
            key = jax.random.fold_in(base_key, step)
            state, loss = train_step(state, x, data.y_train[idx], known[idx], key)
            done = step + 1
            log_now = done % train.log_every == 0
            eval_now = done % train.eval_every == 0 or done == train.steps
            if not (log_now or eval_now):
                continue  # reading the loss would wait for the device at every step
            loss = float(loss)
            if not math.isfinite(loss):  # checked before any checkpoint of these parameters
                raise UserError(
                    f"the training loss became {loss} by step {done}; the last good checkpoint "
                    f"(step {checkpoints.latest_step()}) is kept in {run_dir}/checkpoints; "
                    "lower optim.lr or check the data"
                )
            if log_now:
                records.append({"step": done, "loss": loss})
                logger.log({"step": done, "loss": loss})
            if eval_now:
                val = evaluate(data.x_val, data.y_val)
                record = {"step": done, **{f"val_{k}": v for k, v in val.items()}}
                records.append(record)
                logger.log(record)
                log.info("step %d: loss %.4f, %s", done, loss, _fmt(record))
                checkpoints.save(done, state, val["clustering_error"])
                if val["clustering_error"] < best_error:
                    best_error, best_step = val["clustering_error"], done
                progress.set_postfix(loss=f"{loss:.4f}", val_error=f"{val['clustering_error']:.4f}")
                if done - best_step >= train.patience:
                    break
        steps = checkpoints.latest_step() or step
        best = checkpoints.best_step()
        if best is None:
            raise UserError("no evaluation ran; set train.eval_every <= train.steps")
        state = checkpoints.restore(best, state)
        test = evaluate(data.x_test, data.y_test)
        probe = transfer_probe(parts, state, cfg.seed)
    finally:
        progress.close()
        checkpoints.close()
        logger.finish()
    results = {
        "test": test,
        **({"probe": probe} if probe is not None else {}),
        "best_step": best,
        "steps": steps,
        "wall_time_s": round(time.time() - started, 2),
        "seed": cfg.seed,
        "experiment": experiment,
        "dataset": data.summary(),
        "num_labelled": int(np.sum(known)),
        "num_holdout": len(split.holdout),
        "device": jax.devices()[0].device_kind,
        "config": config,
    }
    write_results(run_dir, results)  # before the pictures: they cannot cost the results
    if train.pictures:
        run_pictures(parts, state, run_dir, cfg, experiment or run_dir.name)
    return results
