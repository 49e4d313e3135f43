"""Short fine-tune (optionally distilled from the parent) + quick tracking = proxy AO."""
from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from autoprune.data.pairs import pair_loader
from autoprune.device import loader_workers, model_device, same_device
from autoprune.eval import EvalResult, evaluate
from autoprune.export.onnx_runtime import tracking_on
from autoprune.proxy.stabilize import WeightAverage, recalibrate_batchnorm
from autoprune.train import train


# What full validation adds to a child's fine-tune (ProxySettings fields), chosen by
# `python -m benchmarks finetune_stability`: distillation from the parent lifted a 10 % siamrpn
# child's val AO from 0.185 to 0.212 (3 seeds each, at the from-scratch LR). What cut the seed
# spread is the fine-tune LR itself (see finetune_lr).
VALIDATION_RECIPE: dict = {"distill": 1.0}
CALIBRATION_SEED = 7919  # the pair stream BatchNorm recalibration reads, the same for every child


@dataclass(frozen=True)
class ProxySettings:
    steps: int = 30
    batch_size: int = 8
    sequences: int = 4  # validation sequences tracked for the score
    lr: float | None = None  # None: the family's LR for trained weights (train_settings["lr_pretrained"])
    distill: float = 0.0  # weight of the parent-output matching term (0: off)
    seed: int = 0
    hparams: str | None = None
    device: str = "cpu"  # where the child is fine-tuned and tracked
    amp: str | None = None  # bf16 / fp16 autocast in the fine-tune (CUDA only)
    ema: float = 0.0  # decay of a moving average of the weights, scored instead of the last step (0: off)
    bn_batches: int = 0  # training batches that re-estimate BatchNorm statistics before scoring (0: off)
    runtime: str = "torch"  # where the scored tracking runs: torch, or onnx (ONNX Runtime on the CPU, about 2x faster)


@dataclass
class ProxyResult:
    ao: float
    sr50: float
    sr75: float = float("nan")
    loss: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    evaluation: EvalResult | None = field(default=None, repr=False)  # per-sequence scores, for intervals

    @property
    def ao_ci(self) -> list[float]:
        """[low, high] of the AO's 95 % bootstrap interval over the sequences tracked."""
        if self.evaluation is None:
            return [float("nan"), float("nan")]
        ci = self.evaluation.ao_interval()
        return [ci.low, ci.high]


class _Distilled:
    """The family, with its loss plus a term matching the parent's raw outputs."""

    def __init__(self, family, parent, weight: float, device: str) -> None:
        # The search keeps its parent on the CPU (children are cut from it there): the teacher is a copy.
        teacher = parent if same_device(model_device(parent), device) else copy.deepcopy(parent).to(device)
        self._family, self._parent, self._weight = family, teacher.eval(), weight

    def __getattr__(self, name):
        return getattr(self._family, name)

    def _parent_inputs(self, z, x):
        """The crops resampled to the parent's sizes where a child works at another resolution
        (same image region, so outputs in crop-relative units still compare)."""
        spec = self._family.crop_spec(self._parent.arch)
        out = []
        for crop, side in ((z, spec.template_size), (x, spec.search_size)):
            if crop.shape[-1] != side or crop.shape[-2] != side:
                crop = F.interpolate(crop, size=(side, side), mode="bilinear", align_corners=False)
            out.append(crop)
        return out

    def loss(self, model, batch):
        loss, parts = self._family.loss(model, batch)
        z = self._family.preprocess(batch["template"])
        x = self._family.preprocess(batch["search"])
        with torch.no_grad():
            target = self._parent(*self._parent_inputs(z, x))
        student = model(z, x)
        terms = [F.mse_loss(student[k], target[k]) for k in target
                 if k in student and torch.is_tensor(target[k]) and student[k].shape == target[k].shape and target[k].is_floating_point()]
        if terms:
            distill = torch.stack(terms).mean()
            loss = loss + self._weight * distill
            parts = {**parts, "distill": float(distill.detach())}
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
    summary = finetune_child(family, child, train_sequences=train_sequences, settings=settings, parent=parent,
                             on_step=on_step, progress=progress)
    tracker = family.make_tracker(child, settings.hparams)
    with tracking_on(settings.runtime, family, child):
        scored = evaluate(tracker, list(val_sequences)[: settings.sequences], progress=progress)
    return ProxyResult(ao=float(scored.ao), sr50=float(scored.sr50), sr75=float(scored.sr75), loss=summary,
                       seconds=time.perf_counter() - start, evaluation=scored)


def finetune_child(
    family,
    child,
    *,
    train_sequences: Sequence,
    settings: ProxySettings,
    parent=None,
    on_step: Callable[[int, float], None] | None = None,
    progress: bool = False,
    description: str = "proxy fine-tune",
) -> dict[str, float]:
    """The one fine-tune every child gets (proxy, validation, studies, benchmarks); in place.

    ``settings`` says how: steps, LR, distillation from ``parent``, weight averaging and
    BatchNorm recalibration. The child ends in eval mode on ``settings.device``. Returns the
    loss summary (empty without steps).
    """
    torch.manual_seed(settings.seed)
    device = settings.device
    child.to(device)  # tracking after this runs where the fine-tune did
    trainer = _Distilled(family, parent, settings.distill, device) if (parent is not None and settings.distill > 0) else family
    summary: dict[str, float] = {}
    if settings.steps > 0:
        on_gpu = device.startswith("cuda")
        batches = pair_loader(list(train_sequences), family.crop_spec(child.arch), batch_size=settings.batch_size, seed=settings.seed,
                              workers=loader_workers(device), pin_memory=on_gpu)
        average = WeightAverage(child, settings.ema) if settings.ema > 0 else None
        result = train(trainer, child, batches, steps=settings.steps, lr=finetune_lr(family, settings), progress=progress,
                       on_step=_with_average(on_step, average), description=description, device=device, amp=settings.amp)
        summary = result.summary()
        if average is not None:
            average.apply()
    if settings.bn_batches > 0:
        # a fixed set of batches, not the fine-tune's seed: statistics must not add seed noise of their own
        calibration = pair_loader(list(train_sequences), family.crop_spec(child.arch), batch_size=settings.batch_size,
                                  seed=CALIBRATION_SEED, workers=0)
        recalibrate_batchnorm(family, child, calibration, settings.bn_batches)
    child.eval()
    return summary


def finetune_lr(family, settings: ProxySettings) -> float:
    """The base LR of a child's fine-tune: ``settings.lr``, else the family's LR for trained weights.

    A child is cut from a trained parent, so it is fine-tuned, not trained: at siamrpn/small's
    from-scratch LR (0.05), 150 steps took even the unpruned parent from AO 0.51 to 0.40 and
    left a 10 % child's AO to the seed (0.19 / 0.26); at its fine-tune LR (0.005) the parent kept
    0.49 and the child scored 0.282 / 0.283.
    """
    if settings.lr is not None:
        return settings.lr
    return float(family.train_settings["lr_pretrained"])


def _with_average(on_step, average: WeightAverage | None):
    """``on_step`` that also updates the weight average after every optimizer step."""
    if average is None:
        return on_step

    def step(number: int, loss: float) -> None:
        average.update()
        if on_step is not None:
            on_step(number, loss)

    return step
