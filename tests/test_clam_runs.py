"""ClAM and the classical baselines in the runner, on whole bundled tables: the partition and
its metrics against scikit-learn, the silhouette oracle, and clear errors."""

import numpy as np
import pytest
from runner_helpers import compose_config, run_script
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.metrics import normalized_mutual_info_score, silhouette_score

from diffclust.data import load_dataset
from diffclust.errors import UserError
from diffclust.training import run
from diffclust.training.evaluate import partition_metrics, silhouette

QUICK = ("quiet=true", "head.epochs=20", "head.restarts=2", "head.batch_size=16")


def test_clam_clusters_a_whole_table_and_records_its_partition(tmp_path):
    cfg = compose_config("+experiment=clam", "dataset=wine", "head.beta=0.5", *QUICK)
    results = run(cfg, tmp_path)
    test = results["test"]
    assert {"silhouette", "nmi", "ari", "cluster_sizes", "accuracy"} <= set(test)
    clusters = np.load(tmp_path / "clusters.npy")
    data = load_dataset(cfg.dataset, cfg.seed)
    assert len(clusters) == len(data.y_test) == 178 and sum(test["cluster_sizes"]) == 178
    # The silhouette is scikit-learn's on the standardised features that were clustered.
    assert test["silhouette"] == pytest.approx(silhouette_score(data.x_test, clusters))
    assert test["nmi"] == pytest.approx(normalized_mutual_info_score(data.y_test, clusters))
    assert test["nmi"] > 0.7  # wine's three cultivars separate well once standardised


def test_sampled_silhouette_is_scikit_learns_on_the_sample_and_null_for_one_cluster():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3)) + 4 * np.repeat(np.eye(3)[:2], 250, axis=0)
    clusters = np.repeat([0, 1], 250)
    rows = np.random.default_rng(7).choice(500, 100, replace=False)
    expected = silhouette_score(x[rows], clusters[rows])
    assert silhouette(x, clusters, 100, seed=7) == pytest.approx(expected)
    assert silhouette(x, clusters, 1000, seed=7) == pytest.approx(silhouette_score(x, clusters))
    # One point in a second cluster: the whole table has two clusters, a sample may have one;
    # both give null rather than scikit-learn's error (a crash after a long fit).
    lonely = np.zeros(500, int)
    lonely[np.setdiff1d(np.arange(500), rows)[0]] = 1  # a point the sample leaves out
    assert silhouette(x, np.zeros(500, int), 100, seed=7) is None
    assert silhouette(x, lonely, 100, seed=7) is None


def test_cluster_sizes_count_every_cluster_even_the_last_empty_ones():
    # A partition of 4 clusters that used only 0 and 1 must read [.., .., 0, 0], so the
    # selection sees the empty clusters (np.bincount alone stops at the largest label).
    x = np.random.default_rng(0).normal(size=(40, 2))
    clusters = np.repeat([0, 1], 20)
    cfg = compose_config("+experiment=clam", "dataset=wine").train
    metrics = partition_metrics(clusters, clusters, cfg, z=x, num_clusters=4)
    assert metrics["cluster_sizes"] == [20, 20, 0, 0] and metrics["clusters_used"] == 2


@pytest.mark.parametrize(
    ("experiment", "oracle"),
    [
        pytest.param(  # 1000 restarts
            "clam_kmeans",
            lambda x: KMeans(3, n_init=1000, random_state=0).fit_predict(x),
            marks=pytest.mark.slow,
        ),
        ("clam_agglomerative", lambda x: AgglomerativeClustering(3).fit_predict(x)),
    ],
)
def test_classical_baselines_are_scikit_learns(tmp_path, experiment, oracle):
    cfg = compose_config(f"+experiment={experiment}", "dataset=wine", "quiet=true")
    results = run(cfg, tmp_path)
    x = load_dataset(cfg.dataset, cfg.seed).x_test.astype(np.float64)
    expected = silhouette_score(x, oracle(x))
    assert results["test"]["silhouette"] == pytest.approx(expected, abs=1e-6)


def test_spectral_baseline_runs_its_grid_point(tmp_path):
    cfg = compose_config(
        "+experiment=clam_spectral", "dataset=iris", "head.affinity=nearest_neighbors", "quiet=true"
    )
    results = run(cfg, tmp_path)
    assert results["test"]["nmi"] > 0.6 and len(results["test"]["cluster_sizes"]) == 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["head.mask_value=median"], "head.mask_value='median'"),
        (["head.alpha=1.5"], "0 < alpha <= 1"),
        (["head=spectral", "dataset.test_size=30", "dataset.val_size=30"], "cannot place test"),
        (["head=agglomerative", "head.metric=cosine"], "linkage=ward needs head.metric=euclidean"),
        (["dataset.test_size=30"], "needs dataset.val_size > 0"),
    ],
)
def test_bad_clam_configs_are_one_clear_error(tmp_path, overrides, message):
    quick = QUICK if not any(o.startswith("head=") for o in overrides) else ()
    cfg = compose_config("+experiment=clam", "dataset=iris", *overrides, *quick)
    with pytest.raises(UserError, match=message):
        run(cfg, tmp_path)


@pytest.mark.slow
def test_reproduce_clam_tables_script_runs_on_a_generated_table(tmp_path):
    """Every method of the paper's tables on a generated zoo.csv (smoke budget): all runs
    finish and both tables hold ClAM against its two ablations (eq. 8, weighted) and the three
    baselines, with the W/L row; launched again, it keeps every finished run."""
    from sklearn.datasets import make_blobs

    x, y = make_blobs(90, n_features=6, centers=3, random_state=0)
    data = tmp_path / "data"
    data.mkdir()
    rows = [",".join([*map(str, row), "abc"[label]]) for row, label in zip(x, y, strict=True)]
    (data / "zoo.csv").write_text("\n".join(rows) + "\n")
    out = run_script(
        "reproduce_clam_tables.sh", str(data), str(tmp_path / "out"), "--budget", "smoke"
    )
    assert out.returncode == 0, out.stderr[-3000:]
    table1 = (tmp_path / "out" / "table1.md").read_text()
    assert "Not in the table" not in table1, table1
    header = (
        "| dataset.name | clam | agglomerative | clam/eq8 | clam/weighted | kmeans | spectral |"
    )
    assert header in table1
    assert "| clam W/L | – |" in table1 and "Selected by test.silhouette" in table1
    table2 = (tmp_path / "out" / "table2.md").read_text()
    assert "test.nmi" in table2 and "test.ari" in table2
    assert (tmp_path / "out" / "table1.csv").is_file() and (
        tmp_path / "out" / "table2.csv"
    ).is_file()
    # Launched again, the script keeps every finished job and rewrites the tables: a whole
    # sweep is not launched at all, one with a job left to do runs that job alone (resume).
    results = {p: p.read_bytes() for p in (tmp_path / "out" / "runs").rglob("results.json")}
    redo = tmp_path / "out" / "runs" / "zoo" / "clam" / "1" / "results.json"
    redo.unlink()
    again = run_script(
        "reproduce_clam_tables.sh", str(data), str(tmp_path / "out"), "--budget", "smoke"
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("jobs finished, not launched again") == 5, again.stdout
    assert "zoo clam: all" not in again.stdout and redo.is_file()
    kept = {p: b for p, b in results.items() if p != redo}
    assert {p: p.read_bytes() for p in kept} == kept and len(kept) > 10
    assert (tmp_path / "out" / "table1.md").read_text() == table1
