"""DETR's sine position code over the feature map, normalised to [0, 2*pi] per axis.

Padding (``mask`` True) is left out of the running count, so with a padding mask the code
spans only the valid part of the crop, as in STARK.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def sine_position_code(mask: torch.Tensor, dim: int, *, temperature: float = 10000.0) -> torch.Tensor:
    """[B,H,W] bool padding mask -> [B,dim,H,W]: first half encodes y, second half x."""
    half = dim // 2
    valid = (~mask).to(torch.float32)
    y = valid.cumsum(1)
    x = valid.cumsum(2)
    eps = 1e-6
    y = y / (y[:, -1:, :] + eps) * (2 * math.pi)
    x = x / (x[:, :, -1:] + eps) * (2 * math.pi)
    steps = torch.arange(half, dtype=torch.float32, device=mask.device)
    freqs = temperature ** (2 * torch.div(steps, 2, rounding_mode="floor") / half)
    pos_x = x[..., None] / freqs
    pos_y = y[..., None] / freqs
    # Interleave sin (even channels) and cos (odd channels).
    pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).flatten(3)
    pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).flatten(3)
    return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)


class SinePositionEncoding(nn.Module):
    """No parameters: ``backbone.1`` of STARK has no keys."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        return sine_position_code(mask, self.dim)
