"""``hydra/sweeper=grid``: Hydra's basic sweeper (the Cartesian grid of ``-m``'s comma-separated
overrides), checking fewer configs before the launch; for grids of thousands of jobs.

Before launching a batch, the basic sweeper composes every job's config to find an override
that cannot compose; each composition costs about 0.2 s, seven minutes of one core for the
ClAM paper's grid of 2016 jobs while the launcher waits, and again at every relaunch of a
partly finished grid. This one composes only the jobs that bring an override string no
earlier job brought (16 of those 2016: the first job, then one per further value of each
axis), which still stops the launch on every key, group option or value that cannot compose.
A failure that only a combination of values causes is met by that job's own composition."""

from __future__ import annotations

from collections.abc import Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper


def covering_jobs(batch: Sequence[Sequence[str]], seen: set[str]) -> list[Sequence[str]]:
    """The jobs of ``batch`` holding an override not in ``seen``, in order; ``seen`` gains
    their overrides, so every override string of the batch is in a returned job."""
    jobs = []
    for overrides in batch:
        if not seen.issuperset(overrides):
            jobs.append(overrides)
            seen.update(overrides)
    return jobs


class GridSweeper(BasicSweeper):
    """Hydra's BasicSweeper composing, before each batch, only its jobs that cover a new
    override (``covering_jobs``); the jobs launched are the same."""

    def __init__(self, max_batch_size: int | None = None, params: dict | None = None) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.checked: set[str] = set()  # override strings already composed in this sweep

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        super().validate_batch_is_legal(covering_jobs(batch, self.checked))
