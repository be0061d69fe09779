"""Reader for CIFAR-10's python distribution (`cifar-10-batches-py`) without arbitrary unpickling.

The batches are pickles of dicts holding numpy arrays. The unpickler below resolves only the
numpy names needed to rebuild an array, so a tampered file cannot run code on load.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from diffclust.errors import UserError

_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
}
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_batches(directory: Path, files: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 32, 32, 3) uint8, labels (N,)) from the named batch files."""
    images, labels = [], []
    for name in files:
        path = directory / name
        try:
            with open(path, "rb") as f:
                batch = _ArrayUnpickler(f, encoding="bytes").load()
            data = np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32)
            images.append(data.transpose(0, 2, 3, 1))
            labels.append(np.asarray(batch[b"labels"], np.int32))
        except (OSError, EOFError, KeyError, ValueError, pickle.UnpicklingError) as err:
            raise UserError(
                f"cannot read CIFAR-10 batch {path} ({err}); download it again"
            ) from None
    return np.concatenate(images), np.concatenate(labels)
