"""The parent a search prunes: the user's checkpoint, or a default parent trained once and cached."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from autoprune.cache import cache_dir
from autoprune.checkpoint import read_state_dict
from autoprune.data import open_split
from autoprune.data.pairs import pair_loader
from autoprune.run.settings import DEFAULT_PARENT_STEPS
from autoprune.train import train


@dataclass
class Parent:
    model: torch.nn.Module
    description: str  # one line telling the user what the parent is
    source: str  # checkpoint path or cached weights


def shipped_parent(family, model) -> Parent | None:
    """A demo parent trained on the built-in dataset that ships with the family, if any (see models.load_shipped)."""
    from autoprune.models import load_shipped, preset_of

    meta = load_shipped(family, model)
    if meta is None:
        return None
    preset = preset_of(family, model.arch)
    note = (f"parent: {family.name}/{preset} trained on the built-in dataset ({meta.get('summary', 'shipped demo weights')}; "
            f"made by `{meta.get('command', 'autoprune train')}`) — a demo parent; pass --checkpoint to prune your own tracker")
    return Parent(model.eval(), note, f"shipped:{family.name}/{preset}")


def prepare_parent(family, *, preset: str | None, checkpoint: str | None, data_root: Path, builtin: bool,
                   steps: int = DEFAULT_PARENT_STEPS, seed: int = 0, trust_pickle: bool = False, progress: bool = True) -> Parent:
    preset = preset or (family.official_preset if checkpoint else family.default_preset)
    model = family.create(preset, checkpoint=checkpoint, trust_pickle=trust_pickle)
    if checkpoint:
        return Parent(model.eval(), f"parent: {family.name}/{preset} with weights from {checkpoint}", str(checkpoint))
    if builtin:
        shipped = shipped_parent(family, model)
        if shipped is not None:
            return shipped
    key = hashlib.sha256(json.dumps([model.arch, str(Path(data_root).resolve()), steps, seed], sort_keys=True).encode()).hexdigest()[:12]
    weights = cache_dir("parents") / f"{family.name}-{preset}-{key}.safetensors"
    where = "the built-in dataset" if builtin else str(data_root)
    if weights.is_file():
        model.load_state_dict(read_state_dict(weights))
        note = f"parent: {family.name}/{preset} trained for {steps} steps on {where} (cached at {weights}); pass --checkpoint to prune your own trained tracker"
        return Parent(model.eval(), note, str(weights))
    torch.manual_seed(seed)
    batches = pair_loader(open_split(data_root, "train"), family.crop_spec(model.arch), batch_size=8, seed=seed)
    out = cache_dir("parents", f"{family.name}-{preset}-{key}-training")
    train(family, model, batches, steps=steps, out_dir=out, save_every=100, resume=True, progress=progress,
          description=f"training the default parent {family.name}/{preset}")
    (out / "model.safetensors").replace(weights)
    note = f"parent: {family.name}/{preset} trained for {steps} steps on {where} (no --checkpoint given; cached at {weights})"
    return Parent(model.eval(), note, str(weights))
