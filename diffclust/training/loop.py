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
from diffclust.models.autoencoder import AutoEncoder
from diffclust.optim import build_optimizer
from diffclust.reports.plots import curves_picture, tsne_picture
from diffclust.splits import Split, make_split
from diffclust.training.batches import augment_images
from diffclust.training.checkpoints import Checkpoints
from diffclust.training.evaluate import (
    assignment_metrics,
    clustering_metrics,
    partition_metrics,
)
from diffclust.training.probe import embed_all, probe_error
from diffclust.training.records import (
    Records,
    read_clock,
    read_jsonl,
    write_clock,
    write_results,
)
from diffclust.training.steps import (
    init_state,
    make_embed,
    make_embed_then,
    make_train_step,
)

log = logging.getLogger(__name__)


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
    backbone = build_backbone(cfg.backbone, data.input_shape)
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


def final_assignment_metrics(
    parts: Parts, state: dict, fit_clusters, cfg
) -> tuple[dict, np.ndarray]:
    """Test metrics of an assigning head, with the silhouette of its partition in the space
    it clustered and the cluster sizes, and the partition itself. On a whole table
    (transductive) it is the one the fit found, if that covered every point; otherwise each
    test point is assigned."""
    data, head = parts.data, parts.head
    embed_fn = make_embed(parts.backbone)
    z = embed_all(lambda x: embed_fn(state, x), data.x_test)
    if data.transductive and fit_clusters is not None:
        clusters = np.asarray(fit_clusters)
    else:
        assign = jax.jit(head.assign)
        clusters = embed_all(lambda zb: assign(state["params"]["head"], zb), z)
    metrics = partition_metrics(
        clusters, data.y_test, cfg.train, z=z, seed=cfg.seed, num_clusters=head.num_clusters
    )
    return metrics, clusters


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


def fit_head(parts: Parts, state: dict, cfg) -> tuple[dict, np.ndarray | None]:
    """``head.fit`` on the embedded training data (at most ``cfg.head.init_samples`` points,
    a seeded sample; labels are not used): the state with the fitted head parameters, and
    the cluster of every training point when all of them were used (else None)."""
    data, head = parts.data, parts.head
    count = min(cfg.head.init_samples or len(data.y_train), len(data.y_train))
    idx = np.sort(np.random.default_rng([cfg.seed, 2]).permutation(len(data.y_train))[:count])
    embed_fn = make_embed(parts.backbone)
    z = embed_all(lambda x: embed_fn(state, x), data.x_train[idx])
    params, clusters = head.fit(z, cfg.seed)
    log.info("head %s fitted on %d embedded training points", cfg.head.name, len(idx))
    state = {**state, "params": {**state["params"], "head": params}}
    return state, (clusters if count == len(data.y_train) else None)


class StepMetrics:
    """Running means of a training step's extra metrics between two log lines; summed on the
    device so that no step waits for them."""

    def __init__(self):
        self.sums: dict[str, jax.Array] = {}
        self.counts: dict[str, int] = {}

    def add(self, metrics: dict) -> None:
        for key, value in metrics.items():
            self.sums[key] = self.sums[key] + value if key in self.sums else value
            self.counts[key] = self.counts.get(key, 0) + 1

    def means(self) -> dict[str, float]:
        means = {k: float(v) / self.counts[k] for k, v in self.sums.items()}
        self.sums, self.counts = {}, {}
        return means


def _check_train_config(cfg, parts: Parts) -> None:
    train, data = cfg.train, parts.data
    for key in ("batch_size", "eval_batch_size"):
        if train[key] < data.num_classes:
            raise UserError(
                f"train.{key}={train[key]} is smaller than the {data.num_classes} classes; "
                "a batch must hold at least k = number of classes points"
            )
    if train.select not in ("best", "last"):
        raise UserError(f"train.select={train.select!r}; use best or last")
    if parts.head.assigns and not parts.head.trained and train.select == "best":
        raise UserError(
            f"head={cfg.head.name} fits its centres after training, so no validation error "
            "can choose a checkpoint; set train.select=last"
        )
    if not getattr(parts.head, "places_new_points", True) and not parts.data.transductive:
        raise UserError(
            f"head={cfg.head.name} partitions the points it is fitted on and cannot place "
            "test points; cluster a whole table (dataset.test_size=0)"
        )
    if train.pretrain_steps and not isinstance(parts.backbone, AutoEncoder):
        raise UserError(
            "train.pretrain_steps trains the reconstruction alone, so it needs an "
            "auto-encoder: set backbone.decoder=true (backbone=mlp or conv)"
        )


def train_and_evaluate(cfg, run_dir: Path, experiment: str | None = None) -> dict:
    """Trains the configured model in ``run_dir`` and returns (and writes) its results."""
    started = time.time()
    train = cfg.train
    parts = build_parts(cfg)
    data, split, backbone, head, optimizer, state = parts
    known = split.known
    loss_fn = build_loss(cfg.loss, cfg.head.name)
    split.counts(train.batch_size)  # fails early if a pool cannot fill its share
    _check_train_config(cfg, parts)
    pretrain = train.pretrain_steps
    # Assigning heads are scored through their fitted parameters: trained ones (ot,
    # soft_kmeans, clam) are fitted when the clustering loss starts; the others (kmeans,
    # spectral, ...) or ones that no step trains (steps <= pretrain) after training.
    trains_centres = head.assigns and head.trained and cfg.loss.name != "none"
    fit_clusters = None  # the clusters a fit gave every training point

    checkpoints = Checkpoints(run_dir, cfg.resume)
    start = checkpoints.latest_step() if cfg.resume else None
    if start is not None:
        state = checkpoints.restore(start, state)
    records = Records(run_dir, start)
    earlier_s = read_clock(run_dir, start)  # wall time of the segments before this one

    def save(step: int, val_error: float) -> None:
        checkpoints.save(step, state, val_error)
        write_clock(run_dir, step, earlier_s + time.time() - started)

    best_error, best_step = _best_so_far(records.path, start or 0)
    start = start or 0
    fitted = trains_centres and start > pretrain  # restored with the checkpoint

    config = OmegaConf.to_container(cfg, resolve=True)
    logger = build_logger(cfg.logger, run_dir, config, experiment or run_dir.name)
    noise = train.input_noise
    train_step = make_train_step(backbone, head, loss_fn, optimizer, input_noise=noise)
    pretrain_step = make_train_step(
        backbone, head, loss_fn, optimizer, clustering=False, input_noise=noise
    )
    if head.assigns:
        embed_assign = make_embed_then(backbone, head.assign)
    else:
        embed_similarity = make_embed_then(backbone, head.similarity)
    base_key = jax.random.key(cfg.seed + 1)
    augment = getattr(cfg.dataset, "augment", False)

    def evaluate(x, y):
        if head.assigns:
            return assignment_metrics(lambda xb: embed_assign(state, xb), x, y, train)
        fn = lambda xb: embed_similarity(state, xb)  # noqa: E731
        return clustering_metrics(fn, x, y, data.num_classes, train)

    step_metrics = StepMetrics()

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
            if trains_centres and step == pretrain:
                state, _ = fit_head(parts, state, cfg)
                fitted = True
            step_fn = pretrain_step if step < pretrain else train_step
            state, loss, metrics = step_fn(state, x, data.y_train[idx], known[idx], key)
            step_metrics.add(metrics)
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
                record = {"step": done, "loss": loss, **step_metrics.means()}
                records.append(record)
                logger.log(record)
                if record.get("skipped") == 1.0:
                    log.warning(
                        "Sinkhorn did not converge in any step up to %d (none was applied); "
                        "raise head.epsilon or head.max_iterations",
                        done,
                    )
            scorable = not head.assigns or fitted
            if eval_now and not scorable:
                save(done, math.inf)  # no centres to score yet
            elif eval_now:
                val = evaluate(data.x_val, data.y_val)
                record = {"step": done, **{f"val_{k}": v for k, v in val.items()}}
                records.append(record)
                logger.log(record)
                log.info("step %d: loss %.4f, %s", done, loss, _fmt(record))
                save(done, val["clustering_error"])
                if val["clustering_error"] < best_error:
                    best_error, best_step = val["clustering_error"], done
                progress.set_postfix(loss=f"{loss:.4f}", val_error=f"{val['clustering_error']:.4f}")
                if train.select == "best" and done - best_step >= train.patience:
                    break
        steps = checkpoints.latest_step() or step
        if train.select == "best":
            best = checkpoints.best_step()
            if best is None or math.isinf(best_error):
                raise UserError("no evaluation ran; set train.eval_every <= train.steps")
            state = checkpoints.restore(best, state)
        else:  # the last parameters: no label ever chose them (unsupervised protocols)
            best = steps
        if head.assigns and not fitted:
            state, fit_clusters = fit_head(parts, state, cfg)
        if head.assigns:
            test, clusters = final_assignment_metrics(parts, state, fit_clusters, cfg)
            np.save(run_dir / "clusters.npy", clusters.astype(np.int32))  # per test point
        else:
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
        "wall_time_s": round(earlier_s + time.time() - started, 2),  # all segments
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
