"""The search space of a study from Hydra's sweep syntax, and each trial's overrides.

``key=interval(a, b)`` is a float in [a, b], ``tag(log, interval(a, b))`` the same on a log
scale, ``tag(int, interval(a, b))`` an integer; ``range(a, b, step)`` the integers Hydra's
grid would run (b excluded); ``choice(x, y)``, ``x,y``, ``shuffle(...)`` and ``glob(...)``
a categorical choice (config groups too: ``head=clam,kmeans``). Every other override is
passed to each trial as it was typed.
"""

from __future__ import annotations

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from diffclust.errors import UserError

INTERVAL_TAGS = {"log", "int"}


def search_space(overrides: list) -> tuple[dict[str, BaseDistribution], list[str]]:
    """The distributions of the sweep overrides (Hydra ``Override`` objects) by key, and the
    other overrides' text; a later override of a key replaces an earlier one."""
    space: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    for override in overrides:
        key = override.get_key_element()
        space.pop(key, None)
        fixed.pop(key, None)
        if override.is_sweep_override():
            space[key] = distribution(override)
        else:
            fixed[key] = override.input_line
    return space, list(fixed.values())


def distribution(override) -> BaseDistribution:
    if override.is_interval_sweep():
        return _interval(override)
    if override.is_range_sweep() and not override.value().shuffle:
        values = list(override.sweep_iterator())
        if all(isinstance(v, int) for v in values) and len(values) > 1 and values[1] > values[0]:
            return IntDistribution(values[0], values[-1], step=values[1] - values[0])
        return _categorical(override)  # float steps: exactly the values a grid would run
    return _categorical(override)  # choice(), a,b,c, shuffle(), glob() of a group's options


def _interval(override) -> BaseDistribution:
    sweep = override.value()
    unknown = set(sweep.tags) - INTERVAL_TAGS
    if unknown:
        raise UserError(
            f"{override.input_line}: unknown tag {', '.join(sorted(unknown))}; an interval "
            "takes tag(log, ...) and tag(int, ...)"
        )
    low, high, log = sweep.start, sweep.end, "log" in sweep.tags
    if not low < high or (log and low <= 0):
        raise UserError(
            f"{override.input_line}: an interval needs low < high (and low > 0 on a log scale)"
        )
    if "int" in sweep.tags:
        return IntDistribution(int(low), int(high), log=log)
    return FloatDistribution(low, high, log=log)


def _categorical(override) -> CategoricalDistribution:
    values = list(override.sweep_iterator())
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return CategoricalDistribution(values)  # numbers stay numbers in the study
    # Anything else as the override text Hydra's own grid would pass (quoted, escaped).
    return CategoricalDistribution(list(override.sweep_string_iterator()))


def trial_overrides(fixed: list[str], params: dict) -> list[str]:
    """A trial's overrides: the fixed ones, then each sampled value as override text."""
    return [*fixed, *(f"{key}={_text(value)}" for key, value in params.items())]


def _text(value) -> str:
    if isinstance(value, float):
        return repr(value)  # every digit: the run's config holds the value the study holds
    return str(value)
