"""Feature tables: text with and without header, string labels, missing values (refused or
imputed), .npz, .mat, LIBSVM, the paper's published files, and clear errors."""

import numpy as np
import pytest
from runner_helpers import CLAM_DATA, compose_config
from scipy.io import savemat

from diffclust.data import load_dataset
from diffclust.data.tabular import read_table
from diffclust.errors import UserError

ROWS = [[1.0, 2.0, "b"], [3.0, 4.0, "a"], [5.0, 6.5, "b"], [7.0, 8.0, "c"]]


def write_text(path, rows, sep=",", header=None):
    lines = ([sep.join(header)] if header else []) + [sep.join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("sep", [",", "\t", "   "])
def test_text_tables_with_string_labels(tmp_path, sep):
    table = read_table(write_text(tmp_path / "t.txt", ROWS, sep))
    np.testing.assert_array_equal(table.x, [[1, 2], [3, 4], [5, 6.5], [7, 8]])
    assert table.class_names == ["a", "b", "c"] and table.y.tolist() == [1, 0, 1, 2]


def test_a_header_is_skipped_when_asked_and_named_when_not(tmp_path):
    path = write_text(tmp_path / "t.csv", ROWS, header=["width", "height", "kind"])
    assert read_table(path, header=True).x.shape == (4, 2)
    with pytest.raises(UserError, match="row 1, column 1 is 'width'.*dataset.header=true"):
        read_table(path)


def test_label_column_and_numeric_labels(tmp_path):
    rows = [[10, 0.5, 1.5], [2, 0.1, 0.2], [10, 0.3, 0.4]]
    table = read_table(write_text(tmp_path / "t.csv", rows), label_column=0)
    np.testing.assert_allclose(table.x, [[0.5, 1.5], [0.1, 0.2], [0.3, 0.4]])
    assert table.y.tolist() == [1, 0, 1] and table.class_names == ["2.0", "10.0"]
    with pytest.raises(UserError, match="label_column=5 but .* has 3 columns"):
        read_table(tmp_path / "t.csv", label_column=5)


def test_missing_values_are_refused_or_imputed_by_column_mean(tmp_path):
    rows = [[1.0, "?", "a"], [3.0, 4.0, "b"], [5.0, 8.0, "a"]]
    path = write_text(tmp_path / "t.csv", rows)
    with pytest.raises(UserError, match="row 1, feature column 2 is missing.*impute=mean"):
        read_table(path)
    np.testing.assert_allclose(read_table(path, impute="mean").x, [[1, 6], [3, 4], [5, 8]])


def test_rows_of_different_lengths_are_refused(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("1,2,a\n3,b\n")
    with pytest.raises(UserError, match="row 2 has 2 fields, row 1 has 3"):
        read_table(path)


def test_npz_and_mat_arrays(tmp_path):
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    np.savez(tmp_path / "t.npz", X=x, Y=np.array([3, 1, 3, 2]))
    savemat(tmp_path / "t.mat", {"X": x, "Y": np.array([[1], [2], [2], [1]], np.uint8)})
    npz, mat = read_table(tmp_path / "t.npz"), read_table(tmp_path / "t.mat")
    np.testing.assert_array_equal(npz.x, x)
    assert npz.y.tolist() == [2, 0, 2, 1] and mat.y.tolist() == [0, 1, 1, 0]
    with pytest.raises(UserError, match="no array 'features' .* set dataset.x_key"):
        read_table(tmp_path / "t.mat", x_key="features")
    x[1, 1] = np.nan
    savemat(tmp_path / "nan.mat", {"X": x, "Y": np.ones(4)})
    with pytest.raises(UserError, match="1 missing"):
        read_table(tmp_path / "nan.mat")


def test_libsvm_text(tmp_path):
    path = tmp_path / "usps.t"
    path.write_text("3 1:0.5 3:-1\n1 2:0.25\n")
    table = read_table(path)
    np.testing.assert_array_equal(table.x, [[0.5, 0, -1], [0, 0.25, 0]])
    assert table.y.tolist() == [1, 0]


def test_whole_tables_are_standardised_and_transductive(tmp_path):
    write_text(tmp_path / "t.csv", ROWS)
    cfg = compose_config("dataset=tabular", f"dataset.file={tmp_path / 't.csv'}").dataset
    data = load_dataset(cfg, seed=0)
    assert data.transductive and data.x_test is data.x_train
    np.testing.assert_allclose(data.x_train.mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(data.x_train.std(0), 1, atol=1e-6)


def test_a_paper_dataset_needs_its_folder():
    cfg = compose_config("dataset=segment").dataset
    with pytest.raises(UserError, match="dataset.data_dir=DIR; it is published at"):
        load_dataset(cfg, seed=0)


@pytest.mark.skipif(CLAM_DATA is None, reason="the ClAM datasets of ../shared are not here")
@pytest.mark.parametrize(
    ("name", "shape", "classes"),
    [
        ("zoo", (101, 16), 7),
        ("ecoli", (336, 7), 8),
        ("movement_libras", (360, 90), 15),
        ("yale", (165, 1024), 15),
    ],
)
def test_the_papers_published_files_read_as_described(name, shape, classes):
    cfg = compose_config(f"dataset={name}", f"dataset.data_dir={CLAM_DATA}").dataset
    data = load_dataset(cfg, seed=0)
    assert data.x_train.shape == shape and data.num_classes == classes
    assert np.bincount(data.y_train).min() >= 1
