"""Reading run directories: the resolved config, results.json, and what became of each run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from diffclust.errors import UserError


@dataclass(frozen=True)
class Run:
    path: Path
    config: dict
    results: dict | None  # None unless the run finished
    status: str  # "finished", "failed" (error.txt) or "unfinished"
    error: str | None = None


def find_runs(root: Path) -> list[Run]:
    """Every run under ``root`` (a directory holding .hydra/config.yaml), sorted by path."""
    if not root.is_dir():
        raise UserError(f"{root} is not a directory; pass a sweep or run directory")
    runs = []
    for config_path in sorted(root.rglob(".hydra/config.yaml")):
        path = config_path.parent.parent
        config = OmegaConf.to_container(OmegaConf.load(config_path), resolve=False)
        results_path, error_path = path / "results.json", path / "error.txt"
        if results_path.is_file():
            runs.append(Run(path, config, json.loads(results_path.read_text()), "finished"))
        elif error_path.is_file():
            runs.append(Run(path, config, None, "failed", error_path.read_text().strip()))
        else:
            runs.append(Run(path, config, None, "unfinished"))
    if not runs:
        raise UserError(f"no run directories (with .hydra/config.yaml) under {root}")
    return runs


def lookup(tree: dict, dotted: str):
    """tree['a']['b'] for 'a.b'; KeyError if absent."""
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node
