"""Benchmark: perturbed partial Fenchel–Young loss, value + gradient, fast vs reference.

Prints one JSON line per case: n, num_samples, reference_s, fast_s, speedup (median of
several compiled runs; reference_s is null where its predicted time exceeds --max-reference-s),
plus fast_permuted_s for the permuted-noise sampler and the device. Then one line per memory
case (n = 4096, B = 16 and n = 16384, B = 4): the peak resident memory of a process that
builds the problem and runs one value + gradient, measured in a fresh subprocess per case
(resource.getrusage), before and after the loss, and the samples solved per chunk.

    python scripts/bench_forest.py [--sizes 32 64 ...] [--repeats 5] [--memory-cases N:B ...]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from diffclust.forest import loss as loss_module
from diffclust.forest import native, partial_fy_loss, similarity, target_from_labels
from diffclust.forest.noise import sample_noise
from diffclust.forest.reference import _reference
from diffclust.forest.targets import constraints_from_target
from diffclust.strict_json import dumps

# num_samples per batch size: the paper's B = 1000 at small n, fewer where n is large.
DEFAULT_CASES = {32: 1000, 64: 1000, 128: 100, 256: 100, 512: 32, 1024: 32, 4096: 16}
MEMORY_CASES = ("4096:16", "16384:4")
SIGMA, K = 0.1, 10
# Without an earlier reference timing to extrapolate from, the reference runs up to this n
# (about 20 s at n = 128, B = 100); --sizes 4096 alone must not start an O(B n^4) run.
UNMEASURED_REFERENCE_MAX_N = 128


def problem(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, K, n)
    Z = rng.normal(size=(n, 16)) + 3.0 * np.eye(K, 16)[labels]
    known = np.arange(n) < n // 2  # half labelled, as in the semi-supervised batches
    S = similarity(jnp.asarray(Z, jnp.float32))
    return S, target_from_labels(labels, known)


def fast_fn(num_samples: int, noise: str):
    def loss(S, M, key):
        return partial_fy_loss(S, M, K, sigma=SIGMA, num_samples=num_samples, key=key, noise=noise)

    return jax.jit(jax.value_and_grad(loss))


def reference_fn(num_samples: int):
    """The same estimator with the published Kruskal for both terms (appendix §9)."""

    def loss_and_grad(S, M, key):
        n = S.shape[0]
        C = constraints_from_target(M)
        W = 0.5 * (S + S.T)[None] + SIGMA * sample_noise(key, num_samples, n)
        k, none = jnp.int32(K), jnp.zeros((n, n), jnp.int8)
        free = jax.vmap(lambda W: _reference(W, k, none, False)[0])(W)
        constrained = jax.vmap(lambda W: _reference(W, k, C, True)[0])(W)
        gap = free - constrained
        return jnp.mean(jnp.sum(gap * W, axis=(1, 2))), jnp.mean(gap, axis=0)

    return jax.jit(loss_and_grad)


def median_seconds(fn, args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_case(n: int, num_samples: int) -> dict:
    """One value + gradient at (n, num_samples), with the peak memory before and after."""
    S, M = problem(n)
    jax.block_until_ready((S, M))
    before = peak_rss_mb()
    start = time.perf_counter()
    jax.block_until_ready(fast_fn(num_samples, "iid")(S, M, jax.random.key(0)))
    pairs = max(1, min(-(-num_samples // 2), loss_module.BATCHED_CHUNK_ENTRIES // (2 * n * n)))
    return {
        "n": n,
        "num_samples": num_samples,
        "samples_per_chunk": 2 * pairs,
        "peak_rss_mb_inputs": round(before),
        "peak_rss_mb": round(peak_rss_mb()),
        "first_call_s": round(time.perf_counter() - start, 2),
        "native_kernel": native.available(),
        "device": jax.devices()[0].device_kind,
    }


def memory_cases(cases) -> None:
    """Each case in a fresh process, so that its peak is its own."""
    for case in cases:
        n, num_samples = (int(x) for x in case.split(":"))
        command = [sys.executable, __file__, "--memory-case", f"{n}:{num_samples}"]
        out = subprocess.run(command, capture_output=True, text=True)
        if out.returncode != 0:
            print(dumps({"n": n, "num_samples": num_samples, "error": out.stderr[-500:]}))
        else:
            print(out.stdout.strip().splitlines()[-1], flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=list(DEFAULT_CASES))
    parser.add_argument("--num-samples", type=int, default=None, help="override per-n defaults")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-reference-s", type=float, default=60.0)
    parser.add_argument("--memory-cases", nargs="*", default=list(MEMORY_CASES), help="N:B")
    parser.add_argument("--memory-case", help=argparse.SUPPRESS)  # one case, in a subprocess
    args = parser.parse_args()
    if args.memory_case:
        n, num_samples = (int(x) for x in args.memory_case.split(":"))
        print(dumps(memory_case(n, num_samples)))
        return

    key = jax.random.key(0)
    last_reference = None  # (n, num_samples, seconds) to predict the next reference time
    for n in args.sizes:
        num_samples = args.num_samples or DEFAULT_CASES.get(n, 16)
        S, M = problem(n)
        repeats = args.repeats if n <= 1024 else max(1, args.repeats // 2)
        fast_s = median_seconds(fast_fn(num_samples, "iid"), (S, M, key), repeats)
        permuted_s = median_seconds(fast_fn(num_samples, "permuted"), (S, M, key), repeats)
        predicted = 0.0 if n <= UNMEASURED_REFERENCE_MAX_N else float("inf")
        if last_reference is not None:
            n0, b0, t0 = last_reference
            # O(B n^4) matrix Kruskal; measured closer to n^5 once the matrices leave cache.
            predicted = t0 * (num_samples / b0) * (n / n0) ** 5
        reference_s = None
        if predicted <= args.max_reference_s:
            reference_s = median_seconds(reference_fn(num_samples), (S, M, key), min(repeats, 3))
            last_reference = (n, num_samples, reference_s)
        record = {
            "n": n,
            "num_samples": num_samples,
            "reference_s": reference_s,
            "fast_s": round(fast_s, 5),
            "speedup": None if reference_s is None else round(reference_s / fast_s, 1),
            "fast_permuted_s": round(permuted_s, 5),
            "device": jax.devices()[0].device_kind,
        }
        print(dumps(record), flush=True)
    memory_cases(args.memory_cases)


if __name__ == "__main__":
    main()
