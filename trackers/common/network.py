"""The base of every family's network: an init path and a per-frame path."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

Arch = dict[str, Any]


class TrackerModel(nn.Module):
    """``template(z)`` runs once per sequence, ``track(cache, x)`` every frame; ``model.arch`` is its record."""

    arch: Arch

    def template(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def track(self, cache: tuple[torch.Tensor, ...], x: torch.Tensor) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.track(self.template(z), x)
