"""The appendix §11 denoising experiment learns: validation error falls below 0.05."""

from diffclust.experiments.denoise import DenoiseConfig, run


def test_denoising_reaches_a_small_validation_error():
    records = list(run(DenoiseConfig(steps=120, num_samples=100, seed=0)))
    errors = [r["val_clustering_error"] for r in records]
    assert max(errors) > 0.05, "the noise dimensions should first spoil the clustering"
    assert max(errors[-10:]) < 0.05, errors[-10:]
