"""Datasets as numpy arrays, with seeded splits, read from local files (never downloaded)."""

from diffclust.data.catalog import DATASETS, load_dataset
from diffclust.data.dataset import Dataset

__all__ = ["DATASETS", "Dataset", "load_dataset"]
