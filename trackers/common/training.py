"""Training helpers the families' recipes share."""
from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn


def split_backbone(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Trainable parameters of ``model.backbone`` and of everything else (recipes give them different LRs)."""
    backbone = [p for p in model.backbone.parameters() if p.requires_grad]
    ids = {id(p) for p in backbone}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    return backbone, rest


def forward_batch(model: nn.Module, batch: Mapping[str, torch.Tensor],
                  preprocess: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's outputs on a batch of training pairs, moved to its device and preprocessed."""
    device = next(model.parameters()).device
    z = preprocess(batch["template"].to(device))
    x = preprocess(batch["search"].to(device))
    return model(z, x)
