"""diffclust data [list | prepare NAME]: where each dataset would be read from, and tfds'
download-and-prepare for users with internet access."""

from __future__ import annotations

import argparse
import sys

from diffclust.data import DATASETS
from diffclust.data.sources import DEBIAN_DIRS, find
from diffclust.errors import UserError

HELP = "list the datasets and where they would be read from; prepare NAME downloads via tfds"
BUILTIN = {"digits": "scikit-learn (bundled)", "blobs": "synthetic", "denoise": "synthetic"}
TFDS_EXTRA = "pip install -e '.[tfds]'"


def where(name: str, data_dir: str | None) -> str:
    if name in BUILTIN:
        return BUILTIN[name]
    try:
        return find(name, data_dir).where
    except UserError:
        return "not available (see `diffclust data prepare` or dataset.data_dir=DIR)"


def prepare(name: str, data_dir: str | None) -> None:
    """Runs tfds' download_and_prepare: needs internet and TensorFlow (an optional extra)."""
    if name in BUILTIN:
        print(f"{name} needs no preparation ({BUILTIN[name]})")
        return
    if name in DEBIAN_DIRS and DEBIAN_DIRS[name].is_dir():
        print(f"{name} is already available from {DEBIAN_DIRS[name]}")
    try:
        import tensorflow  # noqa: F401  (the stock tfds builders read and encode with it)
    except ImportError:
        raise UserError(
            f"preparing {name} with tfds needs TensorFlow: run {TFDS_EXTRA} (with internet)"
        ) from None
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    builder.download_and_prepare()
    print(f"{name} prepared in {builder.data_dir}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="diffclust data", description=__doc__)
    parser.add_argument("action", nargs="?", default="list", choices=["list", "prepare"])
    parser.add_argument("name", nargs="?", help="dataset to prepare")
    parser.add_argument("--data-dir", help="folder of the standard files / tfds data dir")
    args = parser.parse_args(argv)
    try:
        if args.action == "list":
            for name in DATASETS.names():
                print(f"{name:<14} {where(name, None)}")
            return 0
        if args.name not in DATASETS.names():
            raise UserError(f"prepare which dataset? choose one of {DATASETS.names()}")
        prepare(args.name, args.data_dir)
        return 0
    except UserError as err:
        print(f"diffclust data: error: {err}", file=sys.stderr)
        return 2
