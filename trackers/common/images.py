"""What ImageNet-pretrained networks see: RGB crops scaled to 0..1 and normalised."""
from __future__ import annotations

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_normalize(crops: torch.Tensor) -> torch.Tensor:
    """RGB 0..255 [B,3,H,W] -> float (x/255 - mean) / std."""
    crops = crops.float()
    mean = torch.tensor(IMAGENET_MEAN, dtype=crops.dtype, device=crops.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=crops.dtype, device=crops.device).view(1, 3, 1, 1)
    return (crops / 255.0 - mean) / std
