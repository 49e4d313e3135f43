"""The contract every tracker family implements; the engine talks to families only here.

A family is a folder under ``trackers/`` whose ``__init__`` registers one
:class:`TrackerFamily` with :func:`trackers.register`. Its network is always built from an
explicit *architecture record* (a JSON-able dict: every prunable width, head count and
depth), so a pruned child is rebuilt from its record alone, and an official preset is just
the record with full widths.

Data conventions shared by all families:

* images handed to trackers are HxWx3 ``uint8`` **RGB** numpy arrays; boxes are ``xywh``;
* training batches (from ``autoprune.data.pairs``) are dicts of tensors:
  ``template`` [B,3,Hz,Wz] and ``search`` [B,3,Hx,Wx] float RGB 0..255 (not normalised —
  each family normalises in :meth:`TrackerFamily.preprocess`), ``template_box`` and
  ``search_box`` [B,4] xyxy in crop pixels;
* a model splits into the *init path* ``model.template(z) -> cache`` (runs once per
  sequence) and the *per-frame path* ``model.track(cache, x) -> dict`` (runs every frame);
  costs are counted for each apart. ``model.forward(z, x)`` is ``track(template(z), x)``.
"""
from __future__ import annotations

import copy
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from autoprune.checkpoint import load_strict, read_state_dict
from autoprune.errors import ConfigError

Arch = dict[str, Any]


@dataclass(frozen=True)
class Preset:
    """A named architecture record (official full-size or small CPU-trainable)."""

    name: str
    arch: Mapping[str, Any]
    description: str
    official: bool = False


@dataclass(frozen=True)
class CropSpec:
    """How a family crops template and search regions around a target.

    Crop side = ``factor * context_side(w, h, context)`` (see ``autoprune.geometry``).
    """

    template_size: int
    search_size: int
    template_factor: float
    search_factor: float
    context: str = "area"  # 'siamfc' (pysot context 0.5) or 'area' (sqrt(w*h))
    pad: str = "zero"  # 'mean' (pysot) or 'zero'


def crop_tensor(image: np.ndarray, center, side: float, out_size: int, *, pad, device) -> torch.Tensor:
    """A square crop of ``image`` (see ``autoprune.geometry.crop_square``) as a 1x3xHxW float
    tensor of 0..255 pixel values on ``device``: what every family's tracker feeds its network."""
    from autoprune.geometry import crop_square

    patch = crop_square(image, center, side, out_size, pad=pad)
    return torch.from_numpy(np.ascontiguousarray(patch)).to(device).permute(2, 0, 1)[None].float()


class Tracker(ABC):
    """Single-object tracker: ``init`` on the first frame, ``update`` on every next one."""

    name: str = "tracker"

    @abstractmethod
    def init(self, image: np.ndarray, box: Sequence[float]) -> None:
        """Start tracking the target ``box`` (xywh) in ``image`` (HxWx3 uint8 RGB)."""

    @abstractmethod
    def update(self, image: np.ndarray) -> np.ndarray:
        """Return the target box (xywh, float) in the next ``image``."""


class ModelTracker(Tracker):
    """A tracker driven by a family's network: the model in eval mode, its device, its input transform."""

    def __init__(self, model: "TrackerModel", *, preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 name: str | None = None) -> None:
        self.model = model.eval()
        self.device = next(model.parameters()).device  # looked up once, not on every frame
        self.preprocess = preprocess
        self.cache: tuple[torch.Tensor, ...] | None = None  # the template work done at init
        if name:
            self.name = name


class TrackerModel(nn.Module):
    """Base of every family's network: an init path and a per-frame path."""

    arch: Arch

    def template(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def track(self, cache: tuple[torch.Tensor, ...], x: torch.Tensor) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.track(self.template(z), x)


@dataclass
class TrackerFamily(ABC):
    """What a family provides. Subclasses fill the fields and implement the methods."""

    name: str
    description: str
    presets: dict[str, Preset]
    official_preset: str
    default_preset: str  # the small preset used on the built-in data by default
    hparams: dict[str, dict[str, Any]] = field(default_factory=dict)  # named tracker settings
    grad_clip: float | None = None
    # Model attributes set True when trained weights are loaded with --checkpoint; they decide how
    # a later fine-tune treats the model (lower LR, BatchNorm statistics kept), pruned children
    # inherit them and saved models keep them.
    inherited_flags: tuple[str, ...] = ()
    # Fine-tune steps a validated child gets unless --validate-steps says otherwise.
    validate_steps: int = 150

    # --- architecture -------------------------------------------------------------
    def preset(self, name: str) -> Preset:
        if name not in self.presets:
            valid = ", ".join(sorted(self.presets))
            raise ConfigError(f"unknown preset {name!r} for tracker {self.name!r}; valid presets: {valid}")
        return self.presets[name]

    def arch(self, preset: str) -> Arch:
        """A fresh, validated copy of a preset's record."""
        return self.validate_arch(copy.deepcopy(dict(self.preset(preset).arch)))

    @abstractmethod
    def validate_arch(self, arch: Mapping[str, Any]) -> Arch:
        """Check a record (types, positive widths, consistent depths); return it normalised.

        Raises ConfigError naming the bad key and the expected form.
        """

    @abstractmethod
    def build(self, arch: Mapping[str, Any]) -> TrackerModel:
        """Construct the network (random init) from a record; ``model.arch`` holds it."""

    def create(self, preset: str | None = None, *, checkpoint: str | None = None, trust_pickle: bool = False) -> TrackerModel:
        model = self.build(self.arch(preset or self.default_preset))
        if checkpoint:
            self.load_checkpoint(model, checkpoint, trust_pickle=trust_pickle)
        return model

    def weights_metadata(self, model: TrackerModel) -> dict[str, str]:
        """What to store beside a model's weights: its record and its training flags.

        The flags (``inherited_flags``, e.g. "loaded from official weights") decide how a
        later fine-tune treats the model, so a saved model keeps them.
        """
        flags = {name: getattr(model, name) for name in self.inherited_flags if hasattr(model, name)}
        return {"arch": json.dumps(model.arch), "flags": json.dumps(flags)}

    def restore_flags(self, model: TrackerModel, metadata: Mapping[str, str]) -> None:
        """Put back the training flags :meth:`weights_metadata` stored (unknown names ignored)."""
        for name, value in json.loads(metadata.get("flags") or "{}").items():
            if name in self.inherited_flags:
                setattr(model, name, value)

    def convert_state_dict(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Hook to map an official checkpoint's keys onto ours (identity by default)."""
        return state

    def load_checkpoint(self, model: TrackerModel, path: str, *, trust_pickle: bool = False) -> None:
        state = self.convert_state_dict(read_state_dict(path, trust_pickle=trust_pickle))
        load_strict(model, state, source=f"checkpoint {path}")
        for name in self.inherited_flags:
            setattr(model, name, True)

    # --- data ---------------------------------------------------------------------
    @abstractmethod
    def crop_spec(self, arch: Mapping[str, Any]) -> CropSpec:
        """Template/search crop sizes and factors for this record."""

    @abstractmethod
    def preprocess(self, crops: torch.Tensor) -> torch.Tensor:
        """RGB 0..255 float crops [B,3,H,W] -> the network's input (e.g. BGR, normalised)."""

    def example_inputs(self, arch: Mapping[str, Any], batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Preprocessed random template and search inputs of the right sizes."""
        spec = self.crop_spec(arch)
        g = torch.Generator().manual_seed(0)
        z = torch.rand(batch, 3, spec.template_size, spec.template_size, generator=g) * 255
        x = torch.rand(batch, 3, spec.search_size, spec.search_size, generator=g) * 255
        return self.preprocess(z), self.preprocess(x)

    # --- tracking -----------------------------------------------------------------
    def resolve_hparams(self, hparams: str | Mapping[str, Any] | None, default: str) -> dict[str, Any]:
        """Tracker settings: a name in ``self.hparams`` (``None`` means ``default``) or a mapping taken as is."""
        if hparams is None:
            hparams = default
        if isinstance(hparams, str):
            if hparams not in self.hparams:
                raise ConfigError(f"unknown {self.name} tracker settings {hparams!r}; valid: {', '.join(sorted(self.hparams))}")
            return dict(self.hparams[hparams])
        return dict(hparams)

    @abstractmethod
    def make_tracker(self, model: TrackerModel, hparams: str | Mapping[str, Any] | None = None) -> Tracker:
        """Wrap a model in the family's tracking loop (``hparams``: a name in ``self.hparams`` or a dict)."""

    # --- training -----------------------------------------------------------------
    @abstractmethod
    def loss(self, model: TrackerModel, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """The family's training loss on a batch of pairs; returns (loss, parts for logging)."""

    @abstractmethod
    def make_optimizer(
        self, model: TrackerModel, *, steps: int, lr: float | None = None
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
        """The family's optimizer and per-step LR schedule for a run of ``steps`` steps."""

    def train_mode(self, model: TrackerModel) -> None:
        """Put the model in training mode the family's way (e.g. frozen BatchNorm parts)."""
        model.train()

    # --- cost ---------------------------------------------------------------------
    def analytic_cost(self, arch: Mapping[str, Any]) -> dict[str, int]:
        """``frame_macs``, ``init_macs``, ``params`` (and ``frame_macs_hooks``) from the record alone.

        Must equal the counted figures exactly: budget projection calls it thousands of times.
        """
        raise ConfigError(f"tracker {self.name!r} has no analytic cost model")

    # --- pruning binding (see autoprune.prune.groups) -------------------------------
    def unit_groups(self, arch: Mapping[str, Any]) -> list:
        """Every prunable group of coupled units of this record (``UnitGroup`` list)."""
        raise ConfigError(f"tracker {self.name!r} does not declare prunable groups")

    def blocks(self, arch: Mapping[str, Any]) -> list:
        """Every residual block of this record (``Block`` list); none by default."""
        return []

    def gate_points(self, arch: Mapping[str, Any]) -> list:
        """Where learned gates apply (``GatePoint`` list: attention q/k/v, MLP hidden units).

        Groups without a gate point are sparsified through their BatchNorm scales, if any.
        """
        return []

    def child_arch(self, arch: Mapping[str, Any], counts: Mapping[str, int], drop_blocks: set[str]) -> Arch:
        """The record of a child keeping ``counts[group]`` units per group and without ``drop_blocks``."""
        raise ConfigError(f"tracker {self.name!r} does not declare prunable groups")
