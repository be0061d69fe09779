"""Provenance of a run: which code, libraries, device, data and command produced it (the
benchmark records of OpenDeepClustering are the anchor: a result that cannot be traced to its
code and data cannot be trusted).

Wiring: at the start of a run ``started = time.time()``; once the data is loaded
``checksum = data.checksum()``; when the results are written,
``results["provenance"] = provenance(checksum, started)``. ``diffclust tables`` then groups
or filters by any field, e.g. ``--by provenance.commit provenance.dirty``.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import diffclust

PACKAGES = ("jax", "jaxlib", "flax", "optax", "ott-jax", "scikit-learn", "numpy")
PACKAGE_DIR = Path(diffclust.__file__).resolve().parent
# Where scripts/reproduce.py writes the summaries of finished runs: records, not code, so new
# ones there do not make the next run's code dirty.
RECORDS_DIR = "reproductions"


def _git(directory: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=30
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[0] if out.stderr.strip() else "failed")
    return out.stdout


def code_version(directory: Path = PACKAGE_DIR) -> dict:
    """``{"commit", "dirty", "git_error"}`` of the git checkout holding ``directory`` (the
    diffclust package by default). Dirty: a tracked file differs from the commit, or an
    untracked file that git does not ignore lies in the checkout. Commit and dirty are None,
    with the reason in git_error, when the code is not a git checkout (an installed wheel), the
    package is not tracked there (a copy inside someone else's repository), or git is missing;
    never an exception. Files under :data:`RECORDS_DIR` do not count."""
    try:
        # The package itself must be tracked: a wheel installed into a .venv that sits inside
        # some repository would otherwise report that repository's commit.
        _git(directory, "ls-files", "--error-unmatch", "--", ".")
        commit = _git(directory, "rev-parse", "HEAD").strip()
        top = _git(directory, "rev-parse", "--show-toplevel").strip()
        records = f":(exclude,top){RECORDS_DIR}"
        dirty = bool(_git(Path(top), "status", "--porcelain", "--", ".", records).strip())
    except FileNotFoundError:
        return {"commit": None, "dirty": None, "git_error": "git is not installed"}
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as err:
        reason = f"{directory} is not tracked by a git checkout ({err})"
        return {"commit": None, "dirty": None, "git_error": reason}
    return {"commit": commit, "dirty": dirty, "git_error": None}


def versions() -> dict:
    """Python's and each package's installed version (None for one that is not installed)."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def devices() -> dict:
    """The kind and number of JAX's default-backend devices, e.g. ``NVIDIA H200`` x 1."""
    import jax

    found = jax.devices()
    return {"platform": found[0].platform, "kind": found[0].device_kind, "count": len(found)}


def iso_utc(timestamp: float) -> str:
    """A ``time.time()`` timestamp as ISO 8601 in UTC, e.g. 2026-11-29T15:29:08+00:00."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def provenance(
    data_checksum: str,
    started: float,
    ended: float | None = None,
    argv: list[str] | None = None,
    code_dir: Path = PACKAGE_DIR,
) -> dict:
    """Everything needed to trace a result: git commit and dirty flag (see
    :func:`code_version`), library versions, device, the data's checksum
    (:meth:`diffclust.data.Dataset.checksum`), the command line (``sys.argv`` by default) and
    the start and end times (``time.time()`` values; ``ended`` defaults to now) in ISO 8601 UTC.
    """
    ended = datetime.now(UTC).timestamp() if ended is None else ended
    return {
        **code_version(code_dir),
        "versions": versions(),
        "device": devices(),
        "data_sha256": data_checksum,
        "command": list(sys.argv if argv is None else argv),
        "started": iso_utc(started),
        "ended": iso_utc(ended),
    }
