"""Analytic cost of an OSTrack record: MACs per frame and at init, parameters.

Two per-frame figures: ``frame_macs`` counts every multiply-accumulate of a matmul or
conv, including the attention products q@k^T and attn@v (with the token counts left by
candidate elimination); ``frame_macs_hooks`` counts Linear and Conv layers only, as
module-hook counters (thop) and the OSTrack paper's 21.5 G do. Norms, activations,
softmax and biases are not counted (negligible, and MAC counters skip them too).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trackers.ostrack.arch import BRANCH_OUTPUTS, BRANCHES, grid_sizes, token_schedule


def _head_macs(arch: Mapping[str, Any]) -> int:
    cells = grid_sizes(arch)[1] ** 2
    total = 0
    for branch in BRANCHES:
        chans = [arch["embed_dim"], *arch["head"][branch]]
        total += sum(9 * a * b for a, b in zip(chans[:-1], chans[1:]))
        total += chans[-1] * BRANCH_OUTPUTS[branch]
    return cells * total


def _params(arch: Mapping[str, Any]) -> int:
    dim, patch, grid = arch["embed_dim"], arch["patch_size"], arch["pretrain_grid"]
    gz, gx = grid_sizes(arch)
    n = dim * 3 * patch * patch + dim  # patch embedding
    n += (gz * gz + gx * gx) * dim  # pos_embed_z, pos_embed_x
    if grid:
        n += dim + (1 + grid * grid) * dim  # cls_token, pos_embed (unused)
    for b in arch["blocks"]:
        inner = b["heads"] * b["head_dim"]
        n += 4 * dim  # norm1, norm2
        n += dim * 3 * inner + (3 * inner if arch["qkv_bias"] else 0)
        n += inner * dim + dim
        n += dim * b["mlp"] + b["mlp"] + b["mlp"] * dim + dim
    n += 2 * dim  # final norm
    for branch in BRANCHES:
        chans = [dim, *arch["head"][branch]]
        for a, b in zip(chans[:-1], chans[1:]):
            n += 9 * a * b + b + 2 * b  # conv + bias, BN affine
        n += chans[-1] * BRANCH_OUTPUTS[branch] + BRANCH_OUTPUTS[branch]
    return n


def analytic_cost(arch: Mapping[str, Any], *, keep_ratio: float | None = None) -> dict[str, int]:
    """MACs and params from the record alone (``keep_ratio`` overrides the CE ratio)."""
    dim, patch = arch["embed_dim"], arch["patch_size"]
    gz, gx = grid_sizes(arch)
    nz = gz * gz
    embed = 3 * patch * patch * dim  # MACs per patch
    linear = gx * gx * embed
    attention = 0
    for b, (s_in, s_out) in zip(arch["blocks"], token_schedule(arch, keep_ratio)):
        inner = b["heads"] * b["head_dim"]
        n_attn, n_mlp = nz + s_in, nz + s_out
        linear += n_attn * dim * 4 * inner  # qkv (3 * inner) and proj (inner)
        linear += n_mlp * dim * 2 * b["mlp"]  # fc1 and fc2
        attention += 2 * n_attn * n_attn * inner  # q@k^T and attn@v over all heads
    head = _head_macs(arch)
    return {
        "frame_macs": linear + attention + head,
        "frame_macs_hooks": linear + head,
        "attention_macs": attention,
        "head_macs": head,
        "init_macs": nz * embed,
        "params": _params(arch),
    }
