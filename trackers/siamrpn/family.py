"""The SiamRPN++ family: its parts, tracker settings, crops, input transform and training recipe."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from trackers.base import CropSpec, TrackerFamily, TrackerModel, from_folder
from trackers.common.training import forward_batch, split_backbone
from trackers.siamrpn import arch, cost, presets, pruning
from trackers.siamrpn.anchors import anchor_grid
from trackers.siamrpn.loss import anchor_targets, batch_seed, rpn_loss
from trackers.siamrpn.model import SiamRPNModel
from trackers.siamrpn.tracker import SiamRPNTracker

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

    # --- data ---------------------------------------------------------------------
    def crop_spec(self, arch: Mapping[str, Any]) -> CropSpec:
        t, s = arch["template_size"], arch["search_size"]
        return CropSpec(template_size=t, search_size=s, template_factor=1.0, search_factor=s / t,
                        context="siamfc", pad="mean")

    def preprocess(self, crops: torch.Tensor) -> torch.Tensor:
        """RGB 0..255 -> BGR 0..255, not normalised (pysot's input)."""
        return crops.flip(1).float()

    # --- training -----------------------------------------------------------------
    def loss(self, model: TrackerModel, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        out = forward_batch(model, batch, self.preprocess)
        anchors = torch.from_numpy(anchor_grid(model.arch))
        anchors[:, :2] += model.arch["search_size"] / 2.0  # centre-relative -> crop pixels
        boxes = batch["search_box"].detach().float().cpu()
        seed = int(batch["seed"]) if "seed" in batch else batch_seed(boxes)
        targets = anchor_targets(boxes, anchors, seed=seed)
        st = self.train_settings
        return rpn_loss(out["cls"], out["loc"], targets, cls_weight=st["cls_weight"],
                        loc_weight=st["loc_weight"], beta=st["smooth_l1_beta"])

    def make_optimizer(self, model: TrackerModel, *, steps: int, lr: float | None = None):
        """SGD with momentum, backbone at a tenth of the LR for loaded weights; warm-up then log decay."""
        st = self.train_settings
        frozen = getattr(model, "backbone_bn_frozen", False)
        base = lr if lr is not None else (st["lr_pretrained"] if frozen else st["lr_scratch"])
        scale = st["backbone_lr_scale"] if frozen else 1.0
        backbone, rest = split_backbone(model)
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


FAMILY = SiamRPNFamily(
    description="SiamRPN++ (pysot r50_l234_dwxcorr): dilated ResNet-50, depthwise-xcorr RPN heads",
    **from_folder(presets=presets, arch=arch, cost=cost, pruning=pruning, network=SiamRPNModel, tracker=SiamRPNTracker,
                  hparams=HPARAMS, default_hparams="vot"),
    grad_clip=10.0,
    inherited_flags=("backbone_bn_frozen",),
    # One 10 % child of siamrpn/small, 3 seeds on 1280 val sequences (finetune_stability.md):
    # 150 steps AO 0.247, seeds resolvable to 14.4 %; 300 steps AO 0.271, resolvable to 7.7 %.
    validate_steps=300,
)
