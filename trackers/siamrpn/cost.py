"""Analytic MACs and parameter count of a SiamRPN++ record, without building the network.

Counts multiply-accumulates of every convolution (the grouped depthwise correlation
included); BatchNorm, ReLU, pooling and the level fusion are not counted. The init path
(template backbone + neck + every head's conv_kernel) and the per-frame path (search
backbone + neck + conv_search + correlation + head) are counted apart.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trackers.siamrpn.arch import (
    anchor_num, downsample_layout, feature_size, score_size, stage_input_width, stage_layout,
    template_feature_size,
)


def _conv_out(n: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _backbone(rec: Mapping[str, Any], n: int) -> tuple[int, list[int]]:
    """MACs of the backbone on an n x n input and the side of each stage's output."""
    side = _conv_out(n, 7, 2, 0, 1)
    macs = side * side * rec["stem"] * 3 * 49
    side = _conv_out(side, 3, 2, 1, 1)
    sides = []
    for s, stage in enumerate(rec["stages"], start=1):
        width = stage_input_width(rec, s)
        out = stage["out"]
        for b, block in enumerate(stage["blocks"]):
            lay = stage_layout(s, b)
            after = _conv_out(side, 3, lay["stride"], lay["padding"], lay["dilation"])
            macs += side * side * width * block["inner1"]
            macs += after * after * block["inner1"] * block["inner2"] * 9
            macs += after * after * block["inner2"] * out
            if b == 0:
                ds = downsample_layout(s)
                macs += after * after * width * out * ds["kernel"] ** 2
            side, width = after, out
        sides.append(side)
    return macs, sides


def _neck(rec: Mapping[str, Any], sides: list[int]) -> int:
    return sum(sides[e["level"] - 1] ** 2 * rec["stages"][e["level"] - 1]["out"] * e["neck"] for e in rec["rpn"])


def init_macs(rec: Mapping[str, Any]) -> int:
    macs, sides = _backbone(rec, rec["template_size"])
    kernel_in = template_feature_size(rec)
    kernel = kernel_in - 2
    heads = sum(kernel * kernel * e["neck"] * e[br]["xcorr"] * 9 for e in rec["rpn"] for br in ("cls", "loc"))
    return macs + _neck(rec, sides) + heads


def frame_macs(rec: Mapping[str, Any]) -> int:
    macs, sides = _backbone(rec, rec["search_size"])
    search = feature_size(rec["search_size"]) - 2
    kernel = template_feature_size(rec) - 2
    score = score_size(rec)
    outs = {"cls": 2 * anchor_num(rec), "loc": 4 * anchor_num(rec)}
    heads = 0
    for e in rec["rpn"]:
        for br, n_out in outs.items():
            x, h = e[br]["xcorr"], e[br]["hidden"]
            heads += search * search * e["neck"] * x * 9  # conv_search
            heads += score * score * x * kernel * kernel  # depthwise correlation
            heads += score * score * (x * h + h * n_out)  # 1x1 head convs
    return macs + _neck(rec, sides) + heads


def param_count(rec: Mapping[str, Any]) -> int:
    bn = 2  # weight + bias
    total = 3 * rec["stem"] * 49 + bn * rec["stem"]
    for s, stage in enumerate(rec["stages"], start=1):
        width = stage_input_width(rec, s)
        out = stage["out"]
        for b, block in enumerate(stage["blocks"]):
            i1, i2 = block["inner1"], block["inner2"]
            total += width * i1 + bn * i1 + i1 * i2 * 9 + bn * i2 + i2 * out + bn * out
            if b == 0:
                total += width * out * downsample_layout(s)["kernel"] ** 2 + bn * out
            width = out
    outs = {"cls": 2 * anchor_num(rec), "loc": 4 * anchor_num(rec)}
    for e in rec["rpn"]:
        total += rec["stages"][e["level"] - 1]["out"] * e["neck"] + bn * e["neck"]
        for br, n_out in outs.items():
            x, h = e[br]["xcorr"], e[br]["hidden"]
            total += 2 * (e["neck"] * x * 9 + bn * x)  # conv_kernel + conv_search
            total += x * h + bn * h + h * n_out + n_out
    return total + 2 * len(rec["rpn"])  # cls_weight, loc_weight


def analytic_cost(rec: Mapping[str, Any]) -> dict[str, int]:
    """``frame_macs`` (per tracked frame), ``init_macs`` (once per sequence), ``params``."""
    return {"frame_macs": frame_macs(rec), "init_macs": init_macs(rec), "params": param_count(rec)}
