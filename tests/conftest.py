import os
from pathlib import Path

from diffclust import compile_cache

# Tests run on the CPU with 64-bit floats available for finite-difference checks.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Compiled programs are cached for the tests and the commands they launch, in the checkout
# (not the user's cache): a second `make test` compiles only what changed.
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "jax")
)
compile_cache.enable()
