"""Cost of ``Dataset.checksum()`` (sha256 of the arrays a run uses, recorded in its provenance)
against loading the same data, timed alternately in this process. Prints one JSON line.

    python scripts/bench_checksum.py                                 # Fashion-MNIST features
    python scripts/bench_checksum.py --dataset fashion_mnist --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from omegaconf import OmegaConf  # noqa: E402

from diffclust.data import DATASETS, load_dataset  # noqa: E402
from diffclust.strict_json import dumps  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist_features", choices=DATASETS.names())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cfg = OmegaConf.structured(DATASETS.schemas()[args.dataset](name=args.dataset))
    load_s, checksum_s = [], []
    for _ in range(args.repeats):  # interleaved: the machine's load hits both alike
        start = time.perf_counter()
        data = load_dataset(cfg, seed=0)
        load_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        digest = data.checksum()
        checksum_s.append(time.perf_counter() - start)
    arrays = (data.x_train, data.y_train, data.x_val, data.y_val, data.x_test, data.y_test)
    unique = {id(a): a.nbytes for a in arrays}
    load, checksum = statistics.median(load_s), statistics.median(checksum_s)
    print(
        dumps(
            {
                "dataset": args.dataset,
                "train_shape": list(data.x_train.shape),
                "hashed_mb": round(sum(unique.values()) / 2**20, 1),
                "load_s": round(load, 3),
                "checksum_s": round(checksum, 3),
                "checksum_over_load": round(checksum / load, 3),
                "checksum_gb_per_s": round(sum(unique.values()) / checksum / 1e9, 2),
                "sha256": digest,
            }
        )
    )


if __name__ == "__main__":
    main()
