"""Dataset readers and splits: idx and CIFAR files, source lookup, tfds, seeded splits."""

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

from diffclust.data import load_dataset
from diffclust.data.catalog import BlobsConfig, DigitsConfig, ImageConfig
from diffclust.data.cifar import TEST_FILES, TRAIN_FILES, read_batches
from diffclust.data.idx import read_idx
from diffclust.data.sources import DEBIAN_DIRS, MNIST_FILES
from diffclust.errors import UserError
from diffclust.training.batches import augment_images, batch_indices, eval_batches


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def fake_mnist_dir(directory: Path, n_train=60, n_test=20, gz=True, signal=False) -> dict:
    """Noise images, balanced labels; with ``signal``, dimmer noise and rows 2y+4 and 2y+5 of a
    class-y image bright, so the classes can be told apart (noise alone: no model can)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28)),
        "y_train": np.arange(n_train) % 10,
        "x_test": rng.integers(0, 256, (n_test, 28, 28)),
        "y_test": np.arange(n_test) % 10,
    }
    for x, y in [("x_train", "y_train"), ("x_test", "y_test")] if signal else []:
        rows = 2 * arrays[y][:, None] + np.arange(4, 6)
        arrays[x] //= 4  # dimmer noise
        arrays[x][np.arange(len(rows))[:, None], rows, :] = 255
    for key, stem in MNIST_FILES.items():
        write_idx(directory / (stem + (".gz" if gz else "")), arrays[key])
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_round_trip(tmp_path, gz):
    arrays = fake_mnist_dir(tmp_path, gz=gz)
    data = load_dataset(ImageConfig(name="mnist", data_dir=str(tmp_path), val_size=10), seed=0)
    assert data.source == str(tmp_path)
    assert data.x_train.shape == (50, 28, 28, 1) and data.x_val.shape == (10, 28, 28, 1)
    np.testing.assert_array_equal(data.x_test[..., 0] * 255, arrays["x_test"])
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0


def test_corrupted_idx_file_is_a_clear_error(tmp_path):
    fake_mnist_dir(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(UserError, match="corrupted.*download it again"):
        read_idx(path)
    path.write_bytes(b"not an idx file")
    with pytest.raises(UserError, match="bad header"):
        read_idx(path)


def test_missing_data_dir_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_dataset(ImageConfig(name="mnist", data_dir=str(tmp_path / "nope")), seed=0)
    with pytest.raises(UserError, match="does not hold the mnist files"):
        load_dataset(ImageConfig(name="mnist", data_dir=str(tmp_path)), seed=0)


def write_cifar(directory: Path, per_batch=10) -> None:
    rng = np.random.default_rng(0)
    for name in TRAIN_FILES + TEST_FILES:
        batch = {
            b"data": rng.integers(0, 256, (per_batch, 3072)).astype(np.uint8),
            b"labels": [i % 10 for i in range(per_batch)],
        }
        (directory / name).write_bytes(pickle.dumps(batch))


def test_cifar_batches_are_read_without_arbitrary_unpickling(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    write_cifar(folder)
    data = load_dataset(ImageConfig(name="cifar10", data_dir=str(tmp_path), val_size=10), 0)
    assert data.x_train.shape == (40, 32, 32, 3) and data.x_test.shape == (10, 32, 32, 3)

    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Exploit()}))
    with pytest.raises(UserError, match="refusing to load builtins.print"):
        read_batches(folder, TEST_FILES)


def test_tfds_source_under_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=40):
        data = load_dataset(ImageConfig(name="mnist", val_size=10), seed=0)
    assert data.source == "tfds:mnist"
    assert data.x_train.shape[1:] == (28, 28, 1) and len(data.y_val) == 10


@pytest.mark.skipif(
    not DEBIAN_DIRS["fashion_mnist"].is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed (CI installs it)",
)
def test_real_fashion_mnist_from_the_debian_package():
    data = load_dataset(ImageConfig(name="fashion_mnist"), seed=0)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (55000, 5000, 10000)
    assert data.num_classes == 10 and np.bincount(data.y_test).tolist() == [1000] * 10


def test_splits_are_seeded_disjoint_and_stratified():
    a, b = (load_dataset(DigitsConfig(), seed=1) for _ in range(2))
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_val, load_dataset(DigitsConfig(), seed=2).x_val)
    rows = [tuple(x.ravel()) for x in (*a.x_train, *a.x_val, *a.x_test)]
    assert len(a.y_train) + len(a.y_val) + len(a.y_test) == 1797
    assert len(set(rows)) == len(set(map(tuple, load_digits_rows())))  # no point in two splits
    assert np.bincount(a.y_val).min() >= 35  # 360 points over 10 classes
    blobs = load_dataset(BlobsConfig(num_samples=600, test_size=100, val_size=100), seed=0)
    assert blobs.x_train.shape == (400, 16)


def load_digits_rows():
    from sklearn.datasets import load_digits

    return (load_digits().images / 16.0).astype(np.float32).reshape(1797, -1)


def test_batches_are_a_function_of_seed_and_step():
    first = batch_indices(100, 10, seed=0, step=3)
    np.testing.assert_array_equal(first, batch_indices(100, 10, seed=0, step=3))
    epoch = np.concatenate([batch_indices(100, 10, 0, s) for s in range(10)])
    assert sorted(epoch.tolist()) == list(range(100))
    images = np.random.default_rng(0).random((8, 32, 32, 3)).astype(np.float32)
    out = augment_images(images, seed=0, step=1)
    assert out.shape == images.shape
    np.testing.assert_array_equal(out, augment_images(images, seed=0, step=1))


def test_eval_batches_are_full_batches_and_a_small_split_is_one_batch():
    batches = eval_batches(250, 100)
    assert [len(b) for b in batches] == [100, 100]
    assert len(np.unique(np.concatenate(batches))) == 200  # disjoint rows of the split
    assert [b.tolist() for b in eval_batches(250, 100)] == [b.tolist() for b in batches]
    assert len(eval_batches(250, 100, limit=1)) == 1
    # A 50-point validation split with batches of 100 was no batch at all: a NaN error.
    assert [b.tolist() for b in eval_batches(50, 100)] == [list(range(50))]
    assert eval_batches(0, 100) == []


def test_eval_batches_mix_the_classes_of_a_table_sorted_by_class():
    # Movement Libras lists its 360 rows as 15 classes of 24 in a row: consecutive batches
    # of 64 would hold 3 or 4 classes and make one cluster look nearly right. A shuffled
    # batch of 64 from 15 equal classes misses a given class with probability
    # C(336, 64) / C(360, 64) = 0.008, so 0.11 of its 15 classes on average: at least 12
    # in every batch (the order is seeded, so this holds or fails every time).
    y = np.repeat(np.arange(15), 24)
    assert all(len(np.unique(y[b])) >= 12 for b in eval_batches(360, 64))
