"""The residual bottleneck's forward pass, shared by the families whose backbone is a ResNet."""
from __future__ import annotations

import torch
from torch import nn


class ResidualBottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 with a residual add; subclasses build ``conv1..3``, ``bn1..3``,
    ``relu`` and ``downsample`` (None: identity shortcut) their family's way."""

    downsample: nn.Module | None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        return self.relu(x + shortcut)
