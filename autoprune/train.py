"""The one training loop every family uses (full training and the proxy fine-tune).

The family supplies the loss, the optimizer + schedule, gradient clipping and its training
mode; the loop adds progress, NaN guarding, periodic safetensors checkpoints and resume.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from autoprune.checkpoint import atomic_write, load_strict, read_state_dict, save_safetensors
from autoprune.cost import quiet
from autoprune.device import autocast, grad_scaler, model_device, to_device
from autoprune.errors import AutoPruneError, CheckpointError
from autoprune.progress import progress_bar


class NonFiniteLossError(AutoPruneError):
    """Training produced a NaN or infinite loss."""


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)
    steps: int = 0

    def summary(self) -> dict[str, float]:
        """First/last/min of the loss curve, smoothed over a few steps (stored with trials)."""
        if not self.losses:
            return {}
        k = max(1, min(10, len(self.losses) // 5))
        return {
            "steps": float(self.steps),
            "loss_first": float(sum(self.losses[:k]) / k),
            "loss_last": float(sum(self.losses[-k:]) / k),
            "loss_min": float(min(self.losses)),
        }


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state into flat tensors (safetensors) and JSON-able scalars."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for pid, pstate in state["state"].items():
        for name, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{name}"] = value
            else:
                scalars.setdefault(str(pid), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    for pid, values in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_training_state(out_dir: Path, model, optimizer, scheduler, result: TrainResult) -> None:
    """Write model, optimizer and progress; each file atomically, progress last."""
    out_dir.mkdir(parents=True, exist_ok=True)
    from autoprune.prune.apply import family_of

    family = family_of(model)  # the real family: ``train`` may get a wrapper that adds losses
    save_safetensors(model.state_dict(), out_dir / "model.safetensors", metadata=family.weights_metadata(model))
    opt_tensors, opt_meta = _optimizer_tensors(optimizer)
    save_safetensors(opt_tensors, out_dir / "optimizer.safetensors")
    progress = {
        "steps": result.steps,
        "losses": result.losses,
        "optimizer": opt_meta,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "arch": model.arch,
    }
    atomic_write(out_dir / "progress.json", lambda tmp: Path(tmp).write_text(json.dumps(progress)))


def save_snapshot(out_dir: Path, model, step: int) -> Path:
    """Keep the weights of ``step`` beside the checkpoint; loadable with ``--checkpoint``."""
    from autoprune.prune.apply import family_of

    path = out_dir / "snapshots" / f"step-{step:06d}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_safetensors(model.state_dict(), path, metadata=family_of(model).weights_metadata(model))
    return path


def _resume(out_dir: Path, model, optimizer, scheduler, total_steps: int) -> TrainResult:
    progress_file = out_dir / "progress.json"
    if not progress_file.exists():  # no checkpoint was completed yet: start from scratch
        return TrainResult()

    def damaged(what: str) -> CheckpointError:
        return CheckpointError(f"{progress_file}: {what}; cannot resume from {out_dir} — use a new --out, "
                               "or drop --resume to train from scratch (it overwrites the checkpoint)")

    try:
        progress = json.loads(progress_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise damaged(f"unreadable ({type(exc).__name__})") from None
    if not isinstance(progress, dict):
        raise damaged("not the JSON object a checkpoint holds")
    if progress.get("arch") != model.arch:
        raise AutoPruneError(f"{out_dir}: checkpoint is of another architecture; use a new --out or drop --resume")
    steps, losses = progress.get("steps"), progress.get("losses")
    numbers = isinstance(losses, list) and all(type(v) in (int, float) for v in losses)
    if type(steps) is not int or steps < 0 or not numbers or len(losses) != steps:
        raise damaged(f"steps {steps!r} with {len(losses) if isinstance(losses, list) else 'no'} losses do not match")
    if steps > total_steps:
        raise damaged(f"it is at step {steps}, beyond --steps {total_steps}; pass --steps {steps} or more")
    weights = out_dir / "model.safetensors"
    load_strict(model, read_state_dict(weights), source=str(weights))
    try:  # names and shapes must be this optimizer's (a damaged file or another model's breaks either)
        _restore_optimizer(optimizer, read_state_dict(out_dir / "optimizer.safetensors"), progress["optimizer"])
        if scheduler is not None and progress.get("scheduler") is not None:
            scheduler.load_state_dict(progress["scheduler"])
    except (KeyError, ValueError, TypeError, AttributeError, RuntimeError) as exc:
        raise damaged(f"the optimizer state does not fit this model ({type(exc).__name__})") from None
    return TrainResult(losses=[float(v) for v in losses], steps=steps)


def train(
    family,
    model,
    batches: Iterator[Mapping[str, torch.Tensor]],
    *,
    steps: int,
    lr: float | None = None,
    out_dir: str | Path | None = None,
    save_every: int = 0,
    snapshot_every: int = 0,
    resume: bool = False,
    progress: bool = True,
    log_every: int = 10,
    on_step: Callable[[int, float], None] | None = None,
    description: str = "training",
    device: str | None = None,
    amp: str | None = None,
) -> TrainResult:
    """Train ``model`` for ``steps`` optimizer steps on ``batches``.

    ``on_step(step, loss)`` is called after every step (the search uses it to report
    intermediate values and to stop early). With ``out_dir``, a checkpoint is written every
    ``save_every`` steps and at the end; ``resume=True`` continues from it. ``snapshot_every``
    also keeps the weights of every N-th step as ``snapshots/step-NNNNNN.safetensors`` (for
    learning curves: the checkpoint itself is overwritten).

    ``device``: where to train (default: where the model is); the model stays there afterwards.
    ``amp`` (``bf16``/``fp16``, CUDA only): the forward pass and loss under autocast.
    """
    device = device or model_device(model)
    model.to(device)  # before the optimizer: it must hold the parameters where they will live
    scaler = grad_scaler(amp)
    optimizer, scheduler = family.make_optimizer(model, steps=steps, lr=lr)
    out = Path(out_dir) if out_dir is not None else None
    result = _resume(out, model, optimizer, scheduler, steps) if (out is not None and resume) else TrainResult()
    family.train_mode(model)
    params = [p for p in model.parameters() if p.requires_grad]
    # training is work a latency timing elsewhere on the machine waits for (cost/quiet.py)
    with progress_bar(description, total=steps, enabled=progress) as bar, quiet.working():
        bar.advance(result.steps)
        while result.steps < steps:
            quiet.pause_point()
            batch = to_device(next(batches), device)
            if hasattr(model, "set_progress"):  # e.g. OSTrack's keep-rate schedule
                model.set_progress(result.steps / max(steps, 1))
            with autocast(device, amp):
                loss, parts = family.loss(model, batch)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise NonFiniteLossError(f"loss became {value} at step {result.steps + 1}; lower the learning rate (--lr)")
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            else:
                loss.backward()
            if family.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, family.grad_clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            if scheduler is not None:
                scheduler.step()
            result.steps += 1
            result.losses.append(value)
            if on_step is not None:
                on_step(result.steps, value)
            if result.steps % max(log_every, 1) == 0 or result.steps == steps:
                bar.update(advance=0, info=f"loss {value:.4f}")
            bar.advance(1)
            if out is not None and save_every and result.steps % save_every == 0:
                save_training_state(out, model, optimizer, scheduler, result)
            if out is not None and snapshot_every and result.steps % snapshot_every == 0:
                save_snapshot(out, model, result.steps)
    if out is not None:
        save_training_state(out, model, optimizer, scheduler, result)
    model.eval()
    return result
