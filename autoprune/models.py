"""Getting a ready model from what a user names: a preset, a checkpoint, or a saved model."""
from __future__ import annotations

import json
from pathlib import Path

import trackers
from autoprune.checkpoint import load_strict, read_metadata, read_state_dict
from autoprune.errors import CheckpointError, ConfigError


def _arch_of(path: Path) -> tuple[dict, Path, dict]:
    """The architecture record, weights file and metadata of a saved model (dir or .safetensors)."""
    if path.is_dir():
        weights = path / "model.safetensors"
    else:
        weights = path
    if not weights.is_file():
        raise CheckpointError(f"{path}: no model.safetensors here; pass a training output or export directory")
    meta = read_metadata(weights)
    if "arch" not in meta:
        raise CheckpointError(f"{weights}: carries no architecture record; pass --tracker and --preset with --checkpoint")
    return json.loads(meta["arch"]), weights, meta


def load_saved(path: str | Path):
    """(family, model) from a directory or file written by ``autoprune train`` / ``export``."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or directory")
    if path.is_dir() and (path / "arch.json").is_file():  # an export: checked against its recorded hash
        from autoprune.export import load_model

        return load_model(path)
    arch, weights, meta = _arch_of(path)
    family = trackers.get(arch.get("family", ""))
    model = family.build(family.validate_arch(arch))
    load_strict(model, read_state_dict(weights), source=str(weights))
    family.restore_flags(model, meta)  # e.g. "from official weights": a fine-tune then treats it gently
    model.eval()
    return family, model


def resolve(tracker: str | None, preset: str | None, checkpoint: str | None, weights: str | None, *, trust_pickle: bool = False):
    """(family, model) from CLI options: ``--weights`` of ours, or tracker/preset (+ official checkpoint)."""
    if weights:
        family, model = load_saved(weights)
        if tracker and tracker != family.name:
            raise ConfigError(f"--weights {weights} holds a {family.name!r} model, not {tracker!r}")
        return family, model
    if not tracker:
        raise ConfigError("say which model: --tracker NAME [--preset P] [--checkpoint FILE], or --weights DIR")
    family = trackers.get(tracker)
    model = family.create(preset, checkpoint=checkpoint, trust_pickle=trust_pickle)
    model.eval()
    return family, model
