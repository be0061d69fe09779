r"""The synthetic denoising experiment (Stewart et al., NeurIPS 2023, appendix §11).

60 points from 4 isotropic Gaussians in 2-D (std 0.2, 15 each) plus 2 uniform noise
dimensions. Learn a linear map :math:`\theta \in \mathbb{R}^{4\times 2}` so that clustering
:math:`X\theta` into 4 recovers the clustering of the clean signal, by minimising the partial
Fenchel–Young loss with SGD (lr 0.01, batch 32, epsilon 0.1, B = 1000 in the paper).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
import numpy as np

from diffclust.forest import clustering_error, partial_fy_loss, similarity, spanning_forest
from diffclust.strict_json import dumps

# The means sampled in the paper's run (appendix §11).
PAPER_MEANS = np.array(
    [[0.97627008, 4.30378733], [2.05526752, 0.89766366], [-1.52690401, 2.91788226],
     [-1.24825577, 7.83546002]]
)  # fmt: skip


@dataclass(frozen=True)
class DenoiseConfig:
    steps: int = 300
    batch_size: int = 32
    learning_rate: float = 0.01
    sigma: float = 0.1
    num_samples: int = 1000
    n_per_cluster: int = 15
    std: float = 0.2
    seed: int = 0


def noisy_mixture(
    rng: np.random.Generator, n_per_cluster: int, std: float, noise_dims: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """(X, signal): the paper's 4 Gaussians in 2-D followed by uniform noise dimensions;
    rows are grouped by Gaussian, n_per_cluster each."""
    signal = np.concatenate([rng.normal(mean, std, (n_per_cluster, 2)) for mean in PAPER_MEANS])
    X = np.concatenate([signal, rng.uniform(size=(signal.shape[0], noise_dims))], axis=1)
    return X.astype(np.float32), signal


def make_split(rng: np.random.Generator, cfg: DenoiseConfig) -> tuple[np.ndarray, np.ndarray]:
    """(X, M_signal): 4-D data (signal + 2 uniform noise dims) and the clean clustering."""
    X, signal = noisy_mixture(rng, cfg.n_per_cluster, cfg.std)
    _, M_signal = spanning_forest(similarity(jnp.asarray(signal, jnp.float32)), 4)
    return X, np.asarray(M_signal)


def validation_error(theta, X, M_signal) -> float:
    _, M = spanning_forest(similarity(X @ theta), 4)
    return float(clustering_error(M, M_signal))


def run(cfg: DenoiseConfig) -> Iterator[dict]:
    """Trains theta; yields one record per SGD step with the validation clustering error."""
    rng = np.random.default_rng(cfg.seed)
    X_train, M_train = make_split(rng, cfg)
    X_val, M_val = make_split(rng, cfg)
    key = jax.random.key(cfg.seed)
    key, init = jax.random.split(key)
    theta = jax.random.normal(init, (4, 2))

    @jax.jit
    def sgd_step(theta, X, M, key):
        def loss(theta):
            S = similarity(X @ theta)
            return partial_fy_loss(S, M, 4, sigma=cfg.sigma, num_samples=cfg.num_samples, key=key)

        value, grad = jax.value_and_grad(loss)(theta)
        return theta - cfg.learning_rate * grad, value

    n = X_train.shape[0]
    for step in range(1, cfg.steps + 1):
        key, batch_key, noise_key = jax.random.split(key, 3)
        idx = np.asarray(jax.random.choice(batch_key, n, (cfg.batch_size,), replace=False))
        theta, loss = sgd_step(theta, X_train[idx], M_train[np.ix_(idx, idx)], noise_key)
        yield {
            "step": step,
            "loss": float(loss),
            "val_clustering_error": validation_error(theta, X_val, M_val),
        }


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for field, value in asdict(DenoiseConfig()).items():
        parser.add_argument(f"--{field.replace('_', '-')}", type=type(value), default=value)
    cfg = DenoiseConfig(**vars(parser.parse_args(argv)))
    for record in run(cfg):
        print(dumps(record), flush=True)
