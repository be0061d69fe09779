"""Time per training step of the OT head against the soft k-means head (batch 300, K=10,
embedding 10), the whole step: auto-encoder forward and backward, clustering loss, update.
Prints JSON.

    python scripts/bench_heads.py                      # digits_ot (bundled data)
    python scripts/bench_heads.py --experiment fashion_mnist_ot --steps 100

Centres start from k-means on the embedding, as in training, then each head trains
``--train-steps`` untimed steps (default 300) so the times are those of trained centres and
sharper clusters, where Sinkhorn needs more iterations than at the start; the iteration count
depends on the data, so it is reported with the times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hydra import compose, initialize_config_dir  # noqa: E402

from diffclust.config import register_configs  # noqa: E402
from diffclust.config.schema import CONF_DIR  # noqa: E402
from diffclust.strict_json import dumps  # noqa: E402
from diffclust.training.finish import fit_head  # noqa: E402
from diffclust.training.parts import build_parts  # noqa: E402
from diffclust.training.steps import make_train_step  # noqa: E402


def time_head(
    experiment: str, head: str, steps: int, batch: int, train_steps: int, overrides: list[str]
) -> dict:
    register_configs()
    with initialize_config_dir(str(CONF_DIR), version_base=None):
        cfg = compose("config", [f"+experiment={experiment}", f"head={head}", *overrides])
    parts = build_parts(cfg)
    state, _ = fit_head(parts, parts.init_state(cfg.seed), cfg)
    step_fn = make_train_step(parts.backbone, parts.head, cfg.loss, parts.optimizer)
    data, known = parts.data, parts.split.known
    key = jax.random.key(0)
    times, iterations, converged = [], [], []
    untimed = max(train_steps, 5)  # at least 5 warm-up steps (compilation)
    for step in range(untimed + steps):
        idx = np.random.default_rng(step).choice(len(data.y_train), batch, replace=False)
        args = (data.x_train[idx], data.y_train[idx], known[idx], jax.random.fold_in(key, step))
        start = time.perf_counter()
        state, loss, metrics = step_fn(state, *args)
        jax.block_until_ready((state, loss))
        if step >= untimed:
            times.append(time.perf_counter() - start)
            iterations.append(float(metrics.get("sinkhorn_iterations", 0)))
            converged.append(float(metrics.get("sinkhorn_converged", 1)))
    return {
        "median_step_ms": round(1e3 * statistics.median(times), 3),
        "sinkhorn_iterations_mean": round(float(np.mean(iterations)), 1),
        "sinkhorn_converged_fraction": round(float(np.mean(converged)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experiment", default="digits_ot")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch", type=int, default=300)
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument(
        "--ot",
        nargs="*",
        default=[],
        help="overrides for the OT head, e.g. head.momentum_start=null",
    )
    args = parser.parse_args()
    overrides = {"ot": args.ot, "soft_kmeans": []}
    heads = {
        h: time_head(args.experiment, h, args.steps, args.batch, args.train_steps, overrides[h])
        for h in ("ot", "soft_kmeans")
    }
    ratio = heads["ot"]["median_step_ms"] / heads["soft_kmeans"]["median_step_ms"]
    report = {
        "experiment": args.experiment,
        "batch": args.batch,
        "trained_steps_before_timing": max(args.train_steps, 5),
        "ot_overrides": args.ot,
        "device": jax.devices()[0].device_kind,
        **heads,
        "ot_over_soft_kmeans": round(ratio, 3),
    }
    print(dumps(report, indent=2))


if __name__ == "__main__":
    main()
