"""SiamRPN++: backbone + AdjustAllLayer neck + MultiRPN head, with split init / per-frame paths.

>>> import trackers
>>> family = trackers.get("siamrpn")
>>> model = family.create("tiny").eval()
>>> z, x = family.example_inputs(model.arch)
>>> out = model.track(model.template(z), x)       # {'cls': [1,2A,H,W], 'loc': [1,4A,H,W]}
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch

from trackers.base import TrackerModel
from trackers.siamrpn.arch import anchor_num
from trackers.siamrpn.backbone import ResNetBackbone
from trackers.siamrpn.head import MultiRPN
from trackers.siamrpn.neck import AdjustAllLayer


class SiamRPNModel(TrackerModel):
    """Built from a validated record (``model.arch``); state-dict keys follow pysot."""

    def __init__(self, rec: Mapping[str, Any]) -> None:
        super().__init__()
        self.arch = copy.deepcopy(dict(rec))
        levels = [e["level"] for e in rec["rpn"]]
        self.backbone = ResNetBackbone(rec, levels)
        self.neck = AdjustAllLayer(rec)
        self.rpn_head = MultiRPN(rec, anchor_num(rec))
        # Set when official / pretrained weights are loaded: fine-tuning then keeps the
        # backbone's BatchNorm statistics fixed, as pysot does.
        self.backbone_bn_frozen = False

    def template(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Init path: backbone + neck (+ centre crop) + every head's conv_kernel, cached.

        pysot recomputes conv_kernel on every frame; it depends on the template alone.
        """
        zfs = self.neck(self.backbone(z), template=True)
        return self.rpn_head.kernels(zfs)

    def track(self, cache: tuple[torch.Tensor, ...], x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-frame path: ``cls`` [B,2A,H,W] (bg x A, fg x A), ``loc`` [B,4A,H,W] (dx, dy, dw, dh x A)."""
        xfs = self.neck(self.backbone(x), template=False)
        cls, loc = self.rpn_head(cache, xfs)
        return {"cls": cls, "loc": loc}
