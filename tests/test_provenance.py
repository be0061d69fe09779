"""Provenance: the git commit and dirty flag of the code (checked against git itself in a
throw-away repository), library versions, device, times, and the data checksum."""

import json
import subprocess
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path

import jax
import numpy as np
import pytest

from diffclust.data import load_dataset
from diffclust.data.catalog import DigitsConfig, SklearnTableConfig
from diffclust.data.dataset import Dataset
from diffclust.strict_json import dumps
from diffclust.training.provenance import PACKAGES, code_version, provenance

REPO = Path(__file__).resolve().parents[1]


def git(directory: Path, *args: str) -> str:
    identity = ("-c", "user.name=test", "-c", "user.email=test@example.com")
    out = subprocess.run(
        ["git", *identity, "-C", str(directory), *args], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path) -> Path:
    git(tmp_path, "init", "-q")
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("x = 1\n")
    (tmp_path / ".gitignore").write_text("outputs/\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "first")
    return tmp_path


def test_commit_and_dirty_flag_follow_git(repo):
    package = repo / "pkg"
    assert code_version(package) == {
        "commit": git(repo, "rev-parse", "HEAD"),
        "dirty": False,
        "git_error": None,
    }
    (repo / "outputs").mkdir()
    (repo / "outputs" / "run.txt").write_text("ignored: not a change of the code\n")
    assert code_version(package)["dirty"] is False
    (package / "__init__.py").write_text("x = 2\n")  # a tracked file edited
    assert code_version(package)["dirty"] is True
    git(repo, "commit", "-qam", "second")
    after = code_version(package)
    assert after["dirty"] is False and after["commit"] == git(repo, "rev-parse", "HEAD")
    (repo / "reproductions" / "runs").mkdir(parents=True)  # run summaries, not code
    (repo / "reproductions" / "runs" / "results.json").write_text("{}\n")
    assert code_version(package)["dirty"] is False
    (package / "new.py").write_text("y = 1\n")  # an untracked file that is code
    assert code_version(package)["dirty"] is True


def test_no_git_checkout_gives_null_with_a_reason_never_an_error(tmp_path, repo, monkeypatch):
    plain = tmp_path.parent / f"{tmp_path.name}-plain"
    plain.mkdir()
    found = code_version(plain)
    assert found["commit"] is None and found["dirty"] is None
    assert "not tracked by a git checkout" in found["git_error"]
    # A copy of the package inside another repository, in an ignored folder (a wheel in a
    # .venv under a checkout): that repository's commit is not the code's.
    copy = repo / "outputs" / "site-packages" / "pkg"
    copy.mkdir(parents=True)
    (copy / "__init__.py").write_text("x = 1\n")
    assert code_version(copy)["commit"] is None
    monkeypatch.setenv("PATH", str(plain))  # no git on the PATH
    assert code_version(repo / "pkg") == {
        "commit": None,
        "dirty": None,
        "git_error": "git is not installed",
    }


@pytest.mark.skipif(not (REPO / ".git").exists(), reason="not run from a git checkout")
def test_provenance_of_this_checkout_has_every_field():
    started, ended = 1_700_000_000.4, 1_700_000_061.9
    record = provenance("abc", started, ended, argv=["diffclust train", "seed=3"])
    assert record["commit"] == git(REPO, "rev-parse", "HEAD")
    assert isinstance(record["dirty"], bool) and record["git_error"] is None
    assert record["versions"] == {
        "python": ".".join(map(str, sys.version_info[:3])),
        **{name: metadata.version(name) for name in PACKAGES},
    }
    assert set(PACKAGES) >= {"jax", "jaxlib", "flax", "optax", "ott-jax", "scikit-learn"}
    assert record["device"] == {
        "platform": jax.devices()[0].platform,
        "kind": jax.devices()[0].device_kind,
        "count": len(jax.devices()),
    }
    assert record["data_sha256"] == "abc"
    assert record["command"] == ["diffclust train", "seed=3"]
    assert record["started"] == "2023-11-14T22:13:20+00:00"
    assert datetime.fromisoformat(record["ended"]).timestamp() == int(ended)
    assert json.loads(dumps(record)) == record  # plain, strict JSON
    assert provenance("abc", started)["command"] == sys.argv


def test_data_checksum_is_stable_across_loads_and_sees_one_changed_value():
    first, again = load_dataset(DigitsConfig(), 0), load_dataset(DigitsConfig(), 0)
    assert first.x_train is not again.x_train
    digest = first.checksum()
    assert len(digest) == 64 and digest == again.checksum()
    assert load_dataset(DigitsConfig(), 1).checksum() != digest  # another split
    x_test = first.x_test.copy()
    x_test[5, 3, 4, 0] += np.float32(1 / 16)  # one pixel one grey level brighter
    changed = Dataset(**{**vars(first), "x_test": x_test})
    assert changed.checksum() != digest
    y_val = first.y_val.copy()
    y_val[0] = (y_val[0] + 1) % 10
    assert Dataset(**{**vars(first), "y_val": y_val}).checksum() != digest
    # The same bytes with another dtype or shape are other data.
    as_float = first.y_train.view(np.float32)
    assert Dataset(**{**vars(first), "y_train": as_float}).checksum() != digest
    flat = first.x_train.reshape(len(first.x_train), -1)
    assert Dataset(**{**vars(first), "x_train": flat}).checksum() != digest


def test_a_whole_table_hashes_its_shared_splits_once_and_still_sees_changes():
    table = load_dataset(SklearnTableConfig(name="iris"), 0)
    assert table.x_val is table.x_train  # transductive
    digest = table.checksum()
    assert digest == load_dataset(SklearnTableConfig(name="iris"), 0).checksum()
    x = table.x_train.copy()
    x[0, 0] += 1
    changed = Dataset(**{**vars(table), "x_train": x, "x_val": x, "x_test": x})
    assert changed.checksum() != digest
