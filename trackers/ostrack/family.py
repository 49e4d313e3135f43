"""The OSTrack family: presets, build, checkpoints, crops, tracker, loss, optimizer, pruning."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from autoprune.errors import ConfigError
from trackers.base import CropSpec, TrackerFamily, TrackerModel
from trackers.ostrack import arch as arch_mod
from trackers.ostrack import pruning
from trackers.ostrack.augment import augment_pairs
from trackers.ostrack.cost import analytic_cost
from trackers.ostrack.loss import WEIGHTS, ostrack_loss
from trackers.ostrack.model import OSTrackModel
from trackers.ostrack.presets import DEFAULT, OFFICIAL, PRESETS
from trackers.ostrack.tracker import OSTrackTracker, check_hparams

# OSTrack's tracker has no tunable post-processing beyond the window and the clip margin.
HPARAMS = {"default": {"window": True, "clip_margin": 10.0}}

# OSTrack's recipe (vitb_256_mae_ce GOT-10k): AdamW 4e-4, backbone at a tenth of the LR
# when it starts from trained weights, LR x0.1 after 80 % of the run. Small presets trained
# from random init for a few hundred steps learn faster at a higher LR, backbone included.
TRAIN = {
    "lr_pretrained": 4e-4,
    "lr_scratch": 2e-3,
    "backbone_lr_scale": 0.1,
    "weight_decay": 1e-4,
    "lr_drop_at": 0.8,
    "lr_drop": 0.1,
}

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@dataclass
class OSTrackFamily(TrackerFamily):
    train_settings: dict[str, float] = field(default_factory=lambda: dict(TRAIN))
    loss_weights: dict[str, float] = field(default_factory=lambda: dict(WEIGHTS))
    augment: bool = True  # OSTrack's flips and brightness jitter while the model trains

    # --- architecture -------------------------------------------------------------
    def validate_arch(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        return arch_mod.validate_arch(arch)

    def build(self, arch: Mapping[str, Any]) -> OSTrackModel:
        return OSTrackModel(arch_mod.validate_arch(arch))

    def analytic_cost(self, arch: Mapping[str, Any]) -> dict[str, int]:
        """Per-frame MACs (with and without attention matmuls), init MACs and params."""
        return analytic_cost(arch_mod.validate_arch(arch))

    # --- pruning binding ------------------------------------------------------------
    def unit_groups(self, arch: Mapping[str, Any]) -> list:
        return pruning.unit_groups(arch_mod.validate_arch(arch))

    def blocks(self, arch: Mapping[str, Any]) -> list:
        return pruning.blocks(arch_mod.validate_arch(arch))

    def gate_points(self, arch: Mapping[str, Any]) -> list:
        return pruning.gate_points(arch_mod.validate_arch(arch))

    def child_arch(self, arch: Mapping[str, Any], counts: Mapping[str, int], drop_blocks: set[str]) -> dict[str, Any]:
        return pruning.child_arch(arch_mod.validate_arch(arch), counts, drop_blocks)

    # --- data ---------------------------------------------------------------------
    def crop_spec(self, arch: Mapping[str, Any]) -> CropSpec:
        return CropSpec(template_size=arch["template_size"], search_size=arch["search_size"],
                        template_factor=arch["template_factor"], search_factor=arch["search_factor"],
                        context="area", pad="zero")

    def preprocess(self, crops: torch.Tensor) -> torch.Tensor:
        """RGB 0..255 -> RGB/255 normalised with the ImageNet mean and std."""
        mean = torch.tensor(MEAN, device=crops.device).view(1, 3, 1, 1)
        std = torch.tensor(STD, device=crops.device).view(1, 3, 1, 1)
        return (crops.float() / 255.0 - mean) / std

    # --- tracking -----------------------------------------------------------------
    def make_tracker(self, model: TrackerModel, hparams: str | Mapping[str, Any] | None = None) -> OSTrackTracker:
        hparams = self.resolve_hparams(hparams, default="default")
        return OSTrackTracker(model, preprocess=self.preprocess, hparams=check_hparams(hparams))

    # --- training -----------------------------------------------------------------
    def loss(self, model: TrackerModel, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        device = next(model.parameters()).device
        if self.augment and model.training:
            batch = augment_pairs(batch)
        z = self.preprocess(batch["template"].to(device))
        x = self.preprocess(batch["search"].to(device))
        out = model(z, x)
        box = batch["search_box"].to(device)
        return ostrack_loss(out, box, search_size=model.arch["search_size"], weights=self.loss_weights)

    def make_optimizer(self, model: TrackerModel, *, steps: int, lr: float | None = None):
        """AdamW; backbone (embeddings + blocks) at ``backbone_lr_scale`` x LR when it was loaded
        from trained weights, at the full LR when training from scratch; step decay."""
        st = self.train_settings
        pretrained = getattr(model, "backbone_pretrained", False)
        base = lr if lr is not None else (st["lr_pretrained"] if pretrained else st["lr_scratch"])
        scale = st["backbone_lr_scale"] if pretrained else 1.0
        backbone = [p for p in model.backbone.parameters() if p.requires_grad]
        ids = {id(p) for p in backbone}
        rest = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
        groups = [g for g in ({"params": rest, "lr": base}, {"params": backbone, "lr": base * scale}) if g["params"]]
        optimizer = torch.optim.AdamW(groups, lr=base, weight_decay=st["weight_decay"])
        drop_step = max(1, int(round(steps * st["lr_drop_at"])))
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[drop_step], gamma=st["lr_drop"])
        return optimizer, scheduler


def make_family() -> OSTrackFamily:
    """The registered family: presets from ``presets.py``, OSTrack's settings."""
    return OSTrackFamily(
        name="ostrack",
        description="OSTrack-256: one-stream ViT over template and search tokens, candidate elimination, centre head",
        presets=dict(PRESETS),
        official_preset=OFFICIAL,
        default_preset=DEFAULT,
        hparams={k: dict(v) for k, v in HPARAMS.items()},
        grad_clip=0.1,
        inherited_flags=("backbone_pretrained",),
        # A tenth of ostrack/tiny after 150 steps: full-val AO 0.084 / 0.056 / 0.039 for the
        # three validated children of the demo; after 600: 0.086 / 0.068 / 0.077.
        validate_steps=600,
    )
