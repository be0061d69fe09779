"""Where image datasets come from: the user's ``dataset.data_dir`` (the standard files, or
tensorflow-datasets' data prepared there by `diffclust data prepare NAME --data-dir DIR`);
without it, the Debian package location, then tfds' default data dir (``tfds.data_source``
reads without importing TensorFlow). Nothing is ever downloaded here: see `diffclust data`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffclust.data import cifar
from diffclust.data.idx import read_idx
from diffclust.errors import MissingData

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_test, y_test
TFDS_NAMES = ("mnist", "fashion_mnist", "cifar10")  # tensorflow-datasets names of ours

MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
DEBIAN_DIRS = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}
CIFAR_DIR = "cifar-10-batches-py"


@dataclass(frozen=True)
class Found:
    arrays_fn: Callable[[], Arrays]
    where: str


def _idx_path(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def idx_directory(directory: Path) -> Found | None:
    """The four MNIST-family idx files in ``directory`` (plain or .gz), if all are there."""
    paths = {key: _idx_path(directory, stem) for key, stem in MNIST_FILES.items()}
    if any(p is None for p in paths.values()):
        return None

    def arrays() -> Arrays:
        return tuple(read_idx(paths[key]) for key in MNIST_FILES)

    return Found(arrays, str(directory))


def cifar_directory(directory: Path) -> Found | None:
    """CIFAR-10's python batches in ``directory`` or its ``cifar-10-batches-py`` subfolder."""
    for candidate in (directory, directory / CIFAR_DIR):
        if all((candidate / f).is_file() for f in cifar.TRAIN_FILES + cifar.TEST_FILES):

            def arrays(candidate=candidate) -> Arrays:
                train = cifar.read_batches(candidate, cifar.TRAIN_FILES)
                test = cifar.read_batches(candidate, cifar.TEST_FILES)
                return train[0], train[1], test[0], test[1]

            return Found(arrays, str(candidate))
    return None


def _tfds_split(name: str, split: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow_datasets as tfds

    with _quiet_absl():
        source = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    records = [source[i] for i in range(len(source))]
    images = np.stack([np.asarray(r["image"], np.uint8) for r in records])
    return images, np.asarray([r["label"] for r in records], np.int32)


@contextlib.contextmanager
def _quiet_absl() -> Iterator[None]:
    """Silences tfds' absl warnings while probing for data that may well be absent (e.g.
    "Variant folder ... has no dataset_info.json"): its absence is reported by us, once."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def tfds_prepared(name: str, data_dir: str | None = None) -> Found | None:
    """tfds' prepared copy of ``name`` (in ``data_dir``, else tfds' default data dir), if
    there is one (never downloads)."""
    try:
        with _quiet_absl():
            import tensorflow_datasets as tfds

            tfds.data_source(name, split="test", data_dir=data_dir, download=False)
    except Exception:  # tfds raises NotImplementedError, FileNotFoundError, ... when absent
        return None

    def arrays() -> Arrays:
        return (*_tfds_split(name, "train", data_dir), *_tfds_split(name, "test", data_dir))

    where = f"tfds:{name}" if data_dir is None else f"tfds:{name} in {data_dir}"
    return Found(arrays, where)


def find(name: str, data_dir: str | None) -> Found:
    """The first available source of image dataset ``name``, or a UserError saying where it
    looked and how to provide the data."""
    looked = []
    read_dir = cifar_directory if name == "cifar10" else idx_directory
    if data_dir is not None:
        directory = Path(data_dir).expanduser()
        if not directory.is_dir():
            raise MissingData(
                f"dataset.data_dir={data_dir} does not exist; point it at the folder that holds "
                f"the {name} files, or remove the override to use the default locations"
            )
        found = read_dir(directory) or tfds_prepared(name, str(directory))
        if found is not None:
            return found
        raise MissingData(
            f"{directory} does not hold the {name} files: {expected_files(name)} (nor tfds' "
            f"prepared {name})"
        )
    if name in DEBIAN_DIRS:
        found = read_dir(DEBIAN_DIRS[name])
        looked.append(str(DEBIAN_DIRS[name]))
        if found is not None:
            return found
    found = tfds_prepared(name)
    looked.append("tensorflow-datasets' data dir (~/tensorflow_datasets or $TFDS_DATA_DIR)")
    if found is not None:
        return found
    raise MissingData(
        f"{name} not found (looked in {'; '.join(looked)}); pass dataset.data_dir=DIR with "
        f"{expected_files(name)}, or run `diffclust data prepare {name}` with internet access"
    )


def expected_files(name: str) -> str:
    if name == "cifar10":
        return f"{CIFAR_DIR}/ ({', '.join(cifar.TRAIN_FILES + cifar.TEST_FILES)})"
    return ", ".join(f"{stem}[.gz]" for stem in MNIST_FILES.values())
