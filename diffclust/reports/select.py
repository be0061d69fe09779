"""Hyperparameter selection and method-comparison tables over a sweep.

``select_best``: within each group of runs (the --by keys), the hyperparameter setting (all
config values but the seed) with the best mean of an unsupervised criterion, e.g. the
silhouette, as the ClAM paper selects: labels never choose. ``wide``: one row per value of
the other keys and one column per method, with the gain of a reference method over each
other one, (a - b) / b, and its wins / losses (the ClAM paper's Table 1).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from diffclust.errors import UserError
from diffclust.reports.runs import Run, flatten, lookup
from diffclust.reports.tables import group_key
from diffclust.sweeps.objective import higher_is_better

IGNORED = ("seed", "resume", "quiet", "train.pictures")  # not hyperparameters


def _setting(run: Run) -> tuple:
    flat = flatten(run.config)
    return tuple(sorted((k, str(v)) for k, v in flat.items() if k not in IGNORED))


def _score(runs: list[Run], metric: str) -> float:
    values = []
    for run in runs:
        try:
            values.append(float(lookup(run.results, metric)))
        except (KeyError, TypeError, ValueError):
            return -np.inf  # a setting that could not be scored is never selected
    return float(np.mean(values)) if values else -np.inf


def _has_empty_cluster(runs: list[Run]) -> bool:
    """Whether a run left one of its k clusters empty (``test.cluster_sizes`` has a 0): such a
    partition has fewer than k clusters, and the silhouette favours those (fewer, larger
    clusters), so it would win the selection by collapsing, not by clustering better."""
    for run in runs:
        try:
            if 0 in lookup(run.results, "test.cluster_sizes"):
                return True
        except (KeyError, TypeError):
            pass
    return False


def select_best(
    runs: list[Run], keys: list[str], metric: str, allow_empty: bool = False
) -> tuple[list[Run], list[str]]:
    """The finished runs of the best setting per group (highest mean ``metric``, e.g.
    ``test.silhouette``), and one line per group naming the chosen values of the config keys
    that vary within the group. Settings whose runs left a cluster empty rank below every
    setting that did not (they are chosen only when all settings did), unless
    ``allow_empty``: then every partition competes, as the ClAM paper's code ranks them."""
    groups: dict[tuple, dict[tuple, list[Run]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        if run.status == "finished":
            groups[group_key(run, keys)][_setting(run)].append(run)
    if not groups:
        raise UserError("no finished run to select from (see the failed / unfinished list)")
    kept, lines = [], []
    for key_values, settings in sorted(groups.items(), key=lambda kv: str(kv[0])):
        empty = {s for s in settings if _has_empty_cluster(settings[s])}
        best = max(
            settings, key=lambda s: (allow_empty or s not in empty, _score(settings[s], metric))
        )
        if not np.isfinite(_score(settings[best], metric)):
            raise UserError(f"no run in group {key_values} recorded {metric}")
        kept += settings[best]
        varying = {k for s in settings for k, v in s} if len(settings) > 1 else set()
        varying = {k for k in varying if len({dict(s).get(k) for s in settings}) > 1}
        chosen = ", ".join(f"{k}={v}" for k, v in best if k in varying) or "the only setting"
        label = ", ".join(f"{k}={v}" for k, v in zip(keys, key_values, strict=True))
        note = ""
        if allow_empty:
            chosen_empty = "; the chosen one did" if best in empty else ""
            note = f" ({len(empty)} of {len(settings)} left a cluster empty{chosen_empty})"
        elif best in empty:
            note = " (every setting left a cluster empty)"
        elif empty:
            plural = "s" if len(empty) > 1 else ""
            note = f" (set aside: {len(empty)} setting{plural} that left a cluster empty)"
        lines.append(
            f"{label or 'all runs'}: best {metric} of {len(settings)} settings with {chosen}" + note
        )
    return kept, lines


def column_name(row: dict, columns: list[str]) -> str:
    """The --wide column of a row: the values of the ``columns`` keys joined by "/", empty
    ones left out (so ``head.name tag`` gives "kmeans", "clam" and "clam/eq8")."""
    return "/".join(str(row[c]) for c in columns if row[c] not in (None, ""))


def wide(
    rows: list[dict], keys: list[str], columns: list[str], metric: str, versus: str | None = None
) -> str:
    """A Markdown table of ``metric`` means with one column per value of the --by keys
    ``columns`` (see :func:`column_name`); with ``versus`` (one of those columns) each other
    cell also shows the reference's gain over that method, (a - b) / |b| in % (b - a for a
    metric that is better lower: an error, a loss, a wall time), and a last row counts the
    reference's wins / losses. A metric whose name does not say which way is better (a count
    such as ``test.clusters_used``) gets neither: a note says so."""
    if missing := [c for c in columns if c not in keys]:
        raise UserError(f"--wide {' '.join(missing)}: must be among the --by keys {keys}")
    others = [k for k in keys if k not in columns]
    methods = sorted({column_name(r, columns) for r in rows})
    if versus is not None and versus not in methods:
        raise UserError(f"--versus {versus}: the --wide columns are {methods}")
    order = ([versus] if versus else []) + [m for m in methods if m != versus]
    table: dict[tuple, dict[str, float]] = defaultdict(dict)
    for row in rows:
        if row[metric] is not None:
            table[tuple(row[k] for k in others)][column_name(row, columns)] = row[metric][0]
    higher = higher_is_better(metric)  # None for a count: "more" is not "better"
    scored = versus if higher is not None else None  # the reference of gains and W/L
    sign = 1 if higher else -1
    header = [*others, *order]
    lines = [f"{metric}\n", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    wins = dict.fromkeys(order, 0)
    losses = dict.fromkeys(order, 0)
    for where, values in sorted(table.items(), key=lambda kv: str(kv[0])):
        cells = [str(v) for v in where]
        for method in order:
            value = values.get(method)
            cell = "–" if value is None else f"{value:.3f}"
            if scored and method != scored and value is not None and scored in values:
                ours = values[scored]
                if value != 0:
                    cell += f" ({sign * (ours - value) / abs(value):+.0%})"
                wins[method] += sign * (ours - value) > 0
                losses[method] += sign * (ours - value) < 0
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    if scored:
        tally = ["–" if m == versus else f"{wins[m]}/{losses[m]}" for m in order]
        label = [f"{versus} W/L"] + [""] * (len(others) - 1) if others else []
        lines.append("| " + " | ".join(label + tally) + " |")
        gain = f"({versus} - column)" if higher else f"(column - {versus})"
        lines.append(f"\n(gain) = {gain} / |column|: positive where {versus} wins.")
    elif versus is not None:
        lines.append(f"\nNo gains or W/L: a higher {metric} is not better or worse by its name.")
    return "\n".join(lines) + "\n"
