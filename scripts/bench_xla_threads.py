"""Do two grid workers on two cores fit faster with XLA's CPU threading off? A joblib launcher
runs N jobs at once, each process with XLA's own pool of threads (one per core), so on a small
machine the pools oversubscribe the cores. This starts ``--workers`` processes at once, each
fitting ``--fits`` ClAM settings (one compiled program, β varied; what one ``+experiment=clam``
job fits), first with XLA's defaults and then with ``--xla_cpu_multi_thread_eigen=false``,
alternating ``--rounds`` times so that a drift of the machine's load hits both alike. Prints one
JSON line: fits per minute of each mode, ``speedup`` (single-threaded over default) and
whether both modes fitted the same losses (``same_losses``).

    python scripts/bench_xla_threads.py --data-dir ../shared/datasets/clam --dataset ecoli

Processes, not threads of one process, because XLA reads its flags once per process: the
ratio is of two timings in the same run of this script, not of the same process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SINGLE = "--xla_cpu_multi_thread_eigen=false"

WORKER = """
import sys, time
sys.path.insert(0, {repo!r})
import numpy as np
from omegaconf import OmegaConf
from diffclust.clam import fit as clam_fit
from diffclust.clam.core import Dynamics
from diffclust.data import DATASETS, load_dataset
schema = DATASETS.schemas()[{dataset!r}]
data = load_dataset(OmegaConf.merge(OmegaConf.structured(schema), {{"data_dir": {data_dir!r}}}), 0)
x = data.x_train.reshape(len(data.x_train), -1).astype(np.float32)
x = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)
options = clam_fit.FitOptions(epochs={epochs}, batch_size=8, lr=0.01, restarts=10)
def fit(beta):
    return clam_fit.fit_clam(x, data.num_classes, Dynamics(beta, 0.1, 10), options, seed=0)
fit(0.5)  # compile
start = time.perf_counter()
losses = [fit(0.1 + 0.1 * i).loss for i in range({fits})]
print(time.perf_counter() - start, *losses)
"""


def round_of(mode: str, args: argparse.Namespace) -> tuple[float, list[float]]:
    """Seconds for ``args.workers`` processes at once to fit ``args.fits`` settings each
    (compilation excluded: each process times its own fits, and the slowest one counts), and
    the fits' losses."""
    env = dict(os.environ)
    if mode == "single":
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {SINGLE}".strip()
    code = WORKER.format(
        repo=str(REPO),
        dataset=args.dataset,
        data_dir=str(Path(args.data_dir).resolve()),
        epochs=args.epochs,
        fits=args.fits,
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(args.workers)
    ]
    times, losses = [], []
    for worker in workers:
        out, _ = worker.communicate()
        if worker.returncode != 0:
            raise SystemExit(f"a {mode} worker failed (exit {worker.returncode})")
        seconds, *fit_losses = map(float, out.strip().splitlines()[-1].split())
        times.append(seconds)
        losses += fit_losses
    return max(times), losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ecoli")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fits", type=int, default=4, help="settings each worker fits")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {"default": [], "single": []}
    losses: dict[str, list[float]] = {}
    started = time.perf_counter()
    for _ in range(args.rounds):
        for mode in seconds:
            elapsed, losses[mode] = round_of(mode, args)
            seconds[mode].append(elapsed)
    fits = args.workers * args.fits
    rate = {mode: 60 * fits / (sum(s) / len(s)) for mode, s in seconds.items()}
    print(
        json.dumps(
            {
                "dataset": args.dataset,
                "workers": args.workers,
                "cores": os.cpu_count(),
                "fits_per_round": fits,
                "epochs": args.epochs,
                "seconds": seconds,
                "fits_per_min": {mode: round(r, 2) for mode, r in rate.items()},
                "speedup": round(rate["single"] / rate["default"], 3),
                "same_losses": losses["single"] == losses["default"],
                "wall_s": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
