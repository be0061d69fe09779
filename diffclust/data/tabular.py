"""Feature tables: delimited text (comma, tab or whitespace), LIBSVM text, NumPy .npz and MATLAB
.mat files, with the label in a column (text) or its own array (.npz / .mat).

``read_table(path, ...) -> Table``: float features, integer labels numbered by the sorted
distinct label values (strings such as "cp" included), and the class names in that order.
Missing entries ("", "?", "NA", "nan") are refused with the row and column, unless asked to
be imputed by the column mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffclust.errors import MissingData, UserError

FORMATS = ("auto", "csv", "whitespace", "svmlight", "npz", "mat")
MISSING = {"", "?", "na", "nan", "null"}
IMPUTE = ("none", "mean")


@dataclass(frozen=True)
class Table:
    x: np.ndarray  # (n, d) float32
    y: np.ndarray  # (n,) int32 in [0, num_classes)
    class_names: list[str]


def _format_of(path: Path, fmt: str) -> str:
    if fmt not in FORMATS:
        raise UserError(f"dataset.format={fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    return {".npz": "npz", ".mat": "mat", ".t": "svmlight"}.get(path.suffix.lower(), "text")


def _split_line(line: str, fmt: str) -> list[str]:
    # auto: commas if the line has any, otherwise whitespace (tabs or runs of spaces).
    if fmt == "csv" or (fmt == "text" and "," in line):
        return [field.strip().strip("\"'") for field in line.split(",")]
    return [field.strip("\"'") for field in line.split()]


def _numbered(labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    names, y = np.unique(labels, return_inverse=True)
    return y.astype(np.int32), [str(n) for n in names]


def _as_float(cells: np.ndarray, path: Path, first_row: int, impute: str) -> np.ndarray:
    """Feature cells (strings) to floats; missing cells refused or imputed by column mean."""
    missing = np.isin(np.char.lower(cells), list(MISSING))
    if missing.any() and impute != "mean":
        row, col = np.argwhere(missing)[0]
        raise UserError(
            f"{path}: row {row + first_row}, feature column {col + 1} is missing "
            f"({int(missing.sum())} missing entries in all); fill them in, or set "
            "dataset.impute=mean to replace each by its column mean"
        )
    values = np.where(missing, "nan", cells)
    try:
        x = values.astype(np.float64)
    except ValueError:
        bad = next((r, c) for r, c in np.ndindex(values.shape) if not _is_number(values[r, c]))
        raise UserError(
            f"{path}: row {bad[0] + first_row}, column {bad[1] + 1} is {str(values[bad])!r}, not "
            "a number; if the first row is a header set dataset.header=true, and check "
            "dataset.label_column"
        ) from None
    if missing.any():
        means = np.nanmean(x, axis=0)
        if np.isnan(means).any():
            raise UserError(f"{path}: a feature column has no value at all; remove it")
        x = np.where(np.isnan(x), means[None, :], x)
    return x


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_text(path: Path, fmt: str, label_column: int, header: bool, impute: str) -> Table:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if header:
        lines = lines[1:]
    if not lines:
        raise UserError(f"{path} holds no data rows")
    rows = [_split_line(line, fmt) for line in lines]
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        lengths = [len(r) for r in rows]
        bad = next(i for i, w in enumerate(lengths) if w != lengths[0])
        raise UserError(
            f"{path}: row {bad + 1 + header} has {lengths[bad]} fields, row {1 + header} has "
            f"{lengths[0]}; every row needs the same columns (is dataset.format right?)"
        )
    cells = np.asarray(rows, dtype=object).astype(str)
    width = cells.shape[1]
    if not -width <= label_column < width:
        raise UserError(
            f"dataset.label_column={label_column} but {path} has {width} columns; use "
            f"0..{width - 1} or -1 (the last)"
        )
    label_at = label_column % width
    labels = cells[:, label_at]
    if np.isin(np.char.lower(labels), list(MISSING)).any():
        raise UserError(f"{path}: some rows have no label in column {label_at + 1}")
    features = np.delete(cells, label_at, axis=1)
    x = _as_float(features, path, 1 + header, impute)
    y, names = _numbered(_label_values(labels))
    return Table(x.astype(np.float32), y, names)


def _label_values(labels: np.ndarray) -> np.ndarray:
    """Numeric labels sort as numbers (2 before 10), others as strings."""
    if all(_is_number(v) for v in labels):
        return labels.astype(np.float64)
    return labels


def _read_arrays(path: Path, fmt: str, x_key: str, y_key: str, impute: str) -> Table:
    if fmt == "npz":
        with np.load(path, allow_pickle=False) as arrays:
            found = {k: arrays[k] for k in arrays.files}
    else:
        from scipy.io import loadmat

        found = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
    for key, option in ((x_key, "x_key"), (y_key, "y_key")):
        if key not in found:
            raise UserError(
                f"{path} has no array {key!r} (it has {', '.join(sorted(found))}); "
                f"set dataset.{option}"
            )
    x = np.asarray(found[x_key], np.float64)
    y = np.asarray(found[y_key]).reshape(-1)
    if x.ndim != 2 or len(x) != len(y):
        raise UserError(
            f"{path}: {x_key} has shape {x.shape} and {y_key} {len(y)} labels; expected "
            f"(n, d) features and n labels"
        )
    if np.isnan(x).any():
        if impute != "mean":
            raise UserError(
                f"{path}: {x_key} has {int(np.isnan(x).sum())} missing (NaN) entries; set "
                "dataset.impute=mean to replace each by its column mean"
            )
        x = np.where(np.isnan(x), np.nanmean(x, axis=0)[None, :], x)
    labels = y.astype(str) if y.dtype.kind in "OUS" else y
    y, names = _numbered(labels)
    return Table(x.astype(np.float32), y, names)


def read_table(
    path: str | Path,
    fmt: str = "auto",
    label_column: int = -1,
    header: bool = False,
    x_key: str = "X",
    y_key: str = "Y",
    impute: str = "none",
) -> Table:
    """Reads a labelled feature table; see the module docstring."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingData(f"{path} does not exist; check dataset.data_dir and dataset.file")
    if impute not in IMPUTE:
        raise UserError(f"dataset.impute={impute!r}; use none or mean")
    kind = _format_of(path, fmt)
    if kind == "svmlight":  # "label index:value ..." lines (LIBSVM; USPS is published so)
        from sklearn.datasets import load_svmlight_file

        x, y = load_svmlight_file(str(path))
        y, names = _numbered(y)
        return Table(np.asarray(x.todense(), np.float32), y, names)
    if kind in ("npz", "mat"):
        return _read_arrays(path, kind, x_key, y_key, impute)
    return _read_text(path, kind, label_column, header, impute)


def standardize(x_fit: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Zero mean, unit variance per feature, with statistics of ``x_fit`` (constant features
    become 0), applied to ``x_fit`` and ``others``."""
    mean, std = x_fit.mean(axis=0), x_fit.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return [((a - mean) / std).astype(np.float32) for a in (x_fit, *others)]
