"""``hydra/sweeper=optuna``: Hydra instantiates sweepers only from the hydra_plugins package,
so the class lives here; the search is diffclust.sweeps. Hydra imports this module at every
start (its plugin scan), so it imports nothing heavy: Optuna loads when a study runs."""

from __future__ import annotations

from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper


class OptunaSweeper(Sweeper):
    """An Optuna study run through the configured launcher (diffclust.sweeps.sweeper)."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.hydra_context = self.config = self.launcher = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        from omegaconf import OmegaConf

        from diffclust.sweeps.config import OptunaSweeperConfig
        from diffclust.sweeps.sweeper import run_study

        settings = OptunaSweeperConfig(**OmegaConf.to_container(OmegaConf.create(self.settings)))
        return run_study(
            settings,
            self.config,
            self.launcher.launch,
            self.validate_batch_is_legal,
            arguments,
            self.hydra_context.config_loader,
        )
