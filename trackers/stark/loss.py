"""STARK-S training loss: GIoU (weight 2) + L1 (weight 5) on normalised xyxy boxes."""
from __future__ import annotations

import torch

from trackers.common.boxes import giou

GIOU_WEIGHT = 2.0
L1_WEIGHT = 5.0


def box_loss(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted GIoU + L1 between predicted and target boxes (both xyxy in [0,1])."""
    g, iou = giou(pred, target)
    giou_loss = (1.0 - g).mean()
    l1_loss = (pred - target).abs().mean()
    loss = GIOU_WEIGHT * giou_loss + L1_WEIGHT * l1_loss
    return loss, {"giou": float(giou_loss.detach()), "l1": float(l1_loss.detach()), "iou": float(iou.detach().mean())}
