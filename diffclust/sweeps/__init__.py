"""Hyperparameter studies through Hydra's multirun: ``diffclust train -m hydra/sweeper=optuna``
(an Optuna study whose trials are runs; see the README's section on sweeps that search)."""

from __future__ import annotations


def register_sweeper() -> None:
    """Makes ``hydra/sweeper=grid`` and ``optuna`` (both opt-in) instantiable however diffclust
    is installed: Hydra finds plugins by listing the hydra_plugins package, which an editable
    install (PEP 660) may hide although the module imports."""
    from hydra.core.plugins import Plugins

    from hydra_plugins.diffclust_sweeper.grid_sweeper import GridSweeper
    from hydra_plugins.diffclust_sweeper.optuna_sweeper import OptunaSweeper

    Plugins.instance().register(GridSweeper)
    Plugins.instance().register(OptunaSweeper)
