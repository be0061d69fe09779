"""The run's start line: where it writes, on what, with how much data, and from which step."""

from __future__ import annotations

from pathlib import Path

from diffclust.training.parts import Parts
from diffclust.training.provenance import devices


def print_start(run_dir: Path, parts: Parts, steps: int, start: int) -> None:
    """One line, e.g. ``run outputs/runs/x: cpu x1, 1077 train / 360 val / 360 test points,
    2000 steps, resuming from step 500``."""
    device, data = devices(), parts.data
    shape = f"{steps} steps" if steps else "a whole-table fit (train.steps=0)"
    resume = f", resuming from step {start}" if start else ""
    print(
        f"run {run_dir}: {device['kind']} x{device['count']}, {len(data.y_train)} train / "
        f"{len(data.y_val)} val / {len(data.y_test)} test points, {shape}{resume}",
        flush=True,
    )
