"""An optional CPU kernel for the samples of the partial loss (forests.cc), built on first use.

XLA:CPU runs every step of Prim's loop as a dozen kernel launches over the whole batch of
samples: at the paper's n = 64, 1000 samples, the batched solver of batched.py costs 40+ ms a
step in dispatch and memory traffic, against 6-10 ms for LeNet itself. forests.cc generates
pairs of samples' noise and runs their Prim passes in lockstep, in cache, with vector
instructions, spread over the cores: ~4 ms of one core for the 1000 samples (2.3 ms on two)
on an AVX-512 CPU, ~11 ms of one core (5.6 ms on two) on an AVX2 one.

It is an accelerator, not a definition: noise.py, batched.py and loss.py state the semantics
and the tests hold the kernel equal to them (the noise bit for bit, the gradient exactly). It
is compiled once per source, jaxlib and CPU with the system's C++ compiler into a cache folder
($DIFFCLUST_CACHE, else ~/.cache/diffclust); without a compiler, off the CPU, for float64, or
with DIFFCLUST_NATIVE=0, the loss runs batched.py in JAX.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from diffclust.compile_cache import cache_root

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("forests.cc")
TARGET = "diffclust_loss_samples"
BOX_MULLER = "diffclust_box_muller"  # the kernel's noise transform alone, for the tests
# forests.cc's kMaxVertices: beyond it, per-sample solvers in JAX are as fast (loss.py).
MAX_VERTICES = 1024
# -ffp-contract=off: fused multiply-adds only where forests.cc asks for them, as XLA makes them.
# -fno-trapping-math: GCC may then compute both sides of the noise's selects (no value changes,
# only floating-point exception flags); without it the Box-Muller loop stays scalar on AVX2
# ("control flow in loop"), 10x slower.
FLAGS = (
    "-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math",
    "-std=c++17", "-shared", "-fPIC",
)  # fmt: skip


def _cache_dir() -> Path:
    return cache_root() / "native"


def _cpu_signature() -> str:
    """What -march=native compiles for: the CPU's feature flags where Linux lists them."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        flags = ""
    return f"{platform.machine()} {flags}"


def _build(compiler: str) -> Path:
    key = hashlib.sha256()
    for part in (SOURCE.read_bytes(), jax.__version__.encode(), _cpu_signature().encode()):
        key.update(part)
    key.update(" ".join(FLAGS).encode())
    library = _cache_dir() / f"forests-{key.hexdigest()[:16]}.so"
    if library.is_file():
        return library
    library.parent.mkdir(parents=True, exist_ok=True)
    # Compile beside the target and rename: concurrent first uses never see half a file.
    with tempfile.TemporaryDirectory(dir=library.parent) as tmp:
        partial_library = Path(tmp) / library.name
        command = [compiler, *FLAGS, "-I", jax.ffi.include_dir(), str(SOURCE)]
        subprocess.run(
            [*command, "-o", str(partial_library)], check=True, capture_output=True, text=True
        )
        os.replace(partial_library, library)
    return library


@functools.cache
def available() -> bool:
    """Whether the kernel is built and registered (once per process; never raises)."""
    if os.environ.get("DIFFCLUST_NATIVE", "1") == "0":
        return False
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if compiler is None:
        return False
    try:
        library = ctypes.cdll.LoadLibrary(str(_build(compiler)))
        for target, symbol in (
            (TARGET, "DiffclustLossSamples"),
            (BOX_MULLER, "DiffclustBoxMuller"),
        ):
            handler = jax.ffi.pycapsule(getattr(library, symbol))
            jax.ffi.register_ffi_target(target, handler, platform="cpu")
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or error
        log.warning("native forest kernel unavailable, using JAX: %s", str(detail)[-2000:])
        return False
    return True


def loss_samples(words, first, pairs: int, W0, sigma, k, classes, valid):
    """The samples of one chunk of loss.py's ``_batched`` on the CPU, noise included.

    The chunk holds pairs first .. first + pairs - 1 of the key's ``words`` (noise.py); sample
    s < pairs is the even sample of pair first + s, pairs + s the odd one, and ``valid`` (2,)
    counts how many even and odd ones are used. Returns the gap F(free) - F(constrained) of
    each sample (0 where unused) and the signed count of free minus constrained forests
    holding each edge over the used samples, (n, n) int32.
    """
    n = W0.shape[0]
    out = (
        jax.ShapeDtypeStruct((2 * pairs,), jnp.float32),
        jax.ShapeDtypeStruct((n, n), jnp.int32),
    )
    call = jax.ffi.ffi_call(TARGET, out, vmap_method="sequential")
    return call(
        jnp.asarray(words, jnp.uint32).reshape(3),
        jnp.asarray(first, jnp.int32).reshape(1),
        W0.astype(jnp.float32),
        jnp.asarray(sigma, jnp.float32).reshape(1),
        classes.astype(jnp.int32),
        jnp.asarray(k, jnp.int32).reshape(1),
        jnp.asarray(valid, jnp.int32).reshape(2),
        pairs=np.int64(pairs),
    )


def box_muller(bits_u: jax.Array, bits_t: jax.Array):
    """The kernel's noise.box_muller of uint32 words (tests compare the two)."""
    out = jax.ShapeDtypeStruct(bits_u.shape, jnp.float32)
    call = jax.ffi.ffi_call(BOX_MULLER, (out, out))
    return call(bits_u.astype(jnp.uint32), bits_t.astype(jnp.uint32))
