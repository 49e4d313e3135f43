"""OSTrack's photometric and flip augmentation of training pairs (applied on the crops).

As OSTrack's data pipeline: grayscale (p 0.05) and horizontal flip (p 0.5) of the whole
pair, then per crop a brightness factor in [0.8, 1.2] and another horizontal flip (p 0.5).
Boxes follow the flips. Crops are float RGB 0..255 [B, 3, H, W]; boxes xyxy crop pixels.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

GRAY_P, FLIP_P, BRIGHTNESS = 0.05, 0.5, 0.2
_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def _flip(crops: torch.Tensor, boxes: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    width = crops.shape[-1]
    flipped = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], dim=1)
    m = mask.view(-1, 1, 1, 1)
    return torch.where(m, crops.flip(-1), crops), torch.where(mask.view(-1, 1), flipped, boxes)


def _rand(n: int, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=generator)


def augment_pairs(batch: Mapping[str, torch.Tensor], generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """A new batch with augmented ``template``/``search`` and matching boxes."""
    z, x = batch["template"].float(), batch["search"].float()
    zb, xb = batch["template_box"].float(), batch["search_box"].float()
    n = z.shape[0]
    gray = (_rand(n, generator) < GRAY_P).view(-1, 1, 1, 1)
    luma = _LUMA.to(z.device)
    z = torch.where(gray, (z * luma).sum(1, keepdim=True).expand_as(z), z)
    x = torch.where(gray, (x * luma).sum(1, keepdim=True).expand_as(x), x)
    joint = (_rand(n, generator) < FLIP_P).to(z.device)
    z, zb = _flip(z, zb, joint)
    x, xb = _flip(x, xb, joint)
    out = dict(batch)
    for key, crops, boxes in (("template", z, zb), ("search", x, xb)):
        factor = (1 - BRIGHTNESS + 2 * BRIGHTNESS * _rand(n, generator)).to(crops.device).view(-1, 1, 1, 1)
        crops, boxes = _flip((crops * factor).clamp(0, 255), boxes, (_rand(n, generator) < FLIP_P).to(crops.device))
        out[key], out[f"{key}_box"] = crops, boxes
    return out
