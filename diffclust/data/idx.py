"""Reader for the idx files of the MNIST family (LeCun's format), plain or gzipped.

Header: two zero bytes, a type code (0x08 = uint8), the number of dimensions, then one
big-endian uint32 per dimension, then the data.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from diffclust.errors import UserError


def read_idx(path: Path) -> np.ndarray:
    """The uint8 array stored in an idx file; a clear error if the file is not a valid one."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise UserError(f"cannot read {path} ({err}); download the file again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UserError(f"{path} is not a uint8 idx file (bad header); download it again")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{path} is truncated inside its header; download it again")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise UserError(
            f"{path} is corrupted: its header announces {expected} bytes, the file has "
            f"{len(raw)}; download it again"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)
