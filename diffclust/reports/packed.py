"""Packed runs: a sweep's run records in one small file, ``NAME.runs.jsonl.xz``.

A paper-budget grid is thousands of runs (the ClAM paper's: 2016 settings a table), too many
folders to commit; their records, packed, are 70 to 110 bytes a run. One JSON line per run:
``{"run": its folder relative to the sweep, "status", "config", "results", "error"}``, the
run's config.yaml and results.json (provenance included) as they were written; per-step
metrics (metrics.jsonl) and checkpoints are left out. ``diffclust tables`` reads a packed file
(or a folder holding some) like a sweep folder: a packed run's path is its folder under the
file's name, ``NAME.runs.jsonl.xz/RUN``.

Packing again adds the runs finished since and never rewrites a run already packed as
finished: a record, once written, stays what it was. Unpacking writes the finished runs back
as folders (config.yaml, results.json), so that the same sweep launched again with
``resume=true`` (and the same config: data_dir included) keeps them and runs only the rest:
a grid completes over several machines.
"""

from __future__ import annotations

import json
import lzma
import os
from pathlib import Path

from omegaconf import OmegaConf

from diffclust.errors import UserError
from diffclust.reports.runs import SUFFIX, Run, read_packed, read_run, run_dirs
from diffclust.strict_json import dumps
from diffclust.training.records import RUN_CONFIG


def _record(run: Run) -> dict:
    return {
        "status": run.status,
        "config": run.config,
        "results": run.results,
        "error": run.error,
    }


def pack_runs(sweep_dir: Path, out: Path) -> tuple[int, int]:
    """Pack every run under ``sweep_dir`` into ``out`` (``*.runs.jsonl.xz``), merged with what
    ``out`` already holds: a run packed as finished is kept as it was; any other is replaced
    by its folder's present state. Written atomically. (runs packed, runs added or changed)."""
    if not out.name.endswith(SUFFIX):
        raise UserError(f"{out}: a packed file's name ends with {SUFFIX}")
    if not sweep_dir.is_dir():
        raise UserError(f"{sweep_dir} is not a directory; pass a sweep directory")
    fresh = {  # the run folders only: runs of packed files inside the sweep are not repacked
        path.relative_to(sweep_dir).as_posix(): _record(read_run(path))
        for path in run_dirs(sweep_dir)
    }
    if not fresh:
        raise UserError(f"no run directories under {sweep_dir}; nothing to pack")
    old = {}
    if out.is_file():
        old = {run.path.relative_to(out).as_posix(): _record(run) for run in read_packed(out)}
    merged = dict(old)
    for name, line in fresh.items():
        if old.get(name, {}).get("status") != "finished":
            merged[name] = line
    changed = sum(merged[name] != old.get(name) for name in merged)
    text = "".join(
        json.dumps({**merged[name], "run": name}, sort_keys=True) + "\n" for name in sorted(merged)
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with lzma.open(partial, "wt", preset=9 | lzma.PRESET_EXTREME) as f:
        f.write(text)
    os.replace(partial, out)
    return len(merged), changed


def unpack_runs(packed: Path, sweep_dir: Path) -> int:
    """Write each finished run of ``packed`` as a folder under ``sweep_dir`` (its config.yaml
    and results.json) where that folder is absent or empty; the number written."""
    written = 0
    for run in read_packed(packed):
        folder = sweep_dir / run.path.relative_to(packed)
        if run.status != "finished" or (folder.is_dir() and any(folder.iterdir())):
            continue  # only finished runs, never over what a folder holds
        folder.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.create(run.config), folder / RUN_CONFIG)
        (folder / "results.json").write_text(dumps(run.results, indent=2) + "\n")
        written += 1
    return written
