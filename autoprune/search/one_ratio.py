"""Uniform pruning as a search space: one keep ratio for every width knob.

The equal-ratio baseline is a transform of the space the sampler draws from, not a kind of
sampler: any Optuna sampler can search it, and the objective never asks which one it is.
"""
from __future__ import annotations

from dataclasses import dataclass

RATIO_PARAM = "uniform_keep"  # the one parameter its trials hold


@dataclass(frozen=True)
class OneRatio:
    space: object  # a BoundSpace: its uniform(ratio) sets every width knob (depth stays full)
    low: float = 0.05
    high: float = 1.0

    def sample(self, trial) -> dict[str, float]:
        return self.space.uniform(trial.suggest_float(RATIO_PARAM, self.low, self.high))

    def random(self, rng) -> dict[str, float]:
        return self.space.uniform(float(rng.uniform(self.low, self.high)))
