"""`diffclust data` reports, for every dataset option, what training would read (checked
against the loader itself), honours --data-dir, prints no third-party warnings, and
`data prepare` takes only tensorflow-datasets' datasets; `~` in dataset.data_dir expands."""

import os
import shlex
from pathlib import Path

import numpy as np
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from runner_helpers import CLAM_DATA, compose_config, run_cli
from test_data import fake_mnist_dir

from diffclust.commands.data import SHOWN, dataset_configs, where
from diffclust.data import DATASETS, load_dataset
from diffclust.data.catalog import ImageConfig, TableConfig
from diffclust.data.sources import DEBIAN_DIRS, TFDS_NAMES, find
from diffclust.errors import UserError

ZOO_ROWS = "1,0,0,1,1\n0,1,1,0,2\n1,1,0,0,1\n0,0,1,1,2\n"  # 4 animals, 4 features, 2 classes


@pytest.fixture
def data_dir(tmp_path):
    """A folder with the MNIST idx files and a small zoo.csv."""
    fake_mnist_dir(tmp_path, n_train=60, n_test=20)
    (tmp_path / "zoo.csv").write_text(ZOO_ROWS)
    return tmp_path


def loaded_source(cfg) -> str:
    """What the loader itself says: its Dataset.source, or its error."""
    try:
        return load_dataset(cfg, seed=0).source
    except UserError as err:
        return f"not available: {err}"


@pytest.mark.parametrize("with_dir", [False, True])
def test_every_option_reports_what_the_loader_reads(data_dir, with_dir, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(data_dir / "tfds"))  # none prepared there
    configs = dataset_configs(str(data_dir) if with_dir else None)
    assert set(configs) == set(DATASETS.names())
    for name, cfg in configs.items():
        if name in ("fashion_mnist", "fashion_mnist_features") and not with_dir:
            if not DEBIAN_DIRS["fashion_mnist"].is_dir():
                continue  # the default location: reading it is the real test, below
        if name in TFDS_NAMES:
            cfg.val_size = 10  # the fake files hold 60 training images
        reported, loaded = where(cfg), loaded_source(cfg)
        assert reported == SHOWN.get(loaded, loaded), name
    if with_dir:
        assert where(configs["zoo"]) == str(data_dir / "zoo.csv")
        assert where(configs["mnist"]) == str(data_dir)
        assert where(configs["cifar10"]).startswith(f"not available: {data_dir} does not hold")
    else:
        assert where(configs["zoo"]).startswith("not available: dataset=zoo reads zoo.csv")
        assert where(configs["mnist"]).startswith("not available: mnist not found")
    for bundled in ("iris", "wine", "breast_cancer", "digits_features", "digits"):
        assert where(configs[bundled]) == "scikit-learn (bundled)"


def test_data_list_honours_data_dir_and_prints_no_warnings(data_dir, monkeypatch):
    # An empty tfds data dir: probing it made tfds (absl) warn about each missing dataset.
    monkeypatch.setenv("TFDS_DATA_DIR", str(data_dir / "tfds"))
    out = run_cli("data", "--data-dir", str(data_dir))
    assert out.returncode == 0 and out.stderr == "", out.stderr
    lines = dict(line.split(maxsplit=1) for line in out.stdout.splitlines())
    assert set(lines) == set(DATASETS.names())
    assert lines["zoo"] == str(data_dir / "zoo.csv")
    assert lines["mnist"] == str(data_dir)
    assert lines["iris"] == "scikit-learn (bundled)"
    assert lines["ecoli"].startswith(f"not available: {data_dir / 'ecoli.data'} not found")
    out = run_cli("data")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert "not available: dataset=zoo reads zoo.csv from a folder" in out.stdout


@pytest.mark.skipif(CLAM_DATA is None, reason="the ClAM paper's tables are not beside the checkout")
def test_data_list_finds_the_published_clam_tables():
    out = run_cli("data", "--data-dir", str(CLAM_DATA))
    lines = dict(line.split(maxsplit=1) for line in out.stdout.splitlines())
    assert lines["zoo"] == str(CLAM_DATA / "zoo.csv")
    assert lines["yale"] == str(CLAM_DATA / "Yale.mat")


def test_prepare_takes_only_tfds_datasets():
    for name, says in [
        ("zoo", "zoo needs no preparation (dataset=zoo reads zoo.csv from a folder"),
        ("iris", "iris needs no preparation (training reads it from scikit-learn (bundled))"),
        ("nope", "prepare which dataset? choose one of mnist, fashion_mnist, cifar10"),
    ]:
        out = run_cli("data", "prepare", name)
        assert out.returncode == 2 and says in out.stderr, out.stderr
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
        assert "TensorFlow" not in out.stderr


def test_prepare_of_data_already_there_says_so(data_dir):
    out = run_cli("data", "prepare", "mnist", "--data-dir", str(data_dir))
    assert out.returncode == 0, out.stderr
    assert f"mnist is already available: training reads {data_dir}" in out.stdout


def test_tfds_data_prepared_in_data_dir_is_found_there(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=30):
        found = find("mnist", str(tmp_path))  # no idx files: tfds' prepared copy there
    assert found.where == f"tfds:mnist in {tmp_path}"


def test_tilde_in_data_dir_is_the_home_folder(data_dir, monkeypatch):
    monkeypatch.setenv("HOME", str(data_dir.parent))
    home_relative = f"~/{data_dir.name}"
    images = load_dataset(ImageConfig(name="mnist", data_dir=home_relative, val_size=10), 0)
    assert images.source == str(data_dir) and len(images.y_test) == 20
    zoo = TableConfig(name="zoo", data_dir=home_relative, file="zoo.csv")
    assert load_dataset(zoo, 0).source == str(data_dir / "zoo.csv")
    # On the command line the value needs quotes for Hydra (a bare ~ is its delete operator),
    # or the shell's $HOME: the README's example.
    quoted = f'dataset.data_dir="{home_relative}"'
    cfg = compose_config("+experiment=mnist_full", quoted, "dataset.val_size=10")
    assert cfg.dataset.data_dir == home_relative
    np.testing.assert_array_equal(load_dataset(cfg.dataset, 0).y_test, images.y_test)


def test_the_command_composes_each_option_as_training_does():
    from diffclust.commands import data
    from diffclust.config.schema import CONF_DIR

    assert data.CONF_DIR == CONF_DIR
    for name, cfg in dataset_configs(None).items():
        trained = compose_config(f"dataset={name}").dataset
        assert OmegaConf.to_container(cfg) == OmegaConf.to_container(trained), name


def test_the_readme_train_examples_parse_as_hydra_overrides():
    # The README's `dataset.data_dir=~/data/mnist` failed to parse (Hydra's ~ is "delete").
    parser = OverridesParser.create()
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    joined = readme.replace("\\\n", " ")  # a command continued on the next line is one
    examples = [line.split("#")[0] for line in joined.splitlines()]
    examples = [line for line in examples if line.startswith("diffclust train ")]
    assert any("dataset.data_dir=$HOME" in line for line in examples)
    for line in examples:  # as the shell passes them: $HOME expanded, quotes removed
        words = shlex.split(os.path.expandvars(line))[2:]
        parser.parse_overrides([w for w in words if w not in ("...", "-m", "--cfg", "job")])
