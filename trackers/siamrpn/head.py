"""Depthwise cross-correlation RPN heads fused over levels with softmax-normalised weights.

Each ``DepthwiseXCorr`` splits into its template branch (``conv_kernel``, run once per
sequence and cached) and its per-frame branch (``conv_search``, correlation, ``head``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def xcorr_depthwise(search: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Correlate every channel of ``search`` [B,C,H,W] with the same channel of ``kernel`` [B|1,C,h,w]."""
    b, c, h, w = search.shape
    if kernel.size(0) != b:
        kernel = kernel.expand(b, -1, -1, -1)
    out = F.conv2d(search.reshape(1, b * c, h, w), kernel.reshape(b * c, 1, kernel.size(2), kernel.size(3)),
                   groups=b * c)
    return out.view(b, c, out.size(2), out.size(3))


def _conv_bn_relu(in_width: int, out_width: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_width, out_width, kernel_size=kernel_size, bias=False),
                         nn.BatchNorm2d(out_width), nn.ReLU(inplace=True))


class DepthwiseXCorr(nn.Module):
    """conv_kernel / conv_search (3x3 + BN + ReLU) -> depthwise xcorr -> 1x1+BN+ReLU+1x1."""

    def __init__(self, in_width: int, xcorr: int, hidden: int, out_channels: int) -> None:
        super().__init__()
        self.conv_kernel = _conv_bn_relu(in_width, xcorr, 3)
        self.conv_search = _conv_bn_relu(in_width, xcorr, 3)
        self.head = nn.Sequential(
            nn.Conv2d(xcorr, hidden, kernel_size=1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, out_channels, kernel_size=1),
        )

    def kernel(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv_kernel(z)

    def respond(self, kernel: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.head(xcorr_depthwise(self.conv_search(x), kernel))


class DepthwiseRPN(nn.Module):
    def __init__(self, entry: Mapping[str, Any], anchors: int) -> None:
        super().__init__()
        self.cls = DepthwiseXCorr(entry["neck"], entry["cls"]["xcorr"], entry["cls"]["hidden"], 2 * anchors)
        self.loc = DepthwiseXCorr(entry["neck"], entry["loc"]["xcorr"], entry["loc"]["hidden"], 4 * anchors)


class MultiRPN(nn.Module):
    """``rpn<level>`` heads; outputs are fused with softmax(cls_weight) / softmax(loc_weight)."""

    def __init__(self, rec: Mapping[str, Any], anchors: int) -> None:
        super().__init__()
        self.levels = tuple(e["level"] for e in rec["rpn"])
        for entry in rec["rpn"]:
            self.add_module(f"rpn{entry['level']}", DepthwiseRPN(entry, anchors))
        self.cls_weight = nn.Parameter(torch.ones(len(self.levels)))
        self.loc_weight = nn.Parameter(torch.ones(len(self.levels)))

    def kernels(self, zfs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Template branch of every head: (cls kernel, loc kernel) per level, flattened."""
        out: list[torch.Tensor] = []
        for level, z in zip(self.levels, zfs):
            rpn = getattr(self, f"rpn{level}")
            out += [rpn.cls.kernel(z), rpn.loc.kernel(z)]
        return tuple(out)

    def forward(self, kernels: Sequence[torch.Tensor], xfs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        cls_w = F.softmax(self.cls_weight, 0)
        loc_w = F.softmax(self.loc_weight, 0)
        cls = loc = None
        for i, (level, x) in enumerate(zip(self.levels, xfs)):
            rpn = getattr(self, f"rpn{level}")
            c = rpn.cls.respond(kernels[2 * i], x) * cls_w[i]
            l = rpn.loc.respond(kernels[2 * i + 1], x) * loc_w[i]
            cls = c if cls is None else cls + c
            loc = l if loc is None else loc + l
        return cls, loc
