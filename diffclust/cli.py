"""The `diffclust` command: dispatches to the modules of diffclust.commands.

A new subcommand is a new module there with ``HELP`` (one line) and ``main(argv) -> int``;
this file does not change.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import diffclust.commands
from diffclust import compile_cache

USAGE = "usage: diffclust <command> [args]   (diffclust <command> --help for its options)"


def commands() -> dict[str, str]:
    """Subcommand name -> module path (module names use _, commands use -)."""
    found = pkgutil.iter_modules(diffclust.commands.__path__)
    return {m.name.replace("_", "-"): f"diffclust.commands.{m.name}" for m in found}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    compile_cache.enable()
    available = commands()
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE + "\n\ncommands:")
        for name, path in sorted(available.items()):
            print(f"  {name:<10} {importlib.import_module(path).HELP}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in available:
        print(
            f"diffclust: unknown command {name!r}; choose one of {sorted(available)}",
            file=sys.stderr,
        )
        return 2
    try:
        return importlib.import_module(available[name]).main(rest)
    except BrokenPipeError:  # the reader stopped (`diffclust tables DIR | head`): not a failure
        # Python would print a traceback flushing stdout at exit; send what is left nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # a shell's status for SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
