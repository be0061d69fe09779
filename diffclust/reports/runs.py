"""Reading run directories: the recorded config, results.json, and what became of each run."""

from __future__ import annotations

import json
import lzma
from dataclasses import dataclass
from pathlib import Path

from diffclust.errors import UserError
from diffclust.training.records import HYDRA_CONFIG, RUN_CONFIG, read_config, run_config_path

# Files only a run directory holds: a config.yaml beside one of them is a run's own record
# (a config.yaml elsewhere, e.g. in wandb's files, is not).
RUN_FILES = ("results.json", "error.txt", "metrics.jsonl", "checkpoints")


@dataclass(frozen=True)
class Run:
    path: Path
    config: dict
    results: dict | None  # None unless the run finished
    status: str  # "finished", "failed" (error.txt) or "unfinished"
    error: str | None = None

    def value(self, key: str):
        """The dotted ``key`` from results.json if it records it (``experiment``,
        ``dataset.source``, ``provenance.commit``, ...), else from the run's config (``seed``,
        ``head.name``, ...); KeyError if neither does."""
        for tree in (self.results or {}, self.config):
            try:
                return lookup(tree, key)
            except KeyError:
                pass
        raise KeyError(key)


def run_dirs(root: Path) -> list[Path]:
    """The run directories under ``root`` (``root`` included): those holding Hydra's
    .hydra/config.yaml, or their own config.yaml beside a run file."""
    found = {p.parent.parent for p in root.rglob(HYDRA_CONFIG)}
    for path in root.rglob(RUN_CONFIG):
        if path.parent.name != ".hydra" and any((path.parent / f).exists() for f in RUN_FILES):
            found.add(path.parent)
    return sorted(found)


def read_run(path: Path) -> Run:
    config_path = run_config_path(path)
    config = read_config(config_path)
    results_path, error_path = path / "results.json", path / "error.txt"
    if results_path.is_file():
        try:
            return Run(path, config, json.loads(results_path.read_text()), "finished")
        except ValueError as err:
            return Run(path, config, None, "failed", f"unreadable results.json: {err}")
    if error_path.is_file():
        return Run(path, config, None, "failed", error_path.read_text().strip())
    return Run(path, config, None, "unfinished")


SUFFIX = ".runs.jsonl.xz"  # a packed sweep: see diffclust.reports.packed


def is_packed(path: Path) -> bool:
    return path.name.endswith(SUFFIX) and path.is_file()


def read_packed(path: Path) -> list[Run]:
    """The runs of a packed file (`diffclust.reports.packed`), in the order written (sorted
    by run); a packed run's path is its folder under the file's name."""
    try:
        with lzma.open(path, "rt") as f:
            lines = [json.loads(line) for line in f if line.strip()]
    except (lzma.LZMAError, ValueError, EOFError) as err:
        raise UserError(f"cannot read {path} ({err}); pack the sweep again") from None
    return [
        Run(path / line["run"], line["config"], line["results"], line["status"], line["error"])
        for line in lines
    ]


def find_runs(root: Path) -> list[Run]:
    """Every run under ``root`` (see :func:`run_dirs`), and those of the packed files there
    (``*.runs.jsonl.xz``, see `diffclust.reports.packed`; ``root`` may be one), sorted by
    path."""
    if is_packed(root):
        return read_packed(root)
    if not root.is_dir():
        raise UserError(f"{root} is not a directory; pass a sweep or run directory")
    runs = [read_run(path) for path in run_dirs(root)]
    runs += [run for packed in sorted(root.rglob(f"*{SUFFIX}")) for run in read_packed(packed)]
    if not runs:
        raise UserError(
            f"no run directories (with {RUN_CONFIG} or {HYDRA_CONFIG}) or packed runs "
            f"(*{SUFFIX}) under {root}"
        )
    return sorted(runs, key=lambda run: run.path)


def lookup(tree: dict, dotted: str):
    """tree['a']['b'] for 'a.b'; KeyError if absent."""
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def flatten(tree: dict, prefix: str = "") -> dict:
    """{'a.b': leaf} for every leaf of a nested dict."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
