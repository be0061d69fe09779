"""Argument validation for the forest solvers.

Everything here runs on static information (shapes, dtypes, and values that are already
concrete) before tracing, so a user mistake raises one ``ValueError`` naming the argument
instead of an XLA error deep inside a loop.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def check_similarity(S, name: str = "S") -> int:
    """Checks that ``S`` is a square floating matrix and returns n."""
    shape = jnp.shape(S)
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"{name} must be a square (n, n) matrix, got shape {tuple(shape)}.")
    if shape[0] < 1:
        raise ValueError(f"{name} must have at least one row, got shape {tuple(shape)}.")
    if not jnp.issubdtype(jnp.result_type(S), jnp.floating):
        raise ValueError(f"{name} must have a floating dtype, got {jnp.result_type(S)}.")
    return shape[0]


def check_k(k, n: int):
    """Checks 1 <= k <= n when k is concrete; returns k as an int32 array.

    A traced k cannot be checked before tracing; it is clipped into [1, n] so that a bad
    value can never index out of range (documented in the solvers).
    """
    if jnp.ndim(k) != 0:
        raise ValueError(f"k must be a scalar integer, got shape {jnp.shape(k)}.")
    if not jnp.issubdtype(jnp.result_type(k), jnp.integer):
        raise ValueError(f"k must be an integer, got dtype {jnp.result_type(k)}.")
    if _is_concrete(k):
        kv = int(k)
        if not 1 <= kv <= n:
            raise ValueError(f"k must satisfy 1 <= k <= n = {n}, got k = {kv}.")
    return jnp.clip(jnp.asarray(k, jnp.int32), 1, n)


def check_constraints(C, n: int, name: str = "C"):
    """Checks an (n, n) constraint matrix with entries in {-1, 0, 1}; returns it as int8."""
    shape = jnp.shape(C)
    if tuple(shape) != (n, n):
        raise ValueError(f"{name} must have shape ({n}, {n}) like S, got {tuple(shape)}.")
    if _is_concrete(C):
        values = np.unique(np.asarray(C))
        bad = [v for v in values.tolist() if v not in (-1, 0, 1)]
        if bad:
            raise ValueError(
                f"{name} entries must be 1 (must-link), -1 (must-not-link) or 0 (unknown); "
                f"found {bad[:5]}."
            )
    return jnp.asarray(C).astype(jnp.int8)


def check_positive(value, name: str) -> None:
    if _is_concrete(value) and not float(value) > 0:
        raise ValueError(f"{name} must be > 0, got {value}.")


def check_num_samples(num_samples) -> None:
    if not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive Python int, got {num_samples!r}.")
