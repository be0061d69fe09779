"""Would a ClAM grid run faster as one vmapped program? One fit against N fits of different
numbers (β from 0.01 to 1) vmapped together, in the same process, both compiled first, on a
standardised shared table. Prints one JSON line; ``per_setting_speedup`` > 1 means the
vmapped grid costs less per setting than fits one after another.

    python scripts/bench_clam_grid.py --data-dir ../shared/datasets/clam --dataset zoo --n 84
    python scripts/bench_clam_grid.py --data-dir DIR --dataset yale --n 8 --epochs 10

The fit is ``diffclust.clam.fit._fit`` (10 restarts vmapped, T = 10, batch 8, mask 0.15):
what one ``+experiment=clam`` job runs, without the job's own overhead. ``assign_speedup``: the
job's last step, assigning the table after the fit, over the same N values of β, run eagerly
(every new β compiled again, as before it was compiled with β traced) against
``diffclust.clam.core.assign``; both give the same labels (``assign_same``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from omegaconf import OmegaConf  # noqa: E402

from diffclust.clam import core as clam_core  # noqa: E402
from diffclust.clam import fit as clam_fit  # noqa: E402
from diffclust.data import DATASETS, load_dataset  # noqa: E402
from diffclust.strict_json import dumps  # noqa: E402


def numbers(n: int) -> dict:
    values = {
        "beta": np.linspace(0.01, 1.0, n),
        "alpha": np.full(n, 0.1),
        "lr": np.full(n, 0.01),
        "mask_prob": np.full(n, 0.15),
        "min_lr": np.full(n, 1e-5),
        "init_mean": np.full(n, 0.1),
        "init_std": np.full(n, 0.1),
    }
    return {name: jnp.asarray(v, jnp.float32) for name, v in values.items()}


def timed(fn, *args) -> float:
    jax.block_until_ready(fn(*args))  # compile
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def assign_timings(x: jax.Array, k: int, betas: jax.Array) -> dict:
    """Seconds to assign ``x`` once per β: eagerly (the scan's body holds β as a constant, so
    each new β compiles again) and with the compiled ``core.assign`` (β traced)."""
    memories = clam_core.Memories(x[:k], jnp.zeros((k,), x.dtype))
    dynamics = [clam_core.Dynamics(float(b), 0.1, 10) for b in betas]
    eager = clam_core._assign.__wrapped__
    start = time.perf_counter()
    before = [np.asarray(eager(x, memories, *d)) for d in dynamics]
    eager_s = time.perf_counter() - start
    start = time.perf_counter()
    after = [np.asarray(clam_core.assign(x, memories, d)) for d in dynamics]
    compiled_s = time.perf_counter() - start
    return {
        "assign_eager_s": round(eager_s, 3),
        "assign_compiled_s": round(compiled_s, 3),
        "assign_speedup": round(eager_s / compiled_s, 2),
        "assign_same": all(np.array_equal(a, b) for a, b in zip(before, after, strict=True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="zoo")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--n", type=int, default=8, help="settings vmapped together")
    parser.add_argument("--epochs", type=int, default=200)
    args = parser.parse_args()

    schema = DATASETS.schemas()[args.dataset]
    cfg = OmegaConf.merge(OmegaConf.structured(schema), {"data_dir": args.data_dir})
    data = load_dataset(cfg, seed=0)
    x = data.x_train.reshape(len(data.x_train), -1).astype(np.float32)
    scale = x.std(0)
    x = jnp.asarray((x - x.mean(0)) / np.where(scale > 0, scale, 1.0))
    n, batch, restarts = x.shape[0], 8, 10
    shape = clam_fit._Shape(
        k=data.num_classes, steps=10, spherical=False, epochs=args.epochs, batch=batch,
        batches=-(-n // batch), restarts=restarts, weighted=False, masked=True,
        mask_value="mean", init="normal", patience=5, plateau_factor=0.8, plateau_rtol=1e-3,
    )  # fmt: skip
    key, score_key = jax.random.split(jax.random.key(0))
    keys = jax.random.split(key, restarts)

    def fit(nums):
        return clam_fit._fit.__wrapped__(shape, x, keys, score_key, nums)

    assign = assign_timings(x, data.num_classes, numbers(args.n)["beta"])
    one = {name: v[0] for name, v in numbers(1).items()}
    single_s = timed(jax.jit(fit), one)
    batched_s = timed(jax.jit(jax.vmap(fit)), numbers(args.n))
    print(
        dumps(
            {
                "dataset": args.dataset,
                "shape": list(x.shape),
                "epochs": args.epochs,
                "n": args.n,
                "single_fit_s": round(single_s, 3),
                "vmapped_fits_s": round(batched_s, 3),
                "per_setting_speedup": round(single_s * args.n / batched_s, 3),
                **assign,
                "device": jax.devices()[0].platform,
            }
        )
    )


if __name__ == "__main__":
    main()
