"""What both run shapes share: the checks of a run's config against its parts, fitting the
head on embedded training data, and the end of a run (test, probe, results.json, pictures)."""

from __future__ import annotations

import logging
import time

import numpy as np

from diffclust.errors import UserError
from diffclust.reports.plots import curves_picture, tsne_picture
from diffclust.training.parts import Parts
from diffclust.training.probe import probe_error
from diffclust.training.provenance import provenance
from diffclust.training.recorder import Recorder
from diffclust.training.records import read_jsonl

log = logging.getLogger(__name__)


def check_run(cfg, parts: Parts) -> None:
    """Config errors that only the built parts reveal, before any compilation."""
    classes = parts.data.num_classes
    if cfg.train.eval_batch_size < classes:
        raise UserError(
            f"train.eval_batch_size={cfg.train.eval_batch_size} is smaller than the {classes} "
            "classes; a batch must hold at least k = number of classes points"
        )
    if not parts.head.places_new_points and not parts.data.transductive:
        raise UserError(
            f"head={cfg.head.name} partitions the points it is fitted on and cannot place "
            "test points; cluster a whole table (dataset.test_size=0)"
        )


def fit_head(
    parts: Parts, state: dict, cfg, recorder: Recorder | None = None, step: int = 0
) -> tuple[dict, np.ndarray | None]:
    """``head.fit`` on the embedded training data (at most ``cfg.head.init_samples`` points,
    a seeded sample; labels are not used): the state with the fitted head parameters, and
    the cluster of every training point when all of them were used (else None). The fit's
    history goes to metrics.jsonl, each record at training step ``step``."""
    data = parts.data
    count = min(cfg.head.init_samples or len(data.y_train), len(data.y_train))
    idx = np.sort(np.random.default_rng([cfg.seed, 2]).permutation(len(data.y_train))[:count])
    z = parts.embed_all(state, data.x_train[idx])
    began = time.time()
    log.info("fitting head %s on %d embedded training points", cfg.head.name, len(idx))
    fitted = parts.head.fit(z, cfg.seed)
    log.info("head %s fitted in %.1f s", cfg.head.name, time.time() - began)
    for record in fitted.history if recorder is not None else ():
        recorder.log({"step": step, **record})
    state = {**state, "params": {**state["params"], "head": fitted.params}}
    return state, (fitted.clusters if count == len(data.y_train) else None)


def transfer_probe(parts: Parts, state: dict, seed: int) -> dict | None:
    """The linear probe of the frozen backbone (None when the split holds nothing out)."""
    data, split = parts.data, parts.split
    if not len(split.holdout):
        return None
    holdout_z = parts.embed_all(state, data.x_train[split.holdout])
    test_z = parts.embed_all(state, data.x_test)
    probe = probe_error(holdout_z, data.y_train[split.holdout], test_z, data.y_test, seed)
    log.info("transfer probe: test error %.4f", probe["test_error"])
    return probe


def test_and_write(
    cfg, parts: Parts, state: dict, recorder: Recorder, best: int, steps: int, fit_clusters=None
) -> dict:
    """Tests ``state`` (the head's metrics on the test split, the transfer probe), writes
    results.json (and clusters.npy for heads that assign points), then the pictures."""
    data, head = parts.data, parts.head
    log.info("testing on %d points", len(data.y_test))
    test, clusters = head.test(
        parts.embedder(state), state["params"]["head"], data, cfg.train, cfg.seed, fit_clusters
    )
    if clusters is not None:
        np.save(recorder.run_dir / "clusters.npy", clusters.astype(np.int32))  # per test point
    probe = transfer_probe(parts, state, cfg.seed)
    val = selected_validation(recorder, best)
    results = {
        "test": test,
        **({"val": val} if val else {}),
        **({"probe": probe} if probe is not None else {}),
        "best_step": best,
        "steps": steps,
        "wall_time_s": round(recorder.elapsed_s(), 2),  # all segments
        "cpu_time_s": None if (cpu := recorder.cpu_s()) is None else round(cpu, 2),
        "seed": cfg.seed,
        "experiment": recorder.experiment,
        "dataset": data.summary(),
        "num_labelled": int(np.sum(parts.split.known)),
        "num_holdout": len(parts.split.holdout),
        "config": recorder.config,
        "provenance": {
            **provenance(data.checksum(), recorder.started),
            "segments": recorder.segments,
        },
    }
    recorder.write_results(results)  # before the pictures: they cannot cost the results
    if cfg.train.pictures:
        run_pictures(parts, state, recorder, cfg)
    return results


def selected_validation(recorder: Recorder, step: int) -> dict:
    """The validation metrics of the tested parameters' step (metrics.jsonl's ``val_*``), e.g.
    ``{"clustering_error": 0.0}`` at the step where denoising first reaches 0; {} when no
    evaluation ran at that step (whole-table fits)."""
    found = [r for r in recorder.evaluations() if r["step"] == step]
    return (
        {k.removeprefix("val_"): v for k, v in found[-1].items() if k.startswith("val_")}
        if found
        else {}
    )


def run_pictures(parts: Parts, state: dict, recorder: Recorder, cfg) -> None:
    """curves.png (metrics.jsonl) and tsne.png (a seeded sample of validation embeddings)."""
    data, title = parts.data, recorder.experiment or recorder.run_dir.name
    curves_picture(read_jsonl(recorder.records.path), recorder.run_dir / "curves.png", title)
    log.info(
        "drawing a t-SNE of %d validation embeddings", min(len(data.y_val), cfg.train.tsne_points)
    )
    rng = np.random.default_rng(cfg.seed)
    idx = np.sort(rng.permutation(len(data.y_val))[: cfg.train.tsne_points])
    z = parts.embed_all(state, data.x_val[idx])
    path = recorder.run_dir / "tsne.png"
    tsne_picture(z, data.y_val[idx], path, cfg.seed, f"{title}: validation t-SNE")
