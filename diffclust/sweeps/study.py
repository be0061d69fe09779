"""A study's storage and sampler: where the trials live, shared by every launch and worker
that names the same storage and study name."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from diffclust.errors import UserError
from diffclust.sweeps.objective import Objective

DEFAULT_STORAGE = "study.journal"  # in the sweep directory
SAMPLERS = ("tpe", "random")

optuna.logging.set_verbosity(logging.WARNING)  # the sweeper logs each trial itself


def storage_of(
    storage: str | None, sweep_dir: Path, cwd: Path, create: bool = True
) -> tuple[object, str]:
    """Optuna's storage and where it is: a database URL as given, else a journal file
    (relative paths from ``cwd``, the launch's working directory); None: study.journal in
    ``sweep_dir``. ``create=False``: a UserError if the journal file does not exist."""
    if storage is not None and "://" in storage:
        return storage, storage
    path = sweep_dir / DEFAULT_STORAGE if storage is None else cwd / Path(storage).expanduser()
    if not create and not path.is_file():
        raise UserError(f"no study journal at {path}; is {sweep_dir} a hydra/sweeper=optuna sweep?")
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path))), str(path)


def open_study(storage, name: str, objective: Objective) -> optuna.Study:
    """The study ``name`` in ``storage``, created if new; a UserError if it was created for
    another objective (its trials' values would mean something else)."""
    study = optuna.create_study(
        storage=storage, study_name=name, direction=objective.direction, load_if_exists=True
    )
    recorded = study.user_attrs.get("objective")
    asked = f"{objective.key} ({objective.direction})"
    kept = f"{recorded} ({study.direction.name.lower()})"
    if recorded is None and not study.trials:
        study.set_user_attr("objective", objective.key)
    elif kept != asked:
        raise UserError(
            f"study {name!r} optimises {kept}, not {asked}; give hydra.sweeper.study_name "
            "another name (or another storage) for a new study"
        )
    return study


def sampler_seed(seed: int, earlier: int) -> int:
    """The sampler's seed for a launch with ``hydra.sweeper.seed`` = ``seed`` on a study
    holding ``earlier`` trials: a continued study does not draw its first trials again, and
    workers with their own seeds never share a stream (seed + earlier did: worker 1 on an
    empty study and worker 0 a trial later both drew with seed 1, the same trials)."""
    return int(np.random.SeedSequence([seed, earlier]).generate_state(1)[0])


def sampler(name: str, seed: int, n_startup_trials: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise UserError(f"hydra.sweeper.sampler={name}: use one of {', '.join(SAMPLERS)}")


def load_study(storage, where: str, name: str) -> optuna.Study:
    """An existing study (``diffclust tables --study``)."""
    try:
        return optuna.load_study(storage=storage, study_name=name)
    except KeyError:
        raise UserError(f"no study {name!r} in {where}") from None


# What a study's size counts, as Optuna's MaxTrialsCallback does: trials that gave a value
# or were set aside, not failed ones (a run error, a stopped launch), which TPE ignores.
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)


def counted_trials(study: optuna.Study) -> int:
    """The study's complete and set-aside trials, by every launch and worker."""
    return len(study.get_trials(deepcopy=False, states=COUNTED))


def this_worker() -> str:
    """Who asks a trial: this host and process (a trial's ``worker`` attribute)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_gone(worker: str) -> bool:
    """True when ``worker`` (host:pid) was a process of this host that no longer runs; a
    worker of another host, or one that runs, may still tell its trial."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        pass
    return False


def stopped_trials(study: optuna.Study, gone: Callable[[str], bool] | None = None) -> list:
    """The running trials whose worker is ``gone`` (None: every running trial): a launch
    killed with its trials under way never tells them."""
    return [
        trial
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if gone is None or gone(trial.user_attrs.get("worker", ""))
    ]


def studies_with_objectives(storage) -> list[tuple[optuna.Study, Objective]]:
    """Every study in ``storage`` with the objective it was created for (a packed journal
    read back by ``reproduce.py unpack`` and ``audit``)."""
    studies = [
        optuna.load_study(study_name=name, storage=storage)
        for name in optuna.get_all_study_names(storage)
    ]
    return [
        (study, Objective(study.user_attrs["objective"], study.direction.name.lower()))
        for study in studies
    ]
