"""The learned-gate baseline (Aggarwal et al., ICASSP 2023) on any family.

Sparsity training: a learnable real gate per channel at each family ``GatePoint``
(attention q/k/v channels, MLP hidden units), initialised at 1 and pulled to zero by an L1
term; CNN groups without a gate point use L1 on their BatchNorm scales (network slimming).
Loss = tracking loss + w1 * sum|attention gates| + w2 * sum|MLP and other gates| + w_bn * sum|BN gamma|.
Thresholding to a budget b (fraction of units kept): *naive* keeps the top-b units over all
groups of one kind at once, *layerwise* keeps the top-b of every group. The result is an
``Importance`` (gate magnitudes as unit scores) plus the keep counts, which
``autoprune.prune.apply`` turns into a physically smaller child.

Groups the paper's placement leaves alone (no gate point, no BatchNorm: OSTrack's token
width, STARK's transformer width and heads) get weight-magnitude scores of their own kind
(``"weights"``), so a cutter can extend the method to them where a budget needs it
(``autoprune.prune.methods.GateCutter``).
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from autoprune.device import model_device
from autoprune.errors import ConfigError
from autoprune.prune.apply import family_of
from autoprune.prune.groups import GatePoint, UnitGroup
from autoprune.prune.importance import BNScale, Learned, Magnitude, unit_view
from autoprune.train import train

# The paper's weights for OSTrack (attention, MLP); BN L1 weight as in network slimming.
W_ATTN = 1.5e-4
W_MLP = 7.5e-5
W_BN = 1e-4


@dataclass
class GateResult:
    """What sparsity training learned: a score per unit, and what kind each group's scores are."""

    importance: Learned
    kinds: dict[str, str] = field(default_factory=dict)  # group -> "gate" / "bn" / "l1" (naive thresholds per kind)


class _Gates(nn.Module):
    """The gate vectors and the hooks that apply them."""

    def __init__(self, model: nn.Module, points: list[GatePoint], groups: Mapping[str, UnitGroup]) -> None:
        super().__init__()
        self.points = points
        self.params = nn.ParameterDict()
        self.handles = []
        modules = dict(model.named_modules())
        for p in points:
            g = groups[p.group]
            gate = nn.Parameter(torch.ones(g.size * g.unit))
            self.params[p.group.replace(".", "__")] = gate
            self.handles.append(modules[p.module].register_forward_hook(self._hook(gate, p)))

    @staticmethod
    def _hook(gate: nn.Parameter, point: GatePoint):
        def apply(_module, _inputs, output):
            shape = [1] * output.dim()
            shape[point.channel_dim] = -1
            return output * gate.repeat(point.chunks).view(shape)

        return apply

    def gate(self, group: str) -> torch.Tensor:
        return self.params[group.replace(".", "__")]

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


class _SparseFamily:
    """The family with the sparsity terms added to its loss."""

    def __init__(self, family, gates: _Gates, bn_keys: list[str], *, w_attn: float, w_mlp: float, w_bn: float) -> None:
        self._family, self._gates, self._bn_keys = family, gates, bn_keys
        self._w = (w_attn, w_mlp, w_bn)

    def __getattr__(self, name):
        return getattr(self._family, name)

    def make_optimizer(self, model, *, steps, lr=None):
        optimizer, scheduler = self._family.make_optimizer(model, steps=steps, lr=lr)
        gates = list(self._gates.parameters())
        if gates:
            lr0 = optimizer.param_groups[-1]["lr"]
            optimizer.add_param_group({"params": gates, "lr": lr0, "weight_decay": 0.0})
            if scheduler is not None:  # the schedule was built for the family's groups: extend it
                scheduler.base_lrs.append(getattr(scheduler, "base_lrs", [lr0])[-1])
                if hasattr(scheduler, "lr_lambdas"):
                    scheduler.lr_lambdas.append(scheduler.lr_lambdas[-1])
                optimizer.param_groups[-1].setdefault("initial_lr", scheduler.base_lrs[-1])
        return optimizer, scheduler

    def loss(self, model, batch):
        loss, parts = self._family.loss(model, batch)
        w_attn, w_mlp, w_bn = self._w
        attn = sum((self._gates.gate(p.group).abs().sum() for p in self._gates.points if p.chunks == 3), torch.zeros(()))
        other = sum((self._gates.gate(p.group).abs().sum() for p in self._gates.points if p.chunks != 3), torch.zeros(()))
        state = dict(model.named_parameters())
        bn = sum((state[k].abs().sum() for k in self._bn_keys), torch.zeros(()))
        sparse = w_attn * attn + w_mlp * other + w_bn * bn
        return loss + sparse, {**parts, "sparsity": float(sparse.detach())}


def _unit_gate_scores(gates: _Gates, groups: Mapping[str, UnitGroup]) -> dict[str, torch.Tensor]:
    out = {}
    for p in gates.points:
        g = groups[p.group]
        out[p.group] = gates.gate(p.group).detach().abs().view(g.size, g.unit).mean(dim=1)
    return out


def threshold(scores: Mapping[str, torch.Tensor], groups: Mapping[str, UnitGroup], budget: float, mode: str,
              kinds: Mapping[str, str] | None = None) -> dict[str, int]:
    """Units kept per group at budget ``b``: global top-b (naive) or top-b per group (layerwise).

    Naive thresholding compares only scores of one kind (``kinds[group]``, default: the
    unit size): the paper keeps the top-b attention gates and the top-b MLP gates apart, and
    BatchNorm scales live on another scale than gates, so one global cut across them would
    empty the CNN (or the transformer) first.
    """
    if not 0 < budget <= 1:
        raise ConfigError(f"gate budget must be in (0, 1], got {budget}")
    if mode == "layerwise":
        return {n: _fit(groups[n], math.ceil(budget * groups[n].size)) for n in scores}
    if mode != "naive":
        raise ConfigError(f"unknown thresholding {mode!r}; valid: naive, layerwise")
    counts = {}
    # naive: one threshold over all units of one kind (heads with heads, units with units)
    by_kind: dict[tuple, list[str]] = {}
    for n in scores:
        by_kind.setdefault(((kinds or {}).get(n, ""), groups[n].unit), []).append(n)
    for names in by_kind.values():
        values = torch.cat([scores[n].float() for n in names])
        k = max(1, math.ceil(budget * values.numel()))
        # Keep exactly the k best units, ties broken by position: with a value cut, tied
        # scores (untrained or frozen layers) would all stay or all go at once.
        order = torch.sort(values, descending=True, stable=True).indices
        kept = torch.zeros(values.numel(), dtype=torch.bool)
        kept[order[:k]] = True
        start = 0
        for n in names:
            size = scores[n].numel()
            counts[n] = _fit(groups[n], int(kept[start:start + size].sum()))
            start += size
    return counts


def _fit(group: UnitGroup, n: int) -> int:
    """``n`` units made a count the group allows: at least ``min_keep``, a multiple of its ``multiple``."""
    n = max(group.min_keep, n)
    return min(group.size, math.ceil(n / group.multiple) * group.multiple)


def sparsity_train(
    parent,
    batches: Iterator,
    *,
    steps: int,
    w_attn: float = W_ATTN,
    w_mlp: float = W_MLP,
    w_bn: float = W_BN,
    progress: bool = True,
    device: str | None = None,
    amp: str | None = None,
) -> tuple[nn.Module, GateResult]:
    """Train gates (on a copy of ``parent``) and score every prunable unit.

    Returns the sparsity-trained copy (gates folded in, BN scales shrunk by L1) and the unit
    scores; :func:`threshold` turns them into kept counts at any budget. The training runs on
    ``device`` (default: the parent's); the trained copy and the scores come back on the CPU,
    where children are cut.
    """
    import copy

    family = family_of(parent)
    model = copy.deepcopy(parent)
    groups = {g.name: g for g in family.unit_groups(model.arch)}
    points = list(family.gate_points(model.arch)) if hasattr(family, "gate_points") else []
    gated = {p.group for p in points}
    bn_groups = [g for g in groups.values() if g.name not in gated and any(m.kind == "bn_scale" for m in g.members)]
    trainable = {k for k, p in model.named_parameters() if p.requires_grad}
    # frozen BatchNorm (buffers, or parameters not trained) cannot be sparsified; its scales still rank units
    bn_keys = sorted({m.key for g in bn_groups for m in g.members if m.kind == "bn_scale"} & trainable)
    gates = _Gates(model, points, groups)
    sparse = _SparseFamily(family, gates, bn_keys, w_attn=w_attn, w_mlp=w_mlp, w_bn=w_bn)
    gates.to(device or model_device(model))  # the gates live beside the activations they scale
    try:
        train(sparse, model, batches, steps=steps, progress=progress, description="gate sparsity training", device=device, amp=amp)
    finally:
        gates.remove()
    model.cpu()
    gates.cpu()
    scores = _unit_gate_scores(gates, groups)
    # fold the learned gates into the weights so the pruned child computes what was trained
    with torch.no_grad():
        fold_gates(model, gates, groups)
    state = model.state_dict()
    # BatchNorm the training could sparsify is ranked by its scales; frozen BatchNorm (STARK's
    # backbone) still holds its initial scales, often all equal, so those groups are ranked by
    # the L1 norm of their weights instead — on their own scale, thresholded as their own kind.
    def sparsified(g) -> bool:
        return all(m.key in trainable for m in g.members if m.kind == "bn_scale")

    slimmed = [g for g in bn_groups if sparsified(g)]
    frozen = [g for g in bn_groups if not sparsified(g)]
    bn_scores = BNScale().unit_scores(state, slimmed)
    l1_scores = Magnitude(1).unit_scores(state, frozen)
    # groups the paper never gates (no gate point, no BatchNorm): ranked by weight magnitude,
    # cut only where a cutter extends the method to them
    ungated = [g for g in groups.values() if g.name not in gated and g not in bn_groups]
    weight_scores = Magnitude(1).unit_scores(state, ungated)
    all_scores = {**bn_scores, **l1_scores, **scores, **weight_scores}
    kinds = {**{n: "bn" for n in bn_scores}, **{n: "l1" for n in l1_scores}, **{n: "gate" for n in scores},
             **{n: "weights" for n in weight_scores}}
    return model, GateResult(importance=Learned(scores=all_scores), kinds=kinds)


def fold_gates(model: nn.Module, gates: _Gates, groups: Mapping[str, UnitGroup]) -> None:
    """Multiply each trained gate into the parameters its point declares."""
    params = dict(model.named_parameters())
    for p in gates.points:
        gate = gates.gate(p.group).detach().repeat(p.chunks)
        if not p.fold:
            raise ConfigError(f"gate point {p.module} declares no parameters to fold its gate into")
        for key, dim in p.fold:
            shape = [1] * params[key].dim()
            shape[dim] = -1
            params[key].mul_(gate.view(shape))


__all__ = ["GateResult", "sparsity_train", "threshold", "unit_view"]
