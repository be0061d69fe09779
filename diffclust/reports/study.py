"""``diffclust tables SWEEP_DIR --study``: the Optuna study of a ``hydra/sweeper=optuna``
sweep (found through the sweep's multirun.yaml), its trials by state and its best trial."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from omegaconf import OmegaConf

from diffclust.errors import UserError

STATE_NAMES = {"COMPLETE": "complete", "FAIL": "failed", "PRUNED": "set aside"}


def read_study(sweep_dir: Path):
    """The study that ran the trials in ``sweep_dir``: its storage and name as the last
    launch there recorded them (the default storage is the sweep directory's journal)."""
    from diffclust.sweeps.study import load_study, storage_of

    multirun = sweep_dir / "multirun.yaml"
    if not multirun.is_file():
        raise UserError(f"--study: no multirun.yaml in {sweep_dir}; pass a sweep directory")
    hydra = OmegaConf.load(multirun).hydra
    if "study_name" not in hydra.sweeper:
        raise UserError(f"--study: {sweep_dir} is a grid sweep, not a hydra/sweeper=optuna one")
    cwd = Path(hydra.runtime.cwd)
    storage, where = storage_of(hydra.sweeper.storage, sweep_dir, cwd, create=False)
    return load_study(storage, where, hydra.sweeper.study_name)


def objective_of(study) -> str:
    return study.user_attrs.get("objective", "value")


def study_summary(study) -> str:
    """Markdown lines: the trials by state, the objective and the best trial's run."""
    trials = study.get_trials(deepcopy=False)
    counts = Counter(STATE_NAMES.get(t.state.name, t.state.name.lower()) for t in trials)
    states = ", ".join(f"{n} {state}" for state, n in counts.most_common())
    objective, direction = objective_of(study), study.direction.name.lower()
    name = study.study_name
    lines = [f"Study {name!r}: {len(trials)} trials ({states}); {direction} {objective}"]
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    if complete:
        best = study.best_trial
        params = ", ".join(f"{k}={v}" for k, v in best.params.items())
        lines.append(
            f"Best: trial {best.number}, {objective} {best.value:.4f}, "
            f"{best.user_attrs.get('run_dir', '')}: {params}"
        )
    else:
        lines.append("Best: none yet (no trial completed)")
    return "\n".join(lines) + "\n"
