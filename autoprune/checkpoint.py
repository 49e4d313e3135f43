"""Reading and writing weights safely, and strict loading with readable mismatch reports.

Our own artifacts are safetensors. Official `.pth` checkpoints are plain state dicts and
load through ``torch.load(weights_only=True)``, so no code in a user file ever runs unless
the caller passes ``trust_pickle=True``.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from autoprune.errors import CheckpointError

# Wrappers used by the official training codes around the state dict.
_WRAPPER_KEYS = ("state_dict", "model", "net", "module")


def read_state_dict(path: str | os.PathLike, *, trust_pickle: bool = False) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a ``.pth``/``.pt``/``.tar`` file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file; pass the path of a .pth or .safetensors file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises several types for a bad header
            raise CheckpointError(f"checkpoint {path}: not a readable safetensors file ({exc})") from None
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=not trust_pickle)
    except Exception as exc:
        hint = "" if trust_pickle else "; if you trust this file and it holds Python objects, pass --trust-pickle"
        raise CheckpointError(f"checkpoint {path}: cannot be read as a weights file ({type(exc).__name__}){hint}") from None
    return _unwrap(obj, path)


def _unwrap(obj, path: Path) -> dict[str, torch.Tensor]:
    for _ in range(3):
        if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        if isinstance(obj, Mapping):
            inner = next((obj[k] for k in _WRAPPER_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
            if inner is not None:
                obj = inner
                continue
        raise CheckpointError(f"checkpoint {path}: not a state dict (found {type(obj).__name__} without tensors); "
                              "pass a file of parameter names and tensors, e.g. saved from model.state_dict()")
    state = {str(k): v for k, v in obj.items()}
    if all(k.startswith("module.") for k in state):  # saved from DataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def describe_mismatch(model_state: Mapping[str, torch.Tensor], loaded: Mapping[str, torch.Tensor], limit: int = 6) -> str:
    """One readable line: missing / unexpected / mis-shaped keys, grouped, the first few of each."""
    missing = [k for k in model_state if k not in loaded]
    unexpected = [k for k in loaded if k not in model_state]
    shaped = [
        f"{k} {tuple(loaded[k].shape)}!={tuple(model_state[k].shape)}"
        for k in model_state
        if k in loaded and tuple(loaded[k].shape) != tuple(model_state[k].shape)
    ]
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", shaped)):
        if items:
            more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
            parts.append(f"{len(items)} {label}: " + ", ".join(items[:limit]) + more)
    return "; ".join(parts)


def load_strict(model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str = "checkpoint") -> None:
    """Load ``state`` into ``model`` only if keys and shapes match 1:1; else one clear error."""
    own = model.state_dict()
    problem = describe_mismatch(own, state)
    if problem:
        if own and not set(own) & set(state):  # nothing in common: not this tracker's checkpoint at all
            problem = "no key in common — is it a checkpoint of another tracker family or preset? " + problem
        raise CheckpointError(f"{source} does not fit {type(model).__name__}: {problem}")
    model.load_state_dict(state, strict=True)


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(tmp_path)`` then rename into place, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file ordinary permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata of a .safetensors file (record, flags, ...), without reading tensors."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:  # safetensors raises several types for a bad header, as in read_state_dict
        raise CheckpointError(f"checkpoint {path}: not a readable safetensors file ({exc})") from None


def recorded_flags(path: str | os.PathLike) -> dict | None:
    """The training flags autoprune recorded in a .safetensors file it wrote; None for any other
    file (an official checkpoint, or weights saved without autoprune's metadata)."""
    if Path(path).suffix != ".safetensors":
        return None
    text = read_metadata(path).get("flags")
    if text is None:
        return None
    try:
        flags = json.loads(text)
    except ValueError:
        return None
    return flags if isinstance(flags, dict) else None


def save_safetensors(state: Mapping[str, torch.Tensor], path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """Write tensors atomically as safetensors (contiguous, shared storage broken)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}  # files hold CPU tensors
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
