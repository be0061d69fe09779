"""Grouped mean ± standard deviation tables of run metrics, as Markdown and CSV."""

from __future__ import annotations

import csv
import io
from collections import defaultdict

import numpy as np

from diffclust.errors import UserError
from diffclust.reports.runs import Run, lookup


def group_key(run: Run, keys: list[str]) -> tuple:
    values = []
    for key in keys:
        try:
            values.append(lookup(run.config, key))
        except KeyError:
            values.append(None)  # e.g. split.n_labelled of a full-split run
    return tuple(values)


def summarise(runs: list[Run], keys: list[str], metrics: list[str]) -> tuple[list[dict], list[str]]:
    """One row per group of finished runs: the key values, n, and per metric mean, std and
    the number of runs that recorded it. Also notes about metrics missing from some runs."""
    finished = [r for r in runs if r.status == "finished"]
    if not finished:
        raise UserError("no finished run to tabulate (see the failed / unfinished list)")
    groups: dict[tuple, list[Run]] = defaultdict(list)
    for run in finished:
        groups[group_key(run, keys)].append(run)
    rows, notes = [], []
    for key_values, members in sorted(groups.items(), key=lambda kv: str(kv[0])):
        row = dict(zip(keys, key_values, strict=True))
        row["n"] = len(members)
        for metric in metrics:
            values = []
            for run in members:
                try:
                    values.append(float(lookup(run.results, metric)))
                except (KeyError, TypeError, ValueError):
                    pass
            if len(values) < len(members):
                notes.append(
                    f"{metric} is missing from {len(members) - len(values)} of {len(members)} "
                    f"runs in group {row_label(row, keys)}"
                )
            row[metric] = (
                (float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0)
                if values
                else None
            )
            row[f"{metric}.n"] = len(values)
        rows.append(row)
    return rows, notes


def row_label(row: dict, keys: list[str]) -> str:
    return ", ".join(f"{k}={row[k]}" for k in keys) or "(all runs)"


def markdown(rows: list[dict], keys: list[str], metrics: list[str]) -> str:
    header = [*keys, "n", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(row[k]) for k in keys] + [str(row["n"])]
        for metric in metrics:
            value = row[metric]
            cell = "–" if value is None else f"{value[0]:.4f} ± {value[1]:.4f}"
            if value is not None and row[f"{metric}.n"] < row["n"]:
                cell += f" (n={row[f'{metric}.n']})"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def csv_text(rows: list[dict], keys: list[str], metrics: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    header = [*keys, "n"]
    for metric in metrics:
        header += [f"{metric}.mean", f"{metric}.std", f"{metric}.n"]
    writer.writerow(header)
    for row in rows:
        line = [row[k] for k in keys] + [row["n"]]
        for metric in metrics:
            value = row[metric]
            line += ["", "", 0] if value is None else [value[0], value[1], row[f"{metric}.n"]]
        writer.writerow(line)
    return out.getvalue()
