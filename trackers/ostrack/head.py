"""OSTrack's CenterPredictor: centre heat map, sub-cell offset and box size per cell."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from trackers.ostrack.arch import BRANCH_OUTPUTS, BRANCHES


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=True), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _clamped_sigmoid(x: torch.Tensor) -> torch.Tensor:
    # OSTrack clamps so the focal loss never takes log(0).
    return x.sigmoid().clamp(min=1e-4, max=1 - 1e-4)


class CenterPredictor(nn.Module):
    """Three conv branches over the search feature map [B, C, S, S].

    Modules are named ``conv{1..4}_<branch>`` (conv+BN+ReLU) and ``conv5_<branch>`` (1x1)
    as in OSTrack, so official weights load unchanged.
    """

    def __init__(self, in_dim: int, widths: Mapping[str, Sequence[int]], *, feat_size: int) -> None:
        super().__init__()
        self.feat_size = feat_size
        for branch in BRANCHES:
            chans = [in_dim, *widths[branch]]
            for j in range(len(chans) - 1):
                self.add_module(f"conv{j + 1}_{branch}", _conv_bn_relu(chans[j], chans[j + 1]))
            self.add_module(f"conv{len(chans)}_{branch}", nn.Conv2d(chans[-1], BRANCH_OUTPUTS[branch], 1))
        self._depth = len(widths[BRANCHES[0]]) + 1
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def _branch(self, name: str, x: torch.Tensor) -> torch.Tensor:
        for j in range(1, self._depth + 1):
            x = getattr(self, f"conv{j}_{name}")(x)
        return x

    def forward(self, feat: torch.Tensor) -> dict[str, torch.Tensor]:
        score = _clamped_sigmoid(self._branch("ctr", feat))
        size = _clamped_sigmoid(self._branch("size", feat))
        offset = self._branch("offset", feat)
        return {"score_map": score, "size_map": size, "offset_map": offset,
                "boxes": decode_boxes(score, size, offset)}


def decode_boxes(score_map: torch.Tensor, size_map: torch.Tensor, offset_map: torch.Tensor) -> torch.Tensor:
    """Box at the best cell of ``score_map``: [B, 4] (cx, cy, w, h) as fractions of the crop."""
    feat = score_map.shape[-1]
    idx = score_map.flatten(1).argmax(dim=1, keepdim=True)  # [B, 1]
    gather = idx.unsqueeze(1).expand(-1, 2, -1)  # [B, 2, 1]
    size = size_map.flatten(2).gather(2, gather).squeeze(-1)
    offset = offset_map.flatten(2).gather(2, gather).squeeze(-1)
    cx = (idx % feat).to(score_map.dtype) + offset[:, :1]
    cy = torch.div(idx, feat, rounding_mode="floor").to(score_map.dtype) + offset[:, 1:]
    return torch.cat([cx / feat, cy / feat, size], dim=1)
