"""A run's files are strict JSON (NaN / inf as null), and metrics.jsonl survives a torn last
line: dropped with a warning, while a bad line elsewhere is a clear error."""

import json
import logging
import math
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from runner_helpers import compose_config

from diffclust.errors import UserError
from diffclust.strict_json import dumps
from diffclust.training.checkpoints import Checkpoints
from diffclust.training.records import (
    UNRECORDED,
    Records,
    read_clock,
    read_jsonl,
    write_clock,
    write_results,
)


def strict_load(text: str):
    """json.loads that refuses NaN, Infinity and -Infinity, as jq and JavaScript do."""

    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


NON_FINITE = {
    "nan": float("nan"),
    "list": [1.5, float("inf"), -float("inf")],
    "nested": {"deep": [{"x": float("nan")}], "ok": 2},
    "np_nan": np.float32("nan"),
    "np_int": np.int64(7),
    "np_bool": np.bool_(True),
    "array": np.array([[0.25, np.nan], [np.inf, 1.0]]),
    "jax": jnp.array([0.5, jnp.nan]),
}
EXPECTED = {
    "nan": None,
    "list": [1.5, None, None],
    "nested": {"deep": [{"x": None}], "ok": 2},
    "np_nan": None,
    "np_int": 7,
    "np_bool": True,
    "array": [[0.25, None], [None, 1.0]],
    "jax": [0.5, None],
}


def test_results_and_records_write_nan_and_inf_as_null(tmp_path):
    write_results(tmp_path, NON_FINITE)
    assert strict_load((tmp_path / "results.json").read_text()) == EXPECTED
    records = Records(tmp_path)
    records.append({"step": 1, "loss": float("nan"), "sizes": np.array([3, 0])})
    records.append({"step": 2, "loss": 0.5})
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [strict_load(line) for line in lines] == [
        {"step": 1, "loss": None, "sizes": [3, 0]},
        {"step": 2, "loss": 0.5},
    ]
    write_clock(tmp_path, 3, math.inf)
    assert strict_load((tmp_path / "clock.json").read_text()) == {"step": 3, "elapsed_s": None}
    segments = [{"from_step": 0, "commit": "abc"}, {"from_step": 2, "commit": "def"}]
    write_clock(tmp_path, 4, 2.5, 4.25, segments)  # two threads busy: more CPU than wall time
    assert read_clock(tmp_path, 4) == (2.5, 4.25, segments)
    assert read_clock(tmp_path, 3) == (0.0, None, [UNRECORDED])  # not this checkpoint's
    assert read_clock(tmp_path, None) == (0.0, 0.0, [])  # a fresh run
    write_clock(tmp_path, 5, 1.0)  # as runs wrote it before segments were recorded
    assert read_clock(tmp_path, 5) == (1.0, None, [UNRECORDED])
    assert strict_load(dumps(NON_FINITE)) == EXPECTED


def test_unserialisable_values_are_refused_not_silently_converted():
    with pytest.raises(TypeError, match="cannot write object"):
        dumps({"x": object()})


def test_checkpoint_metrics_are_strict_and_unscored_steps_still_rank_last(tmp_path):
    state = {"w": jnp.ones(3)}
    checkpoints = Checkpoints(tmp_path, resume=False)
    checkpoints.save(1, state, math.inf)  # saved before any centre could be scored
    assert checkpoints.best_step() == 1  # the only one: as before, it is the best there is
    checkpoints.save(2, state, 0.3)
    checkpoints.save(3, state, float("nan"))
    assert (checkpoints.best_step(), checkpoints.latest_step()) == (2, 3)
    checkpoints.close()
    for step in (2, 3):
        metrics = (tmp_path / "checkpoints" / str(step) / "metrics" / "metrics").read_text()
        error = 0.3 if step == 2 else None
        assert strict_load(metrics) == {"val_clustering_error": error, "step": step}
    reopened = Checkpoints(tmp_path, resume=True)  # the ranking survives a reload
    assert reopened.best_step() == 2
    reopened.close()


def test_of_equal_errors_the_first_checkpoint_is_the_best_and_is_kept(tmp_path):
    """Early stopping counts patience from the first step with the lowest error; the tested
    checkpoint must be that one (a later tie would report a best_step that did not stop it)."""
    checkpoints = Checkpoints(tmp_path, resume=False)
    for step, error in ((1, 0.5), (2, 0.0), (3, 0.0), (4, 0.0)):
        checkpoints.save(step, {"w": jnp.full(3, step)}, error)
    assert (checkpoints.best_step(), checkpoints.latest_step()) == (2, 4)
    kept = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
    assert kept == [2, 4]  # the best and the latest; the tie at 3 is gone
    checkpoints.close()


def test_checkpoints_under_a_glob_character_are_refused_before_training(tmp_path):
    run = tmp_path / "backbone.channels=[32,64]"
    with pytest.raises(UserError, match=r"holding \*, \? or \[.*without them"):
        Checkpoints(run, resume=False)
    assert not (run / "checkpoints").exists()


def test_orbax_still_cannot_restore_under_a_bracket(tmp_path):
    """Why the refusal above: orbax commits a checkpoint under a `[` that it cannot read back
    (etils globs the path unescaped, so the shards are never merged). When this starts to
    fail, orbax is fixed and the refusal can go."""
    import orbax.checkpoint as ocp

    directory = tmp_path / "a[1]"
    with ocp.CheckpointManager(directory) as manager:
        manager.save(1, args=ocp.args.StandardSave({"w": jnp.ones(3)}))
    assert (directory / "1" / "commit_success.txt").is_file()  # marked as committed
    with ocp.CheckpointManager(directory) as manager, pytest.raises(Exception, match="zarray"):
        manager.restore(1, args=ocp.args.StandardRestore({"w": jnp.zeros(3)}))


def write_lines(path: Path, lines: list[str], end: str = "\n") -> None:
    path.write_text("\n".join(lines) + end)


def test_a_torn_last_line_is_dropped_with_a_warning(tmp_path, caplog):
    path = tmp_path / "metrics.jsonl"
    torn = '{"step": 30, "lo'
    write_lines(path, ['{"step": 10, "loss": 1.0}', '{"step": 20, "loss": 0.5}', torn])
    with caplog.at_level(logging.WARNING, logger="diffclust.training.records"):
        assert read_jsonl(path) == [{"step": 10, "loss": 1.0}, {"step": 20, "loss": 0.5}]
    assert f"{path}: dropped its torn last line 3" in caplog.text
    # Old files wrote a NaN loss as a bare NaN: still read (as the float it meant).
    write_lines(path, ['{"step": 10, "loss": NaN}'])
    assert math.isnan(read_jsonl(path)[0]["loss"])


def test_a_bad_line_before_the_last_is_an_error_naming_file_and_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write_lines(path, ['{"step": 10}', "", '{"step": 2', '{"step": 30}'])
    with pytest.raises(UserError, match=r"metrics.jsonl: line 3 is not a JSON record") as err:
        read_jsonl(path)
    assert "\n" not in str(err.value)
    write_lines(path, ['{"step": 10}', "[1, 2]", '{"step": 30}'])
    with pytest.raises(UserError, match="line 2 is not a JSON record .*not a JSON object"):
        read_jsonl(path)


def test_resume_rewrites_metrics_without_the_torn_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write_lines(path, ['{"step": 10, "loss": 1.0}', '{"step": 20, "loss": 0.5}', '{"st'], end="")
    records = Records(tmp_path, resume_step=10)  # the latest checkpoint was step 10
    records.append({"step": 20, "loss": 0.25})
    assert read_jsonl(path) == [{"step": 10, "loss": 1.0}, {"step": 20, "loss": 0.25}]
    assert path.read_text().endswith("}\n")


def json_files(root: Path) -> dict[Path, list]:
    """Every file under ``root`` that a lenient JSON (or JSON-lines) reader accepts, with its
    text split into documents: whatever format orbax or we chose, if it is JSON it is checked."""
    found = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # binary: array data, .npy, .png
        documents = [text] if path.suffix != ".jsonl" else text.splitlines()
        try:
            for document in documents:
                json.loads(document)
        except ValueError:
            continue  # not JSON: YAML, logs, orbax's ocdbt manifest
        found[path] = documents
    return found


def test_every_json_file_of_a_run_is_strict(tmp_path):
    # OT head with a pre-training phase as long as the run: its only checkpoint is saved
    # before the centres exist, unscored (its metric was written as Infinity).
    from diffclust.training.train import train_and_evaluate

    cfg = compose_config(
        "+experiment=digits_ot",
        "train.steps=10",
        "train.pretrain_steps=10",
        "train.eval_every=10",
        "train.log_every=5",
        "quiet=true",
    )
    train_and_evaluate(cfg, tmp_path, "digits_ot")
    found = json_files(tmp_path)
    names = {p.relative_to(tmp_path).as_posix() for p in found}
    assert {"results.json", "metrics.jsonl", "clock.json", "checkpoints/10/metrics/metrics"} <= (
        names
    )
    for path, documents in found.items():
        for document in documents:
            try:
                strict_load(document)
            except ValueError as err:
                raise AssertionError(f"{path} is not strict JSON: {err}") from None
