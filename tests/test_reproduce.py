"""scripts/reproduce.py: the committed pages are what the committed runs generate, byte for
byte; a study's runs are named by their command line, and recorded runs are never run again."""

import filecmp
import glob
import importlib.util
import json
import lzma
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from diffclust.reports.runs import Run

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("reproduce", REPO / "scripts" / "reproduce.py")
reproduce = importlib.util.module_from_spec(spec)
sys.modules["reproduce"] = reproduce  # dataclasses look their module up
spec.loader.exec_module(reproduce)


def committed_records(tmp_path: Path) -> Path:
    """reproductions/ as the last commit holds it (a grid running in this checkout adds runs
    that its pages do not show yet); the folder itself outside a git checkout."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "HEAD", "reproductions"], capture_output=True
    )
    if archive.returncode != 0:
        return REPO / "reproductions"
    tmp_path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive.stdout, check=True)
    return tmp_path / "reproductions"


def test_pages_regenerate_byte_for_byte_from_the_committed_runs(tmp_path):
    committed = committed_records(tmp_path / "committed")
    copy = tmp_path / "reproductions"
    shutil.copytree(committed, copy)
    reproduce.write_pages(copy)
    compared = filecmp.dircmp(committed, copy)
    assert not compared.left_only and not compared.right_only
    for page in [*committed.glob("*.md"), *(committed / "tables").glob("*.*")]:
        assert page.read_bytes() == (copy / page.relative_to(committed)).read_bytes(), page


def test_the_readme_tables_are_the_committed_ones():
    # `pages` splices tables into the repository's README too: each must equal its table.
    readme = (REPO / "README.md").read_text()
    tables = reproduce.MARKER.findall(readme)
    assert tables, "the README shows no reproduction table"
    for _, name, _ in tables:
        body = (REPO / "reproductions" / "tables" / f"{name}.md").read_text()
        assert f"<!-- table: {name} -->\n\n{body}\n<!-- /table -->" in readme, name


def test_every_study_names_its_runs_by_command_line_and_seed():
    study = reproduce.Study((("e",), ("f", "head=x")), seeds=2, grid={"a.b": (1, 2)})
    names = [reproduce.run_name(o) for o in study.runs()]
    assert names[:3] == ["e,a.b=1,seed=0", "e,a.b=1,seed=1", "e,a.b=2,seed=0"]
    assert names[-1] == "f,head=x,a.b=2,seed=1" and len(set(names)) == 8
    for study in reproduce.STUDIES.values():  # no two runs of a study share a folder
        runs = [reproduce.run_name(o) for o in study.runs()]
        assert len(set(runs)) == len(runs)
        assert all(glob.escape(run) == run for run in runs)  # checkpoints can live there


def test_recorded_runs_are_skipped_and_unfinished_ones_resumed(tmp_path, capsys):
    study = reproduce.Study((("digits_full",),), seeds=3)
    records, work = tmp_path / "records", tmp_path / "work"
    done = records / "runs" / "s" / "digits_full,seed=0"
    done.mkdir(parents=True)
    (done / "results.json").write_text(json.dumps({"steps": 1}))
    unfinished = work / "s" / "digits_full,seed=1"
    unfinished.mkdir(parents=True)
    (unfinished / "config.yaml").write_text("seed: 1\n")
    reproduce.run_study("s", study, work, records, dry_run=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2  # seed 0 is on record
    assert "seed=1" in lines[0] and lines[0].endswith("resume=true")
    assert "hydra.run.dir='" in lines[0]  # quoted for Hydra: the folder name holds = and ,
    assert "seed=2" in lines[1] and "resume=true" not in lines[1]


def test_clam_tables_read_their_data_dir_and_draw_a_fixed_budget(tmp_path, capsys):
    budget = reproduce.clam_budget()
    assert budget == reproduce.clam_budget() and len(set(budget)) == len(budget) == 32
    for experiment, *setting in budget:  # one value of every searched key, from its range
        keys = [s.split("=")[0] for s in setting]
        assert experiment == "clam_paper" and keys == list(reproduce.CLAM_SPACE)
    study = reproduce.STUDIES["clam_tables/untuned"]
    records, work, data = tmp_path / "records", tmp_path / "work", tmp_path / "tables"
    with pytest.raises(SystemExit, match="--clam-data"):
        reproduce.run_study("c", study, work, records, True, data)
    data.mkdir()
    reproduce.run_study("c", study, work, records, dry_run=True, clam_data=data)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == (1 + 32) * 4
    assert all(f"dataset.data_dir='{data}'" in line for line in lines)
    assert all("data_dir" not in reproduce.run_name(o) for o in study.runs())


def test_a_record_holds_every_summary_file_or_nothing(tmp_path):
    folder, recorded = tmp_path / "work" / "run", tmp_path / "runs" / "run"
    folder.mkdir(parents=True)
    for name in reproduce.SUMMARY_FILES[1:]:  # results.json missing: not finished
        (folder / name).write_text("{}\n")
    reproduce.record(folder, recorded)
    assert not recorded.exists()
    (folder / "results.json").write_text("{}\n")
    (folder / "checkpoints").mkdir()  # never copied
    reproduce.record(folder, recorded)
    assert sorted(p.name for p in recorded.iterdir()) == sorted(reproduce.SUMMARY_FILES)
    assert [p.name for p in recorded.parent.iterdir()] == ["run"]  # no partial copy left


def test_a_refused_run_is_marked_and_not_launched_again(tmp_path, capsys):
    study = reproduce.Study((("digits_full",),), seeds=2)
    records, work = tmp_path / "records", tmp_path / "work"
    for seed, refused in ((0, True), (1, False)):  # refused (exit 2), and a crash
        folder = work / "s" / f"digits_full,seed={seed}"
        folder.mkdir(parents=True)
        (folder / "config.yaml").write_text(f"seed: {seed}\n")
        (folder / "error.txt").write_text("no\n")
        reproduce.record(folder, records / "runs" / "s" / folder.name, refused)
    marked = [p.parent.name for p in records.glob("runs/s/*/" + reproduce.REFUSED)]
    assert marked == ["digits_full,seed=0"]
    reproduce.run_study("s", study, work, records, dry_run=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "refused before, not retried: digits_full,seed=0"
    assert len(lines) == 2 and "seed=1" in lines[1]  # the crash is tried afresh
    reproduce.run_study("s", study, work, records, dry_run=True, retry_refused=True)
    assert all(line.startswith("would run:") for line in capsys.readouterr().out.splitlines())


def test_a_grid_without_one_side_of_its_welch_test_still_shows_its_table(tmp_path):
    # The OT page's grid with its soft k-means runs and none of its OT ones yet.
    records = tmp_path / "reproductions"
    runs = committed_records(tmp_path / "committed") / "runs" / "ot_table" / "digits"
    for run in runs.iterdir():
        if not run.name.startswith("digits_ot") or "head=soft_kmeans" in run.name:
            shutil.copytree(run, records / "runs" / "ot_table" / "digits" / run.name)
    table = reproduce.make_tables(records)["ot_table"]
    assert "| soft_kmeans |" in table and "| kmeans |" in table
    assert "No Welch test yet: --welch head.name=ot head.name=soft_kmeans" in table


# A stand-in for `diffclust train`: it marks its start, waits until two runs have started (so
# it finishes only if another run goes at the same time), then writes a finished run's files.
FAKE_TRAIN = """
import sys, time
from pathlib import Path
folder = Path(next(a for a in sys.argv if a.startswith("hydra.run.dir=")).split("=", 1)[1][1:-1])
folder.mkdir(parents=True)
(folder.parents[1] / ("started-" + folder.name)).touch()
deadline = time.monotonic() + 120
while len(list(folder.parents[1].glob("started-*"))) < 2:
    if time.monotonic() > deadline:
        sys.exit(1)
    time.sleep(0.05)
for name in ("results.json", "config.yaml", "overrides.yaml", "metrics.jsonl"):
    (folder / name).write_text("{}\\n")
"""


def test_jobs_run_a_study_s_runs_side_by_side_and_record_each(tmp_path, monkeypatch):
    fake = tmp_path / "fake_train.py"
    fake.write_text(FAKE_TRAIN)
    monkeypatch.setattr(reproduce, "diffclust_command", lambda: [sys.executable, str(fake)])
    study = reproduce.Study((("digits_full",),), seeds=3)
    records, work = tmp_path / "records", tmp_path / "work"
    reproduce.run_study("s", study, work, records, dry_run=False, jobs=2)
    recorded = sorted(p.parent.name for p in records.glob("runs/s/*/results.json"))
    assert recorded == [f"digits_full,seed={seed}" for seed in range(3)]


def test_missing_data_stops_a_sitting_and_records_nothing(tmp_path, monkeypatch):
    # A run whose data is absent (exit 3) is not marked refused: installing the data and
    # running again makes every run; the sitting launches no more runs after it.
    fake = tmp_path / "fake_train.py"
    fake.write_text(
        "import sys\nfrom pathlib import Path\n"
        "arg = next(a for a in sys.argv if a.startswith('hydra.run.dir='))\n"
        "folder = Path(arg.split('=', 1)[1][1:-1])\n"
        "folder.mkdir(parents=True)\n"
        "(folder / 'config.yaml').write_text('seed: 0\\n')\n"
        "(folder / 'error.txt').write_text('fashion_mnist not found (looked in /x)\\n')\n"
        "sys.exit(3)\n"
    )
    monkeypatch.setattr(reproduce, "diffclust_command", lambda: [sys.executable, str(fake)])
    study = reproduce.Study((("digits_full",),), seeds=3)
    records, work = tmp_path / "records", tmp_path / "work"
    with pytest.raises(SystemExit, match=r"s: 3 runs not made: fashion_mnist not found"):
        reproduce.run_study("s", study, work, records, dry_run=False)
    assert not records.exists()
    assert [p.name for p in (work / "s").iterdir()] == ["digits_full,seed=0"]


def test_every_committed_run_passes_the_audit(tmp_path, capsys):
    # Issue 21: each recorded run names a commit of this repository, clean, and ran its
    # budget or stopped early for patience counted from the step it tested.
    assert reproduce.audit(committed_records(tmp_path)), capsys.readouterr().out


def test_a_study_journal_that_disagrees_with_its_runs_fails_the_audit(tmp_path, capsys):
    records = committed_records(tmp_path)
    journal = records / "runs" / "clam_search" / "zoo.study.journal.xz"
    packed = records / "runs" / "clam_search" / "zoo.runs.jsonl.xz"
    assert reproduce.audit_journal(journal, packed, records), capsys.readouterr().out
    # One trial's value changed in the study (the first value told): no run gives it.
    text = lzma.decompress(journal.read_bytes()).decode()
    told = re.search(r'"values": ?\[([^\]]+)\]', text)
    journal.write_bytes(
        lzma.compress((text[: told.start(1)] + "0.999" + text[told.end(1) :]).encode())
    )
    assert not reproduce.audit_journal(journal, packed, records)
    out = capsys.readouterr().out
    assert "('complete', 0.999), the run ('complete', " in out


def run_record(steps=2000, best=900, select="best", commit="abc", dirty=False) -> dict:
    train = {"steps": 2000, "patience": 1000, "select": select}
    provenance = {"commit": commit, "dirty": dirty, "segments": [{"commit": commit}]}
    return {"steps": steps, "best_step": best, "config": {"train": train}, "provenance": provenance}


def test_the_audit_names_what_makes_a_run_untrustworthy():
    scored = [(900, 0.1), (1300, 0.1), (1900, 0.2)]  # a tie: the first counts
    assert reproduce.run_problems(run_record(1900, 900), scored, {"abc"}) == []
    assert reproduce.run_problems(run_record(2000, 900), scored, {"abc"}) == []
    # orbax once kept the last of equal errors (fixed in c725645): step 1300 tested
    assert reproduce.run_problems(run_record(1900, 1300), scored, {"abc"}) == [
        "tested step 1300, but the first lowest validation error is at 900"
    ]
    # stopped 600 steps after its best with a patience of 1000
    assert reproduce.run_problems(run_record(1500, 900), scored[:2], {"abc"}) == [
        "stopped at step 1500 of 2000 (best 900, patience 1000)"
    ]
    assert reproduce.run_problems(run_record(2000, 2000, "last"), scored, {"abc"}) == []
    problems = reproduce.run_problems(run_record(commit="zzz", dirty=True), scored, {"abc"})
    assert problems == [
        "commit zzz is not in this repository's history",
        "commit zzz is not in this repository's history",  # its one segment too
        "made from uncommitted code (dirty)",
    ]


def test_a_packed_grid_is_recorded_and_audited(tmp_path, capsys):
    sweep, records = tmp_path / "sweep", tmp_path / "records"
    for job, commit in (("0", "abc"), ("1", "zzz")):
        (sweep / job / ".hydra").mkdir(parents=True)
        (sweep / job / ".hydra" / "config.yaml").write_text("head:\n  name: clam\n")
        results = {"test": {"silhouette": 0.4}, "provenance": {"commit": commit, "dirty": False}}
        (sweep / job / "results.json").write_text(json.dumps(results))
    assert reproduce.main(["pack", str(sweep), "clam_paper/zoo", "--records", str(records)]) == 0
    packed = records / "runs" / "clam_paper" / "zoo.runs.jsonl.xz"
    assert packed.is_file()
    assert not reproduce.audit_packed(packed, records, {"abc"})
    out = capsys.readouterr().out
    assert "clam_paper/zoo.runs.jsonl.xz: 2 / 2 runs finished; commits abc, zzz" in out
    assert "  1: commit zzz is not in this repository's history" in out
    with pytest.raises(SystemExit) as stop:
        reproduce.main(["pack", str(tmp_path / "nope"), "x", "--records", str(records)])
    assert stop.value.code == 2 and "is not a directory" in capsys.readouterr().err


def test_the_study_against_the_grid_is_generated_from_packed_records(tmp_path):
    # runs/clam_search/TABLE: a study's trials (folder = trial number); runs/clam_paper/TABLE:
    # the paper-budget grid, of which only ClAM's own runs (no tag) are the grid.
    def packed(name: str, runs: dict[str, tuple[dict, float]]) -> None:
        sweep = tmp_path / "sweeps" / name
        for job, (config, silhouette) in runs.items():
            (sweep / job).mkdir(parents=True)
            (sweep / job / "config.yaml").write_text(json.dumps(config))
            results = {"test": {"silhouette": silhouette, "cluster_sizes": [5, 5]}}
            (sweep / job / "results.json").write_text(json.dumps(results))
        reproduce.pack(sweep, name, tmp_path / "records")

    def clam(beta: float, tag: str = "") -> dict:
        return {"head": {"name": "clam", "beta": beta}, "tag": tag}

    packed(
        "clam_paper/ecoli", {"0": (clam(1), 0.30), "1": (clam(2), 0.35), "2": (clam(2, "eq8"), 0.9)}
    )
    # within 0.005 of the grid's 0.35 from trial 2 (0.347); of the paper's 0.331 from trial 2
    packed("clam_search/ecoli", {"0": (clam(1), 0.20), "1": (clam(3), 0.347), "2": (clam(4), 0.36)})
    table = reproduce.make_tables(tmp_path / "records")["clam_search"]
    assert "| ecoli | 0.331 | 0.3500 (2 runs) | 0.3600 (3 trials) | 2 | 2 |" in table
    assert "- ecoli, grid: head.beta=2" in table


def test_a_grid_completed_over_sittings_is_timed_by_its_sittings():
    from clam_search_report import elapsed  # beside reproduce.py, which puts it on the path

    def run(start: str, end: str) -> Run:
        provenance = {"started": f"2026-12-0{start}:00+00:00", "ended": f"2026-12-0{end}:00+00:00"}
        return Run(Path("0"), {}, {"provenance": provenance}, "finished")

    # Two at a time for 30 min (a job's start-up between runs), then the next day 5 min more.
    one_day = [run("6T10:00", "6T10:20"), run("6T10:01", "6T10:29"), run("6T10:29", "6T10:30")]
    assert elapsed(one_day) == ", 30 min"
    assert elapsed([*one_day, run("7T09:00", "7T09:05")]) == ", 35 min in 2 sittings"
    assert elapsed([Run(Path("1"), {}, None, "unfinished")]) == ""
