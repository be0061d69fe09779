"""JAX's persistent compilation cache for every diffclust command.

A short run spends about half its time compiling (a 50-step digits run on 2 cores: 39 s cold,
20 s with the cache), and a sweep compiles the same programs in every job: the cache keeps
each compiled executable on disk, keyed by its program, compile options and JAX version, so a
later process loads it instead. A cached executable is the one compiling would produce, so
no number changes.

The folder is $JAX_COMPILATION_CACHE_DIR if set (an empty value turns the cache off), else
jax/ in diffclust's cache ($DIFFCLUST_CACHE, else ~/.cache/diffclust, beside the native
kernel); at most MAX_BYTES, the least recently used entries evicted first.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

MAX_BYTES = 2**30
# Cache even quick compiles: a run compiles dozens of small programs (JAX's default is 1 s).
MIN_COMPILE_SECONDS = 0.0


def cache_root() -> Path:
    """diffclust's own cache: $DIFFCLUST_CACHE, else $XDG_CACHE_HOME/diffclust."""
    root = os.environ.get("DIFFCLUST_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "diffclust"
    )
    return Path(root)


def enable() -> None:
    """Points JAX (this process and the jobs it launches) at the cache, unless the user chose
    a folder (or none). Only before JAX is imported: a program that imported it decides."""
    if "jax" in sys.modules:
        return
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(cache_root() / "jax"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", str(MIN_COMPILE_SECONDS))
    os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(MAX_BYTES))
