"""diffclust tables on synthetic run directories: grouping by two keys, mean ± std, failed
and unfinished runs listed, a metric missing from some runs."""

import csv
import json
import subprocess
import sys
import warnings

import matplotlib.image as plt_image
import yaml
from runner_helpers import REPO, run_cli


def make_run(root, name, config, results=None, error=None):
    path = root / name
    (path / ".hydra").mkdir(parents=True)
    (path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    if results is not None:
        (path / "results.json").write_text(json.dumps(results))
    if error is not None:
        (path / "error.txt").write_text(error)
    return path


def config(n_labelled, head, seed):
    return {
        "split": {"name": "semi", "n_labelled": n_labelled},
        "head": {"name": head},
        "seed": seed,
    }


def test_tables_group_average_and_list_what_is_missing(tmp_path):
    errors = {(250, "forest"): [0.2, 0.3], (250, "classifier"): [0.5, 0.7]}
    for (n, head), values in errors.items():
        for seed, value in enumerate(values):
            results = {"test": {"clustering_error": value}}
            if head == "forest":
                results["probe"] = {"test_error": value / 2}
            make_run(tmp_path, f"{n}-{head}-{seed}", config(n, head, seed), results)
    make_run(tmp_path, "failed", config(5000, "forest", 0), error="the loss became nan")
    make_run(tmp_path, "unfinished", config(5000, "forest", 1))
    # A classifier run that recorded the probe: the metric is missing from one of its group.
    make_run(
        tmp_path,
        "250-classifier-2",
        config(250, "classifier", 2),
        {"test": {"clustering_error": 0.6}, "probe": {"test_error": 0.4}},
    )

    out = run_cli(
        "tables",
        str(tmp_path),
        "--by",
        "split.n_labelled",
        "head.name",
        "--metric",
        "test.clustering_error",
        "probe.test_error",
        "--plot",
        "split.n_labelled",
    )
    assert out.returncode == 0, out.stderr
    image = plt_image.imread(tmp_path / "table.png")  # the figure: a real, decodable PNG
    assert image.ndim == 3 and image.std() > 0.05
    table = (tmp_path / "table.md").read_text()
    assert "| 250 | forest | 2 | 0.2500 ± 0.0707 | 0.1250 ± 0.0354 |" in table
    assert "| 250 | classifier | 3 | 0.6000 ± 0.1000 | 0.4000 (n=1) |" in table
    assert "failed:" in table and "the loss became nan" in table and "unfinished:" in table
    assert "probe.test_error is missing from 2 of 3 runs" in table
    rows = list(csv.DictReader((tmp_path / "table.csv").open()))
    forest = next(r for r in rows if r["head.name"] == "forest")
    assert forest["n"] == "2" and abs(float(forest["test.clustering_error.mean"]) - 0.25) < 1e-9
    classifier = next(r for r in rows if r["head.name"] == "classifier")  # one probe: no std
    assert classifier["probe.test_error.n"] == "1" and classifier["probe.test_error.std"] == ""


def test_tables_without_finished_runs_is_a_clear_error(tmp_path):
    make_run(tmp_path, "a", config(250, "forest", 0), error="boom")
    out = run_cli("tables", str(tmp_path))
    assert out.returncode == 2 and "no finished run" in out.stderr
    out = run_cli("tables", str(tmp_path / "nope"))
    assert out.returncode == 2 and "not a directory" in out.stderr


def test_tables_piped_into_a_reader_that_stops_ends_without_a_traceback(tmp_path):
    make_run(tmp_path, "r", config(250, "forest", 0), {"test": {"error": 0.1}})
    # `true` reads nothing and exits long before Python has started: every write breaks the
    # pipe, as `| head` does once it has its lines.
    command = f"{sys.executable} -m diffclust.cli tables {tmp_path} | true; echo ${{PIPESTATUS[0]}}"
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=REPO)
    assert out.stdout == "141\n" and out.stderr == "", out.stderr


def test_plot_key_must_be_a_grouping_key(tmp_path):
    make_run(tmp_path, "a", config(250, "forest", 0), {"test": {"clustering_error": 0.1}})
    out = run_cli("tables", str(tmp_path), "--by", "head.name", "--plot", "split.n_labelled")
    assert out.returncode == 2 and "must be one of the --by keys" in out.stderr


def test_welch_tests_and_ranges_between_two_heads(tmp_path):
    from scipy.stats import ttest_ind

    accuracy = {
        ("ot", 0): [0.85, 0.86, 0.84],
        ("soft_kmeans", 0): [0.80, 0.78, 0.83],
        ("ot", 100): [0.84, 0.85],
        ("soft_kmeans", 100): [0.83, 0.84],
    }
    for (head, pretrain), values in accuracy.items():
        for seed, value in enumerate(values):
            cfg = {"head": {"name": head}, "train": {"pretrain_steps": pretrain}, "seed": seed}
            results = {"test": {"accuracy": value}, "steps": 100}  # a fixed budget
            make_run(tmp_path, f"{head}-{pretrain}-{seed}", cfg, results)
    out = run_cli(
        "tables",
        str(tmp_path),
        "--by",
        "head.name",
        "train.pretrain_steps",
        "--metric",
        "test.accuracy",
        "steps",
        "--range",
        "--welch",
        "head.name=ot",
        "head.name=soft_kmeans",
    )
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "table.md").read_text()
    assert "| ot | 0 | 3 | 0.8500 ± 0.0100 [0.8400, 0.8600] |" in table
    for pretrain in (0, 100):
        p = ttest_ind(accuracy["ot", pretrain], accuracy["soft_kmeans", pretrain], equal_var=False)
        assert f"train.pretrain_steps={pretrain}): head.name=ot" in table
        assert f"p = {p.pvalue:.3g}" in table
    assert "- steps (" not in table  # equal constants on both sides: no test to make
    rows = list(csv.DictReader((tmp_path / "table.csv").open()))
    ot = next(r for r in rows if r["head.name"] == "ot" and r["train.pretrain_steps"] == "0")
    assert (float(ot["test.accuracy.min"]), float(ot["test.accuracy.max"])) == (0.84, 0.86)
    bad = run_cli("tables", str(tmp_path), "--by", "head.name", "--welch", "seed=0", "seed=1")
    assert bad.returncode == 2 and "must set the same --by key" in bad.stderr


def test_select_keeps_the_best_silhouette_setting_and_wide_counts_wins(tmp_path):
    # Two datasets; clam has two settings of beta (two seeds each), kmeans one setting.
    silhouettes = {
        ("zoo", "clam", 0.5): [0.40, 0.42],
        ("zoo", "clam", 2.0): [0.30, 0.50],  # mean 0.40 < 0.41: not selected
        ("zoo", "kmeans", None): [0.37, 0.37],
        ("ecoli", "clam", 0.5): [0.20, 0.22],
        ("ecoli", "clam", 2.0): [0.33, 0.33],
        ("ecoli", "kmeans", None): [0.26, 0.26],
    }
    for (data, head, beta), values in silhouettes.items():
        for seed, value in enumerate(values):
            cfg = {"dataset": {"name": data}, "head": {"name": head, "beta": beta}, "seed": seed}
            nmi = 1.0 if beta == 2.0 else 0.5  # labels must not choose
            results = {"test": {"silhouette": value, "nmi": nmi}}
            make_run(tmp_path, f"{data}-{head}-{beta}-{seed}", cfg, results)
    out = run_cli(
        "tables",
        str(tmp_path),
        "--by",
        "dataset.name",
        "head.name",
        "--metric",
        "test.silhouette",
        "test.nmi",
        "--select",
        "test.silhouette",
        "--wide",
        "head.name",
        "--versus",
        "clam",
    )
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "table.md").read_text()
    # zoo: clam 0.41 vs kmeans 0.37 (+11%); ecoli: clam (beta 2) 0.33 vs 0.26 (+27%).
    assert "| zoo | 0.410 | 0.370 (+11%) |" in table
    assert "| ecoli | 0.330 | 0.260 (+27%) |" in table
    assert "| clam W/L | – | 2/0 |" in table
    assert (
        "dataset.name=zoo, head.name=clam: best test.silhouette of 2 settings with head.beta=0.5"
        in table
    )
    rows = {
        (r["dataset.name"], r["head.name"]): r for r in csv.DictReader(open(tmp_path / "table.csv"))
    }
    assert float(rows["zoo", "clam"]["test.nmi.mean"]) == 0.5  # the selected runs' NMI
    assert rows["zoo", "clam"]["n"] == "2"

    bad = run_cli("tables", str(tmp_path), "--by", "head.name", "--versus", "clam")
    assert bad.returncode == 2 and "give --wide too" in bad.stderr


def test_wide_over_two_keys_keeps_a_tagged_ablation_in_its_own_column(tmp_path):
    # ClAM and its eq. 8 ablation (tag=eq8) share head.name; kmeans runs predate the tag key.
    for name, head, tag, value in [
        ("clam", "clam", "", 0.41),
        ("eq8", "clam", "eq8", 0.38),
        ("kmeans", "kmeans", None, 0.37),
    ]:
        cfg = {"dataset": {"name": "zoo"}, "head": {"name": head}, "seed": 0}
        if tag is not None:
            cfg["tag"] = tag
        make_run(tmp_path, name, cfg, {"test": {"silhouette": value}})
    by = ("--by", "dataset.name", "head.name", "tag", "--metric", "test.silhouette")
    out = run_cli("tables", str(tmp_path), *by, "--wide", "head.name", "tag", "--versus", "clam")
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "table.md").read_text()
    assert "| dataset.name | clam | clam/eq8 | kmeans |" in table
    assert "| zoo | 0.410 | 0.380 (+8%) | 0.370 (+11%) |" in table
    assert "| clam W/L | – | 1/0 | 1/0 |" in table
    bad = run_cli("tables", str(tmp_path), *by, "--wide", "head.name", "seed")
    assert bad.returncode == 2 and "--wide seed: must be among the --by keys" in bad.stderr


def test_select_sets_aside_settings_that_leave_a_cluster_empty(tmp_path):
    # beta 2 collapses onto two of three clusters and gets the higher silhouette, as collapsed
    # partitions do; it is chosen only once no setting keeps all three clusters.
    for beta, value, sizes in [(0.5, 0.30, [4, 3, 3]), (2.0, 0.60, [6, 4, 0])]:
        cfg = {"dataset": {"name": "zoo"}, "head": {"name": "clam", "beta": beta}, "seed": 0}
        results = {"test": {"silhouette": value, "cluster_sizes": sizes}}
        make_run(tmp_path, f"clam-{beta}", cfg, results)
    args = ("tables", str(tmp_path), "--by", "dataset.name", "--metric", "test.silhouette")
    out = run_cli(*args, "--select", "test.silhouette")
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "table.md").read_text()
    assert "with head.beta=0.5 (set aside: 1 setting that left a cluster empty)" in table
    assert "| zoo | 1 | 0.3000 |" in table
    # --allow-empty: every partition competes, as the ClAM paper's code ranks them.
    out = run_cli(*args, "--select", "test.silhouette", "--allow-empty")
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "table.md").read_text()
    assert "with head.beta=2.0 (1 of 2 left a cluster empty; the chosen one did)" in table
    assert "| zoo | 1 | 0.6000 |" in table

    (tmp_path / "clam-0.5" / "results.json").unlink()  # now only the collapsed one finished
    out = run_cli(*args, "--select", "test.silhouette")
    assert out.returncode == 0, out.stderr
    assert "(every setting left a cluster empty)" in (tmp_path / "table.md").read_text()


def test_a_key_no_run_records_is_an_error_listing_the_keys_that_exist(tmp_path):
    for seed, value in enumerate([0.2, 0.3]):
        make_run(tmp_path, f"r{seed}", config(250, "forest", seed), results(value))
    make_run(tmp_path, "failed", config(250, "forest", 2), error="boom")
    cases = {
        ("--by", "sead"): "--by sead: no run records a value at sead (did you mean seed?)",
        ("--metric", "test.clustering_eror"): "(did you mean test.clustering_error",
        ("--by", "seed", "--select", "test.silhuette"): "--select test.silhuette: no run",
        ("--by", "head"): "--by head: no run records a value at head",  # a group, not a value
        ("--metric", "test.cluster_sizes"): "no run records a number at test.cluster_sizes",
        ("--by", "seed", "--plot", "sead"): "--plot sead must be one of the --by keys",
        ("--by", "seed", "--wide", "sead"): "--wide sead: must be among the --by keys",
    }
    for args, message in cases.items():
        out = run_cli("tables", str(tmp_path), *args)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    by = run_cli("tables", str(tmp_path), "--by", "sead").stderr
    have = by.split("the runs have: ")[1].strip().split(", ")
    assert {"seed", "head.name", "split.n_labelled", "experiment", "test.silhouette"} <= set(have)
    assert "config.seed" not in have  # results.json's copy of the config is not listed twice
    metric = run_cli("tables", str(tmp_path), "--metric", "x").stderr
    have = metric.split("the runs have: ")[1].strip().split(", ")
    assert set(have) == {"test.clustering_error", "test.silhouette", "wall_time_s"}
    assert not (tmp_path / "table.md").exists()  # nothing written


def results(error, **extra):
    return {
        "test": {"clustering_error": error, "silhouette": 1 - error, "cluster_sizes": [3, 0]},
        "wall_time_s": 1.5,
        "experiment": "digits_full",
        "config": {"seed": 0},
        "dataset": {"name": "digits", "transductive": False},
        **extra,
    }


def test_keys_are_read_from_results_first_then_the_run_config(tmp_path):
    for commit, seeds in (("aaa", [0, 1]), ("bbb", [2])):
        for seed in seeds:
            extra = {"provenance": {"commit": commit, "dirty": seed == 2}}
            record = results(0.1 * seed, **extra)
            make_run(tmp_path, f"r{seed}", config(250, "forest", seed), record)
    by = ("--by", "experiment", "provenance.commit", "head.name")
    out = run_cli("tables", str(tmp_path), *by)
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "table.md").read_text()
    assert "| digits_full | aaa | forest | 2 | 0.0500 ± 0.0707 |" in table
    assert "| digits_full | bbb | forest | 1 | 0.2000 |" in table


def test_the_run_own_config_wins_over_hydra_rewritten_one(tmp_path):
    # A refused launch with seed=7 head.name=cosine rewrote Hydra's copy of a finished run;
    # the run's own config.yaml still says what produced results.json.
    run = make_run(tmp_path, "run", config(250, "forest", 7), results(0.1))
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config(5000, "cosine", 7)))
    (run / "config.yaml").write_text(yaml.safe_dump(config(250, "forest", 0)))
    own_only = tmp_path / "own_only"  # a run without Hydra's folder
    own_only.mkdir()
    (own_only / "config.yaml").write_text(yaml.safe_dump(config(250, "forest", 1)))
    (own_only / "results.json").write_text(json.dumps(results(0.3)))
    # Not runs: a config.yaml among other files (as wandb keeps one), and a corrupt results.
    (tmp_path / "wandb" / "files").mkdir(parents=True)
    (tmp_path / "wandb" / "files" / "config.yaml").write_text("seed: 9\n")
    broken = make_run(tmp_path, "broken", config(250, "forest", 3))
    (broken / "results.json").write_text('{"test": {"clustering_err')
    out = run_cli("tables", str(tmp_path), "--by", "head.name", "split.n_labelled", "seed")
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "table.md").read_text()
    assert "| forest | 250 | 0 | 1 | 0.1000 |" in table
    assert "| forest | 250 | 1 | 1 | 0.3000 |" in table
    assert "cosine" not in table and "| 9 |" not in table
    assert "- failed: broken (unreadable results.json:" in table  # relative to the sweep


def test_run_config_path_prefers_the_run_own_record(tmp_path):
    from diffclust.training.records import run_config_path

    assert run_config_path(tmp_path) is None
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("seed: 7\n")
    assert run_config_path(tmp_path) == tmp_path / ".hydra" / "config.yaml"
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    assert run_config_path(tmp_path) == tmp_path / "config.yaml"


def test_a_recorded_config_reads_as_omegaconf_reads_it(tmp_path):
    # read_config parses with libyaml for speed; it must give OmegaConf.load's values and
    # types (1e-5 a float, a date a string, an interpolation as written), as a JSON dump sees.
    import pytest
    from omegaconf import OmegaConf

    from diffclust.errors import UserError
    from diffclust.reports.runs import read_run
    from diffclust.training.records import read_config

    text = (
        "optim: {lr: 1e-5, min_lr: 1.0e-05, decay_every: null, steps: 1_000}\n"
        "tag: ''\nday: 2026-12-07\nflag: true\nnan: .nan\nmask: '0.1'\n"
        "dir: ${hydra:runtime.cwd}/x\nlist: [1, 2.5, -3e2, .inf]\nnested: {a: {b: [x, null]}}\n"
    )
    (tmp_path / "config.yaml").write_text(text)
    ours = read_config(tmp_path / "config.yaml")
    theirs = OmegaConf.to_container(OmegaConf.load(tmp_path / "config.yaml"), resolve=False)
    assert json.dumps(ours, sort_keys=True) == json.dumps(theirs, sort_keys=True)
    assert ours["optim"]["lr"] == 1e-5 and ours["day"] == "2026-12-07"
    (tmp_path / "results.json").write_text("{}")
    (tmp_path / "config.yaml").write_text("seed: [0\n")
    with pytest.raises(UserError, match="config.yaml .*move that run aside"):
        read_run(tmp_path)


def test_whole_number_metrics_read_as_counts(tmp_path):
    # best_step and cluster counts are whole: "25500.0 ± 3000.0 [22500, 28500]", not four
    # decimals; a fractional metric beside them keeps its four.
    for seed, (step, error) in enumerate([(22500, 0.25), (28500, 0.15)]):
        make_run(tmp_path, f"r{seed}", config(250, "forest", seed), results(error, best_step=step))
    out = run_cli(
        "tables", str(tmp_path), "--by", "head.name",
        "--metric", "best_step", "test.clustering_error", "--range",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "table.md").read_text()
    assert (
        "| forest | 2 | 25500.0 ± 4242.6 [22500, 28500] | 0.2000 ± 0.0707 [0.1500, 0.2500] |"
        in table
    )


def test_versus_counts_a_lower_error_as_a_win_and_no_wins_on_a_count():
    from diffclust.reports.select import wide

    rows = [
        {"dataset.name": d, "head.name": h, m: (v, 0.0, 1)}
        for d, h, m, v in [
            ("zoo", "clam", "test.clustering_error", 0.2),
            ("zoo", "kmeans", "test.clustering_error", 0.25),
            ("zoo", "clam", "test.clusters_used", 5),
            ("zoo", "kmeans", "test.clusters_used", 7),
        ]
    ]
    keys, cols = ["dataset.name", "head.name"], ["head.name"]
    errors = [r for r in rows if "test.clustering_error" in r]
    table = wide(errors, keys, cols, "test.clustering_error", versus="clam")
    # clam's error 0.2 against 0.25: a win, and a gain of (0.25 - 0.2) / 0.25 = +20%.
    assert "| zoo | 0.200 | 0.250 (+20%) |" in table and "| clam W/L | – | 1/0 |" in table
    assert "(gain) = (column - clam) / |column|" in table
    counts = [r for r in rows if "test.clusters_used" in r]
    table = wide(counts, keys, cols, "test.clusters_used", versus="clam")
    assert "| zoo | 5.000 | 7.000 |" in table and "clam W/L" not in table
    assert "No gains or W/L: a higher test.clusters_used is not better" in table


def test_one_table_of_several_sweeps_and_a_welch_test_between_cells(tmp_path, capsys):
    # The forest paper's claim compares cells that differ in two keys (forest with 250
    # labels, cross-entropy with 5000), recorded in two sweeps.
    from scipy.stats import ttest_ind

    from diffclust.commands.tables import main
    from diffclust.reports.tables import parse_side

    cells = {
        ("forest", 250): [0.22, 0.23, 0.25],
        ("classifier", 5000): [0.16, 0.17, 0.15],
        ("classifier", 250): [0.20, 0.21, 0.19],
    }
    for (head, n), values in cells.items():
        for seed, value in enumerate(values):
            sweep = tmp_path / ("a" if seed < 2 else "b")  # seed 2 of each in the second
            make_run(sweep, f"{head}{n}-{seed}", config(n, head, seed), results(value))
    make_run(tmp_path / "b", "failed", config(250, "forest", 3), error="boom")
    forest, ce = (
        "head.name=forest,split.n_labelled=250",
        "head.name=classifier,split.n_labelled=5000",
    )
    by = ["--by", "head.name", "split.n_labelled"]
    heads = ["--welch", "head.name=forest", "head.name=classifier"]  # a second comparison
    assert main([str(tmp_path / "a"), str(tmp_path / "b"), *by, "--welch", forest, ce, *heads]) == 0
    table = (tmp_path / "a" / "table.md").read_text()
    p_value = ttest_ind(cells["forest", 250], cells["classifier", 5000], equal_var=False).pvalue
    assert f"(all runs): {forest} 0.2333 vs {ce} 0.1600, p = {p_value:.3g}" in table
    assert "| forest | 250 | 3 |" in table and "- failed: b/failed (boom)" in table
    assert "(split.n_labelled=250): head.name=forest 0.2333 vs head.name=classifier 0.2000" in table
    assert main([str(tmp_path / "a"), *by, "--welch", forest, "head.name=classifier"]) == 2
    assert "both must set the same --by keys" in capsys.readouterr().err
    side = parse_side("backbone.channels=[32,64],head.name=forest")
    assert side == {"backbone.channels": "[32,64]", "head.name": "forest"}


def test_a_welch_test_against_a_constant_group_is_exact_and_silent():
    # One side constant (a fixed budget's steps against early-stopped runs): its variance is
    # exactly 0, so Welch's t is the other side's one-sample t, with its n - 1 = 2 degrees
    # of freedom; scipy's "precision loss" warning would be noise in every pages run.
    from scipy.stats import ttest_1samp

    from diffclust.reports.tables import welch_tests

    rows = [
        {"head.name": "forest", "steps.values": [30000.0] * 3},
        {"head.name": "classifier", "steps.values": [12000.0, 30000.0, 21000.0]},
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (line,) = welch_tests(rows, ["head.name"], ["steps"], "head.name=forest",
                              "head.name=classifier")  # fmt: skip
    expected = ttest_1samp([12000.0, 30000.0, 21000.0], 30000.0).pvalue
    assert line.endswith(f"p = {expected:.3g}")
