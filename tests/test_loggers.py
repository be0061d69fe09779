"""The wandb logger keeps its run id in the run directory, so a resumed run logs to the same
wandb run (offline here: no network or account)."""

from diffclust.loggers import WANDB_ID, WandbConfig, WandbLogger


def log_segment(run_dir, steps):
    run_dir.mkdir(exist_ok=True)
    logger = WandbLogger(WandbConfig(mode="offline"), run_dir, {"seed": 0}, "run")
    for step in steps:
        logger.log({"step": step, "loss": 1.0 / step})
    run_id, settings = logger.run.id, logger.run.settings
    logger.finish()
    return run_id, settings


def test_a_resumed_run_logs_to_the_same_wandb_run(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_RUN_ID", raising=False)  # an exported id would win over ours
    first, settings = log_segment(tmp_path / "a", [10, 20])
    assert (tmp_path / "a" / WANDB_ID).read_text().strip() == first
    assert settings.resume == "allow"
    again, _ = log_segment(tmp_path / "a", [30])  # the resumed segment
    assert again == first
    # Offline, each segment is a folder named by the run id (`wandb sync` resumes the run):
    # offline-run-<time>-<id>, with a suffix after the id when two segments start within
    # the same second (a fast machine), which made an endswith check flaky.
    segments = list((tmp_path / "a" / "wandb").glob("offline-run-*"))
    assert len(segments) >= 2 and all(f"-{first}" in p.name for p in segments)
    other, _ = log_segment(tmp_path / "b", [10])  # another run directory: another wandb run
    assert other != first
