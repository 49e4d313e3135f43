"""The SiamRPN++ family: presets, build, checkpoints, crops, tracker, loss and optimizer."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from autoprune.errors import ConfigError
from trackers.base import CropSpec, Preset, TrackerFamily, TrackerModel
from trackers.siamrpn import arch as arch_mod
from trackers.siamrpn import pruning
from trackers.siamrpn.anchors import anchor_grid
from trackers.siamrpn.cost import analytic_cost
from trackers.siamrpn.loss import anchor_targets, batch_seed, rpn_loss
from trackers.siamrpn.model import SiamRPNModel
from trackers.siamrpn.presets import PRESETS
from trackers.siamrpn.tracker import SiamRPNTracker, check_hparams

# Tracker settings of pysot's experiments: siamrpn_r50_l234_dwxcorr (VOT) and its _otb
# variant. pysot has no LaSOT / GOT-10k setting for this model; 'vot' is the default.
HPARAMS = {
    "vot": {"penalty_k": 0.05, "window_influence": 0.42, "lr": 0.38},
    "otb": {"penalty_k": 0.24, "window_influence": 0.5, "lr": 0.25},
}

# pysot's training recipe; the warm-up (0.001 -> 0.005) and log decay (0.005 -> 0.0005)
# are expressed as factors of the base LR and fractions of the run.
TRAIN = {
    "lr_pretrained": 0.005,  # fine-tuning official / pretrained weights
    "lr_scratch": 0.05,  # small presets from random init (BN everywhere; best of 0.01 / 0.02 / 0.05)
    "backbone_lr_scale": 0.1,  # pysot trains the pretrained backbone at a tenth of the LR
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "warmup_fraction": 0.1,
    "warmup_start": 0.2,
    "final": 0.1,
    "cls_weight": 1.0,
    "loc_weight": 1.2,
    "smooth_l1_beta": 1.0 / 9.0,
}


def lr_factor(step: int, steps: int, settings: Mapping[str, float] = TRAIN) -> float:
    """Geometric warm-up from ``warmup_start`` to 1, then log-linear decay to ``final``."""
    warm = max(1, round(steps * settings["warmup_fraction"]))
    if step < warm:
        return settings["warmup_start"] ** (1.0 - step / warm)
    t = min(1.0, (step - warm) / max(1, steps - warm - 1))
    return math.exp(t * math.log(settings["final"]))


@dataclass
class SiamRPNFamily(TrackerFamily):
    train_settings: dict[str, float] = field(default_factory=lambda: dict(TRAIN))

    # --- architecture -------------------------------------------------------------
    def validate_arch(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        return arch_mod.validate_arch(arch)

    def build(self, arch: Mapping[str, Any]) -> SiamRPNModel:
        return SiamRPNModel(arch_mod.validate_arch(arch))

    def analytic_cost(self, arch: Mapping[str, Any]) -> dict[str, int]:
        """Per-frame MACs, init MACs and params from the record alone."""
        return analytic_cost(arch_mod.validate_arch(arch))

    # --- data ---------------------------------------------------------------------
    def crop_spec(self, arch: Mapping[str, Any]) -> CropSpec:
        t, s = arch["template_size"], arch["search_size"]
        return CropSpec(template_size=t, search_size=s, template_factor=1.0, search_factor=s / t,
                        context="siamfc", pad="mean")

    def preprocess(self, crops: torch.Tensor) -> torch.Tensor:
        """RGB 0..255 -> BGR 0..255, not normalised (pysot's input)."""
        return crops.flip(1).float()

    # --- tracking -----------------------------------------------------------------
    def make_tracker(self, model: TrackerModel, hparams: str | Mapping[str, Any] | None = None) -> SiamRPNTracker:
        hparams = self.resolve_hparams(hparams, default="vot")
        return SiamRPNTracker(model, preprocess=self.preprocess, hparams=check_hparams(hparams))

    # --- training -----------------------------------------------------------------
    def loss(self, model: TrackerModel, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        device = next(model.parameters()).device
        z = self.preprocess(batch["template"].to(device))
        x = self.preprocess(batch["search"].to(device))
        out = model(z, x)
        anchors = torch.from_numpy(anchor_grid(model.arch))
        anchors[:, :2] += model.arch["search_size"] / 2.0  # centre-relative -> crop pixels
        boxes = batch["search_box"].detach().float().cpu()
        seed = int(batch["seed"]) if "seed" in batch else batch_seed(boxes)
        targets = anchor_targets(boxes, anchors, seed=seed)
        st = self.train_settings
        return rpn_loss(out["cls"], out["loc"], targets, cls_weight=st["cls_weight"],
                        loc_weight=st["loc_weight"], beta=st["smooth_l1_beta"])

    def make_optimizer(self, model: TrackerModel, *, steps: int, lr: float | None = None):
        st = self.train_settings
        frozen = getattr(model, "backbone_bn_frozen", False)
        base = lr if lr is not None else (st["lr_pretrained"] if frozen else st["lr_scratch"])
        backbone = [p for p in model.backbone.parameters() if p.requires_grad]
        ids = {id(p) for p in backbone}
        rest = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
        scale = st["backbone_lr_scale"] if frozen else 1.0
        groups = [{"params": backbone, "lr": base * scale}, {"params": rest, "lr": base}]
        optimizer = torch.optim.SGD([g for g in groups if g["params"]], lr=base, momentum=st["momentum"],
                                    weight_decay=st["weight_decay"])
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, steps, st))
        return optimizer, scheduler

    def train_mode(self, model: TrackerModel) -> None:
        """Train mode; with trained weights loaded, backbone BatchNorm stays in eval (pysot)."""
        model.train()
        if getattr(model, "backbone_bn_frozen", False):
            for m in model.backbone.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()

    # --- pruning binding ----------------------------------------------------------
    def unit_groups(self, arch: Mapping[str, Any]) -> list:
        return pruning.unit_groups(arch)

    def blocks(self, arch: Mapping[str, Any]) -> list:
        return pruning.blocks(arch)

    def child_arch(self, arch: Mapping[str, Any], counts: Mapping[str, int], drop_blocks: set[str]) -> dict[str, Any]:
        return pruning.child_arch(arch, counts, drop_blocks)


def make_family() -> SiamRPNFamily:
    """The registered family: presets from ``presets.py``, pysot's tracker settings."""
    presets = {name: Preset(name, rec, desc, official) for name, (rec, desc, official) in PRESETS.items()}
    return SiamRPNFamily(
        name="siamrpn",
        description="SiamRPN++ (pysot r50_l234_dwxcorr): dilated ResNet-50, depthwise-xcorr RPN heads",
        presets=presets,
        official_preset="r50",
        default_preset="small",
        hparams={k: dict(v) for k, v in HPARAMS.items()},
        grad_clip=10.0,
        inherited_flags=("backbone_bn_frozen",),
    )
