"""Why ClAM ties k-means on Fashion-MNIST: where the memories end up, by the published protocol.

For each (beta, mask value), fits one restart of head.protocol=paper (T 5, lr 0.01, batch
256, p 0.1: the paper's Table 6) on the 60000 standardised training images for --epochs, then
prints one JSON line: the memories' norms against the images' (a memory far outside the data
is reached by no image: a dead cluster), how peaked the softmax over memories is, and the
partition's cluster sizes and silhouette on a seeded sample of 10000 images, both for
the nearest memory of each image and after the T steps of inference.

    python scripts/diagnose_clam_fashion.py [--data-dir DIR] [--epochs 20] [--beta 0.0005 0.01]
        [--mask-value max mean]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from diffclust.clam import Dynamics, Memories, assign
from diffclust.clam.published import PublishedOptions, fit_published
from diffclust.data.idx import read_idx
from diffclust.training.evaluate import silhouette


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--beta", type=float, nargs="+", default=[0.0005, 0.01])
    parser.add_argument("--mask-value", nargs="+", default=["max", "mean"])
    args = parser.parse_args()
    x = read_idx(args.data_dir / "train-images-idx3-ubyte.gz").reshape(60000, -1)
    x = x.astype(np.float64)
    scale = np.where(x.std(0) > 0, x.std(0), 1.0)
    x = ((x - x.mean(0)) / scale).astype(np.float32)
    sample = x[np.random.default_rng(0).choice(len(x), 10000, replace=False)]
    for beta in args.beta:
        for mask_value in args.mask_value:
            dynamics = Dynamics(beta / 2, 1 / 5, 5)  # the code's beta/2, T = 5
            options = PublishedOptions(
                epochs=args.epochs, batch_size=256, lr=0.01, restarts=1, mask_prob=0.1,
                mask_value=mask_value,
            )  # fmt: skip
            fit = fit_published(x, 10, dynamics, options, seed=0)
            rho = np.asarray(fit.memories.prototypes[0])
            d2 = ((sample[:, None, :] - rho[None]) ** 2).sum(-1)
            logits = -dynamics.beta * d2
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            nearest = d2.argmin(1)
            memories = Memories(jnp.asarray(rho), jnp.zeros(10))
            after = np.asarray(assign(jnp.asarray(sample), memories, dynamics))
            line = {
                "beta": beta,
                "mask_value": mask_value,
                "epochs": args.epochs,
                "image_norm_mean": float(np.linalg.norm(sample, axis=1).mean()),
                "memory_norms": np.round(np.linalg.norm(rho, axis=1), 1).tolist(),
                "softmax_max_median": float(np.median(p.max(1))),
                "nearest_sizes": np.bincount(nearest, minlength=10).tolist(),
                "nearest_silhouette": silhouette(sample, nearest, 10000, 0),
                "sizes": np.bincount(after, minlength=10).tolist(),
                "silhouette": silhouette(sample, after, 10000, 0),
            }
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
