"""The ``dataset`` config group: one schema and one loader per option."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffclust.data import sources
from diffclust.data.dataset import Dataset, scale_pixels, stratified_holdout, with_validation
from diffclust.registry import Registry

DATASETS: Registry = Registry("dataset")


@dataclass
class DigitsConfig:
    """scikit-learn's bundled 8x8 digits (1797 images, no download): the embedded default."""

    name: str = "digits"
    test_size: int = 360
    val_size: int = 360


@dataclass
class BlobsConfig:
    """Synthetic isotropic Gaussian clusters (feature vectors)."""

    name: str = "blobs"
    num_samples: int = 3000
    num_classes: int = 10
    dim: int = 16
    cluster_std: float = 1.0
    center_box: float = 5.0
    test_size: int = 500
    val_size: int = 500


@dataclass
class ImageConfig:
    """A standard image dataset read from local files or tfds' prepared data (no download)."""

    name: str = "mnist"
    data_dir: str | None = None  # folder with the distribution files; None: default locations
    val_size: int = 5000
    augment: bool = False  # pad-4 random crop + horizontal flip on training batches


@dataclass
class DenoiseDataConfig:
    """The forest paper's synthetic denoising data (appendix §11): 4 isotropic Gaussians in
    2-D (the paper's means) plus uniform noise dimensions; labels are the Gaussians."""

    name: str = "denoise"
    n_per_cluster: int = 45  # split into equal train / validation / test thirds
    std: float = 0.2
    noise_dims: int = 2


@DATASETS.register("digits", DigitsConfig)
def load_digits(cfg: DigitsConfig, seed: int) -> Dataset:
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = (bunch.images / 16.0).astype(np.float32)[..., None]
    y = bunch.target.astype(np.int32)
    train, test = stratified_holdout(y, cfg.test_size, seed)
    return with_validation(
        "digits", x[train], y[train], x[test], y[test], cfg.val_size, seed, "sklearn"
    )


@DATASETS.register("blobs", BlobsConfig)
def load_blobs(cfg: BlobsConfig, seed: int) -> Dataset:
    from sklearn.datasets import make_blobs

    x, y = make_blobs(
        n_samples=cfg.num_samples,
        centers=cfg.num_classes,
        n_features=cfg.dim,
        cluster_std=cfg.cluster_std,
        center_box=(-cfg.center_box, cfg.center_box),
        random_state=seed,
    )
    x, y = x.astype(np.float32), y.astype(np.int32)
    train, test = stratified_holdout(y, cfg.test_size, seed)
    return with_validation(
        "blobs", x[train], y[train], x[test], y[test], cfg.val_size, seed, "synthetic"
    )


@DATASETS.register("denoise", DenoiseDataConfig)
def load_denoise(cfg: DenoiseDataConfig, seed: int) -> Dataset:
    from diffclust.experiments.denoise import PAPER_MEANS, noisy_mixture

    rng = np.random.default_rng(seed)
    x, _ = noisy_mixture(rng, cfg.n_per_cluster, cfg.std, cfg.noise_dims)
    y = np.repeat(np.arange(len(PAPER_MEANS)), cfg.n_per_cluster).astype(np.int32)
    third = len(y) // 3
    train, test = stratified_holdout(y, third, seed)
    return with_validation(
        "denoise", x[train], y[train], x[test], y[test], third, seed, "synthetic"
    )


def load_images(cfg: ImageConfig, seed: int) -> Dataset:
    found = sources.find(cfg.name, cfg.data_dir)
    x_train, y_train, x_test, y_test = found.arrays_fn()
    return with_validation(
        cfg.name,
        scale_pixels(x_train),
        y_train,
        scale_pixels(x_test),
        y_test,
        cfg.val_size,
        seed,
        found.where,
    )


for _name in ("mnist", "fashion_mnist", "cifar10"):
    DATASETS.register(_name, ImageConfig)(load_images)


def load_dataset(cfg, seed: int) -> Dataset:
    """The dataset named by ``cfg.name``, split with ``seed``."""
    return DATASETS.get(cfg.name)(cfg, seed)
