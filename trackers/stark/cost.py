"""Per-frame and init MACs and parameter count of a STARK record, without building it.

Two conventions, both at batch 1:

* ``frame_macs`` / ``init_macs``: every multiply-accumulate of convolutions and matrix
  products, as ``torch.utils.flop_counter`` counts them (flops / 2): attention projections
  and score/value products included; biases, norms and element-wise work not.
* ``frame_macs_hooks``: what module hooks see, the convention behind STARK-S50's "10.5 G"
  (plain thop): convolutions and ``nn.Linear`` modules (the FFNs). Attention counts 0, as
  thop counts nn.MultiheadAttention (no rule for it; its projections run functionally), and
  so do the functional similarity product and the norms. Real thop adds 4 per element of
  every affine LayerNorm / BatchNorm2d on top (+7.3 M at S50, 0.07 %).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trackers.stark.arch import STRIDE, stage_inputs
from trackers.stark.backbone import STAGE_STRIDES


def _backbone_macs(arch: Mapping[str, Any], size: int) -> int:
    spec = arch["backbone"]
    res = size // 2
    macs = res * res * spec["stem"] * 3 * 49
    res //= 2  # maxpool
    for stage, cin, stride in zip(spec["stages"], stage_inputs(arch), STAGE_STRIDES):
        out_res = res // stride
        cout = stage["out"]
        for b, (inner1, inner2) in enumerate(stage["blocks"]):
            first = b == 0
            in_res, c = (res, cin) if first else (out_res, cout)  # stride sits on conv2 and downsample
            macs += in_res * in_res * inner1 * c
            macs += out_res * out_res * (inner2 * inner1 * 9 + cout * inner2 + (cout * cin if first else 0))
        res = out_res
    return macs


def _tokens_macs(arch: Mapping[str, Any], size: int) -> int:
    """Trunk plus the 1x1 bottleneck for one crop side."""
    res = size // STRIDE
    return _backbone_macs(arch, size) + res * res * arch["d_model"] * arch["backbone"]["stages"][-1]["out"]


def _attention_macs(d: int, attn: Mapping[str, int], lq: int, lk: int) -> int:
    inner = attn["heads"] * attn["head_dim"]
    return lq * d * inner + 2 * lk * d * inner + 2 * lq * lk * inner + lq * inner * d


def _head_macs(arch: Mapping[str, Any]) -> int:
    res = arch["search_size"] // STRIDE
    macs = 0
    for branch in ("tl", "br"):
        chans = [arch["d_model"], *arch["head"][branch]]
        macs += sum(res * res * chans[k] * chans[k + 1] * 9 for k in range(4)) + res * res * chans[-1]
    return macs


def _transformer_macs(arch: Mapping[str, Any], *, hooks: bool) -> int:
    d = arch["d_model"]
    lz = (arch["template_size"] // STRIDE) ** 2
    lx = (arch["search_size"] // STRIDE) ** 2
    length = lz + lx
    macs = 0
    for layer in arch["encoder"]:
        macs += 2 * length * d * layer["ffn"]
        if not hooks:
            macs += _attention_macs(d, layer["self_attn"], length, length)
    for layer in arch["decoder"]:  # one query
        macs += 2 * d * layer["ffn"]
        if not hooks:
            macs += _attention_macs(d, layer["self_attn"], 1, 1) + _attention_macs(d, layer["multihead_attn"], 1, length)
    if not hooks:
        macs += lx * d  # search memory x decoded query
    return macs


def params(arch: Mapping[str, Any]) -> int:
    """Trainable-tensor count (nn.Parameters; frozen BatchNorm terms are buffers)."""
    spec = arch["backbone"]
    n = spec["stem"] * 3 * 49
    for stage, cin in zip(spec["stages"], stage_inputs(arch)):
        cout = stage["out"]
        for b, (inner1, inner2) in enumerate(stage["blocks"]):
            c = cin if b == 0 else cout
            n += inner1 * c + inner2 * inner1 * 9 + cout * inner2 + (cout * cin if b == 0 else 0)
    d = arch["d_model"]
    n += d * spec["stages"][-1]["out"] + d + d  # bottleneck, query_embed

    def attn(a: Mapping[str, int]) -> int:
        inner = a["heads"] * a["head_dim"]
        return 3 * inner * d + 3 * inner + d * inner + d

    def ffn(f: int) -> int:
        return 2 * f * d + f + d

    n += sum(attn(layer["self_attn"]) + ffn(layer["ffn"]) + 2 * 2 * d for layer in arch["encoder"])
    n += sum(attn(layer["self_attn"]) + attn(layer["multihead_attn"]) + ffn(layer["ffn"]) + 3 * 2 * d
             for layer in arch["decoder"])
    n += 2 * d  # decoder.norm
    for branch in ("tl", "br"):
        chans = [d, *arch["head"][branch]]
        n += sum(chans[k] * chans[k + 1] * 9 + 3 * chans[k + 1] for k in range(4)) + chans[-1] + 1
    return n


def analytic_cost(arch: Mapping[str, Any]) -> dict[str, int]:
    """``frame_macs``, ``init_macs``, ``params``, ``frame_macs_hooks`` of a record."""
    search = _tokens_macs(arch, arch["search_size"])
    return {
        "frame_macs": search + _transformer_macs(arch, hooks=False) + _head_macs(arch),
        "init_macs": _tokens_macs(arch, arch["template_size"]),
        "params": params(arch),
        "frame_macs_hooks": search + _transformer_macs(arch, hooks=True) + _head_macs(arch),
    }
