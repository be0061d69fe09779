"""The study loop of ``hydra/sweeper=optuna``: ask a batch of trials, run them as jobs of the
configured launcher (one after another, joblib, SLURM), tell each trial what its run directory
says, until this launch has run ``n_trials`` (or the study holds ``max_trials``).
Trial N runs in SWEEP_DIR/N, so a continued study (same storage and study name) adds run
directories beside the earlier ones. A file SWEEP_DIR/STOP ends a launch gracefully: it asks
no more trials, and those under way finish and are told (a killed launch loses them)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, Trial, TrialState

from diffclust.errors import UserError
from diffclust.sweeps.config import OptunaSweeperConfig
from diffclust.sweeps.objective import (
    COMPLETE,
    FAILED,
    SET_ASIDE,
    Objective,
    Outcome,
    choose_objective,
    read_outcome,
)
from diffclust.sweeps.space import search_space, trial_overrides
from diffclust.sweeps.study import (
    SAMPLERS,
    counted_trials,
    open_study,
    sampler,
    sampler_seed,
    stopped_trials,
    storage_of,
    this_worker,
    worker_gone,
)
from diffclust.training.identity import held_files

log = logging.getLogger(__name__)
STOP_FILE = "STOP"  # in the sweep directory: ask no more trials
STATES = {COMPLETE: TrialState.COMPLETE, FAILED: TrialState.FAIL, SET_ASIDE: TrialState.PRUNED}


def run_study(
    settings: OptunaSweeperConfig,
    config: DictConfig,
    launch: Callable,
    validate: Callable,
    arguments: list[str],
    config_loader=None,
) -> list:
    """Runs ``settings.n_trials`` trials of the study (fewer where ``settings.max_trials``
    caps it); ``launch(jobs, initial_job_idx)`` and
    ``validate(jobs)`` are the launcher's and Hydra's, ``arguments`` the task overrides."""
    check_settings(settings)
    given = [f"{key}={value}" for key, value in settings.params.items()] + list(arguments)
    parsed = OverridesParser.create(config_loader=config_loader).parse_overrides(given)
    space, fixed = search_space(parsed)
    if not space:
        raise UserError(
            "hydra/sweeper=optuna has nothing to search: give an override such as "
            "'head.beta=interval(0.1, 3)', range(...) or choice(...) (or hydra.sweeper.params)"
        )
    objective = choose_objective(
        config, settings.objective, settings.direction, settings.allow_test_labels
    )
    sweep_dir = Path(config.hydra.sweep.dir)
    storage, where = storage_of(settings.storage, sweep_dir, Path(config.hydra.runtime.cwd))
    study = open_study(storage, settings.study_name, objective)
    end_stopped_trials(study, stopped_trials(study, worker_gone), objective, sweep_dir)
    earlier = len(study.trials)
    todo = room(study, settings, settings.n_trials)
    study.sampler = sampler(settings.sampler, sampler_seed(settings.seed, earlier),
                            settings.n_startup_trials)  # fmt: skip
    OmegaConf.save(config, sweep_dir / "multirun.yaml")  # what a grid sweep saves too
    size = settings.batch_size or launcher_jobs(config)
    if todo <= 0:
        log.info(
            "study %r in %s holds its max_trials=%d trials: nothing to run",
            study.study_name, where, settings.max_trials,
        )  # fmt: skip
        log_best(study, objective)
        return []
    log.info(
        "study %r in %s (%d trials so far): %s %s over %s, %d trials in batches of %d",
        study.study_name, where, earlier, objective.direction, objective.key,
        ", ".join(space), todo, size,
    )  # fmt: skip
    returns, ran = [], 0
    while (batch := min(size, room(study, settings, settings.n_trials - ran))) > 0:
        if (sweep_dir / STOP_FILE).exists():
            log.info(
                "%s exists: asking no more trials (%d run by this launch); remove it and "
                "launch again to go on", sweep_dir / STOP_FILE, ran,
            )  # fmt: skip
            break
        trials = [study.ask(space) for _ in range(batch)]
        returns.append(run_batch(study, trials, fixed, objective, sweep_dir, launch, validate))
        ran += batch
    log_best(study, objective)
    return returns


def room(study, settings: OptunaSweeperConfig, left: int) -> int:
    """Trials this launch may still ask: what is ``left`` of its n_trials, no more than the
    study lacks of max_trials counting the trials other workers are running (asked before
    every batch, so workers sharing a study do not overshoot it)."""
    if settings.max_trials is None:
        return left
    running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    return min(left, settings.max_trials - counted_trials(study) - running)


def end_stopped_trials(
    study, trials: list[FrozenTrial], objective: Objective, sweep_dir: Path
) -> None:
    """Tells each trial a stopped launch left running what its run directory in ``sweep_dir``
    says: its outcome if the run finished before the launch stopped, else failed."""
    for frozen in trials:
        run_dir = sweep_dir / Path(frozen.user_attrs.get("run_dir", str(frozen.number))).name
        if any((run_dir / name).is_file() for name in ("results.json", "error.txt")):
            outcome = read_outcome(run_dir, objective)  # the run ended before its launch
        else:
            outcome = Outcome(FAILED, reason="its launch stopped before the trial ended")
        # A trial another process asked, taken up by its id (what Optuna's own Study.tell does)
        try:
            tell(study, Trial(study, frozen._trial_id), outcome)
        except UpdateFinishedTrialError:  # a worker started beside this one told it first
            log.info("trial %d: told by another worker", frozen.number)


def check_settings(settings: OptunaSweeperConfig) -> None:
    keys = (("n_trials", 1), ("max_trials", 1), ("batch_size", 1), ("n_startup_trials", 0))
    for key, least in keys:
        value = getattr(settings, key)
        if value is not None and value < least:
            raise UserError(f"hydra.sweeper.{key}={value}: use a number >= {least}")
    if settings.sampler not in SAMPLERS:
        raise UserError(f"hydra.sweeper.sampler={settings.sampler}: use one of {SAMPLERS}")


def launcher_jobs(config: DictConfig) -> int:
    """The launcher's parallel jobs (joblib's n_jobs, negative: cores + 1 + n_jobs), else 1."""
    n_jobs = OmegaConf.select(config, "hydra.launcher.n_jobs")
    if not isinstance(n_jobs, int) or n_jobs == 0:
        return 1
    return n_jobs if n_jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + n_jobs)


def run_batch(
    study,
    trials: list[Trial],
    fixed: list[str],
    objective: Objective,
    sweep_dir: Path,
    launch: Callable,
    validate: Callable,
) -> list:
    """Launches the trials whose run directory is free (one holding a run is another
    study's: that trial fails unlaunched), then tells each trial its outcome."""
    jobs, launched = [], []
    for trial in trials:
        run_dir = sweep_dir / str(trial.number)
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr("worker", this_worker())  # so a later launch can tell it stopped
        held = held_files(run_dir)
        if held:
            reason = (
                f"{run_dir} already holds a run ({', '.join(held)}), not this study's; "
                "give each study its own hydra.sweep.dir"
            )
            tell(study, trial, Outcome(FAILED, reason=reason))
            continue
        jobs.append([*trial_overrides(fixed, trial.params), f"hydra.sweep.subdir={trial.number}"])
        launched.append((trial, run_dir))
    if not jobs:
        return []
    try:
        validate(jobs)  # a value that does not compose: a UserError-like HydraException
        returns = launch(jobs, initial_job_idx=launched[0][0].number)
    except BaseException:  # an interrupt or a bad override: no trial is left running
        for trial, _ in launched:
            tell(study, trial, Outcome(FAILED, reason="the launch stopped before it ended"))
        raise
    for trial, run_dir in launched:
        tell(study, trial, read_outcome(run_dir, objective))
    return list(returns)


def tell(study, trial: Trial, outcome: Outcome) -> None:
    """Records the outcome: a value, a failure (TPE ignores it) or a run set aside (pruned:
    TPE ranks it below every complete trial, so it steers away from it)."""
    if outcome.reason:
        trial.set_user_attr("reason", outcome.reason)
    if outcome.value is not None:
        trial.set_user_attr("value", outcome.value)
    value = outcome.value if outcome.state == COMPLETE else None
    study.tell(trial, value, state=STATES[outcome.state])
    params = ", ".join(f"{k}={v}" for k, v in trial.params.items())
    shown = f" {outcome.value:.4f}" if outcome.value is not None else ""
    why = f" ({outcome.reason})" if outcome.reason else ""
    log.info("trial %d [%s]: %s%s%s", trial.number, params, outcome.state, shown, why)


def log_best(study, objective: Objective) -> None:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        log.warning("no trial of study %r has completed yet", study.study_name)
        return
    best = study.best_trial
    log.info(
        "best of %d complete trials: trial %d, %s %.4f (%s)",
        len(complete), best.number, objective.key, best.value, best.user_attrs.get("run_dir"),
    )  # fmt: skip
