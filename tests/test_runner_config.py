"""The config tree: every experiment composes, YAML options match the registries, and bad
configs fail at start-up with a clear message and no traceback."""

import pytest
from runner_helpers import compose_config, run_batch, run_cli

from diffclust.config import GROUPS
from diffclust.config.checks import unknown_keys
from diffclust.config.schema import CONF_DIR

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_yaml_options_are_the_registry_entries(group):
    yaml_names = {p.stem for p in (CONF_DIR / group).glob("*.yaml")}
    assert yaml_names == set(GROUPS[group].names())


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_group_option_composes(group):
    for name in GROUPS[group].names():
        cfg = compose_config(f"{group}={name}")
        assert cfg[group].name == name and unknown_keys(cfg) == []


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(experiment):
    cfg = compose_config(f"+experiment={experiment}", "train.steps=3")
    assert cfg.train.steps == 3 and unknown_keys(cfg) == []
    if "clam" in experiment and not ("deep" in experiment or "_ae_" in experiment):  # a table
        assert cfg.dataset.test_size == 0 and cfg.backbone.name == "identity"
    if not experiment.startswith("clam"):  # those take any table: dataset=zoo, ...
        assert cfg.dataset.name.removesuffix("_features") in experiment
    assert (cfg.head.name, cfg.loss.name) == expected_head_and_loss(experiment)
    if experiment.endswith("_pretrain"):
        assert cfg.train.pretrain_steps > 0
    if cfg.head.name in ("ot", "soft_kmeans", "kmeans", "clam"):  # no label selects
        assert cfg.train.select == "last"


def expected_head_and_loss(experiment: str) -> tuple[str, str]:
    for marker, pair in [
        ("_baseline", ("classifier", "cross_entropy")),
        ("_ot", ("ot", "centroid")),
        ("_softkmeans", ("soft_kmeans", "centroid")),
        ("kmeans", ("kmeans", "none")),
        ("deep_clam", ("clam", "centroid")),
        ("clam_spectral", ("spectral", "none")),
        ("clam_agglomerative", ("agglomerative", "none")),
        ("clam", ("clam", "none")),
    ]:
        if marker in experiment:
            return pair
    return ("forest", "partial_fy")


def test_cli_lists_its_commands():
    out = run_cli("--help")
    assert out.returncode == 0 and "train" in out.stdout


BAD_CONFIGS = {
    "+experiment=nope": "experiment option 'nope'",
    "dataset=nope": "choose one of: blobs, breast_cancer, cifar10",
    "-m seed=0,1 train.stepz=3": "stepz",
    "train.stepz=3": "stepz",
    "train.steps=many": "train.steps",
    "loss.sigmaa=1": "sigmaa",
    # '+' appends a key past the schema; the run must not record a setting nothing reads.
    "+loss.sigmaa=1": "loss.sigmaa is not a setting of this config (a '+' override added it, "
    "and nothing would read it); did you mean loss.sigma?",
    "+sead=1": "sead is not a setting",
    # an edited config file that is not YAML (its --config-dir is written by the fixture)
    "--config-dir {conf} +experiment=broken": "broken.yaml, line 4, column 1: expected ',' "
    "or ']', but got '<stream end>' (while parsing a flow sequence); that config file is not "
    "valid YAML",
}


@pytest.fixture(scope="module")
def bad_config_runs(tmp_path_factory) -> dict[str, dict]:
    """Every BAD_CONFIGS command line, run in one process (one JAX import for all)."""
    conf = tmp_path_factory.mktemp("conf")
    (conf / "experiment").mkdir()
    (conf / "experiment" / "broken.yaml").write_text(
        "# @package _global_\ntrain:\n  steps: [1, 2\n"
    )
    cases = [["train", *override.format(conf=conf).split()] for override in BAD_CONFIGS]
    done = run_batch(cases, tmp_path_factory.mktemp("bad_configs"))
    return dict(zip(BAD_CONFIGS, done, strict=True))


@pytest.mark.parametrize(("override", "expected"), BAD_CONFIGS.items())
def test_bad_config_is_one_clear_error(bad_config_runs, override, expected):
    out = bad_config_runs[override]
    assert out["code"] == 2 and out["traceback"] is None
    assert expected in out["stderr"] and "Traceback" not in out["stderr"]
    assert out["stderr"].strip().count("\n") == 0, out["stderr"]


def test_wrong_head_for_loss_is_refused(tmp_path):
    out = run_cli("train", "loss=cross_entropy", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "loss=cross_entropy does not train head=forest" in out.stderr
