"""What makes a short fine-tune give the same score whatever its seed: weight averaging and
BatchNorm recalibration.

A fine-tune of a few hundred steps ends wherever its last noisy batches left it; the score of
that point moves with the seed. An exponential moving average of the weights (as timm's
ModelEmaV2 and most detection recipes keep) scores a point averaged over the last ~1/(1-decay)
steps instead. A pruned child also inherits BatchNorm statistics of the parent's wider
layers; re-estimating them on a few batches of the child's own activations (as slimmable and
once-for-all networks do before scoring a sub-network) removes that mismatch without training.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch
from torch import nn


class WeightAverage:
    """Exponential moving average of a model's floating-point parameters and buffers.

    ``update()`` after every optimizer step; ``apply()`` writes the average into the model.
    The first ``warmup`` updates use a smaller decay (1 - 1/(n + 1)), so an early average is
    not dominated by the starting weights.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"weight-average decay must be in (0, 1), got {decay}")
        self.model, self.decay, self.updates = model, float(decay), 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        decay = min(self.decay, 1.0 - 1.0 / (self.updates + 1))
        for key, value in self.model.state_dict().items():
            if key in self.shadow:
                self.shadow[key].mul_(decay).add_(value.detach(), alpha=1.0 - decay)

    @torch.no_grad()
    def apply(self) -> None:
        state = self.model.state_dict()
        for key, value in self.shadow.items():
            state[key].copy_(value)


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recalibrate_batchnorm(family, model: nn.Module, batches: Iterator[Mapping[str, torch.Tensor]], count: int) -> int:
    """Re-estimate every BatchNorm's running mean and variance from ``count`` training batches.

    Only the statistics change (no gradient step); each layer's estimate is the plain average
    over the batches (momentum None). Layers the family keeps frozen in training (e.g. the
    BatchNorm of a backbone loaded from official weights) keep their statistics. Returns the
    number of layers recalibrated (0 for a model without BatchNorm, e.g. a ViT).
    """
    was_training = model.training
    family.train_mode(model)  # the family's own choice of which BatchNorms learn
    layers = [m for m in _batchnorms(model) if m.training]
    if not layers or count <= 0:
        model.train(was_training)
        return 0
    saved = {m: m.momentum for m in layers}
    for m in layers:
        m.reset_running_stats()
        m.momentum = None
    device = next(model.parameters()).device
    for _ in range(count):
        batch = next(batches)
        z = family.preprocess(batch["template"].to(device))
        x = family.preprocess(batch["search"].to(device))
        model(z, x)
    for m, momentum in saved.items():
        m.momentum = momentum
    model.train(was_training)
    return len(layers)
