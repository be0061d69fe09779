"""Runs many `diffclust` command lines in one process (one JAX import for all of them) and
writes what each did as JSON: ``python cli_batch.py CASES.json OUT.json``, CASES a list of
argument lists. An exception escaping ``diffclust.cli.main`` is what a user would have seen
as a traceback: it is recorded as ``traceback``."""

import contextlib
import io
import json
import sys
import traceback

from diffclust.cli import main


def run_one(argv: list[str]) -> dict:
    out, err = io.StringIO(), io.StringIO()
    escaped = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        except BaseException:  # noqa: BLE001 - any escape is what the test looks for
            code, escaped = 1, traceback.format_exc()
    return {
        "argv": argv,
        "code": code,
        "stdout": out.getvalue(),
        "stderr": err.getvalue(),
        "traceback": escaped,
    }


if __name__ == "__main__":
    cases_path, out_path = sys.argv[1:3]  # main() sets sys.argv
    with open(cases_path) as f:
        cases = json.load(f)
    done = [run_one(argv) for argv in cases]
    with open(out_path, "w") as f:
        json.dump(done, f, indent=1)
