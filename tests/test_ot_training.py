"""Centroid heads in the runner: OT auto-encoder training on real digits, the k-means
baselines against scikit-learn, unsupervised accuracy against brute force, skipped
non-converged steps, and clear config errors."""

import itertools

import numpy as np
import pytest
from runner_helpers import compose_config, run_cli, run_script
from sklearn.cluster import KMeans

from diffclust.data import load_dataset
from diffclust.errors import UserError
from diffclust.training import run
from diffclust.training.evaluate import partition_metrics, unsupervised_accuracy
from diffclust.training.records import read_jsonl

QUIET = ("quiet=true",)


@pytest.mark.parametrize("seed", range(4))
def test_unsupervised_accuracy_is_the_best_relabelling(seed):
    rng = np.random.default_rng(seed)
    labels, clusters = rng.integers(0, 4, 60), rng.integers(0, 4, 60)
    brute = max(
        np.mean(np.asarray(p)[clusters] == labels) for p in itertools.permutations(range(4))
    )
    assert unsupervised_accuracy(clusters, labels) == pytest.approx(brute)


@pytest.mark.slow
def test_ot_autoencoder_learns_digits_and_records_sinkhorn(tmp_path):
    results = run(compose_config("+experiment=digits_ot", *QUIET), tmp_path)
    test = results["test"]
    assert set(test) == {
        *("accuracy", "nmi", "ari", "clustering_error", "clustering_precision"),
        *("silhouette", "cluster_sizes", "clusters_used"),
    }
    # k-means on raw digits scores about 0.79 and a random assignment about 0.11. This
    # configuration measured 0.817 / 0.836 / 0.806 / 0.833 / 0.836 on seeds 0-4 (test set of
    # 360 digits, so one digit is 0.0028).
    assert test["accuracy"] > 0.8 and test["nmi"] > 0.7
    assert results["best_step"] == results["steps"] == 4800  # the last parameters
    logs = [r for r in read_jsonl(tmp_path / "metrics.jsonl") if "loss" in r]
    pretraining = [r for r in logs if r["step"] <= 400]
    assert all("sinkhorn_converged" not in r for r in pretraining)
    joint = [r for r in logs if r["step"] > 400]
    # Most steps converge within head.max_iterations; the others are skipped, and say so.
    assert np.mean([r["sinkhorn_converged"] for r in joint]) > 0.5
    assert all({"reconstruction", "clustering_loss", "skipped"} <= set(r) for r in joint)


def test_raw_pixel_kmeans_baseline_is_scikit_learns_kmeans(tmp_path):
    cfg = compose_config("+experiment=digits_kmeans", *QUIET)
    results = run(cfg, tmp_path)
    data = load_dataset(cfg.dataset, cfg.seed)
    flat = lambda x: x.reshape(len(x), -1).astype(np.float64)  # noqa: E731
    model = KMeans(10, n_init=10, random_state=cfg.seed).fit(flat(data.x_train))
    z, centres = flat(data.x_test), model.cluster_centers_
    # The same fit on the same float64 data; the one difference is the assignment: the run
    # takes the argmin of float32 distances |z|^2 + |mu|^2 - 2 z.mu to float32-rounded centres.
    # Each carries an error below (d + 5) 2^-24 (|z| + |mu|)^2 (the dot products' gamma_d,
    # the two sums, the centres' rounding), so no test point whose two nearest centres are
    # further apart than twice that can change cluster, and then the partition is the same.
    distances = np.sort(((z[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    norms = np.linalg.norm(z, axis=1) + np.linalg.norm(centres, axis=1).max()
    rounding = (z.shape[1] + 5) * 2.0**-24 * norms**2
    assert np.all(distances[:, 1] - distances[:, 0] > 2 * rounding)  # 15x on seed 0
    expected = partition_metrics(model.predict(z), data.y_test, cfg.train)
    for metric in ("accuracy", "nmi", "ari", "clustering_error"):
        assert results["test"][metric] == expected[metric]
    assert results["steps"] == 0


def test_a_step_whose_sinkhorn_did_not_converge_is_skipped(tmp_path):
    cfg = compose_config(
        "+experiment=digits_ot",
        "train.pretrain_steps=0",
        "train.steps=20",
        "train.log_every=10",
        "train.eval_every=20",
        "head.max_iterations=10",
        "head.threshold=1e-12",
        *QUIET,
    )
    run(cfg, tmp_path)
    logs = [r for r in read_jsonl(tmp_path / "metrics.jsonl") if "loss" in r]
    assert [r["skipped"] for r in logs] == [1.0, 1.0]
    assert [r["sinkhorn_converged"] for r in logs] == [0.0, 0.0]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["head.proportions=[0.5,0.5]"], "head.proportions has 2 entries"),
        (["head.proportions=[0.5,0.7,-0.2,0,0,0,0,0,0,0]"], "negative"),
        (["head.proportions=[0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.2]"], "sums to 1.1"),
        (["backbone.decoder=false"], "train.pretrain_steps trains the reconstruction alone"),
        (["head=kmeans", "loss=none", "train.select=best"], "set train.select=last"),
        (["head.momentum_start=15"], "head.momentum_start=15; use a multiple of 10"),
    ],
)
def test_bad_centroid_configs_are_one_clear_error(tmp_path, overrides, message):
    cfg = compose_config("+experiment=digits_ot", "train.steps=2", *overrides, *QUIET)
    with pytest.raises(UserError, match=message):
        run(cfg, tmp_path)


@pytest.mark.slow
def test_cli_reports_a_bad_size_prior_in_one_line(tmp_path):
    out = run_cli(
        "train",
        "+experiment=digits_ot",
        "head.proportions=[1.0]",
        f"hydra.run.dir={tmp_path}",
    )
    assert out.returncode == 2
    assert "head.proportions has 1 entries" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_reproduce_ot_table_script_runs_on_generated_mnist(tmp_path):
    """The paper's six columns x 2 seeds end to end on generated MNIST idx files (tiny budget):
    every run finishes and the table has the six rows and the Welch tests."""
    from test_data import fake_mnist_dir

    fake_mnist_dir(tmp_path / "data", n_train=700, n_test=100)
    env = {"DATASET": "mnist", "SEEDS": "0,1", "STEPS": "4", "PRETRAIN_STEPS": "2"}
    overrides = [
        f"dataset.data_dir={tmp_path / 'data'}",
        "dataset.val_size=100",
        "head.init_samples=300",
        "train.pictures=false",
    ]
    env["SWEEP"] = str(tmp_path / "sweep")
    out = run_script("reproduce_ot_table.sh", *overrides, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    table = (tmp_path / "sweep" / "table.md").read_text()
    assert "Not in the table" not in table, table
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 6, table  # header + the paper's six columns
    assert table.count("p = ") == 2 * 3  # OT vs soft k-means, with and without (p), 3 metrics


def test_denoising_masks_inputs_at_the_configured_rate():
    import jax
    import jax.numpy as jnp

    from diffclust.training.steps import mask_inputs

    x = jnp.ones((400, 64))
    masked = np.asarray(mask_inputs(x, 0.2, jax.random.key(0)))
    assert set(np.unique(masked)) == {0.0, 1.0}
    assert abs(np.mean(masked == 0) - 0.2) < 0.01
    assert mask_inputs(x, 0.0, jax.random.key(0)) is x
