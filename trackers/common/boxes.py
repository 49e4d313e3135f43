"""Box overlap shared by the box losses of several families."""
from __future__ import annotations

import torch


def giou(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised IoU and IoU of [N,4] xyxy pairs.

    A predicted box with its corners swapped counts as empty rather than failing, so early
    training keeps its gradient through the enclosing box.
    """
    area_p = (pred[:, 2] - pred[:, 0]).clamp(min=0) * (pred[:, 3] - pred[:, 1]).clamp(min=0)
    area_t = (target[:, 2] - target[:, 0]).clamp(min=0) * (target[:, 3] - target[:, 1]).clamp(min=0)
    lt = torch.maximum(pred[:, :2], target[:, :2])
    rb = torch.minimum(pred[:, 2:], target[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    union = area_p + area_t - inter
    iou = inter / (union + eps)
    hull = (torch.maximum(pred[:, 2:], target[:, 2:]) - torch.minimum(pred[:, :2], target[:, :2])).clamp(min=0).prod(dim=1)
    return iou - (hull - union) / (hull + eps), iou
