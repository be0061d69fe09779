#!/usr/bin/env bash
# Issue 19's accelerator check, one JSON line each: steps/s of fashion_mnist_semi's training
# step (real Fashion-MNIST, batch 64, 1000 samples, median of compiled steps), and the partial
# loss's value + gradient time at n = 16384, B = 32 (goal: under 1 s on an H100/H200).
#
#   PYTHON=.venv/bin/python scripts/gpu_check.sh      # a jax with CUDA, the project installed
#
# Prints the device it ran on; exits with a one-line error when jax sees no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
"${PYTHON:-python}" - <<'PY'
import json
import statistics
import sys
import time

import jax

sys.path.insert(0, "scripts")
if jax.default_backend() != "gpu":
    sys.exit(f"error: jax runs on {jax.default_backend()}, not a GPU (install jax[cuda12])")
from bench_forest import fast_fn, problem  # noqa: E402
from bench_step import Runner  # noqa: E402

runner = Runner("fashion_mnist_semi", [])
runner.run(3, record=False)  # compile and warm up
runner.run(50)
step_s = statistics.median(runner.times)
print(json.dumps({
    "experiment": "fashion_mnist_semi", "ms_per_step": round(1e3 * step_s, 2),
    "steps_per_s": round(1 / step_s, 1), "device": jax.devices()[0].device_kind,
}), flush=True)

n, num_samples = 16384, 32
S, M = problem(n)
fn = fast_fn(num_samples, "iid")
start = time.perf_counter()
jax.block_until_ready(fn(S, M, jax.random.key(0)))
first = time.perf_counter() - start
times = []
for seed in range(1, 4):
    start = time.perf_counter()
    jax.block_until_ready(fn(S, M, jax.random.key(seed)))
    times.append(time.perf_counter() - start)
print(json.dumps({
    "n": n, "num_samples": num_samples, "value_grad_s": round(statistics.median(times), 3),
    "first_call_s": round(first, 2), "device": jax.devices()[0].device_kind,
}), flush=True)
PY
