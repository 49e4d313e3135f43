"""The STARK architecture record: every width, head count and depth, as plain JSON data.

A record (``"family": "stark", "version": 1``)::

    template_size, search_size      crop sides in pixels (multiples of 16: stride-16 features)
    template_factor, search_factor  crop side / sqrt(target area)
    backbone.stem                   conv1 output channels
    backbone.stages[0..2]           layer1..layer3: {"out": C, "blocks": [[inner1, inner2], ...]}
                                    (inner1 = conv1 out, inner2 = conv2 out of each bottleneck)
    d_model                         transformer width (even: half of it per sine axis)
    encoder[i]                      {"self_attn": {"heads", "head_dim"}, "ffn"}
    decoder[i]                      {"self_attn": {...}, "multihead_attn": {...}, "ffn"}
                                    (no decoder layer: the query is the decoder norm's bias)
    head.tl, head.br                the corner branches' conv1..conv4 widths
    dropout                         transformer dropout while training

The first bottleneck of every stage has a downsample branch and the others never do, as in
ResNet-50, so pruning a stage's width never adds or removes keys.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from autoprune.errors import ConfigError

FAMILY = "stark"
VERSION = 1
STRIDE = 16  # backbone output stride (ResNet to layer3)
NUM_STAGES = 3

_TOP_KEYS = {
    "family", "version", "template_size", "search_size", "template_factor", "search_factor",
    "backbone", "d_model", "encoder", "decoder", "head", "dropout",
}


def _fail(where: str, expected: str, got: Any) -> None:
    raise ConfigError(f"stark record: {where} must be {expected}, got {got!r}")


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(where, "a positive integer", value)
    return int(value)


def _positive_float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        _fail(where, "a positive number", value)
    return float(value)


def _mapping(value: Any, where: str, keys: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _fail(where, f"an object with keys {sorted(keys)}", value)
    if set(value) != keys:
        missing, extra = sorted(keys - set(value)), sorted(set(value) - keys)
        raise ConfigError(
            f"stark record: {where} has missing keys {missing} / unknown keys {extra}; expected {sorted(keys)}"
        )
    return value


def _list(value: Any, where: str, *, min_len: int) -> Sequence[Any]:
    if not isinstance(value, (list, tuple)) or len(value) < min_len:
        _fail(where, f"a list of at least {min_len} entries", value)
    return value


def _attention(value: Any, where: str) -> dict[str, int]:
    value = _mapping(value, where, {"heads", "head_dim"})
    return {"heads": _positive_int(value["heads"], f"{where}.heads"),
            "head_dim": _positive_int(value["head_dim"], f"{where}.head_dim")}


def _layer(value: Any, where: str, attentions: tuple[str, ...]) -> dict[str, Any]:
    """A transformer layer: its attention modules (by module name) and FFN width."""
    value = _mapping(value, where, {*attentions, "ffn"})
    layer: dict[str, Any] = {name: _attention(value[name], f"{where}.{name}") for name in attentions}
    layer["ffn"] = _positive_int(value["ffn"], f"{where}.ffn")
    return layer


def _stage(value: Any, where: str) -> dict[str, Any]:
    value = _mapping(value, where, {"out", "blocks"})
    blocks = []
    for b, pair in enumerate(_list(value["blocks"], f"{where}.blocks", min_len=1)):
        pair = _list(pair, f"{where}.blocks[{b}]", min_len=2)
        if len(pair) != 2:
            _fail(f"{where}.blocks[{b}]", "[inner1, inner2]", pair)
        blocks.append([_positive_int(w, f"{where}.blocks[{b}]") for w in pair])
    return {"out": _positive_int(value["out"], f"{where}.out"), "blocks": blocks}


def validate(arch: Mapping[str, Any]) -> dict[str, Any]:
    """Check a record and return a normalised deep copy; ConfigError names the bad entry."""
    if not isinstance(arch, Mapping):
        _fail("the record", "an object", type(arch).__name__)
    if arch.get("family") != FAMILY:
        _fail("family", f"{FAMILY!r}", arch.get("family"))
    version = arch.get("version")
    if isinstance(version, int) and version > VERSION:
        raise ConfigError(
            f"stark record version {version} is newer than this autoprune reads ({VERSION}); upgrade autoprune"
        )
    if version != VERSION:
        _fail("version", str(VERSION), version)
    _mapping(arch, "the record", _TOP_KEYS)
    out: dict[str, Any] = {"family": FAMILY, "version": VERSION}
    for key in ("template_size", "search_size"):
        size = _positive_int(arch[key], key)
        if size % STRIDE:
            _fail(key, f"a multiple of {STRIDE}", size)
        out[key] = size
    for key in ("template_factor", "search_factor"):
        out[key] = _positive_float(arch[key], key)
    backbone = _mapping(arch["backbone"], "backbone", {"stem", "stages"})
    stages = _list(backbone["stages"], "backbone.stages", min_len=NUM_STAGES)
    if len(stages) != NUM_STAGES:
        _fail("backbone.stages", f"{NUM_STAGES} stages (layer1..layer3)", f"{len(stages)} stages")
    out["backbone"] = {
        "stem": _positive_int(backbone["stem"], "backbone.stem"),
        "stages": [_stage(s, f"backbone.stages[{i}]") for i, s in enumerate(stages)],
    }
    d_model = _positive_int(arch["d_model"], "d_model")
    if d_model % 2:
        _fail("d_model", "even (the sine position code splits it between x and y)", d_model)
    out["d_model"] = d_model
    out["encoder"] = [_layer(layer, f"encoder[{i}]", ("self_attn",))
                      for i, layer in enumerate(_list(arch["encoder"], "encoder", min_len=0))]
    out["decoder"] = [_layer(layer, f"decoder[{i}]", ("self_attn", "multihead_attn"))
                      for i, layer in enumerate(_list(arch["decoder"], "decoder", min_len=0))]
    head = _mapping(arch["head"], "head", {"tl", "br"})
    out["head"] = {}
    for branch in ("tl", "br"):
        widths = _list(head[branch], f"head.{branch}", min_len=4)
        if len(widths) != 4:
            _fail(f"head.{branch}", "4 widths (conv1..conv4)", widths)
        out["head"][branch] = [_positive_int(w, f"head.{branch}") for w in widths]
    dropout = arch["dropout"]
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        _fail("dropout", "a number in [0, 1)", dropout)
    out["dropout"] = float(dropout)
    return out


def make(
    *,
    stem: int,
    stages: Sequence[tuple[int, int, int]],
    d_model: int,
    heads: int,
    ffn: int,
    encoder_layers: int,
    decoder_layers: int,
    head: Sequence[int],
    template_size: int = 128,
    search_size: int = 320,
    template_factor: float = 2.0,
    search_factor: float = 5.0,
    dropout: float = 0.1,
) -> dict[str, Any]:
    """A uniform record: ``stages`` as (out, inner, blocks); every layer alike.

    ``head_dim`` is ``d_model // heads`` as in nn.MultiheadAttention.
    """
    attn = {"heads": heads, "head_dim": d_model // heads}
    record = {
        "family": FAMILY,
        "version": VERSION,
        "template_size": template_size,
        "search_size": search_size,
        "template_factor": template_factor,
        "search_factor": search_factor,
        "backbone": {
            "stem": stem,
            "stages": [{"out": out, "blocks": [[inner, inner] for _ in range(n)]} for out, inner, n in stages],
        },
        "d_model": d_model,
        "encoder": [{"self_attn": dict(attn), "ffn": ffn} for _ in range(encoder_layers)],
        "decoder": [{"self_attn": dict(attn), "multihead_attn": dict(attn), "ffn": ffn} for _ in range(decoder_layers)],
        "head": {"tl": list(head), "br": list(head)},
        "dropout": dropout,
    }
    return validate(record)


def stage_inputs(arch: Mapping[str, Any]) -> list[int]:
    """Input channels of layer1..layer3 (stem width, then the previous stage's output)."""
    outs = [s["out"] for s in arch["backbone"]["stages"]]
    return [arch["backbone"]["stem"], *outs[:-1]]


def copy_record(arch: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(dict(arch))
