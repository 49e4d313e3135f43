"""Optuna samplers by name; ``uniform`` is the one-ratio-for-all baseline (random over the ratio)."""
from __future__ import annotations

import optuna

from autoprune.errors import ConfigError

SAMPLERS = ("tpe", "nsga2", "random", "uniform")


def make_sampler(name: str, *, seed: int | None) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=4)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=8)
    if name in ("random", "uniform"):
        return optuna.samplers.RandomSampler(seed=seed)
    raise ConfigError(f"unknown sampler {name!r}; valid samplers: {', '.join(SAMPLERS)}")
