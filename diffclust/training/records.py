"""A run's files: metrics.jsonl (one record per log or evaluation), results.json, and
clock.json (the training time up to the latest checkpoint, so a resumed run reports its
whole wall time)."""

from __future__ import annotations

import json
import math
from pathlib import Path


class Records:
    """Appends metric records; on resume, drops records past the restored step so that the
    file holds each step once, as if the run had never stopped."""

    def __init__(self, run_dir: Path, resume_step: int | None = None):
        self.path = run_dir / "metrics.jsonl"
        if resume_step is not None and self.path.exists():
            kept = [r for r in read_jsonl(self.path) if r["step"] <= resume_step]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        elif resume_step is None:
            self.path.write_text("")

    def append(self, record: dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _write_atomically(path: Path, text: str) -> None:
    """A crash never leaves half a file: write beside it, then rename over it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_results(run_dir: Path, results: dict) -> None:
    _write_atomically(
        run_dir / "results.json", json.dumps(results, indent=2, default=_plain) + "\n"
    )


def _plain(value):
    value = float(value)
    return None if math.isnan(value) else value


def write_clock(run_dir: Path, step: int, elapsed_s: float) -> None:
    """Records that reaching checkpoint ``step`` took ``elapsed_s`` seconds of wall time."""
    clock = {"step": step, "elapsed_s": round(elapsed_s, 2)}
    _write_atomically(run_dir / "clock.json", json.dumps(clock) + "\n")


def read_clock(run_dir: Path, step: int | None) -> float:
    """The wall time spent before resuming from checkpoint ``step``; 0 for a fresh run (or a
    run written before clock.json existed)."""
    path = run_dir / "clock.json"
    if step is None or not path.exists():
        return 0.0
    clock = json.loads(path.read_text())
    return float(clock["elapsed_s"]) if clock.get("step") == step else 0.0
