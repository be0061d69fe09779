"""End-to-end training runs on real (small) data: learning, records, resume, NaN handling."""

import json
import time

import jax
import matplotlib.image as plt_image
import numpy as np
import pytest
from runner_helpers import compose_config, run_cli

from diffclust.data import DATASETS, load_dataset
from diffclust.errors import UserError
from diffclust.training.batches import eval_batches
from diffclust.training.records import UNRECORDED, read_jsonl
from diffclust.training.train import train_and_evaluate

QUICK = ("+experiment=digits_full", "loss.num_samples=50", "quiet=true")


def chance_precision(cfg, draws: int = 2000) -> float:
    """The batch-wise precision a model that learned nothing cannot beat, on cfg's test split.

    A partition of a batch into k clusters drawn without the labels, with a fraction p of its
    pairs i != j in one cluster, has expected error (n-1)/n (q + p (1 - 2q)), q the fraction
    of pairs of one class; with q < 1/2 (10 classes: q ~ 0.1) the balanced partition, whose p
    is smallest, is best (0.82 for 10 balanced classes, 0.837 here). Its precision over the
    evaluated batches (mean and spread from ``draws`` random balanced partitions; 5 batches of
    64 test digits) plus 4 standard deviations: a label-blind partition beats that with odds
    ~3e-5 (normal tail; a mean of 5 x 2016 pair outcomes)."""
    y = load_dataset(cfg.dataset, cfg.seed).y_test
    k, rng = len(np.unique(y)), np.random.default_rng(0)
    precisions = np.zeros(draws)
    batches = eval_batches(len(y), cfg.train.eval_batch_size, cfg.train.eval_batches)
    for idx in batches:
        clusters = rng.permuted(np.tile(np.arange(len(idx)) % k, (draws, 1)), axis=1)
        same_cluster = clusters[:, :, None] == clusters[:, None, :]
        same_class = y[idx][:, None] == y[idx][None, :]
        precisions += (1 - np.mean(same_cluster != same_class, axis=(1, 2))) / len(batches)
    return float(precisions.mean() + 4 * precisions.std())


def test_a_tiny_run_learns_and_records_everything(tmp_path):
    cfg = compose_config(
        *QUICK,
        "train.steps=300",
        "train.eval_every=100",
        "train.log_every=20",
        "train.pictures=true",
    )
    results = train_and_evaluate(cfg, tmp_path, "digits_full")
    # Above what a label-blind partition reaches (0.842-0.844 with its margin): it learned.
    # Measured 0.889, 0.940, 0.904, 0.942 on seeds 0-3; with optim.lr=0, 0.529.
    assert results["test"]["clustering_precision"] > chance_precision(cfg)
    losses = [r["loss"] for r in read_jsonl(tmp_path / "metrics.jsonl") if "loss" in r]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:2])
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert {"test", "best_step", "steps", "wall_time_s", "seed", "experiment"} <= set(on_disk)
    assert set(on_disk["test"]) == {"clustering_error", "clustering_precision"}
    assert on_disk["steps"] == 300 and on_disk["experiment"] == "digits_full"
    assert (tmp_path / "checkpoints" / str(on_disk["best_step"])).is_dir()
    # The tested step's validation error, as metrics.jsonl logged it, and the lowest logged.
    logged = [r for r in read_jsonl(tmp_path / "metrics.jsonl") if "val_clustering_error" in r]
    at_best = [r["val_clustering_error"] for r in logged if r["step"] == on_disk["best_step"]]
    assert on_disk["val"]["clustering_error"] == at_best[0]
    assert at_best[0] == min(r["val_clustering_error"] for r in logged)
    for picture in ("curves.png", "tsne.png"):
        image = plt_image.imread(tmp_path / picture)  # a real, decodable PNG
        assert image.ndim == 3 and min(image.shape[:2]) > 200 and image.std() > 0.05


def test_the_baseline_trains_and_is_evaluated_by_clustering(tmp_path):
    cfg = compose_config(
        "+experiment=digits_full_baseline", "quiet=true", "train.steps=500", "train.eval_every=100"
    )
    results = train_and_evaluate(cfg, tmp_path, "digits_full_baseline")
    losses = [r["loss"] for r in read_jsonl(tmp_path / "metrics.jsonl") if "loss" in r]
    assert losses[-1] < 0.3 * losses[0]
    # Above what a label-blind partition reaches (0.842-0.844 with its margin); single linkage
    # on the untrained embedding (optim.lr=0) lumps points together: 0.529. Measured 0.876,
    # 0.907, 0.893, 0.919 on seeds 0-3 (after 200 steps: 0.69-0.89, too early to tell).
    assert results["test"]["clustering_precision"] > chance_precision(cfg)


def test_resume_continues_to_the_same_records(tmp_path):
    args = (*QUICK, "train.eval_every=20", "train.log_every=10")
    whole = tmp_path / "whole"
    train_and_evaluate(compose_config(*args, "train.steps=60"), whole)
    cut = tmp_path / "cut"
    train_and_evaluate(compose_config(*args, "train.steps=40"), cut)
    with (cut / "metrics.jsonl").open("a") as f:  # a killed run logged past its checkpoint
        f.write(json.dumps({"step": 50, "loss": 123.0}) + "\n")
    with pytest.raises(UserError, match="resume=true"):
        train_and_evaluate(compose_config(*args, "train.steps=60"), cut)
    first = json.loads((cut / "results.json").read_text())["wall_time_s"]
    clock = json.loads((cut / "clock.json").read_text())
    assert clock["step"] == 40 and 0 < clock["elapsed_s"] <= first
    # A first segment of 1000 s (recorded, not waited for): the total must add it to this one.
    # Timing this call from outside would also count work done before and after the clock.
    earlier = 1000.0
    (cut / "clock.json").write_text(json.dumps({"step": 40, "elapsed_s": earlier}))
    begun = time.time()
    results = train_and_evaluate(compose_config(*args, "train.steps=60", "resume=true"), cut)
    segment = time.time() - begun
    assert results["steps"] == 60
    assert read_jsonl(cut / "metrics.jsonl") == read_jsonl(whole / "metrics.jsonl")
    # Each segment's code and device: the first is not known (its clock.json above predates
    # segments), the resumed one is this process's.
    provenance = results["provenance"]
    first, resumed = provenance["segments"]
    assert first == UNRECORDED and resumed["from_step"] == 40
    assert (resumed["commit"], resumed["device"]) == (provenance["commit"], provenance["device"])
    (whole_segment,) = json.loads((whole / "results.json").read_text())["provenance"]["segments"]
    assert whole_segment["from_step"] == 0 and whole_segment["commit"] == provenance["commit"]
    # The wall time counts the first segment up to its checkpoint, and this one.
    assert earlier < results["wall_time_s"] <= earlier + segment + 0.1


@pytest.mark.slow
def test_a_nan_loss_stops_with_a_clear_error_and_keeps_the_checkpoint(tmp_path):
    out = run_cli(
        "train",
        *QUICK,
        "optim.lr=1e30",
        "train.steps=50",
        "train.eval_every=1",
        f"hydra.run.dir={tmp_path}",
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "the training loss became nan" in out.stderr
    assert any((tmp_path / "checkpoints").iterdir())


def test_missing_dataset_directory_fails_cleanly(tmp_path):
    out = run_cli(
        "train",
        "dataset=mnist",
        f"dataset.data_dir={tmp_path}/nope",
        f"hydra.run.dir={tmp_path}/run",
    )
    # exit 3, not 2: the launch is sound, the data is absent (a grid runner launches it again)
    assert out.returncode == 3 and "Traceback" not in out.stderr
    assert "does not exist" in out.stderr


@pytest.mark.slow
def test_multirun_gives_each_seed_its_own_directory(tmp_path):
    out = run_cli(
        "train",
        "-m",
        "seed=0,1",
        *QUICK,
        "train.steps=20",
        "train.eval_every=10",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert out.returncode == 0, out.stderr
    seeds = [json.loads((tmp_path / j / "results.json").read_text())["seed"] for j in "01"]
    assert seeds == [0, 1]


@pytest.mark.slow
def test_resnet_batchnorm_statistics_train_and_survive_checkpoints(tmp_path):
    from test_data import write_cifar

    folder = tmp_path / "data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    write_cifar(folder, per_batch=20)
    cfg = compose_config(
        "+experiment=cifar10_full",
        f"dataset.data_dir={tmp_path / 'data'}",
        "dataset.val_size=20",
        "backbone.depth=18",
        "loss.num_samples=8",
        "train.batch_size=10",
        "train.eval_batch_size=10",
        "train.steps=2",
        "train.eval_every=1",
        "quiet=true",
    )
    results = train_and_evaluate(cfg, tmp_path / "run", "cifar10_full")
    assert results["steps"] == 2 and results["dataset"]["input_shape"] == [32, 32, 3]
    from diffclust.training.checkpoints import Checkpoints

    checkpoints = Checkpoints(tmp_path / "run", resume=True)
    saved = checkpoints.manager.restore(2)
    stats = saved["batch_stats"]
    assert stats and all(np.isfinite(np.asarray(v)).all() for v in jax.tree.leaves(stats))
    first_mean = np.asarray(jax.tree.leaves(stats)[0])
    assert np.abs(first_mean).max() > 0  # running statistics moved from their zero init
    checkpoints.close()


@pytest.mark.slow
def test_wandb_logger_writes_an_offline_run(tmp_path):
    cfg = compose_config(*QUICK, "logger=wandb", "train.steps=20", "train.eval_every=10")
    train_and_evaluate(cfg, tmp_path, "digits_full")
    assert list((tmp_path / "wandb").glob("offline-run-*"))


def test_data_command_lists_every_dataset_and_its_source():
    out = run_cli("data")
    assert out.returncode == 0
    lines = dict(line.split(maxsplit=1) for line in out.stdout.splitlines())
    assert set(lines) == set(DATASETS.names()) >= {"digits", "fashion_mnist", "mnist", "cifar10"}
    assert lines["digits"].startswith("scikit-learn")


def test_corrupted_idx_file_fails_the_run_cleanly(tmp_path):
    from test_data import fake_mnist_dir

    fake_mnist_dir(tmp_path, gz=False)
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-3])
    out = run_cli(
        "train", "dataset=mnist", f"dataset.data_dir={tmp_path}", f"hydra.run.dir={tmp_path}/run"
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "t10k-labels-idx1-ubyte is corrupted" in out.stderr


def test_resuming_with_another_model_is_a_clear_error(tmp_path):
    short = ("quiet=true", "train.steps=10", "train.eval_every=10")
    train_and_evaluate(compose_config("+experiment=digits_full_baseline", *short), tmp_path)
    other = compose_config(*QUICK, *short[1:], "resume=true")
    with pytest.raises(UserError, match="does not fit this model"):
        train_and_evaluate(other, tmp_path)


SEMI_TINY = (
    "split.n_labelled=40",
    "split.k_withheld=3",
    "split.holdout_per_class=5",
    "dataset.val_size=40",
    "loss.num_samples=16",
    "train.batch_size=20",
    "train.eval_batch_size=20",
    "train.steps=4",
    "train.eval_every=2",
    "quiet=true",
)


@pytest.mark.slow  # imports TensorFlow
def test_mnist_semi_runs_under_tfds_mock_data_with_a_probe(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    cfg = compose_config("+experiment=mnist_semi", *SEMI_TINY)
    with tfds.testing.mock_data(num_examples=300):
        results = train_and_evaluate(cfg, tmp_path, "mnist_semi")
        y_test = load_dataset(cfg.dataset, cfg.seed).y_test
    assert results["dataset"]["source"] == "tfds:mnist"
    assert results["num_labelled"] == 40 and results["num_holdout"] == 50
    # tfds's mock gives every split the same noise examples, so the test split holds the 50
    # hold-out points the probe was fitted on (64 embedding dimensions separate 50 points) and
    # `others` points whose labels it cannot predict. So at most the others are wrong, and at
    # least those a label-blind guess gets wrong in expectation (>= others - the largest class
    # count) less 4 standard deviations of a sum of `others` trials (sd <= sqrt(others) / 2).
    # A probe scored on its own fit (~0) or against misaligned labels (~0.9) falls outside;
    # measured 0.760, 0.717, 0.740 on seeds 0-2, in [0.60, 0.83].
    n, others = len(y_test), len(y_test) - results["num_holdout"]
    least_wrong = others - np.bincount(y_test).max() - 4 * np.sqrt(others) / 2
    assert least_wrong / n < results["probe"]["test_error"] <= others / n
    assert set(results["test"]) == {"clustering_error", "clustering_precision"}


@pytest.mark.parametrize("experiment", ["mnist_semi", "mnist_semi_baseline"])
def test_mnist_semi_runs_from_local_idx_files(tmp_path, experiment):
    from test_data import fake_mnist_dir

    arrays = fake_mnist_dir(tmp_path / "data", n_train=300, n_test=60, signal=True)
    tiny = [o for o in SEMI_TINY if not (experiment.endswith("baseline") and o.startswith("loss"))]
    cfg = compose_config(
        f"+experiment={experiment}", f"dataset.data_dir={tmp_path / 'data'}", *tiny
    )
    results = train_and_evaluate(cfg, tmp_path / "run", experiment)
    assert results["dataset"]["source"] == str(tmp_path / "data")
    # The classes are bright bands a linear probe of the (barely trained) embedding can read.
    # A probe whose predictions ignore the labels errs on 60 balanced test digits with
    # probability >= 0.9 each: its error is above 0.9 less 4 standard deviations (sd <=
    # 1 / (2 sqrt(60))), 0.64. Measured 0.0 on seeds 0-2 for both experiments, and 0.87-0.92
    # without the bands.
    y_test = arrays["y_test"]
    chance = 1 - np.bincount(y_test).max() / len(y_test)
    assert results["probe"]["test_error"] < chance - 4 / (2 * np.sqrt(len(y_test)))


@pytest.mark.slow
def test_probe_command_reproduces_the_run_probe(tmp_path):
    from test_data import fake_mnist_dir

    fake_mnist_dir(tmp_path / "data", n_train=300, n_test=60)
    run = tmp_path / "run"
    out = run_cli(
        "train",
        "+experiment=mnist_semi",
        f"dataset.data_dir={tmp_path / 'data'}",
        *SEMI_TINY,
        f"hydra.run.dir={run}",
    )
    assert out.returncode == 0, out.stderr
    trained = json.loads((run / "results.json").read_text())["probe"]
    out = run_cli("probe", str(run))
    assert out.returncode == 0, out.stderr
    assert json.loads((run / "results.json").read_text())["probe"] == trained
    out = run_cli("probe", str(tmp_path))
    assert out.returncode == 2 and "not a diffclust run directory" in out.stderr
