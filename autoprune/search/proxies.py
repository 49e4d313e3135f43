"""How a trial scores its child: a short fine-tune, or a cut from the trained supernet.

Each is built once per process (the pipeline, a local worker, a Ray trial) and given to the
:class:`~autoprune.search.objective.Objective`, which calls ``score`` and knows neither.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from autoprune.device import describe
from autoprune.proxy import ProxySettings, proxy_score


@dataclass(frozen=True)
class FinetuneProxy:
    """A short fine-tune of the child (from its parent's weights), then tracking a few val sequences."""

    family: object
    parent: torch.nn.Module  # the teacher when the fine-tune distils
    train_sequences: list
    val_sequences: list
    settings: ProxySettings

    def score(self, trial, *, child, knobs, seed: int, on_step) -> float:
        torch.manual_seed(seed)
        settings = replace(self.settings, seed=seed)
        trial.set_user_attr("device", describe(settings.device) + (f", {settings.amp} autocast" if settings.amp else ""))
        result = proxy_score(self.family, child, train_sequences=self.train_sequences, val_sequences=self.val_sequences,
                             settings=settings, parent=self.parent, on_step=on_step)
        trial.set_user_attr("proxy", "finetune")
        trial.set_user_attr("proxy_ao", result.ao)
        trial.set_user_attr("proxy_sr50", result.sr50)
        trial.set_user_attr("loss", result.loss)
        return result.ao


@dataclass(frozen=True)
class OneShotProxy:
    """The child cut from a supernet trained once per search, scored without training (proxy/oneshot.py)."""

    scorer: object  # a OneShotScorer

    def score(self, trial, *, child, knobs, seed: int, on_step) -> float:
        kind = self.scorer.settings.score
        scores = self.scorer.scores(knobs)
        trial.set_user_attr("device", describe(self.scorer.device))
        trial.set_user_attr("proxy", f"oneshot {kind}")
        trial.set_user_attr("loss", {})
        for name, value in scores.items():
            trial.set_user_attr(f"oneshot_{name}", value)
        if "ao" in scores:
            trial.set_user_attr("proxy_ao", scores["ao"])
        return scores[kind]
