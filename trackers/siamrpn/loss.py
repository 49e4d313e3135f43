"""SiamRPN training targets and loss (pysot's recipe).

Targets per pair: anchors with IoU > 0.6 against the search box are positive, < 0.3
negative; at most 16 positives and ``64 - positives`` negatives are sampled, the rest is
ignored. Regression targets are pysot's (dx, dy) = (g - a) / a_wh, (dw, dh) = log(g_wh / a_wh).
Classification: log-softmax NLL, positives and negatives averaged apart, 0.5 each.
Regression: smooth-L1 summed over the 4 deltas, each positive weighted 1 / positives of
its pair, averaged over the batch (pysot uses plain L1: ``beta=0``).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class TargetRules:
    pos_iou: float = 0.6
    neg_iou: float = 0.3
    total: int = 64
    max_pos: int = 16


@dataclass
class AnchorTargets:
    labels: torch.Tensor  # [B, N] int64: 1 positive, 0 negative, -1 ignored
    deltas: torch.Tensor  # [B, 4, N] regression targets
    weights: torch.Tensor  # [B, N] 1 / positives on positives, else 0


def batch_seed(boxes: torch.Tensor) -> int:
    """A seed fixed by the batch's boxes, so targets are reproducible without a seed field."""
    return zlib.crc32(np.ascontiguousarray(boxes.detach().cpu().numpy(), dtype=np.float32).tobytes())


def box_iou(anchors_xyxy: torch.Tensor, boxes_xyxy: torch.Tensor) -> torch.Tensor:
    """IoU of every anchor [N,4] with each pair's box [B,4] -> [B, N]."""
    a = anchors_xyxy[None]
    b = boxes_xyxy[:, None]
    iw = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    ih = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (area_a + area_b - inter).clamp(min=1e-6)


def _sample(mask: torch.Tensor, keep: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Keep ``keep[b]`` random True entries of each row of ``mask``."""
    key = torch.where(mask, noise, torch.full_like(noise, 2.0))
    rank = key.argsort(dim=1).argsort(dim=1)
    return mask & (rank < keep[:, None])


def anchor_targets(
    boxes_xyxy: torch.Tensor, anchors: torch.Tensor, *, seed: int, rules: TargetRules = TargetRules()
) -> AnchorTargets:
    """Targets for boxes [B,4] (xyxy) against anchors [N,4] (cx, cy, w, h), both in crop pixels."""
    boxes = boxes_xyxy.float()
    anchors = anchors.float()
    acx, acy, aw, ah = anchors.unbind(1)
    corners = torch.stack([acx - aw / 2, acy - ah / 2, acx + aw / 2, acy + ah / 2], dim=1)
    iou = box_iou(corners, boxes)

    gen = torch.Generator().manual_seed(int(seed) % (2**63))
    noise = torch.rand(iou.shape, generator=gen)
    pos = _sample(iou > rules.pos_iou, torch.full((len(boxes),), rules.max_pos), noise)
    num_pos = pos.sum(dim=1)
    neg = _sample(iou < rules.neg_iou, rules.total - num_pos, torch.rand(iou.shape, generator=gen))

    labels = torch.full(iou.shape, -1, dtype=torch.int64)
    labels[neg] = 0
    labels[pos] = 1
    gw = (boxes[:, 2] - boxes[:, 0]).clamp(min=1e-3)[:, None]
    gh = (boxes[:, 3] - boxes[:, 1]).clamp(min=1e-3)[:, None]
    gcx = (boxes[:, 0] + boxes[:, 2])[:, None] / 2
    gcy = (boxes[:, 1] + boxes[:, 3])[:, None] / 2
    deltas = torch.stack([(gcx - acx) / aw, (gcy - acy) / ah, torch.log(gw / aw), torch.log(gh / ah)], dim=1)
    weights = pos.float() / num_pos.clamp(min=1)[:, None].float()
    return AnchorTargets(labels=labels, deltas=deltas, weights=weights)


def rpn_loss(
    cls: torch.Tensor, loc: torch.Tensor, targets: AnchorTargets, *,
    cls_weight: float = 1.0, loc_weight: float = 1.2, beta: float = 1.0 / 9.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts from raw head outputs cls [B,2A,H,W] and loc [B,4A,H,W]."""
    b = cls.size(0)
    labels = targets.labels.to(cls.device)
    logp = F.log_softmax(cls.reshape(b, 2, -1).float(), dim=1)  # [B, 2, N] over (bg, fg)
    pos = labels == 1
    neg = labels == 0
    zero = cls.sum() * 0.0  # keeps the graph when a batch has no positives
    loss_pos = -logp[:, 1][pos].mean() if pos.any() else zero
    loss_neg = -logp[:, 0][neg].mean() if neg.any() else zero
    cls_loss = 0.5 * loss_pos + 0.5 * loss_neg

    pred = loc.reshape(b, 4, -1).float()
    target = targets.deltas.to(loc.device)
    if beta > 0:
        diff = F.smooth_l1_loss(pred, target, reduction="none", beta=beta)
    else:
        diff = (pred - target).abs()
    loc_loss = (diff.sum(dim=1) * targets.weights.to(loc.device)).sum() / b

    total = cls_weight * cls_loss + loc_weight * loc_loss
    parts = {"cls": float(cls_loss.detach()), "loc": float(loc_loss.detach()),
             "positives": float(pos.sum()) / b}
    return total, parts
