"""STARK's corner predictor: two conv towers score every cell as the top-left or the
bottom-right corner; a soft-argmax turns each score map into sub-cell coordinates."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=True), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class CornerHead(nn.Module):
    """``conv{1..4}_{tl,br}`` (3x3 conv + BN + ReLU) and ``conv5_{tl,br}`` (1x1 -> 1 map)."""

    def __init__(self, cin: int, tl: Sequence[int], br: Sequence[int], *, feat_size: int, stride: int) -> None:
        super().__init__()
        self.feat_size = feat_size
        self.img_size = feat_size * stride
        for branch, widths in (("tl", tl), ("br", br)):
            chans = [cin, *widths]
            for k in range(4):
                self.add_module(f"conv{k + 1}_{branch}", conv_bn_relu(chans[k], chans[k + 1]))
            self.add_module(f"conv5_{branch}", nn.Conv2d(chans[-1], 1, 1))
        # Cell (i, j) sits at pixel (j * stride, i * stride) of the crop; row-major like the map.
        cells = torch.arange(feat_size, dtype=torch.float32) * stride
        self.register_buffer("coord_x", cells.repeat(feat_size), persistent=False)
        self.register_buffer("coord_y", cells.repeat_interleave(feat_size), persistent=False)

    def _branch(self, x: torch.Tensor, branch: str) -> torch.Tensor:
        for k in range(1, 6):
            x = getattr(self, f"conv{k}_{branch}")(x)
        return x

    def _soft_argmax(self, score_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        prob = score_map.flatten(1).softmax(dim=1)
        return (prob * self.coord_x).sum(dim=1), (prob * self.coord_y).sum(dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[B,C,H,W] -> boxes [B,4] xyxy normalised by the crop side, score maps [B,2,H,W]."""
        tl, br = self._branch(x, "tl"), self._branch(x, "br")
        x1, y1 = self._soft_argmax(tl)
        x2, y2 = self._soft_argmax(br)
        boxes = torch.stack((x1, y1, x2, y2), dim=1) / self.img_size
        return boxes, torch.cat((tl, br), dim=1)
