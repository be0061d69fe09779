"""The forest paper's synthetic denoising data (Stewart et al., NeurIPS 2023, appendix §11).

Points from 4 isotropic Gaussians in 2-D (std 0.2) followed by uniform noise dimensions; a
linear map trained by the partial Fenchel-Young loss must recover the Gaussians' clustering
(``diffclust train +experiment=denoise``).
"""

from __future__ import annotations

import numpy as np

# The means sampled in the paper's run (appendix §11).
PAPER_MEANS = np.array(
    [[0.97627008, 4.30378733], [2.05526752, 0.89766366], [-1.52690401, 2.91788226],
     [-1.24825577, 7.83546002]]
)  # fmt: skip


def noisy_mixture(
    rng: np.random.Generator, n_per_cluster: int, std: float, noise_dims: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """(X, labels): the paper's 4 Gaussians in 2-D followed by ``noise_dims`` uniform noise
    dimensions; rows are grouped by Gaussian, n_per_cluster each."""
    signal = np.concatenate([rng.normal(mean, std, (n_per_cluster, 2)) for mean in PAPER_MEANS])
    X = np.concatenate([signal, rng.uniform(size=(signal.shape[0], noise_dims))], axis=1)
    labels = np.repeat(np.arange(len(PAPER_MEANS)), n_per_cluster)
    return X.astype(np.float32), labels.astype(np.int32)
