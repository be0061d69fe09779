"""Pictures of a run and of a sweep, written as PNG files.

Figures are built with ``matplotlib.figure.Figure`` directly, never pyplot: no display, no
global backend state, safe in batch jobs.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def tsne_picture(z: np.ndarray, labels: np.ndarray, path: Path, seed: int, title: str) -> None:
    """A 2-D t-SNE (scikit-learn, PCA initialisation) of embeddings ``z`` coloured by class."""
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, (len(z) - 1) / 3))  # t-SNE needs perplexity < n
    xy = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        np.asarray(z, np.float64).reshape(len(z), -1)
    )
    fig = Figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.subplots()
    for i, c in enumerate(np.unique(labels)):
        mask = labels == c
        ax.scatter(xy[mask, 0], xy[mask, 1], s=4, color=f"C{i % 10}", label=str(c))
    ax.set(xticks=[], yticks=[], title=title)
    ax.legend(title="class", markerscale=3, fontsize="small", frameon=False)
    fig.savefig(path, dpi=120)


def curves_picture(records: list[dict], path: Path, title: str) -> None:
    """What metrics.jsonl holds, one panel each: training loss and validation clustering
    error against the step, and a head fit's losses against its epoch (ClAM)."""
    panels = [
        ("step", "training loss", [("loss", "training loss")]),
        ("step", "validation clustering error", [("val_clustering_error", "val error")]),
        ("head fit epoch", "head fit loss", [("fit_loss", "mean batch loss"),
                                             ("fit_table_loss", "whole-table loss")]),
    ]  # fmt: skip
    x_key = {"step": "step", "head fit epoch": "fit_epoch"}
    shown = [p for p in panels if any(key in r for r in records for key, _ in p[2])]
    fig = Figure(figsize=(4.5 * max(len(shown), 1), 3.5), layout="constrained")
    axes = fig.subplots(1, max(len(shown), 1), squeeze=False)[0]
    for ax, (x_label, y_label, curves) in zip(axes, shown, strict=False):
        for key, label in curves:
            points = [(r[x_key[x_label]], r[key]) for r in records if r.get(key) is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="." if len(points) < 30 else None, label=label)
        if len(curves) > 1:
            ax.legend(frameon=False, fontsize="small")
        ax.set(xlabel=x_label, ylabel=y_label)
        ax.grid(alpha=0.3)
    if not shown:
        axes[0].text(0.5, 0.5, "nothing recorded", ha="center", va="center")
        axes[0].set_axis_off()
    fig.suptitle(title)
    fig.savefig(path, dpi=120)


def sweep_picture(
    rows: list[dict], keys: list[str], x_key: str, metrics: list[str], path: Path
) -> None:
    """One panel per metric: its mean ± std against ``x_key``, one line per combination of
    the other grouping keys (e.g. probe error against n_labelled, ours vs the baseline: the
    forest paper's Figure 4). ``rows`` as made by ``reports.tables.summarise``."""
    series_keys = [k for k in keys if k != x_key]
    fig = Figure(figsize=(4.5 * len(metrics), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    for ax, metric in zip(axes, metrics, strict=True):
        lines: dict[str, list] = defaultdict(list)
        for row in rows:
            if row[metric] is not None and row[x_key] is not None:
                label = ", ".join(f"{k}={row[k]}" for k in series_keys) or metric
                lines[label].append((row[x_key], *row[metric]))
        for label, points in sorted(lines.items()):
            x, mean, std = zip(*sorted(points, key=lambda p: _sort_key(p[0])), strict=True)
            ax.errorbar(x, mean, yerr=std, marker="o", capsize=3, label=label)
        xs = [row[x_key] for row in rows if isinstance(row[x_key], int | float)]
        if xs and min(xs) > 0 and max(xs) / min(xs) >= 10:
            ax.set_xscale("log")
            ax.minorticks_off()
            ax.set_xticks(sorted(set(xs)), [f"{x:g}" for x in sorted(set(xs))])
        ax.set(xlabel=x_key, ylabel=metric)
        ax.grid(alpha=0.3)
        if lines:
            ax.legend(fontsize="small", frameon=False)
    fig.savefig(path, dpi=120)


def _sort_key(value) -> tuple:
    return (0, value, "") if isinstance(value, int | float) else (1, 0, str(value))


def study_picture(study, objective: str, path: Path) -> None:
    """An Optuna study's objective against the trial number: complete trials, trials set
    aside (their value, hollow) and the best value so far."""
    fig = Figure(figsize=(6, 3.8), layout="constrained")
    ax = fig.subplots()
    trials = study.get_trials(deepcopy=False)
    done = [(t.number, t.value) for t in trials if t.state.name == "COMPLETE"]
    aside = [(t.number, t.user_attrs["value"]) for t in trials
             if t.state.name == "PRUNED" and "value" in t.user_attrs]  # fmt: skip
    if aside:
        ax.scatter(*zip(*aside, strict=True), facecolors="none", edgecolors="grey",
                   label="set aside")  # fmt: skip
    if done:
        ax.scatter(*zip(*done, strict=True), color="C0", s=14, label="trial")
        best = np.maximum if study.direction.name == "MAXIMIZE" else np.minimum
        numbers, values = map(np.asarray, zip(*done, strict=True))
        ax.step(numbers, best.accumulate(values), where="post", color="C1", label="best so far")
    ax.set(xlabel="trial", ylabel=objective, title=study.study_name)
    ax.grid(alpha=0.3)
    if done or aside:
        ax.legend(fontsize="small", frameon=False)
    fig.savefig(path, dpi=120)
