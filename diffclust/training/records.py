"""A run's files: its config (see :func:`run_config_path`), metrics.jsonl (one record per log
or evaluation), results.json, and clock.json (the training time up to the latest checkpoint,
wall and CPU, so a resumed run reports its whole time, and the code and device of each
segment that ran it). Every JSON file is strict JSON (NaN and inf
written as null, see diffclust/strict_json.py).

A kill while a record is written can leave the last line of metrics.jsonl torn: reading
drops that line with a warning (a resume then rewrites the file without it); a bad line
anywhere else is an error naming the file and line.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import NamedTuple

import yaml
from omegaconf._utils import get_yaml_loader

from diffclust.errors import UserError
from diffclust.strict_json import dumps

log = logging.getLogger(__name__)

RUN_CONFIG = "config.yaml"  # the config that produced the run, written by diffclust
HYDRA_CONFIG = ".hydra/config.yaml"  # Hydra's copy: the record of runs written before


def run_config_path(run_dir: Path) -> Path | None:
    """The file that records ``run_dir``'s config: the run's own ``config.yaml`` if it has
    one, else Hydra's ``.hydra/config.yaml`` (older runs); None if neither exists."""
    for name in (RUN_CONFIG, HYDRA_CONFIG):
        if (run_dir / name).is_file():
            return run_dir / name
    return None


class _RecordLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """OmegaConf's reading of YAML (``1e-5`` a float, no timestamps) on libyaml's parser: a
    table over a grid reads thousands of config.yaml files, which OmegaConf.load reads about
    17 times slower (1119 records: 41 s against 2.5 s; yaml's Python parser, then a
    DictConfig built and thrown away)."""

    yaml_implicit_resolvers = get_yaml_loader().yaml_implicit_resolvers


def read_config(path: Path) -> dict:
    """A recorded config.yaml as plain containers, interpolations left as written."""
    try:
        return yaml.load(path.read_text(), Loader=_RecordLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        why = " ".join(str(err).split())  # yaml's message spans lines
        raise UserError(f"cannot read {path} ({why}); move that run aside") from None


class Records:
    """Appends metric records; on resume, drops records past the restored step so that the
    file holds each step once, as if the run had never stopped."""

    def __init__(self, run_dir: Path, resume_step: int | None = None):
        self.path = run_dir / "metrics.jsonl"
        if resume_step is not None and self.path.exists():
            kept = [r for r in read_jsonl(self.path) if r["step"] <= resume_step]
            _write_atomically(self.path, "".join(dumps(r) + "\n" for r in kept))
        elif resume_step is None:
            self.path.write_text("")

    def append(self, record: dict) -> None:
        with self.path.open("a") as f:
            f.write(dumps(record) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file (blank lines skipped). An unreadable last line, as a
    kill while writing leaves it, is dropped with a warning; one elsewhere is a UserError."""
    lines = [
        (number, line)
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if line.strip()
    ]
    records = []
    for index, (number, line) in enumerate(lines):
        try:
            record = json.loads(line)  # still reads the bare NaN of files written before
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as err:  # json.JSONDecodeError is a ValueError
            if index == len(lines) - 1:
                log.warning("%s: dropped its torn last line %d (%s)", path, number, err)
                break
            raise UserError(
                f"{path}: line {number} is not a JSON record ({err}); only a torn last line "
                "is dropped on its own: delete or repair that line"
            ) from None
        records.append(record)
    return records


def _write_atomically(path: Path, text: str) -> None:
    """A crash never leaves half a file: write beside it, then rename over it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_results(run_dir: Path, results: dict) -> None:
    _write_atomically(run_dir / "results.json", dumps(results, indent=2) + "\n")


class Clock(NamedTuple):
    """What a run spent before resuming: wall and CPU time (None: not known) and the
    segments that ran it, each ``{"from_step", "started", "commit", "dirty", "device"}``."""

    elapsed_s: float
    cpu_s: float | None
    segments: list[dict]


# An earlier segment that a clock.json from before segments were recorded cannot name.
UNRECORDED = {"from_step": 0, "commit": None, "unrecorded": True}


def write_clock(
    run_dir: Path,
    step: int,
    elapsed_s: float,
    cpu_s: float | None = None,
    segments: list[dict] | None = None,
) -> None:
    """Records that reaching checkpoint ``step`` took ``elapsed_s`` seconds of wall time and
    ``cpu_s`` seconds of the process's CPU time (None: not known), run by ``segments``."""
    clock = {"step": step, "elapsed_s": round(elapsed_s, 2)}
    if cpu_s is not None:
        clock["cpu_s"] = round(cpu_s, 2)
    if segments:
        clock["segments"] = segments
    _write_atomically(run_dir / "clock.json", dumps(clock) + "\n")


def read_clock(run_dir: Path, step: int | None) -> Clock:
    """What was spent before resuming from checkpoint ``step``: nothing for a fresh run; CPU
    None and an unrecorded segment for a run whose clock.json predates them (or has none)."""
    path = run_dir / "clock.json"
    if step is None:
        return Clock(0.0, 0.0, [])
    clock = json.loads(path.read_text()) if path.exists() else {}
    if clock.get("step") != step:
        return Clock(0.0, None, [UNRECORDED])
    cpu = clock.get("cpu_s")
    segments = clock.get("segments") or [UNRECORDED]
    return Clock(float(clock["elapsed_s"]), None if cpu is None else float(cpu), segments)
