"""How OSTrack prunes: heads and MLP units per block, the token width, blocks, head widths.

Coupling:
- ``blocks.<i>.heads``: head h owns rows h*d..(h+1)*d of q, k and v in ``qkv`` (3 chunks)
  and the same columns of ``proj``; ``head_dim`` and the attention scale stay as they were.
- ``blocks.<i>.mlp``: a hidden unit is a row of ``fc1`` and a column of ``fc2``.
- ``embed``: the token width runs through the patch embedding, both position embeddings,
  every LayerNorm, every projection's input or output, and the box head's first convs.
- ``head.<branch>.<k>``: a CenterPredictor conv's outputs, its BatchNorm, the next conv's inputs.
Learned gates (the paper's method) sit on the q/k/v channels after ``qkv`` and on the MLP
hidden units after the activation.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import torch

from autoprune.prune.groups import Block, GatePoint, Member, UnitGroup
from trackers.ostrack.arch import BRANCHES, HEAD_DEPTH

_B = "backbone.blocks"
_BN = ("weight", "bias", "running_mean", "running_var")


def _head_groups(arch: Mapping[str, Any]) -> list[UnitGroup]:
    groups = []
    for branch in BRANCHES:
        widths = arch["head"][branch]
        for k in range(1, HEAD_DEPTH + 1):
            conv = f"box_head.conv{k}_{branch}"
            nxt = f"box_head.conv{k + 1}_{branch}.0.weight" if k < HEAD_DEPTH else f"box_head.conv5_{branch}.weight"
            members = [Member(f"{conv}.0.weight", 0), Member(f"{conv}.0.bias", 0, kind="other")]
            members += [Member(f"{conv}.1.{p}", 0, kind="bn_scale" if p == "weight" else "other") for p in _BN]
            members.append(Member(nxt, 1))
            groups.append(UnitGroup(f"head.{branch}.{k}", widths[k - 1], tuple(members)))
    return groups


def _embed_group(arch: Mapping[str, Any]) -> UnitGroup:
    members = [Member("backbone.patch_embed.proj.weight", 0), Member("backbone.patch_embed.proj.bias", 0, kind="other")]
    for key in ("pos_embed_z", "pos_embed_x", "cls_token", "pos_embed"):
        members.append(Member(f"backbone.{key}", 2, kind="other"))  # absent keys are skipped
    for i in range(len(arch["blocks"])):
        b = f"{_B}.{i}"
        members += [Member(f"{b}.norm1.weight", 0, kind="other"), Member(f"{b}.norm1.bias", 0, kind="other"),
                    Member(f"{b}.attn.qkv.weight", 1), Member(f"{b}.attn.proj.weight", 0),
                    Member(f"{b}.attn.proj.bias", 0, kind="other"),
                    Member(f"{b}.norm2.weight", 0, kind="other"), Member(f"{b}.norm2.bias", 0, kind="other"),
                    Member(f"{b}.mlp.fc1.weight", 1), Member(f"{b}.mlp.fc2.weight", 0), Member(f"{b}.mlp.fc2.bias", 0, kind="other")]
    members += [Member("backbone.norm.weight", 0, kind="other"), Member("backbone.norm.bias", 0, kind="other")]
    members += [Member(f"box_head.conv1_{branch}.0.weight", 1) for branch in BRANCHES]
    return UnitGroup("embed", arch["embed_dim"], tuple(members))


def unit_groups(arch: Mapping[str, Any]) -> list[UnitGroup]:
    groups = [_embed_group(arch)]
    for i, block in enumerate(arch["blocks"]):
        b = f"{_B}.{i}"
        groups.append(UnitGroup(f"blocks.{i}.heads", block["heads"], (
            Member(f"{b}.attn.qkv.weight", 0, chunks=3), Member(f"{b}.attn.qkv.bias", 0, chunks=3, kind="other"),
            Member(f"{b}.attn.proj.weight", 1)), unit=block["head_dim"]))
        groups.append(UnitGroup(f"blocks.{i}.mlp", block["mlp"], (
            Member(f"{b}.mlp.fc1.weight", 0), Member(f"{b}.mlp.fc1.bias", 0, kind="other"), Member(f"{b}.mlp.fc2.weight", 1))))
    return groups + _head_groups(arch)


def blocks(arch: Mapping[str, Any]) -> list[Block]:
    return [Block(name=f"blocks.{i}", container=_B, index=i,
                  score_keys=(f"{_B}.{i}.attn.proj.weight", f"{_B}.{i}.mlp.fc2.weight"))
            for i in range(len(arch["blocks"]))]


def gate_points(arch: Mapping[str, Any]) -> list[GatePoint]:
    points = []
    for i in range(len(arch["blocks"])):
        b = f"{_B}.{i}"
        points.append(GatePoint(f"blocks.{i}.heads", f"{b}.attn.qkv", chunks=3,
                                fold=((f"{b}.attn.qkv.weight", 0), (f"{b}.attn.qkv.bias", 0))))
        points.append(GatePoint(f"blocks.{i}.mlp", f"{b}.mlp.act", fold=((f"{b}.mlp.fc2.weight", 1),)))
    return points


def _remap_ce(ce_blocks: list[int], kept: list[int]) -> list[int]:
    """CE stays at a kept block, or moves to the next kept block after a removed one."""
    out: list[int] = []
    for c in ce_blocks:
        later = [new for new, old in enumerate(kept) if old >= c]
        if later and later[0] not in out:
            out.append(later[0])
    return out


def child_arch(arch: Mapping[str, Any], counts: Mapping[str, int], drop_blocks: set[str]) -> dict[str, Any]:
    rec = copy.deepcopy(dict(arch))
    rec["embed_dim"] = counts.get("embed", rec["embed_dim"])
    kept = [i for i in range(len(arch["blocks"])) if f"blocks.{i}" not in drop_blocks]
    rec["blocks"] = []
    for i in kept:
        block = dict(arch["blocks"][i])
        block["heads"] = counts.get(f"blocks.{i}.heads", block["heads"])
        block["mlp"] = counts.get(f"blocks.{i}.mlp", block["mlp"])
        rec["blocks"].append(block)
    if rec.get("ce"):
        rec["ce"] = {**rec["ce"], "blocks": _remap_ce(list(arch["ce"]["blocks"]), kept)}
    for branch in BRANCHES:
        rec["head"][branch] = [counts.get(f"head.{branch}.{k}", w) for k, w in enumerate(arch["head"][branch], start=1)]
    return rec


def _grids(gz: int, gx: int, scale: float) -> tuple[int, int]:
    """Token grids at ``scale``: the search grid keeps its ratio to the template grid where it can,
    so template and search pixels stay the same size in the image (one stream, one scale)."""
    gz2 = max(1, round(gz * scale))
    gx2 = gx * gz2 // gz if (gx * gz2) % gz == 0 else max(1, round(gx * scale))
    return gz2, max(gx2, 1)


def resize_crops(arch: Mapping[str, Any], scale: float) -> dict[str, Any]:
    """Template and search crops ``scale`` times as large in whole patches, crop factors kept.

    Changes the tracker's geometry: fewer tokens (per-frame cost falls with the square of the
    search grid, attention faster), a coarser score map, and the position embeddings
    resampled to the new grids (:func:`resize_state`).
    """
    rec = copy.deepcopy(dict(arch))
    p = arch["patch_size"]
    gz, gx = _grids(arch["template_size"] // p, arch["search_size"] // p, scale)
    rec["template_size"], rec["search_size"] = gz * p, gx * p
    return rec


def _resample_grid(pos: torch.Tensor, side: int) -> torch.Tensor:
    """[1, g*g, D] position embeddings bicubically resampled to [1, side*side, D] (as OSTrack
    builds its template and search embeddings from the pretrained grid)."""
    g = math.isqrt(pos.shape[1])
    if g == side:
        return pos
    grid = pos.reshape(1, g, g, -1).permute(0, 3, 1, 2)
    grid = torch.nn.functional.interpolate(grid.float(), size=(side, side), mode="bicubic", align_corners=False)
    return grid.permute(0, 2, 3, 1).reshape(1, side * side, -1).to(pos.dtype)


def resize_state(state: Mapping[str, torch.Tensor], arch: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    out = dict(state)
    p = child["patch_size"]
    for key, size in (("backbone.pos_embed_z", child["template_size"]), ("backbone.pos_embed_x", child["search_size"])):
        out[key] = _resample_grid(out[key], size // p)
    return out
