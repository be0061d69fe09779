"""Sweep launchers: SLURM (submitit) composes, the local joblib launcher runs jobs in parallel
and a failing job leaves the others' results and its own error.txt; hydra/sweeper=grid runs
Hydra's grid checking only the jobs that bring a new override before the launch."""

import itertools
import json

import pytest
from runner_helpers import run_cli

from hydra_plugins.diffclust_sweeper.grid_sweeper import covering_jobs

QUICK = ("+experiment=digits_full", "loss.num_samples=20", "quiet=true", "train.eval_every=10")


def test_slurm_launcher_composes_with_its_settings():
    out = run_cli(
        "train",
        "--cfg",
        "hydra",
        "hydra/launcher=slurm",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.gpus_per_node=2",
        "hydra.launcher.timeout_min=30",
        "hydra.launcher.array_parallelism=4",
    )
    assert out.returncode == 0, out.stderr
    for line in ("partition: gpu", "gpus_per_node: 2", "timeout_min: 30", "array_parallelism: 4"):
        assert line in out.stdout
    assert "SlurmLauncher" in out.stdout


@pytest.mark.slow
def test_joblib_launcher_runs_two_jobs_and_survives_a_failure(tmp_path):
    out = run_cli(
        "train",
        "-m",
        "hydra/launcher=local",
        *QUICK,
        "train.steps=20",
        "train.batch_size=64,5000",  # the second job asks for more points than there are
        f"hydra.sweep.dir={tmp_path}",
    )
    assert out.returncode == 1 and "1 job(s) failed" in out.stderr
    ok, bad = tmp_path / "0", tmp_path / "1"
    assert json.loads((ok / "results.json").read_text())["steps"] == 20
    assert not (bad / "results.json").exists()
    assert "train.batch_size=5000" in (bad / "error.txt").read_text()


def test_the_grid_sweeper_checks_one_job_per_new_override_and_covers_every_one():
    axes = [[f"a={v}" for v in range(7)], ["b=x", "b=y"], [f"c={v}" for v in range(3)]]
    grid = [list(job) for job in itertools.product(*axes)]  # Hydra's order: last axis fastest
    seen: set[str] = set()
    checked = covering_jobs(grid, seen)
    assert checked[0] == grid[0] and len(checked) == 1 + 6 + 1 + 2  # not 42
    assert seen == {value for axis in axes for value in axis}
    assert covering_jobs(grid[10:], seen) == []  # a later batch of the same grid: none again


GRID = ("train", "-m", "hydra/sweeper=grid", "+experiment=clam", "dataset=iris", "quiet=true")
TINY_CLAM = ("head.epochs=1", "head.restarts=1", "train.pictures=false")


def test_a_grid_stops_before_any_job_on_a_bad_value_of_its_last_axis(tmp_path):
    out = run_cli(
        *GRID, *TINY_CLAM, "head.beta=0.1,1", "head.steps=2,two", f"hydra.sweep.dir={tmp_path}"
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("diffclust train: error: head.steps:")
    assert not list(tmp_path.glob("*/config.yaml"))  # no job was launched


@pytest.mark.slow
def test_the_grid_sweeper_launches_every_job_of_the_grid(tmp_path):
    out = run_cli(*GRID, *TINY_CLAM, "head.beta=0.1,1", "seed=0,1", f"hydra.sweep.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    for job, pair in enumerate(
        itertools.product(["head.beta=0.1", "head.beta=1"], ["seed=0", "seed=1"])
    ):
        assert (tmp_path / str(job) / "results.json").exists()
        overrides = (tmp_path / str(job) / "overrides.yaml").read_text()
        assert all(f"- {value}\n" in overrides for value in pair)
