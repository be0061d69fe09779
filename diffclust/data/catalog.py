"""The ``dataset`` config group: one schema, one loader and one source lookup per option.

``locate(cfg)`` says where ``load_dataset(cfg, seed)`` would read its data from (what it
records as ``Dataset.source``) without reading it, through the loader's own lookup, or raises
the loader's own UserError: `diffclust data` reports exactly what training would do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffclust.data import sources
from diffclust.data.dataset import Dataset, scale_pixels, stratified_holdout, with_validation
from diffclust.data.denoise import noisy_mixture
from diffclust.data.tabular import read_table, standardize
from diffclust.errors import MissingData, UserError
from diffclust.registry import Registry

DATASETS: Registry = Registry("dataset")
SOURCES: dict[str, Callable[..., str]] = {}  # option -> its loader's source lookup
SKLEARN, SYNTHETIC = "sklearn", "synthetic"  # sources that are no file


def _sources(names, lookup: Callable[..., str]) -> None:
    for name in names:
        SOURCES[name] = lookup


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
        "digits", x[train], y[train], x[test], y[test], cfg.val_size, seed, SKLEARN
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
        "blobs", x[train], y[train], x[test], y[test], cfg.val_size, seed, SYNTHETIC
    )


@DATASETS.register("denoise", DenoiseDataConfig)
def load_denoise(cfg: DenoiseDataConfig, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    x, y = noisy_mixture(rng, cfg.n_per_cluster, cfg.std, cfg.noise_dims)
    third = len(y) // 3
    train, test = stratified_holdout(y, third, seed)
    return with_validation("denoise", x[train], y[train], x[test], y[test], third, seed, SYNTHETIC)


_sources(("digits",), lambda cfg: SKLEARN)
_sources(("blobs", "denoise"), lambda cfg: SYNTHETIC)


@dataclass
class TableConfig:
    """A labelled feature table read from a file (delimited text, LIBSVM, .npz, .mat; see
    diffclust/data/tabular.py). The paper's datasets are options of this schema that name
    their published file: ``dataset=zoo dataset.data_dir=DIR`` reads ``DIR/zoo.csv``."""

    name: str = "tabular"
    data_dir: str | None = None
    file: str | None = None  # absolute, or relative to data_dir
    format: str = "auto"  # auto | csv | whitespace | svmlight | npz | mat
    label_column: int = -1  # text tables: the label's column (-1: the last)
    header: bool = False  # text tables: skip the first row
    x_key: str = "X"  # .npz / .mat: the feature array
    y_key: str = "Y"  # .npz / .mat: the label array
    impute: str = "none"  # none: refuse missing values | mean: fill with the column mean
    standardize: bool = True  # zero mean, unit variance per feature (the ClAM protocol)
    # 0: cluster the whole table (train = validation = test, the classical protocol);
    # otherwise hold out this many test and val_size validation points.
    test_size: int = 0
    val_size: int = 0
    url: str | None = None  # where the published file is, said when it is missing


@dataclass
class SklearnTableConfig:
    """A table bundled with scikit-learn (no download): iris, wine, breast_cancer, and
    digits_features (the 8x8 digits as 64 features)."""

    name: str = "iris"
    standardize: bool = True
    test_size: int = 0
    val_size: int = 0


@dataclass
class FeatureImagesConfig:
    """An image dataset's training split as flat pixel features (Fashion-MNIST: 60000 x 784,
    the ClAM paper's FMNIST), from the same local files as the images."""

    name: str = "fashion_mnist_features"
    data_dir: str | None = None
    standardize: bool = True
    test_size: int = 0
    val_size: int = 0


def table_dataset(name: str, x: np.ndarray, y: np.ndarray, cfg, seed: int, source: str):
    """A table as a Dataset: whole and transductive (test_size=0), or split with the
    standardisation fitted on the training rows."""
    y = y.astype(np.int32)
    if cfg.test_size == 0:
        if cfg.standardize:
            (x,) = standardize(x)
        return Dataset(name, x, y, x, y, x, y, int(y.max()) + 1, source, transductive=True)
    if cfg.val_size <= 0:
        raise UserError(
            f"dataset.test_size={cfg.test_size} holds out a test split, so it needs "
            "dataset.val_size > 0 too; or set dataset.test_size=0 to cluster the whole table"
        )
    train, test = stratified_holdout(y, cfg.test_size, seed)
    data = with_validation(name, x[train], y[train], x[test], y[test], cfg.val_size, seed, source)
    if not cfg.standardize:
        return data
    x_train, x_val, x_test = standardize(data.x_train, data.x_val, data.x_test)
    return Dataset(
        name, x_train, data.y_train, x_val, data.y_val, x_test, data.y_test,
        data.num_classes, source,
    )  # fmt: skip


def table_path(cfg: TableConfig) -> Path:
    """The file a table option reads: ``file``, relative to ``data_dir`` (``~`` expanded)."""
    if cfg.file is None:
        raise UserError(f"dataset={cfg.name} needs dataset.file=PATH (and dataset.data_dir=DIR)")
    path = Path(cfg.file)
    if not path.is_absolute():
        if cfg.data_dir is None and cfg.name != "tabular":
            where = f"; it is published at {cfg.url}" if cfg.url else ""
            raise UserError(
                f"dataset={cfg.name} reads {cfg.file} from a folder: pass "
                f"dataset.data_dir=DIR{where}"
            )
        path = Path(cfg.data_dir or ".").expanduser() / path
    if not path.is_file():
        where = f" (published at {cfg.url})" if cfg.url else ""
        raise MissingData(f"{path} not found: dataset={cfg.name} needs {cfg.file}{where} there")
    return path


def load_table(cfg: TableConfig, seed: int) -> Dataset:
    path = table_path(cfg)
    table = read_table(
        path, cfg.format, cfg.label_column, cfg.header, cfg.x_key, cfg.y_key, cfg.impute
    )
    return table_dataset(cfg.name, table.x, table.y, cfg, seed, str(path))


CLAM_CODE = "https://github.com/bsaha205/clam"
UCI = "https://archive.ics.uci.edu/dataset"
# The ClAM paper's tables, each with the file it is published as and where.
PAPER_TABLES = {
    "zoo": {"file": "zoo.csv", "url": CLAM_CODE},  # 101 x 16, 7 classes, label last
    "ecoli": {"file": "ecoli.data", "url": CLAM_CODE},  # 336 x 7, 8 classes, string label
    "movement_libras": {  # 360 x 90, 15 classes
        "file": "movement_libras.csv",
        "url": f"{UCI}/181/libras+movement",
    },
    "yale": {  # faces, 165 x 1024, 15 classes; MATLAB arrays X and Y
        "file": "Yale.mat",
        "url": "https://jundongl.github.io/scikit-feature/datasets.html",
    },
    "segment": {  # Statlog image segmentation, 2310 x 19, 7 classes
        "file": "segment.dat",
        "url": f"{UCI}/147/statlog+image+segmentation+data",
    },
    "ctg": {"file": "ctg.txt", "url": CLAM_CODE},  # cardiotocography, 2126 x 21, 10 classes
    "mice_protein": {"file": "mp_exp.txt", "url": CLAM_CODE},  # 1080 x 77, 8 classes
    "usps": {  # LIBSVM text, 256 features, 10 classes
        "file": "usps.t",
        "format": "svmlight",
        "url": "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass.html#usps",
    },
    "gcm": {"file": "GCM.csv", "url": CLAM_CODE},  # gene expression, 190 x 16063, 14 classes
}
DATASETS.register("tabular", TableConfig)(load_table)
for _name, _defaults in PAPER_TABLES.items():
    DATASETS.register(_name, TableConfig, **_defaults)(load_table)
_sources(("tabular", *PAPER_TABLES), lambda cfg: str(table_path(cfg)))


def load_sklearn_table(cfg: SklearnTableConfig, seed: int) -> Dataset:
    from sklearn import datasets

    loaders = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "digits_features": datasets.load_digits,
    }
    bunch = loaders[cfg.name]()
    x = bunch.data.astype(np.float32)
    return table_dataset(cfg.name, x, bunch.target, cfg, seed, SKLEARN)


SKLEARN_TABLES = ("iris", "wine", "breast_cancer", "digits_features")
for _name in SKLEARN_TABLES:
    DATASETS.register(_name, SklearnTableConfig)(load_sklearn_table)
_sources(SKLEARN_TABLES, lambda cfg: SKLEARN)


def _find_feature_images(cfg: FeatureImagesConfig) -> sources.Found:
    return sources.find("fashion_mnist", cfg.data_dir)


@DATASETS.register("fashion_mnist_features", FeatureImagesConfig)
def load_feature_images(cfg: FeatureImagesConfig, seed: int) -> Dataset:
    found = _find_feature_images(cfg)
    x_train, y_train, _, _ = found.arrays_fn()
    x = scale_pixels(x_train).reshape(len(x_train), -1)
    return table_dataset(cfg.name, x, y_train, cfg, seed, found.where)


_sources(("fashion_mnist_features",), lambda cfg: _find_feature_images(cfg).where)


def _find_images(cfg: ImageConfig) -> sources.Found:
    return sources.find(cfg.name, cfg.data_dir)


def load_images(cfg: ImageConfig, seed: int) -> Dataset:
    found = _find_images(cfg)
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


for _name in sources.TFDS_NAMES:
    DATASETS.register(_name, ImageConfig, augment=_name == "cifar10")(load_images)
_sources(sources.TFDS_NAMES, lambda cfg: _find_images(cfg).where)


def load_dataset(cfg, seed: int) -> Dataset:
    """The dataset named by ``cfg.name``, split with ``seed``."""
    return DATASETS.get(cfg.name)(cfg, seed)


def locate(cfg) -> str:
    """Where :func:`load_dataset` would read ``cfg``'s data from (its ``Dataset.source``),
    found by the loader's own lookup without reading the data; its UserError otherwise."""
    DATASETS.get(cfg.name)  # an unknown name: the registry's error
    return SOURCES[cfg.name](cfg)
