"""Benchmark: a forest experiment's training step against its cross-entropy twin's.

Prints one JSON line per pair (default: fashion_mnist_semi vs fashion_mnist_semi_baseline,
fashion_mnist_full vs fashion_mnist_full_baseline): the median ms of compiled steps of each,
their ratio, and an estimate of a full run (steps x ms/step plus its evaluations). Both steps
are built by the project's own path (config composition, build_parts, build_loss,
make_train_step, as `diffclust train` does) on real Fashion-MNIST, and timed in the same
process, interleaved in short blocks, so that a noisy machine slows both alike.

    python scripts/bench_step.py [--pairs fashion_mnist_semi ...] [--steps 60] [--rounds 6]
        [--num-samples 1000] [-o dataset.data_dir=DIR ...]

Where a forest step's time goes (fashion_mnist_semi, n = 64, 1000 samples, this 2-core CPU,
jax.profiler and perf). Before issue 19: ~57 ms of the loss in an 83-92 ms step, of which the
noise (4M erf_inv normals) ~10 ms, the two per-sample Prim solves ~17 ms each (sorts, and XLA
launching a dozen kernels per Prim step), the rest ~13 ms. Now: LeNet-5 forward and backward
as in the baseline's step (5.5-7 ms quiet, ~10 ms with the machine shared); the loss ~2.4 ms
(4.5 ms of CPU on two cores), nearly all of it the native kernel (forest/native): per 1000
samples, Box-Muller noise 0.9 ms, perturbed matrices 0.8 ms, twelve Prim passes in lockstep
1.6 ms, dropping edges, checking labels and counting edges 0.5 ms (one core); the JAX around
it (similarity, constraints, gradient scaling) under 0.1 ms. That was an AVX-512 CPU; on an
AVX2 EPYC (2026-12-03, the baseline's step 16-19 ms) the kernel takes 5.6 ms on two cores,
13 ms of CPU: noise and matrices 5.9, Prim 5.0, the rest 1.9.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import jax
import numpy as np
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException

from diffclust.config import register_configs
from diffclust.config.schema import CONF_DIR
from diffclust.errors import UserError
from diffclust.forest import native
from diffclust.strict_json import dumps
from diffclust.training.parts import build_parts
from diffclust.training.steps import make_train_step

PAIRS = ("fashion_mnist_semi", "fashion_mnist_full")


def compose_config(experiment: str, overrides: list[str]):
    """The config `diffclust train +experiment=NAME OVERRIDES` runs (no pictures)."""
    register_configs()
    with initialize_config_dir(str(CONF_DIR), version_base=None):
        return compose(
            "config", overrides=[f"+experiment={experiment}", "train.pictures=false", *overrides]
        )


class Runner:
    """One experiment's compiled training step, fed its own batches as the training loop."""

    def __init__(self, experiment: str, overrides: list[str]):
        self.cfg = cfg = compose_config(experiment, overrides)
        self.parts = parts = build_parts(cfg)
        self.step_fn = make_train_step(
            parts.backbone, parts.head, cfg.loss, parts.optimizer, input_noise=cfg.train.input_noise
        )
        self.state = parts.init_state(cfg.seed)
        self.step = 0
        self.base_key = jax.random.key(cfg.seed + 1)
        self.times: list[float] = []

    def run(self, steps: int, record: bool = True) -> None:
        cfg, data, split = self.cfg, self.parts.data, self.parts.split
        for _ in range(steps):
            idx = split.batch(cfg.train.batch_size, cfg.seed, self.step)
            args = (data.x_train[idx], data.y_train[idx], split.known[idx])
            key = jax.random.fold_in(self.base_key, self.step)
            start = time.perf_counter()
            self.state, loss, _ = self.step_fn(self.state, *args, key)
            jax.block_until_ready(loss)
            if record:
                self.times.append(time.perf_counter() - start)
            self.step += 1

    def evaluation_s(self) -> float:
        """Seconds of one validation pass of the training loop (a forest head's)."""
        parts, cfg = self.parts, self.cfg
        data, head_params = parts.data, self.state["params"]["head"]
        run = lambda: parts.head.evaluate(  # noqa: E731
            parts.embedder(self.state), head_params, data.x_val, data.y_val, cfg.train
        )
        run()  # compile
        start = time.perf_counter()
        run()
        return time.perf_counter() - start


def bench_pair(experiment: str, args, overrides: list[str]) -> dict:
    forest = Runner(experiment, overrides + [f"loss.num_samples={args.num_samples}"])
    baseline = Runner(f"{experiment}_baseline", overrides)
    for runner in (forest, baseline):
        runner.run(2, record=False)  # compile and warm up
    block = max(1, args.steps // args.rounds)
    for _ in range(args.rounds):
        for runner in (forest, baseline):
            runner.run(block)
    forest_ms = 1e3 * statistics.median(forest.times)
    baseline_ms = 1e3 * statistics.median(baseline.times)
    train = forest.cfg.train
    evaluations = train.steps // train.eval_every
    eval_s = forest.evaluation_s()
    return {
        "experiment": experiment,
        "baseline": f"{experiment}_baseline",
        "num_samples": args.num_samples,
        "forest_ms": round(forest_ms, 2),
        "baseline_ms": round(baseline_ms, 2),
        "ratio": round(forest_ms / baseline_ms, 3),
        "steps_timed": len(forest.times),
        "forest_ms_p90": round(1e3 * float(np.percentile(forest.times, 90)), 2),
        "baseline_ms_p90": round(1e3 * float(np.percentile(baseline.times, 90)), 2),
        "evaluation_s": round(eval_s, 2),
        "full_run_estimate_min": round(
            (train.steps * forest_ms / 1e3 + evaluations * eval_s) / 60, 1
        ),
        "native_kernel": native.available(),
        "device": jax.devices()[0].device_kind,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", nargs="*", default=list(PAIRS), help="forest experiments")
    parser.add_argument("--steps", type=int, default=60, help="timed steps of each experiment")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved blocks")
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument(
        "-o",
        "--override",
        action="append",
        default=[],
        help="config override for both, e.g. dataset.data_dir=DIR (repeatable)",
    )
    args = parser.parse_args()
    try:
        for experiment in args.pairs:
            print(dumps(bench_pair(experiment, args, args.override)), flush=True)
    except (UserError, HydraException) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
