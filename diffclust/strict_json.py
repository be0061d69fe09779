"""Strict JSON for every file diffclust writes: NaN and ±inf become null, numpy (and JAX)
scalars and arrays become plain numbers and lists.

Python's ``json`` writes a float NaN as a bare ``NaN`` (and inf as ``Infinity``), which is not
JSON: jq, JavaScript and most other readers refuse the whole file. A missing number is null.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None and every numpy / JAX value by
    the equivalent Python number or (nested) list; dict keys become strings."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, np.ndarray) or hasattr(value, "__array__"):  # jax.Array included
        return plain(np.asarray(value).tolist())
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as JSON")


def dumps(value: Any, **kwargs) -> str:
    """``json.dumps`` of :func:`plain` ``(value)``; ``allow_nan=False`` guards the promise."""
    return json.dumps(plain(value), allow_nan=False, **kwargs)
