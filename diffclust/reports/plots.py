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
    """Training loss and validation clustering error against the step (metrics.jsonl)."""
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    loss_ax, val_ax = fig.subplots(1, 2)
    losses = [(r["step"], r["loss"]) for r in records if "loss" in r]
    evals = [(r["step"], r["val_clustering_error"]) for r in records if "val_clustering_error" in r]
    for ax, points, label in ((loss_ax, losses, "training loss"), (val_ax, evals, "val error")):
        if points:
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, marker="." if len(points) < 30 else None)
        ax.set(xlabel="step", ylabel=label)
        ax.grid(alpha=0.3)
    val_ax.set_ylabel("validation clustering error")
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
