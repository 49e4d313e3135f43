"""Short fine-tune (optionally distilled from the parent) + quick tracking = proxy AO."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from autoprune.data.pairs import pair_loader
from autoprune.eval import evaluate
from autoprune.train import train


@dataclass(frozen=True)
class ProxySettings:
    steps: int = 30
    batch_size: int = 8
    sequences: int = 4  # validation sequences tracked for the score
    lr: float | None = None
    distill: float = 0.0  # weight of the parent-output matching term (0: off)
    seed: int = 0
    hparams: str | None = None


@dataclass
class ProxyResult:
    ao: float
    sr50: float
    sr75: float = float("nan")
    loss: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


class _Distilled:
    """The family, with its loss plus a term matching the parent's raw outputs."""

    def __init__(self, family, parent, weight: float) -> None:
        self._family, self._parent, self._weight = family, parent.eval(), weight

    def __getattr__(self, name):
        return getattr(self._family, name)

    def loss(self, model, batch):
        loss, parts = self._family.loss(model, batch)
        z = self._family.preprocess(batch["template"])
        x = self._family.preprocess(batch["search"])
        with torch.no_grad():
            target = self._parent(z, x)
        student = model(z, x)
        terms = [F.mse_loss(student[k], target[k]) for k in target
                 if k in student and torch.is_tensor(target[k]) and student[k].shape == target[k].shape and target[k].is_floating_point()]
        if terms:
            distill = torch.stack(terms).mean()
            loss = loss + self._weight * distill
            parts = {**parts, "distill": float(distill)}
        return loss, parts


def proxy_score(
    family,
    child,
    *,
    train_sequences: Sequence,
    val_sequences: Sequence,
    settings: ProxySettings,
    parent=None,
    on_step: Callable[[int, float], None] | None = None,
    progress: bool = False,
) -> ProxyResult:
    """Fine-tune ``child`` in place for ``settings.steps`` steps, then track and score it."""
    start = time.perf_counter()
    torch.manual_seed(settings.seed)
    trainer = _Distilled(family, parent, settings.distill) if (parent is not None and settings.distill > 0) else family
    summary: dict[str, float] = {}
    if settings.steps > 0:
        batches = pair_loader(list(train_sequences), family.crop_spec(child.arch), batch_size=settings.batch_size, seed=settings.seed)
        result = train(trainer, child, batches, steps=settings.steps, lr=settings.lr, progress=progress, on_step=on_step,
                       description="proxy fine-tune")
        summary = result.summary()
    child.eval()
    tracker = family.make_tracker(child, settings.hparams)
    scored = evaluate(tracker, list(val_sequences)[: settings.sequences], progress=progress)
    return ProxyResult(ao=float(scored.ao), sr50=float(scored.sr50), sr75=float(scored.sr75), loss=summary, seconds=time.perf_counter() - start)
