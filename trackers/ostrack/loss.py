"""OSTrack's training loss: focal loss on a Gaussian centre map + GIoU and L1 on the box.

The box is the one the head decodes at the peak of its own score map (as OSTrack trains),
in crop fractions; targets are the search boxes normalised by the crop side.
"""
from __future__ import annotations

import torch

from trackers.common.boxes import giou

WEIGHTS = {"focal": 1.0, "giou": 2.0, "l1": 5.0}


def gaussian_radius(w: torch.Tensor, h: torch.Tensor, *, min_overlap: float = 0.7) -> torch.Tensor:
    """CornerNet's radius (in its widely used, slightly loose form, as OSTrack) for boxes w x h in cells."""
    b1 = h + w
    c1 = w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + torch.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2 = 2 * (h + w)
    c2 = (1 - min_overlap) * w * h
    r2 = (b2 + torch.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (h + w)
    c3 = (min_overlap - 1) * w * h
    r3 = (b3 + torch.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return torch.minimum(r1, torch.minimum(r2, r3))


def centre_heatmap(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Gaussian target maps [B, 1, size, size] for normalised xyxy ``boxes`` [B, 4].

    Peak 1 at the rounded centre cell, sigma = (2r+1)/6, cut to a (2r+1)^2 square.
    """
    cells = boxes.float() * size
    wh = (cells[:, 2:] - cells[:, :2]).clamp(min=0)
    centre = ((cells[:, :2] + cells[:, 2:]) / 2).round()
    radius = gaussian_radius(wh[:, 0], wh[:, 1]).clamp(min=0).floor()
    sigma = (2 * radius + 1) / 6
    grid = torch.arange(size, dtype=torch.float32, device=boxes.device)
    dx = (grid[None, :] - centre[:, :1]).abs()  # [B, size] over x
    dy = (grid[None, :] - centre[:, 1:]).abs()
    r = radius[:, None]
    gx = torch.exp(-dx ** 2 / (2 * sigma[:, None] ** 2)) * (dx <= r)
    gy = torch.exp(-dy ** 2 / (2 * sigma[:, None] ** 2)) * (dy <= r)
    heat = gy[:, :, None] * gx[:, None, :]
    heat = torch.where(heat < torch.finfo(torch.float64).eps, torch.zeros_like(heat), heat)
    return heat[:, None]


def focal_loss(pred: torch.Tensor, target: torch.Tensor, *, alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet focal loss; ``pred`` is already a probability map (clamped sigmoid)."""
    pos = target.eq(1).float()
    neg = 1.0 - pos
    pred = pred.clamp(min=1e-12)
    pos_loss = (torch.log(pred) * (1 - pred) ** alpha * pos).sum()
    neg_loss = (torch.log(1 - pred) * pred ** alpha * (1 - target) ** beta * neg).sum()
    n_pos = pos.sum()
    return -(pos_loss + neg_loss) / n_pos.clamp(min=1.0)


def cxcywh_to_xyxy(b: torch.Tensor) -> torch.Tensor:
    cx, cy, w, h = b.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def giou_loss(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (1 - GIoU) and the IoUs of xyxy boxes."""
    g, iou = giou(pred, target)
    return (1 - g).mean(), iou


def ostrack_loss(out: dict[str, torch.Tensor], search_box: torch.Tensor, *, search_size: int,
                 weights: dict[str, float] = WEIGHTS) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of model outputs against ``search_box`` [B, 4] xyxy in search-crop pixels."""
    norm = search_box.float() / search_size
    heat = centre_heatmap(norm, out["score_map"].shape[-1])
    target = norm.clamp(0.0, 1.0)  # OSTrack clamps the box targets, not the heat map
    focal = focal_loss(out["score_map"], heat)
    pred = cxcywh_to_xyxy(out["boxes"])
    giou, iou = giou_loss(pred, target)
    l1 = (pred - target).abs().mean()
    loss = weights["focal"] * focal + weights["giou"] * giou + weights["l1"] * l1
    parts = {"focal": float(focal.detach()), "giou": float(giou.detach()), "l1": float(l1.detach()),
             "iou": float(iou.detach().mean())}
    return loss, parts
