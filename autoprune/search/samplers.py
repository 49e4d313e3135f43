"""Optuna samplers by name; ``uniform`` is the one-ratio-for-all baseline (random over the ratio).

``uniform`` names two things at once: a random sampler, and the one-ratio space it draws
from (search/one_ratio.py). Both are chosen here, at the edge, and given to the objective.
"""
from __future__ import annotations

import os

import numpy as np
import optuna

from autoprune.errors import ConfigError
from autoprune.search.one_ratio import OneRatio

SAMPLERS = ("tpe", "nsga2", "random", "uniform")
UNIFORM = "uniform"


def check_sampler(name: str) -> None:
    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler {name!r}; valid samplers: {', '.join(SAMPLERS)}")


def sampled_space(name: str, space):
    """The space sampler ``name`` draws knob values from: ``uniform`` draws one ratio for every knob."""
    return OneRatio(space) if name == UNIFORM else space


def make_sampler(name: str, *, seed: int | None) -> optuna.samplers.BaseSampler:
    check_sampler(name)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=4)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=8)
    return optuna.samplers.RandomSampler(seed=seed)  # random, and uniform over its one ratio


def worker_seed(seed: int, worker: int | None, start: int) -> int:
    """The sampler seed of one worker process that joins a study holding ``start`` trials.

    Workers sharing one seed draw the same start-up configurations, and a resumed run would
    replay the draws it made before; a stream derived from (seed, worker, start) avoids both
    and still repeats for a given seed, worker count and resume point. The first worker of a
    fresh study keeps ``seed`` itself, so a one-process run is what it always was. ``worker``
    None (a process that does not know its index, e.g. a Ray task) takes its process id.
    """
    if worker == 0 and start == 0:
        return int(seed)
    index = os.getpid() if worker is None else int(worker)
    return int(np.random.SeedSequence([int(seed), index, int(start)]).generate_state(1)[0])
