"""Do ClAM's restarts fit faster two at a time than all vmapped at once? The same fit both
ways (``FitOptions.restarts_at_once`` 2 against all 10), timed against each other; prints one
JSON line with the best time of each, ``speedup`` (> 1: two at a time is faster) and both
fits' losses (equal up to float32 rounding).

Each way is compiled first, then timed, the two alternated ``--repeats`` times. ``--workers
2`` runs that many copies at once (what a study's two workers or a joblib grid do on two
cores), each timing both ways at the same moments; a repeat counts its slowest copy.

    python scripts/bench_clam_fit.py --workers 2                     # Yale's shape, batch 8
    python scripts/bench_clam_fit.py --workers 2 --n 360 --d 90      # Movement Libras'

The rows are Gaussian (the time does not depend on the values); k = 15, 10 restarts,
4 epochs, T = 20, batch 8, α = 0.4, mask 0.15 of max unless set.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffclust.clam.core import Dynamics  # noqa: E402
from diffclust.clam.fit import FitOptions, fit_clam  # noqa: E402
from diffclust.strict_json import dumps  # noqa: E402

WAYS = {"two_at_once": 2, "all_at_once": 10}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=165)
    parser.add_argument("--d", type=int, default=1024)
    parser.add_argument("--k", type=int, default=15)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def time_ways(args: argparse.Namespace) -> dict:
    """Seconds of each way's repeats, and its loss."""
    x = np.random.default_rng(0).standard_normal((args.n, args.d)).astype(np.float32)
    dynamics = Dynamics(0.05, 0.4, args.steps)
    seconds = {way: [] for way in WAYS}
    losses = {}
    for _ in range(args.repeats):
        for way, at_once in WAYS.items():
            options = FitOptions(
                epochs=args.epochs,
                batch_size=args.batch,
                lr=0.03,
                mask_value="max",
                restarts=10,
                restarts_at_once=at_once,
            )
            fit_clam(x, args.k, dynamics, options, 0)  # compile
            start = time.perf_counter()
            losses[way] = fit_clam(x, args.k, dynamics, options, 0).loss
            seconds[way].append(time.perf_counter() - start)
    return {"seconds": seconds, "losses": losses}


def main() -> None:
    args = parse()
    if args.worker:
        print(json.dumps(time_ways(args)))
        return
    if args.workers == 1:
        runs = [time_ways(args)]
    else:  # copies started together: each repeat of a way overlaps the others'
        command = [sys.executable, __file__, *sys.argv[1:], "--worker"]
        copies = [
            subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            for _ in range(args.workers)
        ]
        runs = [json.loads(c.communicate()[0].strip().splitlines()[-1]) for c in copies]
    best = {  # per repeat the slowest copy (the pair's wall time), then the best repeat
        way: min(max(run["seconds"][way][i] for run in runs) for i in range(args.repeats))
        for way in WAYS
    }
    print(
        dumps(
            {
                "shape": [args.n, args.d, args.k],
                "batch": args.batch,
                "steps": args.steps,
                "workers": args.workers,
                "seconds": best,
                "speedup": best["all_at_once"] / best["two_at_once"],
                "losses": runs[0]["losses"],
                "devices": [str(d) for d in jax.devices()],
            }
        )
    )


if __name__ == "__main__":
    main()
