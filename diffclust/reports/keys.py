"""The keys a table may name: a --by key must be recorded by some run (its results.json or
its config), a metric must be a number in some finished run's results.json. A key no run has
is a typo, and a table grouped or filled by it would be silently wrong (a None group, empty
cells), so it is an error that lists the keys the runs do have."""

from __future__ import annotations

from difflib import get_close_matches

from diffclust.errors import UserError
from diffclust.reports.runs import Run, flatten


def _record_keys(run: Run) -> set[str]:
    results = {k: v for k, v in (run.results or {}).items() if k != "config"}  # a copy
    return set(flatten(run.config)) | set(flatten(results))


def grouping_keys(runs: list[Run]) -> set[str]:
    """Every leaf key of the runs' configs and results.json (without its copy of the config)."""
    return set().union(*(_record_keys(run) for run in runs))


def metric_keys(runs: list[Run]) -> set[str]:
    """The leaf keys of finished runs' results.json whose value is a number (not a flag) in
    at least one of them."""
    keys = set()
    for run in runs:
        if run.status == "finished":
            results = {k: v for k, v in run.results.items() if k != "config"}
            flat = flatten(results)
            keys |= {k for k, v in flat.items() if type(v) in (int, float)}  # bool: a flag
    return keys


def _unknown(option: str, key: str, known: set[str], what: str) -> UserError:
    close = get_close_matches(key, known, n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return UserError(
        f"{option} {key}: no run records {what} {key}{hint}; the runs have: "
        f"{', '.join(sorted(known))}"
    )


def check_keys(runs: list[Run], by: list[str], metrics: list[str], select: str | None) -> None:
    """A UserError naming the first key that no run records, with the keys that exist."""
    known = grouping_keys(runs)
    for key in by:
        if key not in known:
            raise _unknown("--by", key, known, "a value at")
    if not any(run.status == "finished" for run in runs):
        return  # the table says there is nothing to tabulate
    numbers = metric_keys(runs)
    for option, key in [("--metric", m) for m in metrics] + [("--select", select)]:
        if key is not None and key not in numbers:
            raise _unknown(option, key, numbers, "a number at")
