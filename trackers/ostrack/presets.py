"""OSTrack presets as data: the official ViT-B/16 models and small CPU-trainable ones."""
from __future__ import annotations

from trackers.common.presets import Preset, preset_table


def _record(*, dim, patch, template, search, blocks, ce_blocks, keep, head, pretrain_grid=0):
    return {
        "family": "ostrack",
        "version": 1,
        "embed_dim": dim,
        "patch_size": patch,
        "template_size": template,
        "search_size": search,
        "template_factor": 2.0,
        "search_factor": 4.0,
        "qkv_bias": True,
        "pretrain_grid": pretrain_grid,
        "blocks": [{"heads": h, "head_dim": d, "mlp": m, "scale": d ** -0.5} for h, d, m in blocks],
        "ce": {"blocks": list(ce_blocks), "keep_ratio": keep, "template": "center"},
        "head": {branch: list(head) for branch in ("ctr", "offset", "size")},
    }


_VITB = [(12, 64, 3072)] * 12

PRESETS = preset_table(
    Preset(
        "vitb-256-ce",
        _record(dim=768, patch=16, template=128, search=256, blocks=_VITB, ce_blocks=(3, 6, 9), keep=0.7,
                head=(256, 128, 64, 32), pretrain_grid=14),
        "OSTrack-256 vitb_256_mae_ce: ViT-B/16, candidate elimination 0.7 in blocks 3/6/9 (official)",
        official=True,
    ),
    Preset(
        "vitb-256",
        _record(dim=768, patch=16, template=128, search=256, blocks=_VITB, ce_blocks=(), keep=1.0,
                head=(256, 128, 64, 32), pretrain_grid=14),
        "OSTrack-256 vitb_256_mae: ViT-B/16 without candidate elimination (official)",
        official=True,
    ),
    Preset(
        "tiny",
        _record(dim=64, patch=16, template=64, search=128, blocks=[(2, 32, 128)] * 4, ce_blocks=(2,), keep=0.7,
                head=(64, 32, 16, 8)),
        "4 blocks of width 64, 2 heads, 4x4 template / 8x8 search tokens; trains on a CPU in minutes (default)",
    ),
    Preset(
        "small",
        _record(dim=96, patch=8, template=64, search=128, blocks=[(3, 32, 192)] * 4, ce_blocks=(2,), keep=0.7,
                head=(96, 48, 24, 16)),
        "4 blocks of width 96, 3 heads, patch 8: 8x8 template / 16x16 search tokens, finer maps, ~10x the MACs of tiny",
    ),
)

OFFICIAL = "vitb-256-ce"
DEFAULT = "tiny"
