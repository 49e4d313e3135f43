"""What the network sees: ImageNet-normalised RGB crops and their padding masks."""
from __future__ import annotations

import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize(crops: torch.Tensor) -> torch.Tensor:
    """RGB 0..255 float [B,3,H,W] -> (x/255 - mean) / std."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=crops.dtype, device=crops.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=crops.dtype, device=crops.device).view(1, 3, 1, 1)
    return (crops / 255.0 - mean) / std


def padding_mask(image_shape: tuple[int, ...], center, side: float, out_size: int) -> np.ndarray:
    """[out,out] bool: True where a ``crop_square`` crop samples outside the image (zero padding).

    Crop pixel u samples image coordinate ``cx - side/2 + (u + 0.5) * side/out`` (pixel
    centres), so validity is separable in x and y.
    """
    height, width = image_shape[:2]
    step = max(float(side), 1.0) / out_size
    u = (np.arange(out_size) + 0.5) * step
    xs = float(center[0]) - max(float(side), 1.0) / 2.0 + u
    ys = float(center[1]) - max(float(side), 1.0) / 2.0 + u
    valid_x = (xs >= 0) & (xs < width)
    valid_y = (ys >= 0) & (ys < height)
    return ~(valid_y[:, None] & valid_x[None, :])
