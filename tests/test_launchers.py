"""Sweep launchers: SLURM (submitit) composes, the local joblib launcher runs jobs in parallel
and a failing job leaves the others' results and its own error.txt."""

import json

import pytest
from runner_helpers import run_cli

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
