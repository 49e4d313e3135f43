"""The AdjustAllLayer neck: per level a 1x1 conv (no bias) + BN to the level's neck width."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn


class AdjustLayer(nn.Module):
    """1x1 conv + BN; ``crop(x)`` cuts the template's centre ``center_size`` square."""

    def __init__(self, in_width: int, out_width: int, *, center_size: int) -> None:
        super().__init__()
        self.downsample = nn.Sequential(nn.Conv2d(in_width, out_width, kernel_size=1, bias=False),
                                        nn.BatchNorm2d(out_width))
        self.center_size = center_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x)

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        # pysot crops whenever a map is narrower than 20 (it cannot tell template from
        # search otherwise); our template path calls this explicitly, so small search
        # crops are never cut.
        side = x.size(3)
        if side <= self.center_size:
            return x
        lo = (side - self.center_size) // 2
        hi = lo + self.center_size
        return x[:, :, lo:hi, lo:hi]


class AdjustAllLayer(nn.Module):
    """One ``downsample<level>`` AdjustLayer per fused level (pysot names)."""

    def __init__(self, rec: Mapping[str, Any]) -> None:
        super().__init__()
        self.levels = tuple(e["level"] for e in rec["rpn"])
        for entry in rec["rpn"]:
            in_width = rec["stages"][entry["level"] - 1]["out"]
            self.add_module(f"downsample{entry['level']}",
                            AdjustLayer(in_width, entry["neck"], center_size=rec["template_crop"]))

    def forward(self, feats: Sequence[torch.Tensor], *, template: bool) -> list[torch.Tensor]:
        out = []
        for level, x in zip(self.levels, feats):
            layer = getattr(self, f"downsample{level}")
            x = layer(x)
            out.append(layer.crop(x) if template else x)
        return out
