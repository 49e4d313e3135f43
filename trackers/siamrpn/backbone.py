"""The dilated ResNet-50 backbone of SiamRPN++ with an explicit width for every conv.

Why our own ``Bottleneck`` and not ``timm.models.resnet.Bottleneck``: timm derives a
block's widths from ``planes``, ``base_width``, ``reduce_first`` and ``cardinality`` and
fixes the output to ``4 * planes``, so a pruned block (arbitrary conv1 / conv2 / output
widths) cannot be expressed without replacing its layers after construction, and pysot's
zero paddings would have to be patched in as well. This block keeps timm's (and
torchvision's) parameter names — ``conv1, bn1, conv2, bn2, conv3, bn3, downsample.0/1`` —
so the full-width preset has exactly the keys of timm's ``resnet50`` (no ``fc``) and of
pysot's checkpoints, and ImageNet weights from either load unchanged. With full widths it
computes exactly what timm's ``resnet50(output_stride=8, down_kernel_size=3)`` computes
once conv1, layer2.0.conv2 and layer2.0.downsample.0 use padding 0 (checked in tests).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from trackers.common.resnet import ResidualBottleneck
from trackers.siamrpn.arch import downsample_layout, stage_input_width, stage_layout


class Bottleneck(ResidualBottleneck):
    """1x1 -> 3x3 -> 1x1 residual block with explicit widths (timm parameter names)."""

    def __init__(
        self,
        in_width: int,
        inner1: int,
        inner2: int,
        out_width: int,
        *,
        stride: int = 1,
        dilation: int = 1,
        padding: int = 1,
        downsample: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_width, inner1, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(inner1)
        self.conv2 = nn.Conv2d(inner1, inner2, kernel_size=3, stride=stride, padding=padding,
                               dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(inner2)
        self.conv3 = nn.Conv2d(inner2, out_width, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample


def _downsample(in_width: int, out_width: int, stage: int) -> nn.Sequential:
    lay = downsample_layout(stage)
    conv = nn.Conv2d(in_width, out_width, kernel_size=lay["kernel"], stride=lay["stride"],
                     padding=lay["padding"], dilation=lay["dilation"], bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(out_width))


def make_stage(rec: Mapping[str, Any], stage: int) -> nn.Sequential:
    """layer``stage`` of a record; its first block always carries the shortcut conv."""
    spec = rec["stages"][stage - 1]
    width = stage_input_width(rec, stage)
    blocks = []
    for b, block in enumerate(spec["blocks"]):
        lay = stage_layout(stage, b)
        blocks.append(Bottleneck(
            width, block["inner1"], block["inner2"], spec["out"],
            stride=lay["stride"], dilation=lay["dilation"], padding=lay["padding"],
            downsample=_downsample(width, spec["out"], stage) if b == 0 else None,
        ))
        width = spec["out"]
    return nn.Sequential(*blocks)


class ResNetBackbone(nn.Module):
    """Stem + layer1..layerN; returns the outputs of the requested levels (stage indices)."""

    def __init__(self, rec: Mapping[str, Any], levels: Sequence[int]) -> None:
        super().__init__()
        self.levels = tuple(levels)
        self.conv1 = nn.Conv2d(3, rec["stem"], kernel_size=7, stride=2, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(rec["stem"])
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.num_stages = len(rec["stages"])
        for s in range(1, self.num_stages + 1):
            self.add_module(f"layer{s}", make_stage(rec, s))
        _init_like_pysot(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        feats = []
        for s in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{s}")(x)
            if s in self.levels:
                feats.append(x)
        return feats


def _init_like_pysot(module: nn.Module) -> None:
    # He-normal over fan-out for convs, unit BN: pysot's ResNet initialisation.
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
