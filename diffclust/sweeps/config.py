"""The schema of ``hydra/sweeper=optuna``: every key of ``hydra.sweeper``, so that a misspelt
key or a wrong type fails when the command starts. Importing it loads no Optuna."""

from __future__ import annotations

from dataclasses import dataclass, field

PLUGIN = "hydra_plugins.diffclust_sweeper.optuna_sweeper.OptunaSweeper"


@dataclass
class OptunaSweeperConfig:
    _target_: str = PLUGIN
    n_trials: int = 20  # trials this launch runs; a continued study adds as many again
    # The study's size: before each batch a launch asks no more trials than the study lacks
    # of it (complete and set-aside trials of every launch and worker, as Optuna's
    # MaxTrialsCallback counts, and those running; failed ones are not counted), so a
    # stopped study launched again completes to it and workers sharing it stop there.
    max_trials: int | None = None
    # Trials asked at once and run together by the launcher; null: the launcher's n_jobs
    # (hydra/launcher=local), else 1 (one after another, each informed by all before it).
    batch_size: int | None = None
    # The dotted results.json key to optimise; null: test.silhouette for whole-table fits
    # (train.steps=0, label-free), val.clustering_error for trained heads.
    objective: str | None = None
    direction: str | None = None  # maximize / minimize; null: from the objective's name
    # A journal file (a path, shared by workers on one file system) or a database URL
    # (sqlite:///study.db, postgresql://...); null: study.journal in the sweep directory.
    storage: str | None = None
    study_name: str = "diffclust"
    sampler: str = "tpe"  # tpe (Optuna's default) or random
    # The sampler's seed, drawn with the number of trials the study already holds, so a
    # continued study does not draw its first trials again. Workers sharing a study: one
    # seed each (their streams then differ).
    seed: int = 0
    n_startup_trials: int = 10  # tpe: random trials before the model takes over
    # An objective computed from test labels (test.nmi, probe.test_error, ...) is refused
    # unless this is true: choosing hyperparameters by it makes the test numbers optimistic.
    allow_test_labels: bool = False
    # The search space in a config file (experiment configs), as override values keyed by
    # the overridden key, e.g. {"head.beta": "tag(log, interval(0.01, 3))"}; the command
    # line's overrides of the same keys replace these.
    params: dict[str, str] = field(default_factory=dict)
