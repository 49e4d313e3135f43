"""Box arithmetic shared by several families: overlap for the box losses, size smoothing for the trackers."""
from __future__ import annotations

import numpy as np
import torch


def smooth_size(box: np.ndarray, previous: np.ndarray, lr: float) -> np.ndarray:
    """Keep the predicted centre of an xywh box; move width and height only ``lr`` of the way
    from ``previous`` to the prediction (pysot's TRACK.LR idea; 1: the prediction as is)."""
    cx, cy = box[0] + box[2] / 2.0, box[1] + box[3] / 2.0
    w = (1.0 - lr) * previous[2] + lr * box[2]
    h = (1.0 - lr) * previous[3] + lr * box[3]
    return np.array([cx - w / 2.0, cy - h / 2.0, w, h])


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
