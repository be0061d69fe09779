"""diffclust tables SWEEP_DIR [...] [--by KEY ...] [--metric NAME ...] [--plot KEY]: mean ± std
tables of the runs under each SWEEP_DIR, grouped by keys of their own files: results.json first
(experiment, dataset.source, provenance.commit, ...), then the run's config (config.yaml, or
.hydra/config.yaml for older runs). A key that no run records is an error listing those that
exist. Failed and unfinished runs are listed, never silently dropped.
--plot KEY also draws each metric against that --by key, one line per value of the others;
--range adds [min, max] to the Markdown cells (the CSV always has them); --welch KEY=A KEY=B
adds Welch's t-test p-values between the groups that differ only in KEY (repeat it for more
comparisons; a side may set several keys: head.name=forest,split.n_labelled=250
head.name=classifier,split.n_labelled=5000).
Several SWEEP_DIRs make one table of all their runs (written beside the first by default).
--select METRIC keeps, per group, only the runs of the hyperparameter setting with the highest
mean METRIC (an unsupervised one such as test.silhouette: labels never choose; settings that
left a cluster empty compete only when all did, or with --allow-empty); --wide KEY
adds one table per metric with a column per value of KEY, and --versus VALUE the gain of that
value over each other column with its wins / losses (the ClAM paper's Table 1).
--study reads the Optuna study of a hydra/sweeper=optuna sweep (every trial is a run of the
sweep): its trials by state and best trial head the report, the metric defaults to the
study's objective, and STEM_study.png plots the objective against the trial number."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from diffclust.errors import UserError

HELP = "mean ± std tables (Markdown + CSV) of a sweep's runs, grouped by config keys"
DEFAULT_METRICS = ["test.clustering_error"]


def main(argv: list[str]) -> int:
    from diffclust.reports.keys import check_keys
    from diffclust.reports.runs import find_runs
    from diffclust.reports.select import select_best, wide
    from diffclust.reports.tables import csv_text, markdown, summarise, welch_tests

    parser = argparse.ArgumentParser(prog="diffclust tables", description=__doc__)
    parser.add_argument("sweep_dirs", type=Path, nargs="+", metavar="sweep_dir")
    parser.add_argument("--by", nargs="*", default=[], help="keys, e.g. split.n_labelled")
    parser.add_argument("--metric", nargs="*", default=None, help="e.g. probe.test_error")
    parser.add_argument("--out", type=Path, help="output stem (default SWEEP_DIR/table)")
    parser.add_argument("--plot", metavar="KEY", help="x axis of STEM.png: one of the --by keys")
    parser.add_argument("--range", action="store_true", help="also [min, max] in each cell")
    parser.add_argument(
        "--welch",
        nargs=2,
        action="append",
        metavar="KEY=VALUE",
        help="t-test between two cells of --by keys (may be repeated)",
    )
    parser.add_argument("--select", metavar="METRIC", help="best setting per group by METRIC")
    parser.add_argument(
        "--allow-empty",
        action="store_true",
        help="with --select: partitions that left a cluster empty compete too",
    )
    parser.add_argument(
        "--wide", nargs="+", metavar="KEY", help="a column per value of these --by keys"
    )
    parser.add_argument("--versus", metavar="VALUE", help="with --wide: gains of this value")
    parser.add_argument("--study", action="store_true", help="the sweep's Optuna study too")
    args = parser.parse_args(argv)
    metrics = args.metric or DEFAULT_METRICS
    study, first = None, args.sweep_dirs[0]
    # Failed runs are listed relative to the folder that holds every SWEEP_DIR.
    root = first if len(args.sweep_dirs) == 1 else Path(os.path.commonpath(args.sweep_dirs))
    try:
        if args.study and len(args.sweep_dirs) > 1:
            raise UserError("--study reads one sweep's study; give one SWEEP_DIR")
        if args.study:
            from diffclust.reports.study import objective_of, read_study

            study = read_study(first)
            metrics = args.metric or [objective_of(study)]
        if args.plot is not None and args.plot not in args.by:
            raise UserError(f"--plot {args.plot} must be one of the --by keys {args.by}")
        if args.versus is not None and args.wide is None:
            raise UserError("--versus VALUE compares columns of --wide KEY; give --wide too")
        runs = [run for sweep_dir in args.sweep_dirs for run in find_runs(sweep_dir)]
        check_keys(runs, args.by, args.metric or [], args.select)  # the keys a user named
        chosen, selection = runs, []
        if args.select:
            chosen, selection = select_best(runs, args.by, args.select, args.allow_empty)
        rows, notes = summarise(chosen, args.by, metrics)
        tests = [t for pair in args.welch or () for t in welch_tests(rows, args.by, metrics, *pair)]
        wides = [wide(rows, args.by, args.wide, m, args.versus) for m in metrics if args.wide]
    except UserError as err:
        print(f"diffclust tables: error: {err}", file=sys.stderr)
        return 2
    table = "".join(w + "\n" for w in wides) + markdown(rows, args.by, metrics, ranges=args.range)
    if selection:
        table += f"\nSelected by {args.select}:\n" + "".join(f"- {s}\n" for s in selection)
    if tests:
        table += "\nWelch's t-test (two-sided):\n" + "".join(f"- {t}\n" for t in tests)
    others = [r for r in runs if r.status != "finished"]
    # Paths relative to SWEEP_DIR: a table reads the same wherever the sweep is copied.
    lines = [
        f"- {r.status}: {_relative(r.path, root)}" + (f" ({r.error})" if r.error else "")
        for r in others
    ]
    report = table + ("\nNot in the table:\n" + "\n".join(lines) + "\n" if lines else "")
    report += "".join(f"\nNote: {note}" for note in notes) + ("\n" if notes else "")
    if study is not None:
        from diffclust.reports.study import study_summary

        report = study_summary(study) + "\n" + report
    stem = args.out or first / "table"
    stem.with_suffix(".md").write_text(report)
    stem.with_suffix(".csv").write_text(csv_text(rows, args.by, metrics))
    written = [stem.with_suffix(".md"), stem.with_suffix(".csv")]
    if args.plot is not None:
        from diffclust.reports.plots import sweep_picture

        written.append(stem.with_suffix(".png"))
        sweep_picture(rows, args.by, args.plot, metrics, written[-1])
    if study is not None:
        from diffclust.reports.plots import study_picture
        from diffclust.reports.study import objective_of

        written.append(stem.with_name(f"{stem.name}_study.png"))
        study_picture(study, objective_of(study), written[-1])
    print(report, end="")
    print("written:", ", ".join(map(str, written)))
    return 0


def _relative(path: Path, root: Path) -> Path:
    try:
        return Path(path).resolve().relative_to(root.resolve())
    except ValueError:
        return Path(path)
