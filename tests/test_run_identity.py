"""Run identity (issue 18): a run directory holds the one config that produced its results.

Every bad input is one line, exit 2, and leaves a finished run used as its target byte for byte
unchanged; a refused launch cannot make `diffclust tables` mislabel a run or a sweep; resume
accepts only the documented keys; results.json records its provenance; every JSON file a run
writes is strict JSON.
"""

import csv
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from runner_helpers import REPO, run_batch, run_cli

from diffclust.training.provenance import PACKAGES

TINY = (
    "+experiment=digits_full",
    "loss.num_samples=16",
    "train.eval_every=10",
    "train.log_every=5",
    "train.pictures=false",
    "quiet=true",
)


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished seed-0 run of 20 steps (about 20 s on 2 CPU cores)."""
    run = tmp_path_factory.mktemp("finished") / "run"
    out = run_cli("train", *TINY, "train.steps=20", f"hydra.run.dir={run}")
    assert out.returncode == 0, out.stderr
    return run


# (overrides, a phrase the one line must hold): each is refused before anything is written.
BAD_TRAIN = [
    (["train.eval_every=0"], "train.eval_every=0"),
    (["train.log_every=0"], "train.log_every=0"),
    (["loss.num_samples=0"], "loss.num_samples=0"),
    (["loss.sigma=-1"], "loss.sigma=-1"),
    (["loss.noise=gumbel"], "loss.noise=gumbel"),
    (["head.similarity=manhattan"], "head.similarity=manhattan"),
    (["backbone.embedding_dim=0"], "backbone.embedding_dim=0"),
    (["optim.lr=-0.1"], "optim.lr=-0.1"),
    (["train.steps=-1"], "train.steps=-1"),
    (["train.batch_size=0"], "train.batch_size=0"),
    (["train.eval_batch_size=0"], "train.eval_batch_size=0"),
    (["train.eval_batches=0"], "train.eval_batches=0"),
    (["train.patience=-5"], "train.patience=-5"),
    (["train.select=worst"], "train.select=worst"),
    (["train.input_noise=1.5"], "train.input_noise=1.5"),
    (["train.tsne_points=0"], "train.tsne_points=0"),
    (["seed=-1"], "seed=-1"),
    (["optim.b1=1.0"], "optim.b1=1.0"),
    (["optim.weight_decay=-1"], "optim.weight_decay=-1"),
    (["optim.decay_every=0"], "optim.decay_every=0"),
    (["optim=sgd", "optim.momentum=-0.5"], "optim.momentum=-0.5"),
    (["dataset.val_size=-10"], "dataset.val_size=-10"),
    (["split=semi", "split.labelled_fraction=2"], "split.labelled_fraction=2"),
    (["head.temperature=0"], "head.temperature=0"),
    (["+experiment=digits_kmeans", "head.num_clusters=0"], "head.num_clusters=0"),
    (["+experiment=digits_kmeans", "head.n_init=0"], "head.n_init=0"),
    (["+experiment=digits_ot", "head.epsilon=0"], "head.epsilon=0"),
    (["+experiment=clam", "head.num_clusters=-3"], "head.num_clusters=-3"),
    (["head=kmeans", "loss=none"], "loss.num_samples"),  # TINY sets a key loss=none lacks
    (["dataset=blobs", "dataset.num_classes=1"], "dataset.num_classes=1"),
    (["dataset=blobs", "dataset.dim=0"], "dataset.dim=0"),
    (["dataset=blobs", "dataset.cluster_std=-1"], "dataset.cluster_std=-1"),
    (["logger=wandb", "logger.mode=foo"], "logger.mode=foo"),
    (["backbone=linear", "backbone.init_std=-1"], "backbone.init_std=-1"),
    (["resume=maybe"], "resume"),
    (["loss.num_samples=abc"], "loss.num_samples"),
    (["head=nope"], "unknown head option 'nope'"),
    (["train.stepz=10"], "train.stepz"),
    (["seed=1.5"], "seed"),
    (["train.steps=[1"], "cannot parse an override"),
    # A valid config aimed at the finished run: refused as a new run, or as a changed resume.
    (["seed=7", "head.similarity=cosine"], "already holds a run"),
    (["train.steps=20", "seed=7", "resume=true"], "seed=7 (recorded 0)"),
    (["train.steps=20", "dataset=iris", "resume=true"], "dataset.name=iris (recorded digits)"),
    (["train.steps=20", "head.standardize=false", "resume=true"], "head.standardize=false"),
    (["train.steps=20", "optim.lr=0.1", "resume=true"], "optim.lr=0.1"),
]


def test_bad_inputs_are_one_line_and_leave_a_finished_run_unchanged(finished, tmp_path):
    before = tree_hashes(finished)
    target = f"hydra.run.dir={finished}"
    cases = [
        ["train", *(() if overrides[0].startswith("+experiment") else TINY), *overrides, target]
        for overrides, _ in BAD_TRAIN
    ]
    cases.append(["tables", str(finished), "--by", "sead", "--out", str(tmp_path / "t")])
    cases.append(["tables", str(finished), "--metric", "test.clustering_eror", "--out", "x"])
    phrases = [phrase for _, phrase in BAD_TRAIN]
    phrases += ["sead", "test.clustering_eror"]
    assert len(cases) >= 30
    for done, phrase in zip(run_batch(cases, tmp_path), phrases, strict=True):
        shown = f"{done['argv'][1:]}: {done['stderr']!r} {done['traceback']}"
        assert done["traceback"] is None, shown
        assert done["code"] == 2, shown
        lines = done["stderr"].strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("diffclust"), shown
        assert phrase in lines[0], shown
        assert "Traceback" not in done["stdout"] + done["stderr"], shown
    assert tree_hashes(finished) == before


def test_resume_of_a_finished_run_changes_no_file(finished, tmp_path):
    before = tree_hashes(finished)
    out = run_cli("train", *TINY, "train.steps=20", "resume=true", f"hydra.run.dir={finished}")
    assert out.returncode == 0, out.stderr
    assert "is finished" in out.stdout
    assert tree_hashes(finished) == before


def test_resume_with_more_steps_continues(finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    out = run_cli("train", *TINY, "train.steps=30", "resume=true", f"hydra.run.dir={run}")
    assert out.returncode == 0, out.stderr
    assert "resuming from step 20" in out.stdout
    results = json.loads((run / "results.json").read_text())
    assert results["steps"] == 30 and results["config"]["train"]["steps"] == 30
    assert (run / "config.yaml").read_bytes() == (finished / "config.yaml").read_bytes()
    # Both clocks add the first segment (up to its checkpoint at step 20) to the second.
    first = json.loads((finished / "clock.json").read_text())
    assert results["wall_time_s"] > first["elapsed_s"] and results["cpu_time_s"] > first["cpu_s"]


def test_resume_below_the_latest_checkpoint_is_refused(finished):
    before = tree_hashes(finished)
    out = run_cli("train", *TINY, "train.steps=10", "resume=true", f"hydra.run.dir={finished}")
    # A finished run whose results cover the steps asked for: nothing to do.
    assert out.returncode == 0 and "is finished" in out.stdout, out.stderr
    run = finished.parent / "unfinished"
    shutil.copytree(finished, run)
    (run / "results.json").unlink()  # as if killed after its last checkpoint
    out = run_cli("train", *TINY, "train.steps=10", "resume=true", f"hydra.run.dir={run}")
    assert out.returncode == 2 and "below the latest checkpoint" in out.stderr, out.stderr
    assert tree_hashes(finished) == before


def test_a_table_fit_is_not_overwritten(tmp_path):
    run = tmp_path / "fit"
    fit = ("+experiment=digits_kmeans", "head.n_init=1", "train.pictures=false")
    out = run_cli("train", *fit, f"hydra.run.dir={run}")
    assert out.returncode == 0, out.stderr
    assert "whole-table fit" in out.stdout
    before = tree_hashes(run)
    assert {"results.json", "clusters.npy", "config.yaml"} <= set(before)
    out = run_cli("train", *fit, "seed=3", f"hydra.run.dir={run}")
    assert out.returncode == 2 and "already holds a run" in out.stderr
    out = run_cli("train", *fit, "resume=true", f"hydra.run.dir={run}")
    assert out.returncode == 0 and "is finished" in out.stdout
    assert tree_hashes(run) == before


def test_an_unexpected_exception_in_a_sweep_job_leaves_error_txt(tmp_path, monkeypatch):
    import diffclust.training
    from diffclust.commands import train

    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(diffclust.training, "run", broken)
    hydra_cfg = SimpleNamespace(
        runtime=SimpleNamespace(choices={}), overrides=SimpleNamespace(task=[])
    )
    with train.run_log(tmp_path):
        assert train.run_job(None, tmp_path, hydra_cfg, sweep=True) is None
    assert (tmp_path / "error.txt").read_text() == "RuntimeError: boom\n"
    log = (tmp_path / "train.log").read_text()
    assert "Traceback" in log and "RuntimeError: boom" in log
    assert str(tmp_path) in train.FAILED
    train.FAILED.discard(str(tmp_path))


def test_resume_of_a_directory_without_a_run_is_an_error(tmp_path):
    out = run_cli("train", *TINY, "resume=true", f"hydra.run.dir={tmp_path / 'none'}")
    assert out.returncode == 2 and "holds no run to resume" in out.stderr
    assert not any((tmp_path / "none").iterdir())


def table_rows(out_stem: Path) -> list[dict]:
    """The rows of the csv `diffclust tables --out STEM` wrote."""
    with out_stem.with_suffix(".csv").open() as f:
        return list(csv.DictReader(f))


def test_a_refused_launch_keeps_the_table_of_a_run(finished, tmp_path):
    out = run_cli("train", *TINY, "seed=7", "head.similarity=cosine", f"hydra.run.dir={finished}")
    assert out.returncode == 2
    stem = tmp_path / "table"
    out = run_cli("tables", str(finished), "--by", "seed", "head.similarity", "--out", str(stem))
    assert out.returncode == 0, out.stderr
    assert "sqeuclidean" in out.stdout and "cosine" not in out.stdout
    assert [r["seed"] for r in table_rows(stem)] == ["0"]


@pytest.mark.slow  # a sweep of CLI processes: 30-45 s
def test_a_refused_sweep_keeps_the_table_of_its_runs(tmp_path):
    sweep = tmp_path / "sweep"
    out = run_cli("train", "-m", *TINY, "train.steps=10", "seed=0,1", f"hydra.sweep.dir={sweep}")
    assert out.returncode == 0, out.stderr
    before = tree_hashes(sweep)
    again = ("train", "-m", *TINY, "train.steps=10", "head.similarity=cosine", "seed=7,8")
    # Each job is refused like a run; only Hydra's multirun.yaml (the sweep's own file, not
    # a run's record) is rewritten.
    out = run_cli(*again, f"hydra.sweep.dir={sweep}")
    assert out.returncode == 1 and out.stderr.count("already holds a run") == 2, out.stderr
    # Resuming the sweep with other seeds: each job refuses, naming the key.
    out = run_cli(*again, "resume=true", f"hydra.sweep.dir={sweep}")
    assert out.returncode == 1, out.stderr
    assert "seed=7 (recorded 0)" in out.stderr and "seed=8 (recorded 1)" in out.stderr
    after = tree_hashes(sweep)
    assert after.keys() == before.keys()
    assert all(after[k] == v for k, v in before.items() if k != "multirun.yaml")
    stem = tmp_path / "table"
    out = run_cli("tables", str(sweep), "--by", "seed", "head.similarity", "--out", str(stem))
    assert out.returncode == 0, out.stderr
    assert sorted(r["seed"] for r in table_rows(stem)) == ["0", "1"]
    assert "cosine" not in out.stdout


def test_results_record_provenance_and_every_json_file_is_strict(finished, tmp_path):
    results = json.loads((finished / "results.json").read_text())
    record = results["provenance"]
    assert set(record) >= {"commit", "dirty", "versions", "device", "data_sha256", "command"}
    assert {"started", "ended"} <= set(record) and record["started"] <= record["ended"]
    assert set(record["versions"]) == {"python", *PACKAGES}
    assert record["device"]["count"] >= 1 and record["command"][-1] == f"hydra.run.dir={finished}"
    assert len(record["data_sha256"]) == 64 and "device" not in results
    assert results["wall_time_s"] > 0 and results["cpu_time_s"] > 0

    def reject(constant):
        raise ValueError(f"{constant} is not JSON")

    written = [p for p in finished.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl")]
    assert {"results.json", "metrics.jsonl", "clock.json"} <= {p.name for p in written}
    for path in written:
        for line in [path.read_text()] if path.suffix == ".json" else path.read_text().split("\n"):
            if line.strip():
                json.loads(line, parse_constant=reject)
    stem = tmp_path / "table"
    out = run_cli("tables", str(finished), "--by", "provenance.commit", "--out", str(stem))
    assert out.returncode == 0, out.stderr
    assert table_rows(stem)[0]["provenance.commit"] == record["commit"]


def wait_for_checkpoint(run: Path, process: subprocess.Popen, step: int) -> None:
    """Until the run has written a checkpoint of at least ``step`` (orbax keeps only the
    latest and the best, each in a directory named by its step)."""
    deadline = time.time() + 240

    def reached() -> bool:
        found = (run / "checkpoints").glob("*")
        return any(p.name.isdigit() and int(p.name) >= step for p in found)

    while not reached():
        assert process.poll() is None and time.time() < deadline, "the run ended first"
        time.sleep(0.05)


@pytest.mark.slow  # three CLI runs, one killed: 30-45 s
def test_a_killed_run_with_a_torn_line_resumes_to_the_same_results(tmp_path):
    args = (*TINY, "train.steps=60")
    whole = tmp_path / "whole"
    out = run_cli("train", *args, f"hydra.run.dir={whole}")
    assert out.returncode == 0, out.stderr
    cut = tmp_path / "cut"
    process = start_cli("train", *args, f"hydra.run.dir={cut}")
    wait_for_checkpoint(cut, process, 20)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    with (cut / "metrics.jsonl").open("a") as f:  # the kill tore the line being written
        f.write('{"step": 61, "lo')
    out = run_cli("train", *args, "resume=true", f"hydra.run.dir={cut}")
    assert out.returncode == 0, out.stderr
    assert "resuming from step" in out.stdout and "torn last line" in out.stdout + out.stderr
    test = [json.loads((run / "results.json").read_text())["test"] for run in (whole, cut)]
    assert test[0] == test[1]


@pytest.mark.slow  # a CLI run interrupted, then resumed: 30-45 s
def test_ctrl_c_prints_the_command_that_resumes_the_run(tmp_path):
    run = tmp_path / "run"
    process = start_cli("train", *TINY, "train.steps=1000", f"hydra.run.dir={run}")
    wait_for_checkpoint(run, process, 10)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in stdout + stderr, stderr
    lines = [line for line in stdout.splitlines() if "resume with: " in line]
    assert len(lines) == 1, stdout
    command = shlex.split(lines[0].split("resume with: ")[1])
    assert command[:2] == ["diffclust", "train"] and f"hydra.run.dir={run}" in command
    assert "resume=true" in command and "train.steps=1000" in command
    # The printed command resumes (here stopped at step 200 instead of 1000).
    out = run_cli(*command[1:], "train.steps=200")
    assert out.returncode == 0 and "resuming from step" in out.stdout, out.stderr
    assert json.loads((run / "results.json").read_text())["steps"] == 200


# The CLI as a terminal would start it: with Ctrl-C raising KeyboardInterrupt. A suite sent
# to the background by a non-interactive shell (`nohup make test &`) ignores SIGINT, every
# child inherits that, and Python installs no handler for an ignored SIGINT: the Ctrl-C test
# then saw its run finish normally. Set in the child itself (a preexec_fn would fork a
# multithreaded JAX process).
CLI = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'diffclust'; runpy.run_module('diffclust.cli', run_name='__main__')"
)


def start_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CLI, *args],
        cwd=REPO,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_check_launch_names_what_differs_and_reads_results_safely(tmp_path):
    from runner_helpers import compose_config

    from diffclust.errors import UserError
    from diffclust.training.identity import NEW, RESUME, check_launch, record_launch

    cfg = compose_config(*TINY, "train.steps=20")
    assert check_launch(cfg, tmp_path) == NEW
    record_launch(cfg, tmp_path, list(TINY), NEW)
    assert check_launch(compose_config(*TINY, "train.steps=50", "resume=true"), tmp_path) == RESUME
    changed = compose_config(*TINY, "train.steps=20", "resume=true", "backbone=mlp")
    with pytest.raises(UserError, match=r"backbone\.channels=absent \(recorded \[6, 16\]\)"):
        check_launch(changed, tmp_path)
    (tmp_path / "results.json").write_text('{"test": ')  # cut short by a full disk
    with pytest.raises(UserError, match="cannot read .*results.json"):
        check_launch(compose_config(*TINY, "train.steps=20", "resume=true"), tmp_path)


@pytest.mark.slow  # three CLI launches of a sweep: 30-60 s
def test_a_stopped_sweep_continues_with_resume_true(tmp_path):
    """Launched again with its sweep dir and resume=true, a sweep leaves its finished jobs
    byte for byte, refits a stopped one and starts the jobs it had not reached (a single run
    keeps the strict rule: test_resume_of_a_directory_without_a_run_is_an_error)."""
    sweep = tmp_path / "sweep"
    fit = ("+experiment=digits_kmeans", "head.n_init=1", "train.pictures=false", "quiet=true")
    out = run_cli("train", "-m", *fit, "seed=0,1", f"hydra.sweep.dir={sweep}")
    assert out.returncode == 0, out.stderr
    (sweep / "1" / "results.json").unlink()  # job 1 stopped before its results
    finished = tree_hashes(sweep / "0")
    out = run_cli("train", "-m", *fit, "seed=0,1,2", "resume=true", f"hydra.sweep.dir={sweep}")
    assert out.returncode == 0, out.stderr
    assert f"{sweep / '0'} is finished" in out.stdout and tree_hashes(sweep / "0") == finished
    for job, seed in (("1", 1), ("2", 2)):
        assert json.loads((sweep / job / "results.json").read_text())["config"]["seed"] == seed
