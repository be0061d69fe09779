"""diffclust data [list | prepare NAME] [--data-dir DIR]: for every dataset option, where
training would read it from (with dataset.data_dir=DIR when --data-dir is given), found by the
loaders' own lookup; and tfds' download-and-prepare of mnist, fashion_mnist and cifar10 for
users with internet access."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from diffclust.errors import UserError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"  # as diffclust.config.schema's
HELP = "where training would read each dataset from; prepare NAME downloads it via tfds"
TFDS_EXTRA = "pip install -e '.[tfds]'"
SHOWN = {"sklearn": "scikit-learn (bundled)", "synthetic": "synthetic (generated from the seed)"}


def dataset_configs(data_dir: str | None, names: list[str] | None = None) -> dict:
    """Each dataset option's config (or those in ``names``) as training composes it
    (``dataset=NAME``), with ``data_dir`` set on the options that read from a folder."""
    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore

    from diffclust.data import DATASETS

    # The dataset schemas alone, as diffclust.config.register_configs stores them: importing
    # that (every head and network, so flax) would triple this command's start-up time.
    for option, schema in DATASETS.schemas().items():
        ConfigStore.instance().store(group="schema/dataset", name=option, node=schema)
    configs = {}
    with initialize_config_dir(str(CONF_DIR), version_base=None):
        for name in names or DATASETS.names():
            cfg = compose(f"dataset/{name}").dataset
            if data_dir is not None and "data_dir" in cfg:
                cfg.data_dir = data_dir
            configs[name] = cfg
    return configs


def where(cfg) -> str:
    """What training would read for ``cfg``, or why it could not, in one line."""
    from diffclust.data.catalog import locate

    try:
        source = locate(cfg)
    except UserError as err:
        return f"not available: {err}"
    return SHOWN.get(source, source)


def prepare(name: str, data_dir: str | None) -> None:
    """Runs tfds' download_and_prepare: needs internet and TensorFlow (an optional extra)."""
    from diffclust.data.catalog import locate
    from diffclust.data.sources import TFDS_NAMES

    cfg = dataset_configs(data_dir, [name])[name]
    if name not in TFDS_NAMES:
        try:
            source = locate(cfg)
            reason = f"training reads it from {SHOWN.get(source, source)}"
        except UserError as err:
            reason = str(err)
        raise UserError(
            f"`diffclust data prepare` downloads only tensorflow-datasets' "
            f"{', '.join(TFDS_NAMES)}; {name} needs no preparation ({reason})"
        )
    try:
        print(f"{name} is already available: training reads {locate(cfg)}; nothing to prepare")
        return
    except UserError:
        pass  # not there: prepare it
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
    from diffclust.data import DATASETS
    from diffclust.data.sources import TFDS_NAMES

    parser = argparse.ArgumentParser(prog="diffclust data", description=__doc__)
    parser.add_argument("action", nargs="?", default="list", choices=["list", "prepare"])
    parser.add_argument("name", nargs="?", help="dataset to prepare (mnist, fashion_mnist, ...)")
    parser.add_argument("--data-dir", help="as dataset.data_dir=DIR (files, or tfds' data dir)")
    args = parser.parse_args(argv)
    try:
        if args.action == "list":
            configs = dataset_configs(args.data_dir)
            width = max(map(len, configs))
            for name, cfg in configs.items():
                print(f"{name:<{width}}  {where(cfg)}")
            return 0
        if args.name not in DATASETS.names():
            raise UserError(f"prepare which dataset? choose one of {', '.join(TFDS_NAMES)}")
        prepare(args.name, args.data_dir)
        return 0
    except UserError as err:
        print(f"diffclust data: error: {err}", file=sys.stderr)
        return 2
