"""Checks the overrides of `diffclust train` before Hydra runs, to report a bad config as one
line: Hydra's own messages span several lines and end with advice about stack traces.

The config is composed once with the first value of each sweep, so `-m seed=0,1 train.stepz=3`
fails at once rather than in every job.
"""

from __future__ import annotations

import re

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser

from diffclust.config.schema import CONF_DIR
from diffclust.errors import UserError

# Flags after which Hydra does not train (help, config printing, ...): nothing to check.
NO_RUN_FLAGS = {"-h", "--help", "--hydra-help", "-c", "--cfg", "-i", "--info", "--shell-completion"}
FLAGS_WITH_VALUE = {"-cn", "--config-name", "-cp", "--config-path", "-cd", "--config-dir"}


def first_values(argv: list[str]) -> list[str] | None:
    """The overrides with each sweep replaced by its first value; None if nothing will run."""
    overrides, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in NO_RUN_FLAGS or arg.startswith("--cfg") or arg.startswith("--info"):
            return None
        elif arg in FLAGS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            overrides.append(arg)
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [
        o.input_line
        if not o.is_sweep_override()
        else f"{o.input_line.split('=', 1)[0]}={next(iter(o.sweep_string_iterator()))}"
        for o in parsed
    ]


def one_line(message: str) -> str:
    """Hydra's multi-line composition errors condensed to one line."""
    missing = re.search(r"Could not find '([\w/]+)/(\w+)'", message)
    options = re.search(r"Available options in '(\w+)':\s*\n((?:\s+\S+\n?)+)", message)
    if missing and options:
        choices = ", ".join(options.group(2).split())
        return f"unknown {missing.group(1)} option '{missing.group(2)}'; choose one of: {choices}"
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    skip = ("object_type", "reference_type", "To append to your config")
    lines = [line for line in lines if not line.startswith(skip) and "$VALUE" not in line]
    lines = [line for line in lines if not line.startswith(("invalid literal", "could not conv"))]
    return "; ".join(dict.fromkeys(lines))  # causes often repeat a line


def check_overrides(argv: list[str]) -> None:
    """Raises UserError (one line) when the overrides do not compose into a valid config."""
    try:
        overrides = first_values(argv)
        if overrides is None:
            return
        with initialize_config_dir(str(CONF_DIR), version_base=None):
            compose("config", overrides=overrides, return_hydra_config=True)
    except Exception as err:  # Hydra and OmegaConf raise several unrelated types
        raise UserError(one_line(_chain(err))) from None


def _chain(err: BaseException | None) -> str:
    """The messages of an exception and its causes (OmegaConf's detail is in the cause)."""
    messages = []
    while err is not None:
        messages.append(str(err))
        err = err.__cause__ or err.__context__
    return "\n".join(messages)
