"""The OSTrack network: one-stream ViT over [template; search] tokens + CenterPredictor.

``template(z)`` embeds the template once per sequence (patches + ``pos_embed_z``);
``track(cache, x)`` runs everything else every frame: search embedding, all blocks over
the joint tokens with candidate elimination, final norm, box head.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from typing import Any

import torch
from timm.layers import PatchEmbed, trunc_normal_
from torch import nn

from trackers.base import TrackerModel
from trackers.ostrack.arch import grid_sizes
from trackers.ostrack.head import CenterPredictor
from trackers.ostrack.vit import Block, LayerNorm, candidate_elimination, scatter_search

# Training progress (fraction of the run) where the CE keep ratio starts to fall from 1.0
# and where it reaches its target: OSTrack's GOT-10k schedule (epochs 20 and 70 of 100).
CE_WARMUP = (0.2, 0.7)


def ce_keep_schedule(progress: float, target: float, *, start: float = CE_WARMUP[0], end: float = CE_WARMUP[1]) -> float:
    """Keep ratio at ``progress``: 1.0 during warm-up, then a cosine ramp down to ``target``."""
    if progress < start:
        return 1.0
    if progress >= end:
        return target
    t = (progress - start) / (end - start)
    return target + (1.0 - target) * 0.5 * (math.cos(math.pi * t) + 1.0)


class ViTBackbone(nn.Module):
    """Patch embedding, positional embeddings, blocks and final norm (keys as OSTrack's)."""

    def __init__(self, arch: Mapping[str, Any]) -> None:
        super().__init__()
        dim, grid = arch["embed_dim"], arch["pretrain_grid"]
        gz, gx = grid_sizes(arch)
        if grid:  # kept only so official checkpoints load strictly; never used
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, dim))
        self.pos_embed_z = nn.Parameter(torch.zeros(1, gz * gz, dim))
        self.pos_embed_x = nn.Parameter(torch.zeros(1, gx * gx, dim))
        self.patch_embed = PatchEmbed(img_size=None, patch_size=arch["patch_size"], in_chans=3, embed_dim=dim)
        self.blocks = nn.ModuleList(
            Block(dim, heads=b["heads"], head_dim=b["head_dim"], mlp=b["mlp"], scale=b["scale"], qkv_bias=arch["qkv_bias"])
            for b in arch["blocks"]
        )
        self.norm = LayerNorm(dim)
        self._init_weights()

    def _init_weights(self) -> None:
        for p in (self.pos_embed_z, self.pos_embed_x):
            trunc_normal_(p, std=0.02)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)


class OSTrackModel(TrackerModel):
    """Built from an architecture record (see ``trackers.ostrack.arch``)."""

    def __init__(self, arch: Mapping[str, Any]) -> None:
        super().__init__()
        self.arch = dict(arch)
        self.backbone = ViTBackbone(arch)
        self.box_head = CenterPredictor(arch["embed_dim"], arch["head"], feat_size=grid_sizes(arch)[1])
        gz = grid_sizes(arch)[0]
        centre = (gz - 1) // 2  # OSTrack's CTR_POINT token
        self._template_index = None if arch["ce"]["template"] == "all" else centre * gz + centre
        self._ce_blocks = frozenset(arch["ce"]["blocks"])
        self.train_progress: float | None = None

    # --- CE keep ratio --------------------------------------------------------------
    def set_progress(self, fraction: float) -> None:
        """Training progress in [0, 1]; drives the CE keep-ratio warm-up while training."""
        self.train_progress = float(fraction)

    def keep_ratio(self) -> float:
        target = self.arch["ce"]["keep_ratio"]
        if self.training and self.train_progress is not None:
            return ce_keep_schedule(self.train_progress, target)
        return target

    # --- the two paths ---------------------------------------------------------------
    def template(self, z: torch.Tensor) -> tuple[torch.Tensor]:
        """Template tokens with positions [B, Nz, D] (cached for the whole sequence)."""
        return (self.backbone.patch_embed(z) + self.backbone.pos_embed_z,)

    def track(self, cache: tuple[torch.Tensor, ...], x: torch.Tensor) -> dict[str, torch.Tensor]:
        bb = self.backbone
        search = bb.patch_embed(x) + bb.pos_embed_x
        z = cache[0]
        if z.shape[0] != search.shape[0]:
            z = z.expand(search.shape[0], -1, -1)
        num_template, num_search = z.shape[1], search.shape[1]
        tokens = torch.cat([z, search], dim=1)
        keep = self.keep_ratio()
        eliminate = partial(candidate_elimination, num_template=num_template, keep_ratio=keep,
                            template_index=self._template_index)
        index = None  # grid positions of the surviving search tokens
        for i, block in enumerate(bb.blocks):
            tokens, kept = block(tokens, eliminate if (i in self._ce_blocks and keep < 1.0) else None)
            if kept is not None:
                index = kept if index is None else index.gather(1, kept)
        tokens = bb.norm(tokens)
        search = tokens[:, num_template:]
        if index is not None:
            search = scatter_search(search, index, num_search)
        side = self.box_head.feat_size
        feat = search.transpose(1, 2).reshape(search.shape[0], search.shape[2], side, side)
        out = self.box_head(feat)
        if index is not None:
            out["kept_index"] = index
        return out
