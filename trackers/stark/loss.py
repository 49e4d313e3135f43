"""STARK-S training loss: GIoU (weight 2) + L1 (weight 5) on normalised xyxy boxes."""
from __future__ import annotations

import torch

GIOU_WEIGHT = 2.0
L1_WEIGHT = 5.0


def giou(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised IoU and IoU of [N,4] xyxy pairs.

    A predicted box with its corners swapped (the two corner maps disagree) counts as empty
    rather than failing, so early training keeps its gradient through the enclosing box.
    """
    area_p = (pred[:, 2] - pred[:, 0]).clamp(min=0) * (pred[:, 3] - pred[:, 1]).clamp(min=0)
    area_t = (target[:, 2] - target[:, 0]).clamp(min=0) * (target[:, 3] - target[:, 1]).clamp(min=0)
    lt = torch.max(pred[:, :2], target[:, :2])
    rb = torch.min(pred[:, 2:], target[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    union = area_p + area_t - inter
    iou = inter / (union + eps)
    enclose = (torch.max(pred[:, 2:], target[:, 2:]) - torch.min(pred[:, :2], target[:, :2])).clamp(min=0).prod(dim=1)
    return iou - (enclose - union) / (enclose + eps), iou


def box_loss(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted GIoU + L1 between predicted and target boxes (both xyxy in [0,1])."""
    g, iou = giou(pred, target)
    giou_loss = (1.0 - g).mean()
    l1_loss = (pred - target).abs().mean()
    loss = GIOU_WEIGHT * giou_loss + L1_WEIGHT * l1_loss
    return loss, {"giou": float(giou_loss.detach()), "l1": float(l1_loss.detach()), "iou": float(iou.detach().mean())}
