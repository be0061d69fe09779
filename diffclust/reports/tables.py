"""Grouped mean ± standard deviation tables of run metrics, as Markdown and CSV."""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections import defaultdict

import numpy as np

from diffclust.errors import UserError
from diffclust.reports.runs import Run, lookup


def _hashable(value):
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def group_key(run: Run, keys: list[str]) -> tuple:
    """The run's values of ``keys`` (results.json first, then its config: see Run.value)."""
    values = []
    for key in keys:
        try:
            values.append(_hashable(run.value(key)))
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
            values, whole = [], True
            for run in members:
                try:
                    value = lookup(run.results, metric)
                    values.append(float(value))
                except (KeyError, TypeError, ValueError):
                    continue
                whole = whole and isinstance(value, int) and not isinstance(value, bool)
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
            row[f"{metric}.values"] = values
            row[f"{metric}.whole"] = whole  # recorded as integers: counts, steps
        rows.append(row)
    return rows, notes


def row_label(row: dict, keys: list[str]) -> str:
    return ", ".join(f"{k}={row[k]}" for k in keys) or "(all runs)"


def markdown(rows: list[dict], keys: list[str], metrics: list[str], ranges: bool = False) -> str:
    """One line per group; cells "mean ± std" (a single run's value alone), with ``ranges``
    also "[min, max]"."""
    header = [*keys, "n", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(row[k]) for k in keys] + [str(row["n"])]
        for metric in metrics:
            value, values = row[metric], row[f"{metric}.values"]
            # Counts and steps (recorded as integers) read as such, not with 4 decimals.
            whole = row[f"{metric}.whole"]
            form = ".1f" if whole else ".4f"
            cell = "–" if value is None else f"{value[0]:{form}}"
            if len(values) > 1:  # one run has no spread to show (not a spread of 0)
                cell += f" ± {value[1]:{form}}"
            if value is not None and ranges:
                low, high = min(values), max(values)
                cell += f" [{low:.0f}, {high:.0f}]" if whole else f" [{low:.4f}, {high:.4f}]"
            count = len(row[f"{metric}.values"])
            if value is not None and count < row["n"]:
                cell += f" (n={count})"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def csv_text(rows: list[dict], keys: list[str], metrics: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    header = [*keys, "n"]
    for metric in metrics:
        header += [f"{metric}.{stat}" for stat in ("mean", "std", "min", "max", "n")]
    writer.writerow(header)
    for row in rows:
        line = [row[k] for k in keys] + [row["n"]]
        for metric in metrics:
            value = row[metric]
            values = row[f"{metric}.values"]
            line += (
                ["", "", "", "", 0]
                if value is None
                else [
                    value[0],
                    value[1] if len(values) > 1 else "",
                    min(values),
                    max(values),
                    len(values),
                ]
            )
        writer.writerow(line)
    return out.getvalue()


def parse_side(text: str) -> dict[str, str]:
    """``head.name=forest,split.n_labelled=250`` -> {key: value}; a comma inside a value
    (``backbone.channels=[32,64]``) stays in it: only a comma before ``KEY=`` separates."""
    side = {}
    for part in re.split(r",(?=[\w.]+=)", text):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise UserError(
                f"--welch takes KEY=VALUE[,KEY=VALUE...] such as head.name=ot, got {text!r}"
            )
        side[key] = value
    return side


def welch_tests(
    rows: list[dict], keys: list[str], metrics: list[str], first: str, second: str
) -> list[str]:
    """Welch's t-test (unequal variances, scipy) between the groups matching ``first`` and
    those matching ``second`` (each KEY=VALUE, or several joined by commas, on the same --by
    keys) that agree on every other key: one line per pair and metric, with both means and
    the two-sided p-value. Several keys compare cells that differ in more than one setting
    (the forest paper's claim: forest with 250 labels against cross-entropy with 5000)."""
    from scipy.stats import ttest_ind

    side_a, side_b = parse_side(first), parse_side(second)
    if side_a.keys() != side_b.keys() or not side_a.keys() <= set(keys):
        raise UserError(f"--welch {first} {second}: both must set the same --by keys")
    others = [k for k in keys if k not in side_a]

    def matches(row: dict, side: dict[str, str]) -> bool:
        return all(str(row[k]) == value for k, value in side.items())

    rows_b = {tuple(r[k] for k in others): r for r in rows if matches(r, side_b)}
    lines = []
    for row_a in (r for r in rows if matches(r, side_a)):
        row_b = rows_b.get(tuple(row_a[k] for k in others))
        if row_b is None:
            continue
        where = ", ".join(f"{k}={row_a[k]}" for k in others) or "all runs"
        for metric in metrics:
            a, b = row_a[f"{metric}.values"], row_b[f"{metric}.values"]
            if len(a) < 2 or len(b) < 2:
                lines.append(f"{metric} ({where}): too few runs for a t-test")
                continue
            if len(set(a) | set(b)) == 1:  # e.g. the steps of a fixed budget: nothing to test
                continue
            with warnings.catch_warnings():
                if len(set(a)) == 1 or len(set(b)) == 1:
                    # A constant group (the steps of a fixed budget against early-stopped
                    # runs) has variance exactly 0, which scipy's cancellation check flags.
                    warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
                p_value = float(ttest_ind(a, b, equal_var=False).pvalue)
            lines.append(
                f"{metric} ({where}): {first} {np.mean(a):.4f} vs {second} {np.mean(b):.4f}, "
                f"p = {p_value:.3g}"
            )
    if not lines:
        raise UserError(f"--welch {first} {second}: no pair of groups differs only there")
    return lines
