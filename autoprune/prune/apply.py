"""Real removal: score, select, slice the parent's tensors, build the child from its record."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import torch

import trackers
from autoprune.checkpoint import load_strict
from autoprune.errors import ConfigError
from autoprune.prune.groups import Block, Selection, UnitGroup
from autoprune.prune.importance import Importance, Magnitude


@dataclass(frozen=True)
class PruneConfig:
    """How much of each group and container a child keeps.

    ``keep``: group name -> units kept (absent: all). ``depth``: block container -> number of
    its *removable* blocks kept (absent: all). Which units and blocks survive is decided by
    an importance criterion. ``crop_scale``: the child's template and search crop sides as a
    ratio of the parent's (``family.resize_crops``; 1: the parent's crops).
    """

    keep: Mapping[str, int] = field(default_factory=dict)
    depth: Mapping[str, int] = field(default_factory=dict)
    crop_scale: float = 1.0


def family_of(model) -> trackers.TrackerFamily:
    return trackers.get(model.arch["family"])


def _check(config: PruneConfig, groups: dict[str, UnitGroup], blocks: list[Block]) -> None:
    for name, n in config.keep.items():
        if name not in groups:
            raise ConfigError(f"prune config names unknown group {name!r}; groups look like {', '.join(list(groups)[:4])}, ...")
        g = groups[name]
        if not g.min_keep <= n <= g.size:
            raise ConfigError(f"group {name!r}: keep {n} is outside [{g.min_keep}, {g.size}]")
    containers = {b.container for b in blocks}
    for container, n in config.depth.items():
        if container not in containers:
            raise ConfigError(f"prune config names unknown block container {container!r}; valid: {', '.join(sorted(containers))}")
        removable = sum(b.removable for b in blocks if b.container == container)
        if not 0 <= n <= removable:
            raise ConfigError(f"container {container!r}: keep {n} removable blocks is outside [0, {removable}]")


def select(config: PruneConfig, groups: list[UnitGroup], blocks: list[Block], unit_scores, block_scores) -> Selection:
    """Keep the highest-scoring units and blocks (ties broken by position: deterministic)."""
    by_name = {g.name: g for g in groups}
    _check(config, by_name, blocks)
    drop: set[str] = set()
    for container, n in config.depth.items():
        candidates = [b for b in blocks if b.container == container and b.removable]
        ranked = sorted(candidates, key=lambda b: (-block_scores[b.name], b.index))
        drop.update(b.name for b in ranked[n:])
    keep = {}
    for g in groups:
        n = config.keep.get(g.name, g.size)
        order = torch.argsort(-unit_scores[g.name], stable=True)
        keep[g.name] = sorted(order[:n].tolist())
    return Selection(keep=keep, drop_blocks=drop)


def child_record(family, arch: Mapping, selection: Selection, crop_scale: float = 1.0) -> dict:
    """The record of the child ``selection`` cuts from ``arch``, at ``crop_scale`` of its crops."""
    child = family.child_arch(arch, selection.counts(), selection.drop_blocks)
    return child if crop_scale == 1.0 else family.resize_crops(child, crop_scale)


def _unit_indices(units: list[int], group: UnitGroup, chunks: int) -> torch.Tensor:
    per_chunk = group.size * group.unit
    idx = [c * per_chunk + u * group.unit + j for c in range(chunks) for u in units for j in range(group.unit)]
    return torch.tensor(idx, dtype=torch.long)


def slice_state(state: Mapping[str, torch.Tensor], groups: list[UnitGroup], blocks: list[Block], selection: Selection) -> dict[str, torch.Tensor]:
    """The child's state dict: members sliced to the kept units, dropped blocks removed and
    the remaining blocks of each container renumbered in order."""
    out = {k: v for k, v in state.items()}
    for g in groups:
        kept = selection.keep[g.name]
        if len(kept) == g.size:
            continue
        for m in g.members:
            if m.key in out:
                out[m.key] = out[m.key].index_select(m.dim, _unit_indices(kept, g, m.chunks))
    renames: dict[str, str] = {}
    dropped = [b.prefix for b in blocks if b.name in selection.drop_blocks]
    for container in dict.fromkeys(b.container for b in blocks):
        survivors = [b for b in sorted((b for b in blocks if b.container == container), key=lambda b: b.index)
                     if b.name not in selection.drop_blocks]
        for new, b in enumerate(survivors):
            renames[b.prefix] = f"{container}.{new}."
    child = {}
    for key, value in out.items():
        if any(key.startswith(p) for p in dropped):
            continue
        for old, new in renames.items():
            if key.startswith(old):
                key = new + key[len(old):]
                break
        child[key] = value.clone()
    return child


def build_with_state(family, arch: dict, state: Mapping[str, torch.Tensor], *, source: str):
    """``family.build(arch)`` holding ``state``, strictly.

    Built on the meta device first (no random initialisation of a network whose every
    weight is overwritten: the slow part for full-size children); falls back to a normal
    build when the model keeps tensors outside its state dict.
    """
    with torch.device("meta"):
        child = family.build(arch)
    from autoprune.checkpoint import describe_mismatch

    problem = describe_mismatch(child.state_dict(), state)
    if problem:
        raise ConfigError(f"{source} does not fit its record: {problem}")
    child.load_state_dict(state, strict=True, assign=True)
    if any(t.is_meta for t in list(child.parameters()) + list(child.buffers())):
        child = family.build(arch)
        load_strict(child, state, source=source)
    return child.eval()


def inherit_flags(family, parent, child) -> None:
    """Carry the family's declared training flags from parent to child (same weights' history)."""
    for name in family.inherited_flags:
        if hasattr(parent, name):
            setattr(child, name, getattr(parent, name))


def apply(
    parent,
    config: PruneConfig,
    importance: Importance | None = None,
    *,
    batches: Iterator | None = None,
):
    """Prune ``parent`` (never modified) to ``config``; return ``(child, child_arch)``.

    The child is a plain model of the parent's family built from ``child_arch``; loading the
    sliced tensors into it is strict, so every kept weight lands where the record says.
    """
    family = family_of(parent)
    importance = importance or Magnitude(1)
    arch = parent.arch
    groups = family.unit_groups(arch)
    blocks = family.blocks(arch)
    source = importance.prepare(family, parent, batches)
    selection = select(config, groups, blocks, importance.unit_scores(source, groups), importance.block_scores(source, blocks))
    child_arch = family.validate_arch(child_record(family, arch, selection, config.crop_scale))
    state = slice_state(parent.state_dict(), groups, blocks, selection)
    if config.crop_scale != 1.0:
        state = family.resize_state(state, arch, child_arch)
    child = build_with_state(family, child_arch, state, source=f"pruned {family.name} child")
    inherit_flags(family, parent, child)
    return child, child_arch
