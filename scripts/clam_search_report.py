"""The study against the grid, per table, from the runs' own records:

    python scripts/clam_search_report.py STUDIES GRIDS [--within 0.005] [--out FILE]

STUDIES and GRIDS are folders where a table's runs are TABLE/ (a sweep folder, as
``scripts/clam_search.sh`` leaves OUT_DIR/search and OUT_DIR/grid) or TABLE.runs.jsonl.xz (a
packed grid, as reproductions/runs/clam_search and clam_paper hold them; the grid is the
runs of ClAM itself, ``head.name=clam`` without a tag, among the ablations and baselines).
One markdown row per table with a grid or a study: the paper's ClAM silhouette (its Table 1,
the best of its own grid); our grid's best whole-table silhouette (a partition with an empty
cluster set aside, as in the study), its settings; the study's best and the first trial
(counted from 1) whose silhouette came within ``--within`` of our grid's best, and of the
paper's. Times are elapsed, from the first run's start to the last one's end (provenance),
summed over sittings where a grid or study was completed in several.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta
from pathlib import Path

from diffclust.errors import UserError
from diffclust.reports.packed import SUFFIX
from diffclust.reports.runs import Run, find_runs, lookup
from diffclust.reports.select import select_best
from diffclust.sweeps.objective import COMPLETE, Objective, outcome

TABLES = ("zoo", "ecoli", "movement_libras", "yale")
METRIC = "test.silhouette"
# ClAM's silhouette in the paper's Table 1 (Saha et al. 2023), selected by its grid.
PAPER = {"zoo": 0.412, "ecoli": 0.331, "movement_libras": 0.260, "yale": 0.129}


def table_runs(root: Path, table: str) -> list[Run]:
    """The runs of ``table`` under ``root`` (its folder or its packed file); none if absent."""
    for source in (root / table, root / f"{table}{SUFFIX}"):
        if source.exists():
            return find_runs(source)
    return []


# A pause this long with no run going ends a sitting: a grid or study completed over several
# (machines, sessions) is timed by its sittings, not by the days between them. Within one,
# runs follow each other within seconds (a job's start-up), and no run lasts this long.
SITTING_GAP = timedelta(minutes=10)


def elapsed(runs: list[Run]) -> str:
    """ ", N min": from the first finished run's start to the last one's end, over each
    sitting ("" where the runs record no times; ", N min in S sittings" for several)."""
    times = sorted(
        (datetime.fromisoformat(p["started"]), datetime.fromisoformat(p["ended"]))
        for p in (run.results.get("provenance", {}) for run in runs if run.results)
        if p.get("started") and p.get("ended")
    )
    if not times:
        return ""
    sittings = [list(times[0])]
    for start, end in times[1:]:
        if start > sittings[-1][1] + SITTING_GAP:
            sittings.append([start, end])
        else:
            sittings[-1][1] = max(sittings[-1][1], end)
    minutes = sum((end - start).total_seconds() for start, end in sittings) / 60
    return f", {minutes:.0f} min" + (f" in {len(sittings)} sittings" if len(sittings) > 1 else "")


def grid_best(runs: list[Run]) -> tuple[float, int, str]:
    """(best silhouette, finished runs, the chosen setting) of ClAM's grid among ``runs``."""
    kept, lines = select_best(runs, [], METRIC)
    finished = sum(run.status == "finished" for run in runs)
    chosen = lines[0].split(" with ", 1)[1]
    return float(lookup(kept[0].results, METRIC)), finished, chosen


def first_within(values: dict[int, float], target: float | None, within: float) -> str:
    """The number of trials run until one came within ``within`` of ``target`` (counted from
    1), "not reached", or "-" without a target."""
    if target is None:
        return "-"
    reached = [number for number, value in values.items() if value >= target - within]
    return str(min(reached) + 1) if reached else "not reached"


def study_values(runs: list[Run]) -> dict[int, float]:
    """Trial number (its run folder's name) to its objective, for the trials that completed
    (as the study told them: a partition with an empty cluster is set aside)."""
    objective = Objective(METRIC, "maximize")
    values = {}
    for run in runs:
        if run.results is not None:
            state, value, _ = outcome(run.results, objective)
            if state == COMPLETE:
                values[int(run.path.name)] = value
    return values


def report(studies: Path, grids: Path, within: float) -> str:
    rows = [
        "| table | paper's ClAM (Table 1) | grid best silhouette (runs, elapsed) | study best "
        f"(trials, elapsed) | study within {within} of the grid at trial "
        "| of the paper at trial |",
        "|---|---|---|---|---|---|",
    ]
    settings = []
    for table in TABLES:
        grid = [
            run
            for run in table_runs(grids, table)
            if run.value("head.name") == "clam" and not run.config.get("tag")
        ]
        study = table_runs(studies, table)
        if not grid and not study:
            continue
        target, grid_cell = None, "not run"
        if grid:
            target, finished, chosen = grid_best(grid)
            grid_cell = f"{target:.4f} ({finished} runs{elapsed(grid)})"
            settings.append(f"- {table}, grid: {chosen}")
        study_cell, reached = "not run", ["-", "-"]
        if study:
            values = study_values(study)
            best = f"{max(values.values()):.4f}" if values else "none complete"
            study_cell = f"{best} ({len(study)} trials{elapsed(study)})"
            reached = [first_within(values, t, within) for t in (target, PAPER[table])]
        cells = [table, f"{PAPER[table]:.3f}", grid_cell, study_cell, *reached]
        rows.append("| " + " | ".join(cells) + " |")
    if len(rows) == 2:
        raise UserError(f"no study under {studies} and no grid under {grids} (folders {TABLES})")
    return "\n".join(rows + ([""] + settings if settings else [])) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("studies", type=Path)
    parser.add_argument("grids", type=Path)
    parser.add_argument("--within", type=float, default=0.005)
    parser.add_argument("--out", type=Path, help="also write the report there")
    args = parser.parse_args(argv)
    try:
        text = report(args.studies, args.grids, args.within)
    except UserError as err:
        print(f"clam_search_report: error: {err}", file=sys.stderr)
        return 2
    if args.out:
        args.out.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
