"""Composing configs and running the CLI from tests."""

import json
import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from diffclust.config import register_configs
from diffclust.config.schema import CONF_DIR

REPO = Path(__file__).resolve().parents[1]


def _clam_data() -> Path | None:
    """The ClAM paper's four published tables (../shared/datasets/clam beside the checkout,
    or $DIFFCLUST_CLAM_DATA); None where they are not (a fresh clone elsewhere)."""
    candidates = [os.environ.get("DIFFCLUST_CLAM_DATA"), REPO.parent / "shared/datasets/clam"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "zoo.csv").is_file():
            return Path(candidate)
    return None


CLAM_DATA = _clam_data()


def compose_config(*overrides: str):
    """The composed config; pictures are off unless a test asks (t-SNE costs seconds)."""
    overrides = list(overrides)
    if not any(o.startswith("train.pictures=") for o in overrides):
        overrides.append("train.pictures=false")
    register_configs()
    with initialize_config_dir(str(CONF_DIR), version_base=None):
        return compose("config", overrides=overrides)


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run(
        [sys.executable, "-m", "diffclust.cli", *args],
        cwd=cwd or REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_script(name: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """scripts/NAME with this interpreter's diffclust, on the CPU, extra environment ``env``."""
    full_env = {
        **os.environ,
        "DIFFCLUST": str(Path(sys.executable).parent / "diffclust"),
        "JAX_PLATFORMS": "cpu",
        **(env or {}),
    }
    return subprocess.run(
        ["bash", str(REPO / "scripts" / name), *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def run_batch(cases: list[list[str]], tmp_path: Path) -> list[dict]:
    """Each command line's exit code, stdout, stderr and escaped exception (tests/cli_batch.py:
    one process for all of them, so one JAX import)."""
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    out = subprocess.run(
        [sys.executable, str(REPO / "tests" / "cli_batch.py"), "cases.json", "done.json"],
        cwd=tmp_path,
        env={**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    return json.loads((tmp_path / "done.json").read_text())
