"""The STARK architecture record: every width, head count and depth, as plain JSON data.

A record (``"family": "stark", "version": 1``)::

    template_size, search_size      crop sides in pixels (multiples of 16: stride-16 features)
    template_factor, search_factor  crop side / sqrt(target area)
    backbone.stem                   conv1 output channels
    backbone.stages[0..2]           layer1..layer3: {"out": C, "blocks": [[inner1, inner2], ...]}
                                    (inner1 = conv1 out, inner2 = conv2 out of each bottleneck)
    d_model                         transformer width (a multiple of 4: half per sine axis, in sin/cos pairs)
    encoder[i]                      {"self_attn": {"heads", "head_dim"}, "ffn"}
    decoder[i]                      {"self_attn": {...}, "multihead_attn": {...}, "ffn"}
                                    (no decoder layer: the query is the decoder norm's bias)
    head.tl, head.br                the corner branches' conv1..conv4 widths
    dropout                         transformer dropout while training

The first bottleneck of every stage has a downsample branch and the others never do, as in
ResNet-50, so pruning a stage's width never adds or removes keys.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trackers.common.records import RecordCheck

FAMILY = "stark"
VERSION = 1
STRIDE = 16  # backbone output stride (ResNet to layer3)
NUM_STAGES = 3

_TOP_KEYS = {
    "family", "version", "template_size", "search_size", "template_factor", "search_factor",
    "backbone", "d_model", "encoder", "decoder", "head", "dropout",
}


CHECK = RecordCheck(FAMILY, VERSION)


def _attention(value: Any, where: str) -> dict[str, int]:
    value = CHECK.mapping(value, where, {"heads", "head_dim"})
    return {"heads": CHECK.positive_int(value["heads"], f"{where}.heads"),
            "head_dim": CHECK.positive_int(value["head_dim"], f"{where}.head_dim")}


def _layer(value: Any, where: str, attentions: tuple[str, ...]) -> dict[str, Any]:
    """A transformer layer: its attention modules (by module name) and FFN width."""
    value = CHECK.mapping(value, where, {*attentions, "ffn"})
    layer: dict[str, Any] = {name: _attention(value[name], f"{where}.{name}") for name in attentions}
    layer["ffn"] = CHECK.positive_int(value["ffn"], f"{where}.ffn")
    return layer


def _stage(value: Any, where: str) -> dict[str, Any]:
    value = CHECK.mapping(value, where, {"out", "blocks"})
    blocks = [CHECK.widths(pair, f"{where}.blocks[{b}]", 2)
              for b, pair in enumerate(CHECK.entries(value["blocks"], f"{where}.blocks"))]
    return {"out": CHECK.positive_int(value["out"], f"{where}.out"), "blocks": blocks}


def validate_arch(arch: Mapping[str, Any]) -> dict[str, Any]:
    """Check a record and return a normalised deep copy; ConfigError names the bad entry."""
    out = CHECK.header(arch)
    CHECK.mapping(arch, "the record", _TOP_KEYS)
    for key in ("template_size", "search_size"):
        size = CHECK.positive_int(arch[key], key)
        if size % STRIDE:
            CHECK.fail(key, f"a multiple of {STRIDE}", size)
        out[key] = size
    for key in ("template_factor", "search_factor"):
        out[key] = CHECK.positive_float(arch[key], key)
    backbone = CHECK.mapping(arch["backbone"], "backbone", {"stem", "stages"})
    stages = CHECK.entries(backbone["stages"], "backbone.stages")
    if len(stages) != NUM_STAGES:
        CHECK.fail("backbone.stages", f"{NUM_STAGES} stages (layer1..layer3)", f"{len(stages)} stages")
    out["backbone"] = {
        "stem": CHECK.positive_int(backbone["stem"], "backbone.stem"),
        "stages": [_stage(s, f"backbone.stages[{i}]") for i, s in enumerate(stages)],
    }
    d_model = CHECK.positive_int(arch["d_model"], "d_model")
    if d_model % 4:
        CHECK.fail("d_model", "a multiple of 4 (the sine position code gives x and y half each, in sin/cos pairs)", d_model)
    out["d_model"] = d_model
    out["encoder"] = [_layer(layer, f"encoder[{i}]", ("self_attn",))
                      for i, layer in enumerate(CHECK.entries(arch["encoder"], "encoder", min_len=0))]
    out["decoder"] = [_layer(layer, f"decoder[{i}]", ("self_attn", "multihead_attn"))
                      for i, layer in enumerate(CHECK.entries(arch["decoder"], "decoder", min_len=0))]
    head = CHECK.mapping(arch["head"], "head", {"tl", "br"})
    out["head"] = {branch: CHECK.widths(head[branch], f"head.{branch}", 4) for branch in ("tl", "br")}
    dropout = arch["dropout"]
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        CHECK.fail("dropout", "a number in [0, 1)", dropout)
    out["dropout"] = float(dropout)
    return out


def stage_inputs(arch: Mapping[str, Any]) -> list[int]:
    """Input channels of layer1..layer3 (stem width, then the previous stage's output)."""
    outs = [s["out"] for s in arch["backbone"]["stages"]]
    return [arch["backbone"]["stem"], *outs[:-1]]

