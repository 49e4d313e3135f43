"""How a family crops its template and search regions, and the crop every tracker feeds its network."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class CropSpec:
    """How a family crops template and search regions around a target.

    Crop side = ``factor * context_side(w, h, context)`` (see ``autoprune.geometry``).
    """

    template_size: int
    search_size: int
    template_factor: float
    search_factor: float
    context: str = "area"  # 'siamfc' (pysot context 0.5) or 'area' (sqrt(w*h))
    pad: str = "zero"  # 'mean' (pysot) or 'zero'


def record_crop_spec(arch: Mapping[str, Any]) -> CropSpec:
    """The crops a record states itself: sizes and factors, area context, zero padding."""
    return CropSpec(template_size=arch["template_size"], search_size=arch["search_size"],
                    template_factor=arch["template_factor"], search_factor=arch["search_factor"],
                    context="area", pad="zero")


def crop_tensor(image: np.ndarray, center, side: float, out_size: int, *, pad, device) -> torch.Tensor:
    """A square crop of ``image`` (see ``autoprune.geometry.crop_square``) as a 1x3xHxW float
    tensor of 0..255 pixel values on ``device``: what every family's tracker feeds its network."""
    from autoprune.geometry import crop_square

    patch = crop_square(image, center, side, out_size, pad=pad)
    return torch.from_numpy(np.ascontiguousarray(patch)).to(device).permute(2, 0, 1)[None].float()
