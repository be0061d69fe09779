"""diffclust/compile_cache.py: where JAX's compilation cache goes, and that it is written."""

import os
import subprocess
import sys

PROBE = """
from diffclust import compile_cache
compile_cache.enable()
import jax, jax.numpy as jnp
jax.jit(lambda x: jnp.cumsum(x) * 3)(jnp.arange(5.0)).block_until_ready()
print(jax.config.jax_compilation_cache_dir)
"""


def probe(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env={**base, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_cache_lives_in_diffclusts_cache_and_is_written(tmp_path):
    assert probe(DIFFCLUST_CACHE=str(tmp_path)) == str(tmp_path / "jax")
    assert any(p.name.endswith("-cache") for p in (tmp_path / "jax").iterdir())


def test_a_folder_the_user_chose_or_none_is_kept(tmp_path):
    chosen = str(tmp_path / "mine")
    assert probe(DIFFCLUST_CACHE=str(tmp_path), JAX_COMPILATION_CACHE_DIR=chosen) == chosen
    assert probe(DIFFCLUST_CACHE=str(tmp_path / "d"), JAX_COMPILATION_CACHE_DIR="") in ("", "None")
    assert not (tmp_path / "d").exists()
