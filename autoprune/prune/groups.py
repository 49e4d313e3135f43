"""What a family declares so the engine can prune it: coupled unit groups and removable blocks.

A *unit group* is a set of channels (or heads, or hidden units) that must be removed together
because several tensors index them: a conv's output channels, its BatchNorm, and the input
channels of the next conv. A family lists, for its record, every group with the tensors
(``Member``) that index it. The engine scores units, keeps the best ones, slices every member
and builds the child from the family's record — no pruning library is needed downstream.

A *block* is a residual unit (bottleneck, transformer block, encoder layer) that can be
removed whole; the keys of the blocks after it are renumbered within their container.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Member:
    """Tensor ``key`` indexes the group's units along ``dim``.

    The dimension may hold ``chunks`` equal parts that each index all units (q, k and v in
    one ``qkv`` projection: ``chunks=3``). ``kind`` tells importance criteria what the tensor
    is: 'weight' (scored by magnitude), 'bn_scale' (BatchNorm gamma), or 'other' (sliced
    only, e.g. biases and running statistics).
    """

    key: str
    dim: int
    chunks: int = 1
    kind: str = "weight"


@dataclass(frozen=True)
class UnitGroup:
    """``size`` units of ``unit`` channels each, indexed by every member.

    ``name`` is unique and stable (``layer2.1.inner1``, ``blocks.3.heads``): search-space knobs
    select groups by glob patterns over these names, and the family reads the kept counts
    back by name in ``child_arch``.
    """

    name: str
    size: int
    members: tuple[Member, ...]
    unit: int = 1
    min_keep: int = 1
    multiple: int = 1  # kept count is rounded to a multiple of this (never below min_keep)


@dataclass(frozen=True)
class Block:
    """A residual block: all keys under ``prefix`` (``container.index.``).

    Families list every block of a container (removable or not) so keys can be renumbered.
    """

    name: str  # stable, e.g. "layer3.4" or "blocks.7"
    container: str  # e.g. "backbone.layer3"
    index: int
    score_keys: tuple[str, ...] = field(default_factory=tuple)  # tensors whose magnitude rank the block
    removable: bool = True  # e.g. a stage's first bottleneck (it changes shape) is not

    @property
    def prefix(self) -> str:
        return f"{self.container}.{self.index}."


@dataclass
class Selection:
    """Which units and blocks a child keeps: sorted parent indices per group, blocks dropped."""

    keep: dict[str, list[int]]
    drop_blocks: set[str] = field(default_factory=set)

    def counts(self) -> dict[str, int]:
        return {name: len(idx) for name, idx in self.keep.items()}


@dataclass(frozen=True)
class GatePoint:
    """Where learned gates of a group multiply activations: the output of ``module``.

    The output's last dimension holds ``chunks`` parts (q, k, v: 3) that each index all of
    the group's units; channel-wise gates (one per channel of each unit, as the paper's
    head x channel gates) are averaged per unit when scoring.
    """

    group: str
    module: str
    chunks: int = 1
    channel_dim: int = -1
    # Parameters (key, dim) the trained gate is multiplied into afterwards, so the child
    # computes exactly what was trained (e.g. qkv weight/bias rows, or fc2's input columns).
    fold: tuple[tuple[str, int], ...] = ()
