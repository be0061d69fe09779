"""Is the AM step faster with the softmax's arguments less ‖v‖² (``core.step_logits``) than
with the whole squared distances (``core.logits``, as before)? One ClAM fit of each, in the
same process, alternated, each compiled first; prints one JSON line with the best time of
each and ``speedup`` (> 1: step_logits is faster) and both fits' losses (equal up to float32
rounding).

    python scripts/bench_clam_step.py                     # Yale's shape: 165 x 1024, k = 15
    python scripts/bench_clam_step.py --n 336 --d 7 --k 8 # Ecoli's

The rows are Gaussian (the time does not depend on the values); 10 restarts, 4 epochs, the
settings a Yale study favours (batch 8, T = 20, α = 0.4, mask 0.15 of max).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffclust.clam import core  # noqa: E402
from diffclust.clam.fit import FitOptions, fit_clam  # noqa: E402
from diffclust.strict_json import dumps  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=165)
    parser.add_argument("--d", type=int, default=1024)
    parser.add_argument("--k", type=int, default=15)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    x = np.random.default_rng(0).standard_normal((args.n, args.d)).astype(np.float32)
    options = FitOptions(epochs=args.epochs, batch_size=args.batch, lr=0.03, mask_value="max")
    dynamics = core.Dynamics(0.05, 0.4, args.steps)
    variants = {"logits": core.logits, "step_logits": core.step_logits}
    seconds = {name: [] for name in variants}
    losses = {}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            core.step_logits = fn  # am_step looks it up when traced
            jax.clear_caches()
            fit_clam(x, args.k, dynamics, options, 0)  # compile
            start = time.perf_counter()
            losses[name] = fit_clam(x, args.k, dynamics, options, 0).loss
            seconds[name].append(time.perf_counter() - start)
    core.step_logits = variants["step_logits"]
    best = {name: min(times) for name, times in seconds.items()}
    print(
        dumps(
            {
                "shape": [args.n, args.d, args.k],
                "seconds": best,
                "speedup": best["logits"] / best["step_logits"],
                "losses": losses,
                "devices": [str(d) for d in jax.devices()],
            }
        )
    )


if __name__ == "__main__":
    main()
