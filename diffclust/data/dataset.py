"""In-memory datasets: numpy arrays with deterministic, seeded train / validation / test splits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from diffclust.errors import UserError


@dataclass(frozen=True)
class Dataset:
    """Images (N, H, W, C) float32 in [0, 1] or feature rows (N, D), int32 labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: str  # where the data was read from, recorded with every run
    # Classical clustering of a table: the training points are also the validation and test
    # points (the ClAM protocol), so a method may score the partition it found on them.
    transductive: bool = False

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def checksum(self) -> str:
        """sha256 of the arrays a run uses (x and y of train, validation and test, each with
        its split, dtype and shape): the same data gives the same digest on any machine,
        however it was read. On a whole table the splits are one array, hashed once."""
        digest = hashlib.sha256()
        seen: dict[int, str] = {}
        for split in ("train", "val", "test"):
            for kind in ("x", "y"):
                name = f"{kind}_{split}"
                array = getattr(self, name)
                digest.update(f"{name} {array.dtype.str} {array.shape}".encode())
                if id(array) in seen:  # transductive: x_val is x_train
                    digest.update(f" = {seen[id(array)]}".encode())
                    continue
                seen[id(array)] = name
                digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
        return digest.hexdigest()

    def summary(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "train": len(self.y_train),
            "val": len(self.y_val),
            "test": len(self.y_test),
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "transductive": self.transductive,
        }


def stratified_holdout(labels: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (rest, holdout): ``size`` points with the class proportions of ``labels``
    (plain random when a class has a single point or there are more classes than ``size``).

    A pure function of (labels, size, seed): the same seed always holds out the same points.
    """
    if not 0 < size < len(labels):
        raise UserError(
            f"cannot hold out {size} of {len(labels)} points; choose 0 < size < {len(labels)}"
        )
    index = np.arange(len(labels))
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 and size >= len(counts) else None
    rest, holdout = train_test_split(index, test_size=size, stratify=stratify, random_state=seed)
    return np.sort(rest), np.sort(holdout)


def with_validation(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    val_size: int,
    seed: int,
    source: str,
) -> Dataset:
    """Carves a stratified validation split of ``val_size`` points out of the training split."""
    y_train, y_test = y_train.astype(np.int32), y_test.astype(np.int32)
    rest, val = stratified_holdout(y_train, val_size, seed)
    return Dataset(
        name=name,
        x_train=x_train[rest],
        y_train=y_train[rest],
        x_val=x_train[val],
        y_val=y_train[val],
        x_test=x_test,
        y_test=y_test,
        num_classes=int(max(y_train.max(), y_test.max())) + 1,
        source=source,
    )


def scale_pixels(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W) or (N, H, W, C) -> float32 (N, H, W, C) in [0, 1]."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    return images.astype(np.float32) / 255.0
