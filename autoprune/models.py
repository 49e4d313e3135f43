"""Getting a ready model from what a user names: a preset, a checkpoint, or a saved model."""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import trackers
from autoprune import loading
from autoprune.checkpoint import read_metadata, read_state_dict
from autoprune.errors import ConfigError


def load_saved(path: str | Path):
    """(family, model) from a directory or file written by ``autoprune train`` / ``export`` (see ``autoprune.loading``)."""
    return loading.load(path)


class Resolved(NamedTuple):
    family: trackers.TrackerFamily
    model: trackers.TrackerModel
    note: str  # one line saying which weights the model holds; commands print it first


def resolve(tracker: str | None, preset: str | None, checkpoint: str | None, weights: str | None, *,
            trust_pickle: bool = False, random_init: bool = False, random_reason: str = "--random-init",
            default_tracker: str | None = None) -> Resolved:
    """The model a command's options name, and one line saying which weights it holds.

    ``--weights`` (ours) and ``--checkpoint`` load a file; a file carrying our record names
    its family (and, for ``--checkpoint`` without ``--preset``, its architecture). Without a
    file the preset gets the family's shipped demo weights, or random weights when
    ``random_init`` (``random_reason`` says why); a preset with neither is a ConfigError, so
    no command scores random weights without saying so.
    """
    if weights:
        family, model = load_saved(weights)
        if tracker and tracker != family.name:
            raise ConfigError(f"--weights {weights} holds a {family.name!r} model, not {tracker!r}")
        return Resolved(family, model, f"weights: {weights} ({family.name}/{preset_of(family, model.arch) or 'pruned'})")
    record = saved_record(checkpoint) if checkpoint else None
    in_file = record.get("family") if record else None
    if tracker and in_file and tracker != in_file:
        raise ConfigError(f"--checkpoint {checkpoint} holds a {in_file!r} model, not {tracker!r}")
    tracker = tracker or in_file or default_tracker
    if not tracker:
        raise ConfigError("say which model: --tracker NAME [--preset P] [--checkpoint FILE], or --weights DIR")
    family = trackers.get(tracker)
    if checkpoint:
        model = _from_checkpoint(family, preset, checkpoint, record, trust_pickle=trust_pickle)
        note = f"weights: {family.name}/{preset_of(family, model.arch) or 'pruned'} from --checkpoint {checkpoint}"
    else:
        preset = preset or family.default_preset
        model = family.create(preset)
        note = f"weights: random init of {family.name}/{preset} ({random_reason})" if random_init else _load_shipped_or_fail(family, model, preset)
    model.eval()
    return Resolved(family, model, note)


def _from_checkpoint(family, preset: str | None, checkpoint: str, record: dict | None, *, trust_pickle: bool):
    if preset is None and record is not None:  # our own file: its record is the architecture
        return loading.from_record(record, checkpoint, checkpoint=True, trust_pickle=trust_pickle)[1]
    return family.create(preset, checkpoint=checkpoint, trust_pickle=trust_pickle)


def _load_shipped_or_fail(family, model, preset: str) -> str:
    meta = load_shipped(family, model)
    if meta is None:
        shipped = ", ".join(f"{family.name}/{p}" for p in shipped_presets(family)) or "none"
        raise ConfigError(f"{family.name}/{preset} has no shipped demo weights (shipped: {shipped}); pass --checkpoint FILE "
                          f"or --weights DIR for trained weights, or --random-init to use random ones")
    return (f"weights: {family.name}/{preset} demo parent shipped with autoprune ({meta.get('summary', 'trained on the built-in dataset')}) "
            f"— trained on the built-in dataset only; pass --checkpoint or --weights for your own, or --random-init")


def saved_record(path: str | Path) -> dict | None:
    """The architecture record a .safetensors file of ours carries (None for other files or none)."""
    path = Path(path)
    if path.suffix != ".safetensors" or not path.is_file():
        return None
    arch = read_metadata(path).get("arch")
    return json.loads(arch) if arch else None


def preset_of(family, arch) -> str | None:
    """The preset whose record ``arch`` is exactly (None for a pruned or custom record)."""
    return next((name for name in family.presets if family.arch(name) == arch), None)


def _shipped_file(family, preset: str):
    from importlib import resources

    try:
        ref = resources.files(f"trackers.{family.name}").joinpath("weights", f"{preset}-builtin.safetensors")
        return ref if ref.is_file() else None
    except (ModuleNotFoundError, FileNotFoundError):
        return None


def shipped_presets(family) -> list[str]:
    """Presets of ``family`` that ship demo weights (``trackers/<family>/weights/<preset>-builtin.safetensors``)."""
    return [name for name in family.presets if _shipped_file(family, name) is not None]


def load_shipped(family, model) -> dict | None:
    """Load the demo weights shipped for ``model``'s preset into it; their metadata, or None if none fit.

    The file carries its record and the command that made it; it is used only when the
    record matches ``model``'s exactly.
    """
    from importlib import resources

    preset = preset_of(family, model.arch)
    ref = _shipped_file(family, preset) if preset else None
    if ref is None:
        return None
    with resources.as_file(ref) as path:
        meta = read_metadata(path)
        if json.loads(meta.get("arch", "null")) != model.arch:
            return None
        model.load_state_dict(read_state_dict(path))
    return meta
