"""ResNet up to layer3 (stride 16) with frozen BatchNorm, widths read from the record.

Key names follow torchvision's ResNet (``conv1``, ``bn1``, ``layerN.M.{conv,bn}{1,2,3}``,
``downsample.{0,1}``) so official STARK weights load under ``backbone.0.body``. Frozen
BatchNorm keeps its statistics and affine terms as buffers: torchvision's version has no
``num_batches_tracked``, like STARK's checkpoints.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from trackers.common.resnet import ResidualBottleneck
from trackers.stark.arch import stage_inputs

STAGE_STRIDES = (1, 2, 2)  # layer1 keeps the stem's stride 4; layer2, layer3 halve it


class Bottleneck(ResidualBottleneck):
    """1x1 -> 3x3 (strided, torchvision v1.5) -> 1x1 with a residual; inner widths free."""

    def __init__(self, cin: int, inner1: int, inner2: int, cout: int, *, stride: int, downsample: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, inner1, 1, bias=False)
        self.bn1 = FrozenBatchNorm2d(inner1)
        self.conv2 = nn.Conv2d(inner1, inner2, 3, stride=stride, padding=1, bias=False)
        self.bn2 = FrozenBatchNorm2d(inner2)
        self.conv3 = nn.Conv2d(inner2, cout, 1, bias=False)
        self.bn3 = FrozenBatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), FrozenBatchNorm2d(cout)) if downsample else None
        )


class ResNetBody(nn.Module):
    """conv1 7x7/2 -> maxpool 3x3/2 -> layer1..layer3; output stride 16."""

    def __init__(self, stem: int, stages: Sequence[Mapping[str, Any]], cins: Sequence[int]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = FrozenBatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        for i, (stage, cin, stride) in enumerate(zip(stages, cins, STAGE_STRIDES), start=1):
            blocks = []
            for b, (inner1, inner2) in enumerate(stage["blocks"]):
                first = b == 0
                blocks.append(Bottleneck(cin if first else stage["out"], inner1, inner2, stage["out"],
                                         stride=stride if first else 1, downsample=first))
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer3(self.layer2(self.layer1(x)))


class Backbone(nn.Module):
    """Holds the trunk under ``body`` (the official key prefix is ``backbone.0.body``)."""

    def __init__(self, arch: Mapping[str, Any]) -> None:
        super().__init__()
        spec = arch["backbone"]
        self.body = ResNetBody(spec["stem"], spec["stages"], stage_inputs(arch))
        self.num_channels = spec["stages"][-1]["out"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def freeze_stem(self) -> None:
        """conv1 and layer1 stay fixed while training (STARK's FREEZE_LAYERS)."""
        for module in (self.body.conv1, self.body.layer1):
            for p in module.parameters():
                p.requires_grad_(False)
