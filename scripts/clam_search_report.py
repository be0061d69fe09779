"""The study against the grid, per table, from what ``scripts/clam_search.sh --grid`` left:

    python scripts/clam_search_report.py OUT_DIR [--within 0.005]

One markdown row per table with a finished grid or study: the paper's ClAM silhouette (its
Table 1, the best of its own grid); our grid's best whole-table silhouette (a partition with
an empty cluster set aside, as in the study), its settings and wall time; the study's best,
its trials and wall time, and the first trial whose silhouette came within ``--within`` of
our grid's best, and of the paper's. Written to OUT_DIR/report.md and printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from diffclust.errors import UserError
from diffclust.reports.runs import find_runs, lookup
from diffclust.reports.select import select_best
from diffclust.reports.study import read_study

TABLES = ("zoo", "ecoli", "movement_libras", "yale")
METRIC = "test.silhouette"
# ClAM's silhouette in the paper's Table 1 (Saha et al. 2023), selected by its grid.
PAPER = {"zoo": 0.412, "ecoli": 0.331, "movement_libras": 0.260, "yale": 0.129}


def wall_times(out_dir: Path) -> dict[str, int]:
    """times.tsv: NAME<TAB>seconds of each finished launch."""
    path = out_dir / "times.tsv"
    lines = path.read_text().splitlines() if path.is_file() else []
    return {name: int(s) for name, s in (line.split("\t") for line in lines if "\t" in line)}


def grid_best(grid_dir: Path) -> tuple[float, int, str]:
    """(best silhouette, finished runs, the chosen setting) of a finished grid."""
    runs = find_runs(grid_dir)
    kept, lines = select_best(runs, [], METRIC)
    finished = sum(run.status == "finished" for run in runs)
    chosen = lines[0].split(" with ", 1)[1]
    return float(lookup(kept[0].results, METRIC)), finished, chosen


def first_within(complete: list, target: float | None, within: float) -> str:
    """The number of trials run until one came within ``within`` of ``target`` (counted from
    1), "not reached", or "-" without a target."""
    if target is None:
        return "-"
    reached = [t.number for t in complete if t.value >= target - within]
    return str(min(reached) + 1) if reached else "not reached"


def study_progress(search_dir: Path, targets: list[float | None], within: float) -> dict:
    """The study's best value, its trials, and for each of ``targets`` the first trial
    within ``within`` of it."""
    study = read_study(search_dir)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    best = study.best_trial if complete else None
    return {
        "trials": len(study.trials),
        "best": best.value if best else None,
        "first": [first_within(complete, target, within) for target in targets],
    }


def report(out_dir: Path, within: float) -> str:
    times = wall_times(out_dir)
    rows = [
        "| table | paper's ClAM (Table 1) | grid best silhouette (runs, wall) | study best"
        f" (trials, wall) | study within {within} of the grid at trial | of the paper at trial |",
        "|---|---|---|---|---|---|",
    ]
    settings = []
    for table in TABLES:
        grid, search = f"grid/{table}", f"search/{table}"
        if grid not in times and search not in times:
            continue
        target = None
        grid_cell = "not run"
        if grid in times:
            target, finished, chosen = grid_best(out_dir / grid)
            grid_cell = f"{target:.4f} ({finished} runs, {times[grid] / 60:.0f} min)"
            settings.append(f"- {table}, grid: {chosen}")
        study_cell, reached = "not run", ["-", "-"]
        if search in times:
            study = study_progress(out_dir / search, [target, PAPER[table]], within)
            best = "none complete" if study["best"] is None else f"{study['best']:.4f}"
            study_cell = f"{best} ({study['trials']} trials, {times[search] / 60:.0f} min)"
            reached = study["first"]
        cells = [table, f"{PAPER[table]:.3f}", grid_cell, study_cell, *reached]
        rows.append("| " + " | ".join(cells) + " |")
    if len(rows) == 2:
        raise UserError(f"{out_dir} holds no finished grid or study (times.tsv lists none)")
    return "\n".join(rows + [""] + settings) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--within", type=float, default=0.005)
    args = parser.parse_args(argv)
    try:
        text = report(args.out_dir, args.within)
    except UserError as err:
        print(f"clam_search_report: error: {err}", file=sys.stderr)
        return 2
    (args.out_dir / "report.md").write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
