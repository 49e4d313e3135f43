"""How a trial scores its child: a short fine-tune (then tracking, or a loss on fixed pairs), or a cut from the trained supernet.

Each is built once per process (the pipeline, a local worker, a Ray trial) and given to the
:class:`~autoprune.search.objective.Objective`, which calls ``score`` and knows neither.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from autoprune.device import describe
from autoprune.proxy import ProxySettings, finetune_child, proxy_score


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
class DistillLossProxy:
    """The same short fine-tune, then minus the loss on fixed held-out val pairs (no tracking).

    Tracking 2-4 sequences makes the fine-tune proxy's AO mostly chance; the loss on the same
    fixed pairs for every child (proxy/oneshot.py HeldOutPairs) has no sampling noise of its
    own, and skipping the tracking makes a trial cheaper. The distillation error against the
    parent on those pairs is recorded beside it.
    """

    family: object
    parent: torch.nn.Module
    train_sequences: list
    held_out: object  # a HeldOutPairs
    settings: ProxySettings

    def score(self, trial, *, child, knobs, seed: int, on_step) -> float:
        torch.manual_seed(seed)
        settings = replace(self.settings, seed=seed)
        trial.set_user_attr("device", describe(settings.device) + (f", {settings.amp} autocast" if settings.amp else ""))
        summary = finetune_child(self.family, child, train_sequences=self.train_sequences, settings=settings,
                                 parent=self.parent, on_step=on_step)
        scores = self.held_out.scores(child)
        trial.set_user_attr("proxy", "distill-loss")
        trial.set_user_attr("loss", summary)
        trial.set_user_attr("held_out_loss", -scores["loss"])
        trial.set_user_attr("held_out_distill", -scores["distill"])
        return scores["loss"]


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
