"""The STARK-S network: ResNet trunk -> 1x1 bottleneck -> transformer over [template; search]
-> encoder-memory x decoder-output similarity -> corner head.

Init path ``template(z)``: trunk, bottleneck and position code of the template, flattened
to tokens and cached. Per-frame path ``track(cache, x)``: the same for the search crop, then
the transformer and the head. Optional padding masks (True = outside the image) keep padded
tokens out of attention and out of the position code, as STARK does when tracking.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trackers.base import TrackerModel
from trackers.stark.arch import STRIDE
from trackers.stark.backbone import Backbone
from trackers.stark.head import CornerHead
from trackers.stark.position import SinePositionEncoding
from trackers.stark.transformer import Transformer

Cache = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # tokens [L,B,C], position [L,B,C], padding [B,L]


class StarkModel(TrackerModel):
    def __init__(self, arch: Mapping[str, Any]) -> None:
        super().__init__()
        self.arch = dict(arch)
        d_model = arch["d_model"]
        self.feat_size = arch["search_size"] // STRIDE
        trunk = Backbone(arch)
        self.backbone = nn.ModuleList([trunk, SinePositionEncoding(d_model)])
        self.transformer = Transformer(arch)
        self.box_head = CornerHead(d_model, arch["head"]["tl"], arch["head"]["br"], feat_size=self.feat_size, stride=STRIDE)
        self.query_embed = nn.Embedding(1, d_model)
        self.bottleneck = nn.Conv2d(trunk.num_channels, d_model, 1)
        trunk.freeze_stem()

    def _tokens(self, img: torch.Tensor, mask: torch.Tensor | None) -> Cache:
        feat = self.backbone[0](img)
        b, _, h, w = feat.shape
        if mask is None:
            mask = torch.zeros(b, h, w, dtype=torch.bool, device=feat.device)
        else:
            mask = F.interpolate(mask[:, None].float(), size=(h, w)).to(torch.bool)[:, 0]
        pos = self.backbone[1](mask).to(feat.dtype)
        feat = self.bottleneck(feat)
        return feat.flatten(2).permute(2, 0, 1), pos.flatten(2).permute(2, 0, 1), mask.flatten(1)

    def template(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> Cache:
        """Template crop [B,3,Hz,Wz] (preprocessed) -> cached tokens, position code, padding."""
        return self._tokens(z, mask)

    def track(self, cache: Cache, x: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Search crop [B,3,Hx,Wx] -> ``boxes`` [B,4] xyxy in [0,1] of the crop, ``score_maps`` [B,2,h,w]."""
        feat_z, pos_z, mask_z = cache
        feat_x, pos_x, mask_x = self._tokens(x, mask)
        feat = torch.cat((feat_z, feat_x))
        pos = torch.cat((pos_z, pos_x))
        padding = torch.cat((mask_z, mask_x), dim=1)
        hs, memory = self.transformer(feat, pos, padding, self.query_embed.weight)
        # Each search token is scaled by its similarity to the decoded query.
        enc = memory[-feat_x.shape[0]:].transpose(0, 1)  # [B,HW,C]
        att = torch.matmul(enc, hs.permute(1, 2, 0))  # [B,HW,1]
        fused = (enc * att).transpose(1, 2).reshape(-1, enc.shape[2], self.feat_size, self.feat_size)
        boxes, score_maps = self.box_head(fused)
        return {"boxes": boxes, "score_maps": score_maps}
