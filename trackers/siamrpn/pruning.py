"""How SiamRPN++ prunes: its coupled channel groups, removable bottlenecks and child records.

Coupling (what must shrink together):
- ``stem``: conv1/bn1 outputs = inputs of layer1's first block (conv1 and shortcut).
- ``layer<s>.<b>.inner1`` / ``inner2``: a bottleneck's conv1 / conv2 outputs.
- ``layer<s>.out``: every block output of a stage (residual adds tie them), the shortcut,
  the next stage's first conv1 and shortcut, and the neck conv reading that stage.
- ``neck<l>``: a level's adjust output = input of its four xcorr convs.
- ``rpn<l>.<branch>.xcorr``: template and search convs of one depthwise correlation — channel
  c of the kernel meets channel c of the search map — and the head's first 1x1 conv input.
- ``rpn<l>.<branch>.hidden``: the head's hidden 1x1 width.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from autoprune.prune.groups import Block, Member, UnitGroup
from trackers.siamrpn.arch import BRANCHES

_BN = ("weight", "bias", "running_mean", "running_var")


def _conv_bn(conv: str, bn: str) -> list[Member]:
    """Output channels of a conv and the BatchNorm after it."""
    members = [Member(f"{conv}.weight", 0)]
    members += [Member(f"{bn}.{p}", 0, kind="bn_scale" if p == "weight" else "other") for p in _BN]
    return members


def _block(s: int, b: int) -> str:
    return f"backbone.layer{s}.{b}"


def unit_groups(arch: Mapping[str, Any]) -> list[UnitGroup]:
    stages = arch["stages"]
    levels = {e["level"]: e for e in arch["rpn"]}
    groups: list[UnitGroup] = []
    first = _block(1, 0)
    groups.append(UnitGroup("stem", arch["stem"], tuple(
        _conv_bn("backbone.conv1", "backbone.bn1") + [Member(f"{first}.conv1.weight", 1), Member(f"{first}.downsample.0.weight", 1)]
    )))
    for s, stage in enumerate(stages, start=1):
        out_members: list[Member] = []
        for b, block in enumerate(stage["blocks"]):
            p = _block(s, b)
            groups.append(UnitGroup(f"layer{s}.{b}.inner1", block["inner1"], tuple(
                _conv_bn(f"{p}.conv1", f"{p}.bn1") + [Member(f"{p}.conv2.weight", 1)])))
            groups.append(UnitGroup(f"layer{s}.{b}.inner2", block["inner2"], tuple(
                _conv_bn(f"{p}.conv2", f"{p}.bn2") + [Member(f"{p}.conv3.weight", 1)])))
            out_members += _conv_bn(f"{p}.conv3", f"{p}.bn3")
            if b == 0:
                out_members += _conv_bn(f"{p}.downsample.0", f"{p}.downsample.1")
            else:
                out_members.append(Member(f"{p}.conv1.weight", 1))
        if s < len(stages):
            nxt = _block(s + 1, 0)
            out_members += [Member(f"{nxt}.conv1.weight", 1), Member(f"{nxt}.downsample.0.weight", 1)]
        if s in levels:
            out_members.append(Member(f"neck.downsample{s}.downsample.0.weight", 1))
        groups.append(UnitGroup(f"layer{s}.out", stage["out"], tuple(out_members)))
    for level, entry in levels.items():
        rpn = f"rpn_head.rpn{level}"
        neck_members = _conv_bn(f"neck.downsample{level}.downsample.0", f"neck.downsample{level}.downsample.1")
        for branch in BRANCHES:
            neck_members += [Member(f"{rpn}.{branch}.conv_kernel.0.weight", 1), Member(f"{rpn}.{branch}.conv_search.0.weight", 1)]
            groups.append(UnitGroup(f"rpn{level}.{branch}.xcorr", entry[branch]["xcorr"], tuple(
                _conv_bn(f"{rpn}.{branch}.conv_kernel.0", f"{rpn}.{branch}.conv_kernel.1")
                + _conv_bn(f"{rpn}.{branch}.conv_search.0", f"{rpn}.{branch}.conv_search.1")
                + [Member(f"{rpn}.{branch}.head.0.weight", 1)])))
            groups.append(UnitGroup(f"rpn{level}.{branch}.hidden", entry[branch]["hidden"], tuple(
                _conv_bn(f"{rpn}.{branch}.head.0", f"{rpn}.{branch}.head.1") + [Member(f"{rpn}.{branch}.head.3.weight", 1)])))
        groups.append(UnitGroup(f"neck{level}", entry["neck"], tuple(neck_members)))
    return groups


def blocks(arch: Mapping[str, Any]) -> list[Block]:
    """Every bottleneck; a stage's first one (it carries the shortcut conv) stays."""
    out = []
    for s, stage in enumerate(arch["stages"], start=1):
        for b in range(len(stage["blocks"])):
            out.append(Block(name=f"layer{s}.{b}", container=f"backbone.layer{s}", index=b,
                             score_keys=(f"{_block(s, b)}.bn3.weight",), removable=b > 0))
    return out


def gate_points(arch: Mapping[str, Any]) -> list:
    """None: every SiamRPN++ group ends in a BatchNorm, whose scales sparsify it."""
    return []


def child_arch(arch: Mapping[str, Any], counts: Mapping[str, int], drop_blocks: set[str]) -> dict[str, Any]:
    """The parent record with kept widths and without the dropped bottlenecks."""
    rec = copy.deepcopy(dict(arch))
    rec["stem"] = counts.get("stem", rec["stem"])
    for s, stage in enumerate(rec["stages"], start=1):
        stage["out"] = counts.get(f"layer{s}.out", stage["out"])
        kept = []
        for b, block in enumerate(stage["blocks"]):
            if f"layer{s}.{b}" in drop_blocks:
                continue
            kept.append({k: counts.get(f"layer{s}.{b}.{k}", block[k]) for k in ("inner1", "inner2")})
        stage["blocks"] = kept
    for entry in rec["rpn"]:
        level = entry["level"]
        entry["neck"] = counts.get(f"neck{level}", entry["neck"])
        for branch in BRANCHES:
            for k in ("xcorr", "hidden"):
                entry[branch][k] = counts.get(f"rpn{level}.{branch}.{k}", entry[branch][k])
    return rec


def _crop_side(n: int) -> int:
    """The nearest side of pysot's 8k - 1 form (127, 255): stride-8 maps stay centred."""
    return 8 * max(1, round(n / 8)) - 1


def resize_crops(arch: Mapping[str, Any], scale: float) -> dict[str, Any]:
    """Template and search crops ``scale`` times as large, same context (search / template kept).

    Changes the tracker's geometry: the crops hold the same image region at fewer pixels, so
    the anchors shrink with the target (their scales times the template's ratio), and the
    template feature crop keeps covering the target (its side times the ratio, odd, at least
    3). The template never goes below 31 px: the smallest that leaves a 3x3 feature map.
    """
    rec = copy.deepcopy(dict(arch))
    t, s = arch["template_size"], arch["search_size"]
    t2 = max(31, _crop_side(scale * (t + 1)))
    s2 = max(_crop_side((s + 1) * (t2 + 1) / (t + 1)), t2)
    ratio = t2 / t
    rec["template_size"], rec["search_size"] = t2, s2
    rec["anchor"] = {**arch["anchor"], "scales": [round(v * ratio, 4) for v in arch["anchor"]["scales"]]}
    crop = arch["template_crop"] * ratio
    rec["template_crop"] = max(3, 2 * round((crop - 1) / 2) + 1)
    return rec
