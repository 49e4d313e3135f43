"""How STARK prunes: bottleneck and stage widths of the ResNet, bottlenecks per stage, the
transformer width, heads and FFN width per layer, encoder/decoder layers, corner-head widths.

Coupling:
- ``stem``, ``layer<s>.<b>.inner1`` / ``inner2``, ``layer<s>.out``: as in any ResNet; layer3's
  output also feeds the 1x1 ``bottleneck`` projection.
- ``d_model``: the transformer width runs through the ``bottleneck`` output, the query
  embedding, every attention projection and FFN, every LayerNorm and the corner head's
  first convs (the sine position encoding follows the width; a fine-tune re-aligns it).
- ``encoder.<i>.heads``, ``decoder.<i>.self_heads`` / ``cross_heads``: a head's rows of q, k
  and v in ``in_proj`` (3 chunks) and its columns of ``out_proj``.
- ``encoder.<i>.ffn`` / ``decoder.<i>.ffn``: a row of ``linear1`` and a column of ``linear2``.
Learned gates sit on the FFN hidden units (before the ReLU, folded into ``linear1``); heads
are ranked by magnitude and the ResNet by BatchNorm scales, as in the paper's recipe.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from autoprune.prune.groups import Block, GatePoint, Member, UnitGroup
from trackers.stark.arch import STRIDE

_BODY = "backbone.0.body"
_BN = ("weight", "bias", "running_mean", "running_var")
_ENC = "transformer.encoder.layers"
_DEC = "transformer.decoder.layers"
_BRANCHES = ("tl", "br")
# Each side of the transformer: its layer container, LayerNorms per layer, and its attention
# modules with the name of their head group (``<side>.<i>.<group>``).
_SIDES = {
    "encoder": (_ENC, 2, (("self_attn", "heads"),)),
    "decoder": (_DEC, 3, (("self_attn", "self_heads"), ("multihead_attn", "cross_heads"))),
}


def _conv_bn(conv: str, bn: str, *, bias: bool = False) -> list[Member]:
    members = [Member(f"{conv}.weight", 0)]
    if bias:
        members.append(Member(f"{conv}.bias", 0, kind="other"))
    return members + [Member(f"{bn}.{p}", 0, kind="bn_scale" if p == "weight" else "other") for p in _BN]


def _backbone_groups(arch: Mapping[str, Any]) -> list[UnitGroup]:
    stages = arch["backbone"]["stages"]
    first = f"{_BODY}.layer1.0"
    groups = [UnitGroup("stem", arch["backbone"]["stem"], tuple(
        _conv_bn(f"{_BODY}.conv1", f"{_BODY}.bn1") + [Member(f"{first}.conv1.weight", 1), Member(f"{first}.downsample.0.weight", 1)]))]
    for s, stage in enumerate(stages, start=1):
        out_members: list[Member] = []
        for b, (inner1, inner2) in enumerate(stage["blocks"]):
            p = f"{_BODY}.layer{s}.{b}"
            groups.append(UnitGroup(f"layer{s}.{b}.inner1", inner1, tuple(_conv_bn(f"{p}.conv1", f"{p}.bn1") + [Member(f"{p}.conv2.weight", 1)])))
            groups.append(UnitGroup(f"layer{s}.{b}.inner2", inner2, tuple(_conv_bn(f"{p}.conv2", f"{p}.bn2") + [Member(f"{p}.conv3.weight", 1)])))
            out_members += _conv_bn(f"{p}.conv3", f"{p}.bn3")
            out_members += _conv_bn(f"{p}.downsample.0", f"{p}.downsample.1") if b == 0 else [Member(f"{p}.conv1.weight", 1)]
        if s < len(stages):
            nxt = f"{_BODY}.layer{s + 1}.0"
            out_members += [Member(f"{nxt}.conv1.weight", 1), Member(f"{nxt}.downsample.0.weight", 1)]
        else:
            out_members.append(Member("bottleneck.weight", 1))
        groups.append(UnitGroup(f"layer{s}.out", stage["out"], tuple(out_members)))
    return groups


def _attn(prefix: str) -> list[Member]:
    return [Member(f"{prefix}.in_proj_weight", 0, chunks=3), Member(f"{prefix}.in_proj_bias", 0, chunks=3, kind="other"),
            Member(f"{prefix}.out_proj.weight", 1)]


def _ffn(prefix: str) -> list[Member]:
    return [Member(f"{prefix}.linear1.weight", 0), Member(f"{prefix}.linear1.bias", 0, kind="other"), Member(f"{prefix}.linear2.weight", 1)]


def _width_members(prefix: str, attns: tuple[str, ...], norms: int) -> list[Member]:
    members = []
    for a in attns:
        members += [Member(f"{prefix}.{a}.in_proj_weight", 1), Member(f"{prefix}.{a}.out_proj.weight", 0),
                    Member(f"{prefix}.{a}.out_proj.bias", 0, kind="other")]
    members += [Member(f"{prefix}.linear1.weight", 1), Member(f"{prefix}.linear2.weight", 0), Member(f"{prefix}.linear2.bias", 0, kind="other")]
    for n in range(1, norms + 1):
        members += [Member(f"{prefix}.norm{n}.weight", 0, kind="other"), Member(f"{prefix}.norm{n}.bias", 0, kind="other")]
    return members


def unit_groups(arch: Mapping[str, Any]) -> list[UnitGroup]:
    groups = _backbone_groups(arch)
    width = [Member("bottleneck.weight", 0), Member("bottleneck.bias", 0, kind="other"), Member("query_embed.weight", 1, kind="other")]
    for side, (container, norms, attentions) in _SIDES.items():
        for i, layer in enumerate(arch[side]):
            p = f"{container}.{i}"
            for module, group in attentions:
                groups.append(UnitGroup(f"{side}.{i}.{group}", layer[module]["heads"], tuple(_attn(f"{p}.{module}")),
                                        unit=layer[module]["head_dim"]))
            groups.append(UnitGroup(f"{side}.{i}.ffn", layer["ffn"], tuple(_ffn(p))))
            width += _width_members(p, tuple(module for module, _ in attentions), norms)
    width += [Member("transformer.decoder.norm.weight", 0, kind="other"), Member("transformer.decoder.norm.bias", 0, kind="other")]
    width += [Member(f"box_head.conv1_{b}.0.weight", 1) for b in _BRANCHES]
    groups.append(UnitGroup("d_model", arch["d_model"], tuple(width), multiple=4))  # sine code: halves of sin/cos pairs
    for b in _BRANCHES:
        widths = arch["head"][b]
        for k in range(1, len(widths) + 1):
            conv = f"box_head.conv{k}_{b}"
            nxt = f"box_head.conv{k + 1}_{b}.0.weight" if k < len(widths) else f"box_head.conv5_{b}.weight"
            groups.append(UnitGroup(f"head.{b}.{k}", widths[k - 1], tuple(_conv_bn(f"{conv}.0", f"{conv}.1", bias=True) + [Member(nxt, 1)])))
    return groups


def blocks(arch: Mapping[str, Any]) -> list[Block]:
    out = []
    for s, stage in enumerate(arch["backbone"]["stages"], start=1):
        for b in range(len(stage["blocks"])):
            out.append(Block(f"layer{s}.{b}", f"{_BODY}.layer{s}", b, (f"{_BODY}.layer{s}.{b}.bn3.weight",), removable=b > 0))
    for side, (container, _, _) in _SIDES.items():
        for i in range(len(arch[side])):
            out.append(Block(f"{side}.{i}", container, i, (f"{container}.{i}.self_attn.out_proj.weight", f"{container}.{i}.linear2.weight")))
    return out


def gate_points(arch: Mapping[str, Any]) -> list[GatePoint]:
    points = []
    for side, (container, _, _) in _SIDES.items():
        for i in range(len(arch[side])):
            p = f"{container}.{i}.linear1"
            points.append(GatePoint(f"{side}.{i}.ffn", p, fold=((f"{p}.weight", 0), (f"{p}.bias", 0))))
    return points


def child_arch(arch: Mapping[str, Any], counts: Mapping[str, int], drop_blocks: set[str]) -> dict[str, Any]:
    rec = copy.deepcopy(dict(arch))
    bb = rec["backbone"]
    bb["stem"] = counts.get("stem", bb["stem"])
    for s, stage in enumerate(bb["stages"], start=1):
        stage["out"] = counts.get(f"layer{s}.out", stage["out"])
        stage["blocks"] = [[counts.get(f"layer{s}.{b}.inner1", i1), counts.get(f"layer{s}.{b}.inner2", i2)]
                           for b, (i1, i2) in enumerate(stage["blocks"]) if f"layer{s}.{b}" not in drop_blocks]
    rec["d_model"] = counts.get("d_model", rec["d_model"])
    for side, (_, _, attentions) in _SIDES.items():
        layers = []
        for i, layer in enumerate(arch[side]):
            if f"{side}.{i}" in drop_blocks:
                continue
            layer = copy.deepcopy(layer)
            for module, group in attentions:
                layer[module]["heads"] = counts.get(f"{side}.{i}.{group}", layer[module]["heads"])
            layer["ffn"] = counts.get(f"{side}.{i}.ffn", layer["ffn"])
            layers.append(layer)
        rec[side] = layers
    for b in _BRANCHES:
        rec["head"][b] = [counts.get(f"head.{b}.{k}", w) for k, w in enumerate(arch["head"][b], start=1)]
    return rec


def resize_crops(arch: Mapping[str, Any], scale: float) -> dict[str, Any]:
    """Template and search crops ``scale`` times as large in whole stride-16 cells, factors kept.

    Changes the tracker's geometry: the same image region at fewer pixels, shorter encoder
    sequences and a coarser corner map; the search map keeps its ratio to the template map
    where it can (template and search pixels stay the same size in the image). No weight
    depends on the crop size (sine position code, non-persistent corner coordinates).
    """
    rec = copy.deepcopy(dict(arch))
    tz, sx = arch["template_size"] // STRIDE, arch["search_size"] // STRIDE
    tz2 = max(1, round(tz * scale))
    sx2 = sx * tz2 // tz if (sx * tz2) % tz == 0 else max(1, round(sx * scale))
    rec["template_size"], rec["search_size"] = tz2 * STRIDE, max(sx2, 1) * STRIDE
    return rec
