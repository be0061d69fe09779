"""Packed runs (diffclust.reports.packed): a sweep's records in one file read back as the
same runs, merged without rewriting a finished record, and tabled like the folders."""

import lzma

import pytest
from runner_helpers import run_cli
from test_tables import make_run

from diffclust.errors import UserError
from diffclust.reports.packed import pack_runs, read_packed, unpack_runs
from diffclust.reports.runs import find_runs


def sweep(root, silhouettes):
    for i, (head, beta, value) in enumerate(silhouettes):
        cfg = {"dataset": {"name": "zoo"}, "head": {"name": head, "beta": beta}, "seed": 0}
        results = {"test": {"silhouette": value}, "provenance": {"commit": "abc", "dirty": False}}
        make_run(root, str(i), cfg, results)
    return root


def test_packed_runs_read_back_as_the_folders_runs(tmp_path):
    folders = sweep(tmp_path / "sweep", [("clam", 0.1, 0.40), ("clam", 1.0, 0.35)])
    make_run(folders, "2", {"head": {"name": "clam"}}, error="the loss became nan")
    make_run(folders, "3", {"head": {"name": "clam"}})  # unfinished
    out = tmp_path / "records" / "zoo.runs.jsonl.xz"
    assert pack_runs(folders, out) == (4, 4)
    packed, original = read_packed(out), find_runs(folders)
    assert [(r.config, r.results, r.status, r.error) for r in packed] == [
        (r.config, r.results, r.status, r.error) for r in original
    ]
    assert [r.path.name for r in packed] == ["0", "1", "2", "3"]
    assert find_runs(out.parent) == packed  # a folder holding packed files reads them


def test_packing_again_adds_new_runs_and_keeps_finished_records(tmp_path):
    folders = sweep(tmp_path / "sweep", [("clam", 0.1, 0.40)])
    make_run(folders, "1", {"head": {"name": "clam"}})  # unfinished
    out = tmp_path / "zoo.runs.jsonl.xz"
    pack_runs(folders, out)
    # Later: run 1 finished, run 2 is new, and run 0's folder was rewritten (say, rerun).
    (folders / "1" / "results.json").write_text('{"test": {"silhouette": 0.3}}')
    sweep(folders / "later", [("clam", 2.0, 0.2)])
    (folders / "0" / "results.json").write_text('{"test": {"silhouette": 0.99}}')
    assert pack_runs(folders, out) == (3, 2)
    runs = {r.path.relative_to(out).as_posix(): r for r in read_packed(out)}
    assert runs["0"].results["test"]["silhouette"] == 0.40  # the record stays what it was
    assert runs["1"].status == "finished" and runs["later/0"].status == "finished"
    assert pack_runs(folders, out) == (3, 0)


def test_tables_of_a_packed_sweep_match_the_folders(tmp_path):
    folders = sweep(tmp_path / "sweep", [("clam", 0.1, 0.40), ("clam", 1.0, 0.35)])
    sweep(folders / "kmeans", [("kmeans", None, 0.37)])
    pack_runs(folders, tmp_path / "packed" / "zoo.runs.jsonl.xz")
    tables = []
    for source in (folders, tmp_path / "packed"):
        args = ("--by", "dataset.name", "head.name", "--metric", "test.silhouette")
        out = run_cli("tables", str(source), *args, "--select", "test.silhouette")
        assert out.returncode == 0, out.stderr
        tables.append((source / "table.md").read_text())
    assert tables[0] == tables[1]
    assert "| zoo | clam | 1 | 0.4000 |" in tables[1]


def test_a_damaged_packed_file_is_a_clear_error(tmp_path):
    out = tmp_path / "zoo.runs.jsonl.xz"
    out.write_bytes(lzma.compress(b'{"run": "0", "status": "fin'))
    with pytest.raises(UserError, match="pack the sweep again"):
        read_packed(out)
    with pytest.raises(UserError, match="ends with .runs.jsonl.xz"):
        pack_runs(tmp_path, tmp_path / "zoo.jsonl")


@pytest.mark.slow  # three CLI launches of a sweep: 30-60 s
def test_unpacked_runs_are_kept_by_a_sweep_launched_again_with_resume(tmp_path):
    # A grid packed on one machine continues on another: unpack, launch with resume=true.
    sweep = tmp_path / "sweep"
    fit = ("+experiment=digits_kmeans", "head.n_init=1", "train.pictures=false", "quiet=true")
    out = run_cli("train", "-m", *fit, "seed=0,1", f"hydra.sweep.dir={sweep}")
    assert out.returncode == 0, out.stderr
    packed = tmp_path / "digits.runs.jsonl.xz"
    pack_runs(sweep, packed)
    before = {r.path.name: r.results for r in read_packed(packed)}
    elsewhere = tmp_path / "elsewhere"
    assert unpack_runs(packed, elsewhere) == 2
    assert unpack_runs(packed, elsewhere) == 0  # never over a folder's files
    out = run_cli("train", "-m", *fit, "seed=0,1,2", "resume=true", f"hydra.sweep.dir={elsewhere}")
    assert out.returncode == 0, out.stderr
    assert f"{elsewhere / '0'} is finished" in out.stdout
    after = {r.path.name: r for r in find_runs(elsewhere)}
    assert {name: after[name].results for name in ("0", "1")} == before  # kept as packed
    assert after["2"].status == "finished" and after["2"].results["config"]["seed"] == 2
