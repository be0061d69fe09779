"""Hydra's and OmegaConf's configuration errors as one line each, told apart by their type
(and the attributes each type carries), never by parsing their text."""

from __future__ import annotations

import yaml
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

GRAMMAR = "https://hydra.cc/docs/advanced/override_grammar/basic"


def config_error_line(err: HydraException) -> str:
    """What is wrong with the overrides, and how to fix it, in one line."""
    cause = err.__cause__
    if isinstance(err, MissingConfigException) and err.missing_cfg_file and err.options:
        group, _, name = err.missing_cfg_file.rpartition("/")
        return f"unknown {group} option '{name}'; choose one of: {', '.join(err.options)}"
    if isinstance(err, OverrideParseException):
        detail = _first_line(cause or err)
        return f"cannot parse an override ({detail}); quote special characters, see {GRAMMAR}"
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
        return (
            f"{cause.full_key}: {_first_line(cause)}; check its spelling (the keys of a config: "
            "diffclust train ... --cfg job)"
        )
    if isinstance(cause, OmegaConfBaseException) and cause.full_key:
        return f"{cause.full_key}: {_first_line(cause)}"
    return _joined(err)  # e.g. a key an experiment sets that a swapped option lacks


def _joined(err: BaseException) -> str:
    """Every line of the message, joined: Hydra puts the cause's text on later lines."""
    first, *rest = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    return " ".join([first, "; ".join(rest)]) if rest else first


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0]


def yaml_error_line(err: yaml.YAMLError) -> str:
    """A config file that is not valid YAML: which file, where, and what the parser wanted."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or _first_line(err)
    where = f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}" if mark else "a file"
    context = f" ({err.context})" if getattr(err, "context", None) else ""
    return f"{where}: {problem}{context}; that config file is not valid YAML"
