"""The appendix §11 denoising experiment, through the runner, learns the clean clustering."""

from runner_helpers import compose_config

from diffclust.training.records import read_jsonl
from diffclust.training.train import train_and_evaluate


def test_denoising_recovers_the_gaussians(tmp_path):
    cfg = compose_config("+experiment=denoise", "train.steps=20", "loss.num_samples=100")
    train_and_evaluate(cfg, tmp_path, "denoise")
    errors = [r["val_clustering_error"] for r in read_jsonl(tmp_path / "metrics.jsonl")
              if "val_clustering_error" in r]  # fmt: skip
    assert len(errors) == 20  # validated after every step
    # Seed 0's initial map mixes the noise dimensions in: 0.133 of the pairs are wrong then.
    assert errors[0] > 0.05
    # One misplaced point of 60 (clusters of 15) already makes ~30/3600 = 0.008 of the pairs
    # wrong: 0 means every validation point sits in its Gaussian's cluster.
    assert errors[-10:] == [0.0] * 10
