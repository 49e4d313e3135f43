"""The SiamRPN++ architecture record: its schema, validation and the geometry it implies.

A record is a JSON-able dict holding every width a pruner may change::

    {
      "family": "siamrpn", "version": 1,
      "template_size": 127, "search_size": 255,
      "stem": 64,                                   # conv1 / bn1 width
      "stages": [                                   # layer1..layer3 or layer1..layer4
        {"out": 256, "blocks": [{"inner1": 64, "inner2": 64}, ...]},
        ...
      ],
      "template_crop": 7,                           # centre crop of template features
      "rpn": [                                      # one entry per fused level (2, 3, 4)
        {"level": 2, "neck": 256,
         "cls": {"xcorr": 256, "hidden": 256}, "loc": {"xcorr": 256, "hidden": 256}},
        ...
      ],
      "anchor": {"stride": 8, "ratios": [0.33, 0.5, 1, 2, 3], "scales": [8]}
    }

``out`` is a stage's block output (and downsample) width, shared by all its blocks because
of the residual add; ``inner1`` / ``inner2`` are the conv1 / conv2 outputs of one block.
``neck`` is the AdjustLayer output of a level and the input of its xcorr convs; ``xcorr``
is the channel count of conv_kernel / conv_search (and of the depthwise correlation);
``hidden`` is the width of the 1x1 head conv.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trackers.common.records import RecordCheck

FAMILY = "siamrpn"
VERSION = 1
STRIDE = 8  # output stride of the dilated backbone; anchors must use it
LEVELS = (2, 3, 4)
BRANCHES = ("cls", "loc")


CHECK = RecordCheck(FAMILY, VERSION)


def validate_arch(record: Mapping[str, Any]) -> dict[str, Any]:
    """Check a record and return a normalised deep copy; raises ConfigError on the first problem."""
    out = CHECK.header(record)
    rec = record
    out["template_size"] = CHECK.positive_int(rec.get("template_size"), "'template_size'")
    out["search_size"] = CHECK.positive_int(rec.get("search_size"), "'search_size'")
    out["stem"] = CHECK.positive_int(rec.get("stem"), "'stem'")

    stages = CHECK.entries(rec.get("stages"), "'stages'")
    if len(stages) not in (3, 4):
        CHECK.fail("'stages'", "3 or 4 stages (layer1..layer3 or layer1..layer4)", f"{len(stages)} stages")
    out["stages"] = []
    for s, stage in enumerate(stages, start=1):
        where = f"stages[{s - 1}] (layer{s})"
        stage = CHECK.mapping(stage, where)
        blocks = []
        for b, block in enumerate(CHECK.entries(stage.get("blocks"), f"{where}.blocks")):
            bw = f"{where}.blocks[{b}]"
            block = CHECK.mapping(block, bw)
            blocks.append({k: CHECK.positive_int(block.get(k), f"{bw}.{k}") for k in ("inner1", "inner2")})
        out["stages"].append({"out": CHECK.positive_int(stage.get("out"), f"{where}.out"), "blocks": blocks})

    out["template_crop"] = CHECK.positive_int(rec.get("template_crop"), "'template_crop'")
    out["rpn"] = _validate_rpn(rec.get("rpn"), len(stages))
    out["anchor"] = _validate_anchor(rec.get("anchor"))
    _check_geometry(out)
    return out


def _validate_rpn(rpn: Any, num_stages: int) -> list[dict[str, Any]]:
    entries = []
    for i, entry in enumerate(CHECK.entries(rpn, "'rpn'")):
        where = f"rpn[{i}]"
        entry = CHECK.mapping(entry, where)
        level = entry.get("level")
        if level not in LEVELS:
            CHECK.fail(f"{where}.level", f"one of {list(LEVELS)}", level)
        if level > num_stages:
            CHECK.fail(f"{where}.level", f"at most {num_stages}: the backbone has only {num_stages} stages", level)
        item: dict[str, Any] = {"level": int(level), "neck": CHECK.positive_int(entry.get("neck"), f"{where}.neck")}
        for branch in BRANCHES:
            part = CHECK.mapping(entry.get(branch), f"{where}.{branch}")
            item[branch] = {k: CHECK.positive_int(part.get(k), f"{where}.{branch}.{k}") for k in ("xcorr", "hidden")}
        entries.append(item)
    levels = [e["level"] for e in entries]
    if len(set(levels)) != len(levels):
        CHECK.fail("'rpn'", "a list of distinct levels", levels)
    if max(levels) != num_stages:
        raise CHECK.error(f"'rpn' uses levels {sorted(levels)} but the backbone has {num_stages} stages; "
                          f"drop unused trailing stages or add level {num_stages}")
    return sorted(entries, key=lambda e: e["level"])


def _validate_anchor(anchor: Any) -> dict[str, Any]:
    anchor = CHECK.mapping(anchor, "'anchor'")
    stride = anchor.get("stride")
    if stride != STRIDE:
        CHECK.fail("anchor.stride", f"{STRIDE} (the backbone's output stride)", stride)
    ratios = [CHECK.positive_float(r, "anchor.ratios[]") for r in CHECK.entries(anchor.get("ratios"), "anchor.ratios")]
    scales = [CHECK.positive_float(s, "anchor.scales[]") for s in CHECK.entries(anchor.get("scales"), "anchor.scales")]
    return {"stride": STRIDE, "ratios": ratios, "scales": scales}


def _check_geometry(rec: dict[str, Any]) -> None:
    z = template_feature_size(rec)
    if z < 3:
        raise CHECK.error(f"'template_size' {rec['template_size']} gives a {z}x{z} template feature map; use at least 63")
    if score_size(rec) < 1:
        raise CHECK.error(f"'search_size' {rec['search_size']} is too small for template {rec['template_size']}; "
                          "use about twice the template size")


# --- geometry implied by a record ------------------------------------------------------


def stem_size(n: int) -> int:
    """Side after conv1 (7x7, stride 2, padding 0) and the max-pool (3x3, stride 2, padding 1)."""
    n = (n - 7) // 2 + 1
    return (n - 1) // 2 + 1


def stage_sizes(n: int, num_stages: int) -> list[int]:
    """Output side of layer1..layerN for an input side n; only layer2 downsamples (padding 0)."""
    side = stem_size(n)
    sizes = [side]
    for s in range(2, num_stages + 1):
        if s == 2:
            side = (side - 3) // 2 + 1
        sizes.append(side)
    return sizes


def feature_size(n: int) -> int:
    """Side of the stride-8 feature maps (layer2 onwards) for an input of side n."""
    return stage_sizes(n, 2)[1]


def template_feature_size(rec: Mapping[str, Any]) -> int:
    """Side of the template features after the neck's centre crop."""
    return min(feature_size(rec["template_size"]), rec["template_crop"])


def score_size(rec: Mapping[str, Any]) -> int:
    """Side of the score map: 3x3 xcorr convs on both, then a valid cross-correlation."""
    return (feature_size(rec["search_size"]) - 2) - (template_feature_size(rec) - 2) + 1


def anchor_num(rec: Mapping[str, Any]) -> int:
    return len(rec["anchor"]["ratios"]) * len(rec["anchor"]["scales"])


def stage_layout(stage: int, block: int) -> dict[str, int]:
    """Stride, dilation and padding of a block's 3x3 conv (pysot's dilated ResNet-50).

    layer2 downsamples with padding 0; layer3 / layer4 keep stride 8 with dilation 2 / 4,
    their first block using half the dilation.
    """
    if stage == 1:
        return {"stride": 1, "dilation": 1, "padding": 1}
    if stage == 2:
        return {"stride": 2, "dilation": 1, "padding": 0} if block == 0 else {"stride": 1, "dilation": 1, "padding": 1}
    dilation = 2 if stage == 3 else 4
    if block == 0:
        dilation //= 2
    return {"stride": 1, "dilation": dilation, "padding": dilation}


def downsample_layout(stage: int) -> dict[str, int]:
    """Kernel, stride, dilation, padding of the shortcut conv of a stage's first block."""
    if stage == 1:
        return {"kernel": 1, "stride": 1, "dilation": 1, "padding": 0}
    if stage == 2:
        return {"kernel": 3, "stride": 2, "dilation": 1, "padding": 0}
    dilation = 1 if stage == 3 else 2
    return {"kernel": 3, "stride": 1, "dilation": dilation, "padding": dilation}


def stage_input_width(rec: Mapping[str, Any], stage: int) -> int:
    return rec["stem"] if stage == 1 else rec["stages"][stage - 2]["out"]
