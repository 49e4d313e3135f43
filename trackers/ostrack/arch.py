"""The OSTrack architecture record: every width, head count and depth, validated.

A record (JSON-able dict, ``"family": "ostrack", "version": 1``)::

    embed_dim        token width D
    patch_size       patch side p (template_size and search_size are multiples of it)
    template_size    template crop side (pixels), search_size: search crop side
    template_factor  crop side / sqrt(w*h) of the target, search_factor likewise
    qkv_bias         whether the qkv projections carry a bias
    pretrain_grid    g > 0 keeps the unused ``cls_token`` and ``pos_embed`` [1, 1+g*g, D] of
                     the ImageNet ViT so official checkpoints load strictly; 0 drops them
    blocks           one entry per kept transformer block, in order:
                     {"heads": h, "head_dim": d, "mlp": hidden, "scale": s}; qkv has 3*h*d
                     outputs, proj h*d inputs; ``scale`` multiplies q@k^T and stays the
                     original head_dim**-0.5 when channels inside heads are pruned
    ce               candidate elimination: {"blocks": [i, ...], "keep_ratio": r,
                     "template": "center" | "all"}; ``blocks`` index the ``blocks`` list
                     (after removals); each listed block keeps ceil(r * n) of its n search
                     tokens, ranked by the attention they get from the template centre
                     token ("center") or from all template tokens ("all")
    head             CenterPredictor conv widths per branch: {"ctr": [w1..w4],
                     "offset": [..], "size": [..]}
"""
from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from trackers.common.records import RecordCheck

FAMILY = "ostrack"
VERSION = 1
BRANCHES = ("ctr", "offset", "size")
BRANCH_OUTPUTS = {"ctr": 1, "offset": 2, "size": 2}
HEAD_DEPTH = 4  # 3x3 conv+BN+ReLU layers per branch before the 1x1 output conv
CE_TEMPLATE_MODES = ("center", "all")

_TOP_KEYS = {
    "family", "version", "embed_dim", "patch_size", "template_size", "search_size", "template_factor",
    "search_factor", "qkv_bias", "pretrain_grid", "blocks", "ce", "head",
}
_BLOCK_KEYS = {"heads", "head_dim", "mlp", "scale"}
_CE_KEYS = {"blocks", "keep_ratio", "template"}


CHECK = RecordCheck(FAMILY, VERSION)


def _block(entry: Any, i: int) -> dict[str, Any]:
    where = f"blocks[{i}]"
    if not isinstance(entry, Mapping):
        CHECK.fail(where, "a mapping with heads, head_dim, mlp", entry)
    CHECK.known_keys(entry, _BLOCK_KEYS, f"in {where}: ")
    for key in ("heads", "head_dim", "mlp"):
        if key not in entry:
            CHECK.fail(f"{where}.{key}", "a positive integer", None)
    heads = CHECK.positive_int(entry["heads"], f"{where}.heads")
    head_dim = CHECK.positive_int(entry["head_dim"], f"{where}.head_dim")
    mlp = CHECK.positive_int(entry["mlp"], f"{where}.mlp")
    scale = CHECK.positive_float(entry.get("scale", head_dim ** -0.5), f"{where}.scale")
    return {"heads": heads, "head_dim": head_dim, "mlp": mlp, "scale": scale}


def _ce(entry: Any, depth: int) -> dict[str, Any]:
    if entry is None:
        entry = {}
    if not isinstance(entry, Mapping):
        CHECK.fail("ce", "a mapping with blocks, keep_ratio, template", entry)
    CHECK.known_keys(entry, _CE_KEYS, "in ce: ")
    blocks = entry.get("blocks", [])
    if not isinstance(blocks, (list, tuple)) or any(isinstance(b, bool) or not isinstance(b, int) for b in blocks):
        CHECK.fail("ce.blocks", "a list of block indices", blocks)
    if any(not 0 <= b < depth for b in blocks) or len(set(blocks)) != len(blocks):
        CHECK.fail("ce.blocks", f"distinct indices into blocks (0..{depth - 1})", blocks)
    keep = entry.get("keep_ratio", 1.0)
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0.0 < keep <= 1.0:
        CHECK.fail("ce.keep_ratio", "a number in (0, 1]", keep)
    template = entry.get("template", "center")
    if template not in CE_TEMPLATE_MODES:
        CHECK.fail("ce.template", f"one of {', '.join(CE_TEMPLATE_MODES)}", template)
    return {"blocks": sorted(blocks), "keep_ratio": float(keep), "template": template}


def _head(entry: Any) -> dict[str, list[int]]:
    if not isinstance(entry, Mapping) or set(entry) != set(BRANCHES):
        CHECK.fail("head", f"a mapping with exactly the branches {', '.join(BRANCHES)}", entry)
    return {branch: CHECK.widths(entry[branch], f"head.{branch}", HEAD_DEPTH) for branch in BRANCHES}


def validate_arch(arch: Mapping[str, Any]) -> dict[str, Any]:
    """Check a record and return a normalised deep copy (defaults filled in)."""
    rec = CHECK.header(arch)
    CHECK.known_keys(arch, _TOP_KEYS)
    for key in ("embed_dim", "patch_size", "template_size", "search_size", "blocks", "head"):
        if key not in arch:
            raise CHECK.error(f"missing key {key!r}")
    rec["embed_dim"] = CHECK.positive_int(arch["embed_dim"], "embed_dim")
    patch = rec["patch_size"] = CHECK.positive_int(arch["patch_size"], "patch_size")
    for key in ("template_size", "search_size"):
        size = CHECK.positive_int(arch[key], key)
        if size % patch:
            CHECK.fail(key, f"a multiple of patch_size {patch}", size)
        rec[key] = size
    rec["template_factor"] = CHECK.positive_float(arch.get("template_factor", 2.0), "template_factor")
    rec["search_factor"] = CHECK.positive_float(arch.get("search_factor", 4.0), "search_factor")
    qkv_bias = arch.get("qkv_bias", True)
    if not isinstance(qkv_bias, bool):
        CHECK.fail("qkv_bias", "true or false", qkv_bias)
    rec["qkv_bias"] = qkv_bias
    grid = arch.get("pretrain_grid", 0)
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 0:
        CHECK.fail("pretrain_grid", "a non-negative integer", grid)
    rec["pretrain_grid"] = grid
    blocks = arch["blocks"]
    if not isinstance(blocks, (list, tuple)) or not blocks:
        CHECK.fail("blocks", "a non-empty list of block mappings", blocks)
    rec["blocks"] = [_block(b, i) for i, b in enumerate(blocks)]
    rec["ce"] = _ce(arch.get("ce"), len(rec["blocks"]))
    rec["head"] = _head(arch["head"])
    return copy.deepcopy(rec)


# --- derived quantities shared by the model and the analytic cost ---------------------
def grid_sizes(arch: Mapping[str, Any]) -> tuple[int, int]:
    """Token grid sides (template, search)."""
    p = arch["patch_size"]
    return arch["template_size"] // p, arch["search_size"] // p


def kept_tokens(n: int, ratio: float) -> int:
    """Search tokens a CE block keeps out of ``n`` (OSTrack: ceil(ratio * n))."""
    return min(n, math.ceil(ratio * n))


def token_schedule(arch: Mapping[str, Any], keep_ratio: float | None = None) -> list[tuple[int, int]]:
    """Per block: (search tokens entering attention, search tokens entering the MLP)."""
    ratio = arch["ce"]["keep_ratio"] if keep_ratio is None else keep_ratio
    n = grid_sizes(arch)[1] ** 2
    out = []
    for i in range(len(arch["blocks"])):
        after = kept_tokens(n, ratio) if (i in arch["ce"]["blocks"] and ratio < 1.0) else n
        out.append((n, after))
        n = after
    return out
