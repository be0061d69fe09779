"""Structured configs: the root schema and every group option's schema in Hydra's ConfigStore."""

from diffclust.config.schema import GROUPS, Config, TrainConfig, register_configs

__all__ = ["GROUPS", "Config", "TrainConfig", "register_configs"]
