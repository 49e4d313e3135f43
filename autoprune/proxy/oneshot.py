"""The parent as a weight-sharing supernet: trained once, then every child is scored in seconds.

Children are the parent's importance-ordered units and blocks (a smaller child's units are a
subset of a larger one's), so the parent already holds every child of the search space. The
supernet fine-tune teaches those shared weights to work at every width the search visits,
with the sandwich rule of slimmable networks / BigNAS: each step trains the largest child
(the parent itself), the smallest child and a few random ones, the smaller ones also
matching the largest one's outputs of the same batch (in-place distillation).

A child is cut from the current supernet weights like any other child; after its backward
pass its gradients go back to the supernet entries it was cut from (each child tensor
records the flat supernet positions it holds, by slicing an index tensor the same way the
weights are sliced), and one optimizer step updates the supernet.

Scoring a child: cut it from the trained supernet, re-estimate its BatchNorm statistics on
a few fixed training batches, then measure on fixed held-out pairs of the val split (the
same pairs for every child, so the score has no sampling noise of its own).
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from autoprune.checkpoint import read_state_dict, save_safetensors
from autoprune.data.pairs import pair_loader
from autoprune.errors import AutoPruneError
from autoprune.progress import progress_bar
from autoprune.proxy.evaluator import CALIBRATION_SEED
from autoprune.proxy.stabilize import recalibrate_batchnorm
from autoprune.prune.apply import slice_state

HELD_OUT_SEED = 104729  # the val pairs every one-shot score is measured on
ONESHOT_SCORES = ("loss", "distill", "ao")  # what a child's one-shot score can be (higher is better for each)


@dataclass(frozen=True)
class SupernetSettings:
    steps: int = 300
    batch_size: int = 8
    random_children: int = 2  # besides the largest and the smallest, per step
    distill: float = 1.0  # weight of matching the largest child's outputs (in-place distillation)
    lr_scale: float = 0.1  # times the family's default fine-tune LR: the gradients of several children add up per step
    seed: int = 0


@dataclass(frozen=True)
class OneShotSettings:
    score: str = "loss"  # one of ONESHOT_SCORES: the trial's first objective
    bn_batches: int = 4  # training batches re-estimating a child's BatchNorm statistics
    held_out_batches: int = 8  # fixed val batches the loss and distillation error are averaged over
    batch_size: int = 8
    sequences: int = 4  # val sequences tracked for the "ao" score


def _outputs_of(model) -> tuple[dict, Callable[[], None]]:
    """Capture the outputs of ``model``'s forward calls (the family's loss calls it inside)."""
    seen: dict = {}

    def hook(_module, _inputs, output):
        seen["out"] = output

    handle = model.register_forward_hook(hook)
    return seen, handle.remove


def _matching(student: dict, teacher: dict) -> torch.Tensor | None:
    """Mean squared error over the float outputs both models give in the same shape."""
    terms = [F.mse_loss(student[k].float(), teacher[k].float()) for k in teacher
             if k in student and torch.is_tensor(teacher[k]) and teacher[k].is_floating_point()
             and student[k].shape == teacher[k].shape]
    return torch.stack(terms).mean() if terms else None


class _GradientRouter:
    """Where each child tensor sits in the supernet, to add its gradient there."""

    def __init__(self, pruner, supernet) -> None:
        self.pruner = pruner
        self.params = {n: p for n, p in supernet.named_parameters() if p.requires_grad}
        self.offsets, positions, start = {}, {}, 0
        for name, p in self.params.items():
            self.offsets[name] = (start, p.numel())
            positions[name] = torch.arange(start, start + p.numel()).view(p.shape)
            start += p.numel()
        self.positions, self.size = positions, start

    def add_child_gradients(self, values, child, into: torch.Tensor) -> None:
        where = slice_state(self.positions, self.pruner.groups, self.pruner.blocks, self.pruner.plan(values).selection)
        for name, p in child.named_parameters():
            if p.grad is not None and name in where:
                into.index_add_(0, where[name].reshape(-1).to(into.device), p.grad.reshape(-1))

    def add_to_supernet(self, flat: torch.Tensor) -> None:
        for name, p in self.params.items():
            start, n = self.offsets[name]
            part = flat[start:start + n].view_as(p)
            p.grad = part.clone() if p.grad is None else p.grad.add_(part)


def train_supernet(family, pruner, train_sequences: Sequence, *, draw_child: Callable[[np.random.Generator], dict],
                   settings: SupernetSettings, device: str = "cpu", progress: bool = True) -> tuple[object, dict]:
    """Fine-tune a copy of ``pruner.parent`` as a supernet; returns it and a loss summary.

    ``draw_child(rng)``: the knob values of one random child of the search (projected to the
    costs the search will visit).
    """
    start_time = time.perf_counter()
    torch.manual_seed(settings.seed)
    supernet = copy.deepcopy(pruner.parent).to(device)
    cutter = pruner.cutting_from(supernet)
    router = _GradientRouter(cutter, supernet)
    # measured on siamrpn/small: at its default LR the sum of four networks' gradients drove the
    # parent's loss from 0.4 to 12 in 300 steps; at 0.1x it falls (0.42 -> 0.32 in 40 steps)
    probe, _ = family.make_optimizer(copy.deepcopy(supernet), steps=settings.steps)
    base_lr = max(g["lr"] for g in probe.param_groups)
    optimizer, scheduler = family.make_optimizer(supernet, steps=settings.steps, lr=base_lr * settings.lr_scale)
    batches = pair_loader(list(train_sequences), family.crop_spec(supernet.arch), batch_size=settings.batch_size,
                          seed=settings.seed, workers=0)
    rng = np.random.default_rng([settings.seed, 17])
    smallest = pruner.space.smallest()
    largest_losses, smallest_losses = [], []
    with progress_bar("supernet fine-tune", total=settings.steps, enabled=progress) as bar:
        for step in range(settings.steps):
            batch = next(batches)
            family.train_mode(supernet)
            optimizer.zero_grad(set_to_none=True)
            same_draws = settings.seed * 1_000_003 + step  # a family's own augmentation: the same for every child
            torch.manual_seed(same_draws)
            seen, release = _outputs_of(supernet)
            loss, _ = family.loss(supernet, batch)
            release()
            _check(loss, step, "largest")
            loss.backward()
            teacher = {k: v.detach() for k, v in seen["out"].items() if torch.is_tensor(v)}
            largest_losses.append(float(loss.detach()))
            flat = torch.zeros(router.size, device=device)
            for k, values in enumerate([smallest] + [draw_child(rng) for _ in range(settings.random_children)]):
                child, _ = cutter.prune(values)
                child.to(device)
                family.train_mode(child)
                seen, release = _outputs_of(child)
                torch.manual_seed(same_draws)
                child_loss, _ = family.loss(child, batch)
                release()
                matched = _matching(seen["out"], teacher) if settings.distill > 0 else None
                total = child_loss + settings.distill * matched if matched is not None else child_loss
                _check(total, step, "child")
                total.backward()
                router.add_child_gradients(values, child, flat)
                if k == 0:
                    smallest_losses.append(float(child_loss.detach()))
            router.add_to_supernet(flat)
            if family.grad_clip:
                torch.nn.utils.clip_grad_norm_(list(router.params.values()), family.grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            bar.update(info=f"loss largest {largest_losses[-1]:.3f} smallest {smallest_losses[-1]:.3f}")
            bar.advance(1)
    supernet.eval()
    k = max(1, min(20, settings.steps // 5))
    summary = {"steps": settings.steps, "seconds": time.perf_counter() - start_time,
               "largest_loss_first": _mean(largest_losses[:k]), "largest_loss_last": _mean(largest_losses[-k:]),
               "smallest_loss_first": _mean(smallest_losses[:k]), "smallest_loss_last": _mean(smallest_losses[-k:])}
    return supernet, summary


def _mean(xs: list[float]) -> float:
    return float(sum(xs) / len(xs)) if xs else float("nan")


def _check(loss: torch.Tensor, step: int, which: str) -> None:
    if not math.isfinite(float(loss.detach())):
        raise AutoPruneError(f"supernet fine-tune: the {which} child's loss became {float(loss)} at step {step + 1}; "
                             "lower the learning rate")


def save_supernet(family, supernet, path: Path) -> None:
    save_safetensors(supernet.state_dict(), path, metadata=family.weights_metadata(supernet))


def load_supernet(parent, path: Path):
    """The parent's architecture holding the supernet weights written by :func:`save_supernet`."""
    supernet = copy.deepcopy(parent)
    supernet.load_state_dict(read_state_dict(path))
    return supernet.eval()


class OneShotScorer:
    """Scores children cut from a trained supernet: no fine-tune, fixed held-out data."""

    def __init__(self, family, pruner, supernet, *, train_sequences: Sequence, val_sequences: Sequence,
                 settings: OneShotSettings = OneShotSettings(), device: str = "cpu") -> None:
        if settings.score not in ONESHOT_SCORES:
            raise AutoPruneError(f"unknown one-shot score {settings.score!r}; valid: {', '.join(ONESHOT_SCORES)}")
        self.family, self.settings, self.device = family, settings, device
        self.cutter = pruner.cutting_from(supernet)
        self.train_sequences, self.val_sequences = list(train_sequences), list(val_sequences)
        self.held_out = HeldOutPairs(family, pruner.parent, val_sequences, batches=settings.held_out_batches,
                                     batch_size=settings.batch_size, device=device)

    def child(self, values):
        """The child cut from the supernet, its BatchNorm statistics its own."""
        child, arch = self.cutter.prune(values)
        child.to(self.device)
        if self.settings.bn_batches > 0:
            calibration = pair_loader(self.train_sequences, self.family.crop_spec(arch), batch_size=self.settings.batch_size,
                                      seed=CALIBRATION_SEED, workers=0)
            recalibrate_batchnorm(self.family, child, calibration, self.settings.bn_batches)
        return child.eval(), arch

    @torch.no_grad()
    def scores(self, values, *, which: Sequence[str] | None = None) -> dict[str, float]:
        """Each asked score, higher is better: minus the held-out loss, minus the distillation
        error against the parent, and AO on the first ``sequences`` val sequences."""
        which = tuple(which or (self.settings.score,))
        child, _ = self.child(values)
        out: dict[str, float] = {}
        if "loss" in which or "distill" in which:
            out.update(self.held_out.scores(child))
        if "ao" in which:
            from autoprune.eval import evaluate

            tracker = self.family.make_tracker(child, None)
            out["ao"] = float(evaluate(tracker, self.val_sequences[: self.settings.sequences], progress=False).ao)
        return {k: out[k] for k in which}


class HeldOutPairs:
    """Fixed val pairs and the parent's outputs on them: a child's loss and distillation error with no sampling noise.

    The same pairs (seed HELD_OUT_SEED) for every child, so two children's scores differ by
    the children alone. Built lazily per crop spec (a child at another resolution gets the
    same image pairs cropped at its own sizes) and kept for the process's later children.
    """

    def __init__(self, family, parent, val_sequences: Sequence, *, batches: int = 8, batch_size: int = 8,
                 device: str = "cpu") -> None:
        self.family, self.teacher, self.device = family, parent, device
        self.val_sequences, self.batches, self.batch_size = list(val_sequences), batches, batch_size
        self._held_out: dict = {}  # crop spec -> (batches, the parent's outputs on them)

    def _pairs(self, spec):
        key = repr(spec)
        if key not in self._held_out:
            stream = pair_loader(self.val_sequences, spec, batch_size=self.batch_size, seed=HELD_OUT_SEED, workers=0)
            batches = [next(stream) for _ in range(self.batches)]
            teacher = copy.deepcopy(self.teacher).to(self.device).eval()
            with torch.no_grad():
                outputs = [_forward(self.family, teacher, b, self.device) for b in batches]
            self._held_out[key] = (batches, outputs)
        return self._held_out[key]

    @torch.no_grad()
    def scores(self, child) -> dict[str, float]:
        """``{"loss": -mean held-out loss, "distill": -mean output error against the parent}`` of ``child`` in eval mode."""
        child.eval()
        batches, teacher = self._pairs(self.family.crop_spec(child.arch))
        losses, errors = [], []
        for batch, target in zip(batches, teacher):
            seen, release = _outputs_of(child)
            loss, _ = self.family.loss(child, {k: (v.to(self.device) if torch.is_tensor(v) else v) for k, v in batch.items()})
            release()
            losses.append(float(loss))
            err = _matching(seen["out"], target)
            errors.append(float(err) if err is not None else float("nan"))
        return {"loss": -_mean(losses), "distill": -_mean(errors)}


def _forward(family, model, batch, device) -> dict:
    seen, release = _outputs_of(model)
    family.loss(model, {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in batch.items()})
    release()
    return {k: v.detach() for k, v in seen["out"].items() if torch.is_tensor(v)}
