"""Where models and batches run: ``--device cpu|cuda[:N]|auto`` and ``--amp bf16|fp16``.

Every command resolves its device here once, so a bad value or a missing CUDA device is the
same one-line error everywhere. Models, batches and trackers' crops then follow the model's
device; saved weights and exports are always written from CPU tensors.
"""
from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping

import torch

from autoprune.errors import ConfigError

DEVICE_HELP = "cpu, cuda (every GPU: search workers spread over them), cuda:N, or auto (CUDA when present)"
AMP_MODES = ("bf16", "fp16")
_FORM = re.compile(r"^(cpu|auto|cuda)(?::(\d+))?$")


def resolve_device(text: str | None) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` for a user's ``--device`` value (``auto``/None: CUDA when present)."""
    value = (text or "auto").strip().lower()
    match = _FORM.match(value)
    if not match or (match.group(2) is not None and match.group(1) != "cuda"):
        raise ConfigError(f"--device {text}: expected cpu, cuda, cuda:N or auto")
    kind, index = match.group(1), match.group(2)
    if kind == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cpu":
        return "cpu"
    if not torch.cuda.is_available():
        raise ConfigError(f"--device {text}: no CUDA device here; use --device cpu (or auto)")
    count = torch.cuda.device_count()
    if index is not None and int(index) >= count:
        raise ConfigError(f"--device {text}: this machine has {count} CUDA device(s), cuda:0..cuda:{count - 1}")
    return value


def worker_device(device: str, worker: int) -> str:
    """The device of local worker ``worker``: plain ``cuda`` spreads workers over every GPU (i mod n)."""
    if device != "cuda":
        return device
    return f"cuda:{worker % max(1, torch.cuda.device_count())}"


def ray_trial_device(device: str) -> str:
    """The device inside a Ray trial: the GPU Ray reserved for it, which it exposes as cuda:0."""
    if device == "cpu":
        return "cpu"
    try:
        import ray

        assigned = ray.get_gpu_ids()
    except Exception:  # not inside a Ray worker
        assigned = [g for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip()]
    return "cuda:0" if assigned and torch.cuda.is_available() else "cpu"


def describe(device: str) -> str:
    """The device with its GPU's name, for records and cards (``cuda:0 (NVIDIA H200)``)."""
    if not device.startswith("cuda") or not torch.cuda.is_available():
        return device
    index = torch.device(device).index
    return f"{device} ({torch.cuda.get_device_name(index if index is not None else 0)})"


def check_amp(amp: str | None, device: str) -> str | None:
    """``amp`` if it can run on ``device``; on the CPU mixed precision is refused rather than silently ignored."""
    if amp is None:
        return None
    if amp not in AMP_MODES:
        raise ConfigError(f"--amp {amp}: expected one of {', '.join(AMP_MODES)}")
    if not device.startswith("cuda"):
        raise ConfigError(f"--amp {amp} needs a CUDA device (here: --device {device}); drop --amp on the CPU")
    return amp


def autocast(device: str, amp: str | None):
    """The autocast context of a forward pass (a no-op without ``amp``)."""
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def grad_scaler(amp: str | None):
    """fp16 gradients underflow without loss scaling; bf16 has float32's range and needs none."""
    return torch.amp.GradScaler("cuda") if amp == "fp16" else None


def model_device(model: torch.nn.Module) -> str:
    param = next(model.parameters(), None)
    return str(param.device) if param is not None else "cpu"


def to_device(batch: Mapping[str, torch.Tensor], device: str) -> dict:
    """A batch's tensors on ``device``; non-blocking, which overlaps the copy when the loader pinned them."""
    blocking = not device.startswith("cuda")
    return {k: v.to(device, non_blocking=not blocking) if torch.is_tensor(v) else v for k, v in batch.items()}


def loader_workers(device: str) -> int:
    """Data-loading processes for a fine-tune: none on the CPU (they would take the training's
    cores), two on CUDA so decoding and cropping keep up with the GPU."""
    return 2 if device.startswith("cuda") else 0


def same_device(a: str, b: str) -> bool:
    """Whether two device names are one device (plain ``cuda`` is the current GPU)."""
    def canonical(name: str) -> torch.device:
        d = torch.device(name)
        return torch.device("cuda", torch.cuda.current_device()) if d.type == "cuda" and d.index is None else d

    return canonical(a) == canonical(b)
