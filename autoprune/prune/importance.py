"""Importance criteria: how much each unit of each group (and each block) is worth keeping.

Every criterion maps (model, groups, blocks) to one score tensor per group and one float per
block; higher means keep. Criteria read tensors through the groups' ``Member`` declarations,
so they work for any family.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import torch

from autoprune.errors import ConfigError
from autoprune.prune.groups import Block, Member, UnitGroup


def unit_view(tensor: torch.Tensor, member: Member, group: UnitGroup) -> torch.Tensor:
    """Reshape ``tensor`` to [units, everything else] along the member's dimension."""
    t = tensor.detach().float().movedim(member.dim, 0)
    expected = member.chunks * group.size * group.unit
    if t.shape[0] != expected:
        raise ValueError(f"{member.key}: dim {member.dim} has {t.shape[0]} entries, group {group.name} expects {expected}")
    t = t.reshape(member.chunks, group.size, group.unit, -1)
    return t.transpose(0, 1).reshape(group.size, -1)


class Importance:
    """Base class: override ``unit_scores`` and (optionally) ``block_scores``."""

    name = "base"
    needs_batches = False

    def unit_scores(self, state: Mapping[str, torch.Tensor], groups: Iterable[UnitGroup]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def block_scores(self, state: Mapping[str, torch.Tensor], blocks: Iterable[Block]) -> dict[str, float]:
        # Default: mean magnitude of the tensors that scale the block's residual branch.
        return {b.name: float(sum(state[k].detach().abs().float().mean() for k in b.score_keys)) for b in blocks}

    def prepare(self, family, model, batches: Iterator | None) -> Mapping[str, torch.Tensor]:
        """The tensors scores are computed from (the state dict by default)."""
        return model.state_dict()


class Magnitude(Importance):
    """L1 (``p=1``) or L2 (``p=2``) norm of each unit's weights over all coupled tensors."""

    def __init__(self, p: int = 1) -> None:
        self.p = p
        self.name = f"l{p}"

    def unit_scores(self, state, groups):
        scores = {}
        for g in groups:
            total = torch.zeros(g.size)
            for m in g.members:
                if m.kind == "weight":
                    total += unit_view(state[m.key], m, g).abs().pow(self.p).sum(dim=1)
            scores[g.name] = total
        return scores


class BNScale(Magnitude):
    """|gamma| of the BatchNorm layers in a group (network slimming); magnitude where none."""

    name = "bn"

    def __init__(self) -> None:
        super().__init__(p=1)
        self.name = "bn"

    def unit_scores(self, state, groups):
        fallback = super().unit_scores(state, groups)
        scores = {}
        for g in groups:
            bns = [m for m in g.members if m.kind == "bn_scale"]
            if bns:
                scores[g.name] = sum(unit_view(state[m.key], m, g).abs().sum(dim=1) for m in bns)
            else:
                scores[g.name] = fallback[g.name]
        return scores


class Random(Importance):
    """Seeded random scores (the baseline every criterion must beat)."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def unit_scores(self, state, groups):
        gen = torch.Generator().manual_seed(self.seed)
        return {g.name: torch.rand(g.size, generator=gen) for g in groups}

    def block_scores(self, state, blocks):
        gen = torch.Generator().manual_seed(self.seed + 1)
        return {b.name: float(torch.rand(1, generator=gen)) for b in blocks}


class Taylor(Magnitude):
    """First-order Taylor: |w * dL/dw| summed over a few batches of the family's loss."""

    name = "taylor"
    needs_batches = True

    def __init__(self, batches: int = 2) -> None:
        super().__init__(p=1)
        self.name = "taylor"
        self.n_batches = batches

    def prepare(self, family, model, batches):
        if batches is None:
            raise ConfigError("the taylor criterion needs training batches; pass --data or choose another --importance")
        model = copy.deepcopy(model)  # train-mode passes update BN statistics: never touch the parent
        params = dict(model.named_parameters())
        saliency = {k: torch.zeros_like(p) for k, p in params.items()}
        family.train_mode(model)
        for _ in range(self.n_batches):
            model.zero_grad(set_to_none=True)
            loss, _ = family.loss(model, next(batches))
            loss.backward()
            for k, p in params.items():
                if p.grad is not None:
                    saliency[k] += (p.detach() * p.grad.detach()).abs()
        model.zero_grad(set_to_none=True)
        model.eval()
        state = dict(model.state_dict())
        state.update(saliency)  # buffers keep their values (they only get sliced)
        return state

    def unit_scores(self, state, groups):
        scores = {}
        for g in groups:
            total = torch.zeros(g.size)
            for m in g.members:
                if m.kind in ("weight", "bn_scale"):
                    total += unit_view(state[m.key], m, g).sum(dim=1)
            scores[g.name] = total
        return scores

    def block_scores(self, state, blocks):
        out = {}
        for b in blocks:
            out[b.name] = float(sum(v.float().sum() for k, v in state.items() if k.startswith(b.prefix) and v.is_floating_point()))
        return out


@dataclass
class Learned(Importance):
    """Scores learned elsewhere (e.g. by gate sparsity training), looked up by group name."""

    scores: dict[str, torch.Tensor]
    blocks: dict[str, float] = field(default_factory=dict)
    fallback: Importance = field(default_factory=lambda: Magnitude(1))
    name: str = "gates"

    def unit_scores(self, state, groups):
        groups = list(groups)
        base = self.fallback.unit_scores(state, [g for g in groups if g.name not in self.scores])
        return {g.name: self.scores[g.name].detach().float().abs() if g.name in self.scores else base[g.name] for g in groups}

    def block_scores(self, state, blocks):
        blocks = list(blocks)
        base = self.fallback.block_scores(state, blocks)
        return {b.name: self.blocks.get(b.name, base[b.name]) for b in blocks}


CRITERIA = {"l1": lambda seed: Magnitude(1), "l2": lambda seed: Magnitude(2), "bn": lambda seed: BNScale(),
            "taylor": lambda seed: Taylor(), "random": lambda seed: Random(seed)}


def get(name: str, *, seed: int = 0) -> Importance:
    """A criterion by name: l1, l2, bn, taylor, random (``gates`` comes from ``autoprune prune --method gates``)."""
    if name not in CRITERIA:
        raise ConfigError(f"unknown importance {name!r}; valid: {', '.join(CRITERIA)} (learned gates: --method gates)")
    return CRITERIA[name](seed)
