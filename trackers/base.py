"""The contract every tracker family implements; the engine talks to families only here.

A family is a folder under ``trackers/`` whose ``family.py`` builds one module-level
``FAMILY`` and whose ``__init__`` registers it with :func:`trackers.register` (see
``docs/adding-a-family.md``). Its network is always built from an explicit *architecture
record* (a JSON-able dict: every prunable width, head count and depth), so a pruned child is
rebuilt from its record alone, and an official preset is just the record with full widths.

The folder's parts (record check, network, tracker, cost model, pruning binding) are handed
to the family as :class:`FamilyParts` (:func:`from_folder` reads them from the folder's modules); the architecture, cost, pruning and tracking methods
below route through them, so a family's own class holds only what differs: crops, input
transform, loss and optimizer.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch

from autoprune.checkpoint import load_strict, read_state_dict, recorded_flags
from autoprune.errors import ConfigError
from trackers.common.crops import CropSpec, crop_tensor
from trackers.common.network import Arch, TrackerModel
from trackers.common.presets import Preset
from trackers.common.settings import TrackerSettings
from trackers.common.tracking import ModelTracker, Tracker

__all__ = ["Arch", "CropSpec", "FamilyParts", "ModelTracker", "Preset", "Tracker", "TrackerFamily", "TrackerModel",
           "crop_tensor", "from_folder"]


@dataclass(frozen=True)
class FamilyParts:
    """The modules of a family folder that the shared methods route through."""

    validate_arch: Callable[[Mapping[str, Any]], Arch]  # arch.py: check a record, return it normalised
    network: Callable[[Arch], TrackerModel]  # model.py: the network class
    tracker: Callable[..., ModelTracker]  # tracker.py: ``tracker(model, preprocess=..., hparams=...)``
    analytic_cost: Callable[[Arch], dict[str, int]]  # cost.py
    pruning: ModuleType  # pruning.py: unit_groups, blocks, gate_points, child_arch


def from_folder(*, presets: ModuleType, arch: ModuleType, cost: ModuleType, pruning: ModuleType,
                network: Callable[[Arch], TrackerModel], tracker: type[ModelTracker],
                hparams: Mapping[str, Mapping[str, Any]], default_hparams: str, partial_hparams: bool = False) -> dict[str, Any]:
    """The fields a family folder's modules fill, by the folder's file names.

    The name is the folder's; ``presets.py`` gives ``PRESETS``, ``OFFICIAL`` and ``DEFAULT``;
    ``arch.py``, ``cost.py``, ``pruning.py``, the network and the tracker class are the parts;
    the named tracker settings follow the tracker's ``SETTINGS`` schema.
    """
    name = presets.__name__.split(".")[-2]
    parts = FamilyParts(validate_arch=arch.validate_arch, network=network, tracker=tracker,
                        analytic_cost=cost.analytic_cost, pruning=pruning)
    settings = TrackerSettings(name, tracker.SETTINGS, hparams, default=default_hparams, partial=partial_hparams)
    return {"name": name, "presets": presets.PRESETS, "official_preset": presets.OFFICIAL,
            "default_preset": presets.DEFAULT, "parts": parts, "settings": settings}


@dataclass
class TrackerFamily(ABC):
    """What a family provides: its data in fields, its parts, and the methods that differ."""

    name: str
    description: str
    presets: dict[str, Preset]
    official_preset: str
    default_preset: str  # the small preset used on the built-in data by default
    parts: FamilyParts | None = None
    settings: TrackerSettings | None = None  # named tracker settings and their schema
    grad_clip: float | None = None
    # Model attributes set True when trained weights are loaded with --checkpoint; they decide how
    # a later fine-tune treats the model (lower LR, BatchNorm statistics kept), pruned children
    # inherit them and saved models keep them.
    inherited_flags: tuple[str, ...] = ()
    # Fine-tune steps a validated child gets unless --validate-steps says otherwise.
    validate_steps: int = 150
    # The one-shot proxy's score unless --oneshot-score says otherwise: the one that ranks this
    # family's children best (benchmarks/results/proxy_fidelity*.md).
    oneshot_score: str = "loss"

    # --- architecture -------------------------------------------------------------
    def preset(self, name: str) -> Preset:
        if name not in self.presets:
            valid = ", ".join(sorted(self.presets))
            raise ConfigError(f"unknown preset {name!r} for tracker {self.name!r}; valid presets: {valid}")
        return self.presets[name]

    def arch(self, preset: str) -> Arch:
        """A fresh, validated copy of a preset's record."""
        return self.validate_arch(copy.deepcopy(dict(self.preset(preset).arch)))

    def validate_arch(self, arch: Mapping[str, Any]) -> Arch:
        """Check a record (types, positive widths, consistent depths); return it normalised.

        Raises ConfigError naming the bad key and the expected form.
        """
        return self._parts().validate_arch(arch)

    def build(self, arch: Mapping[str, Any]) -> TrackerModel:
        """Construct the network (random init) from a record; ``model.arch`` holds it."""
        return self._parts().network(self.validate_arch(arch))

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
        # every flag, set or not: a file that records "not from official weights" must not be read
        # back as official weights when it is passed as --checkpoint (load_checkpoint)
        flags = {name: bool(getattr(model, name, False)) for name in self.inherited_flags}
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
        # A checkpoint is trained weights, fine-tuned gently (the official recipe) -- unless autoprune
        # wrote it and recorded its flags: a parent trained here from scratch stays one, so its
        # children get the same fine-tune whether it is built in or passed by file.
        recorded = recorded_flags(path)
        for name in self.inherited_flags:
            setattr(model, name, True if recorded is None else bool(recorded.get(name, False)))

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
    @property
    def hparams(self) -> dict[str, dict[str, Any]]:
        """The named tracker settings (a copy)."""
        named = self.settings.named if self.settings else {}
        return {k: dict(v) for k, v in named.items()}

    def resolve_hparams(self, hparams: str | Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Checked tracker settings: a name in :attr:`hparams` (``None``: the default set) or a mapping."""
        if self.settings is None:
            raise ConfigError(f"tracker {self.name!r} declares no tracker settings")
        return self.settings.resolve(hparams)

    def make_tracker(self, model: TrackerModel, hparams: str | Mapping[str, Any] | None = None) -> Tracker:
        """Wrap a model in the family's tracking loop (``hparams``: a name in :attr:`hparams` or a dict)."""
        return self._parts().tracker(model, preprocess=self.preprocess, hparams=self.resolve_hparams(hparams))

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
        if self.parts is None:
            raise ConfigError(f"tracker {self.name!r} has no analytic cost model")
        return self.parts.analytic_cost(self.validate_arch(arch))

    # --- pruning binding (see autoprune.prune.groups) -------------------------------
    def unit_groups(self, arch: Mapping[str, Any]) -> list:
        """Every prunable group of coupled units of this record (``UnitGroup`` list)."""
        return self._pruning().unit_groups(self.validate_arch(arch))

    def blocks(self, arch: Mapping[str, Any]) -> list:
        """Every residual block of this record (``Block`` list)."""
        return self._pruning().blocks(self.validate_arch(arch))

    def gate_points(self, arch: Mapping[str, Any]) -> list:
        """Where learned gates apply (``GatePoint`` list: attention q/k/v, MLP hidden units).

        Groups without a gate point are sparsified through their BatchNorm scales, if any.
        """
        return self._pruning().gate_points(self.validate_arch(arch))

    def child_arch(self, arch: Mapping[str, Any], counts: Mapping[str, int], drop_blocks: set[str]) -> Arch:
        """The record of a child keeping ``counts[group]`` units per group and without ``drop_blocks``."""
        return self._pruning().child_arch(self.validate_arch(arch), counts, drop_blocks)

    def resize_crops(self, arch: Mapping[str, Any], scale: float) -> Arch:
        """The record with template and search crops ``scale`` times as large (context kept).

        The family rounds the sides to what its geometry allows (patch or stride multiples,
        a smallest workable map) and moves what depends on them (anchors, feature crops).
        """
        resize = getattr(self._pruning(), "resize_crops", None)
        if resize is None:
            raise ConfigError(f"tracker {self.name!r} cannot change its crop resolution")
        return self.validate_arch(resize(self.validate_arch(arch), float(scale)))

    def resize_state(self, state: dict[str, torch.Tensor], arch: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Weights of a record ``arch`` made to fit ``child``, the same record at other crop sizes
        (e.g. position embeddings resampled to the new token grid); most families need nothing."""
        resize = getattr(self._pruning(), "resize_state", None)
        return state if resize is None else resize(state, arch, child)

    # --- parts --------------------------------------------------------------------
    def _parts(self) -> FamilyParts:
        if self.parts is None:
            raise ConfigError(f"tracker {self.name!r} has no parts to build from")
        return self.parts

    def _pruning(self) -> ModuleType:
        if self.parts is None:
            raise ConfigError(f"tracker {self.name!r} does not declare prunable groups")
        return self.parts.pruning
