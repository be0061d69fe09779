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

A study's sweep (``hydra/sweeper=optuna``) also has its Optuna journal (study.journal: every
trial asked and told, in order), packed beside its runs as ``NAME.study.journal.xz``. The
journal only grows, so packing again must extend the packed one; unpacking writes it back
and tells the trials it left running (their launch stopped on the machine that packed it)
what their unpacked runs say, finished or failed, so the study launched again continues to
its ``max_trials``.
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
    _write_xz(out, text.encode())
    return len(merged), changed


JOURNAL = "study.journal"  # diffclust.sweeps.study.DEFAULT_STORAGE (that module loads Optuna)
JOURNAL_SUFFIX = ".study.journal.xz"


def journal_of(packed: Path) -> Path:
    """Where the study journal of the packed runs ``packed`` is kept."""
    return packed.with_name(packed.name.removesuffix(SUFFIX) + JOURNAL_SUFFIX)


def _write_xz(out: Path, data: bytes) -> None:
    """``data`` compressed into ``out``, written atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with lzma.open(partial, "wb", preset=9 | lzma.PRESET_EXTREME) as f:
        f.write(data)
    os.replace(partial, out)


def pack_journal(sweep_dir: Path, packed: Path) -> Path | None:
    """The sweep's study journal packed beside ``packed`` (None: the sweep has none). A UserError
    if the packed journal holds what this one does not: another study's, or one rewritten."""
    journal = sweep_dir / JOURNAL
    if not journal.is_file():
        return None
    data, out = journal.read_bytes(), journal_of(packed)
    if out.is_file() and not data.startswith(lzma.decompress(out.read_bytes())):
        raise UserError(
            f"{journal} does not continue the study packed in {out}; pack it under another NAME"
        )
    _write_xz(out, data)
    return out


def unpack_journal(packed: Path, sweep_dir: Path) -> int | None:
    """The packed study journal written back into ``sweep_dir`` (never over one there), each
    trial it left running told what its unpacked run says (finished, or failed: every worker
    ran on the machine that packed it); the number of those (None: nothing written)."""
    # Only here: reading packed runs needs no Optuna.
    from diffclust.sweeps.study import stopped_trials, storage_of, studies_with_objectives
    from diffclust.sweeps.sweeper import end_stopped_trials

    source, journal = journal_of(packed), sweep_dir / JOURNAL
    if not source.is_file() or journal.exists():
        return None
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_bytes(lzma.decompress(source.read_bytes()))
    storage, _ = storage_of(None, sweep_dir, sweep_dir, create=False)
    ended = 0
    for study, objective in studies_with_objectives(storage):
        trials = stopped_trials(study)
        end_stopped_trials(study, trials, objective, sweep_dir)
        ended += len(trials)
    return ended


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
