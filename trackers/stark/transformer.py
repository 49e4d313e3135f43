"""DETR's post-norm encoder/decoder as STARK uses it: position added to queries and keys
in every layer, one learned query, a final LayerNorm on the decoder.

Attention keeps nn.MultiheadAttention's parameter names (``in_proj_weight``,
``in_proj_bias``, ``out_proj``) so official weights load, but allows ``heads * head_dim``
to differ from ``d_model``: a pruned layer keeps fewer heads of the same size.
Sequences are sequence-first, [L, B, C], like nn.MultiheadAttention's default.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head attention with ``heads`` heads of ``head_dim`` channels each."""

    def __init__(self, d_model: int, heads: int, head_dim: int, *, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = head_dim
        inner = heads * head_dim
        self.in_proj_weight = nn.Parameter(torch.empty(3 * inner, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * inner))
        self.out_proj = nn.Linear(inner, d_model)
        self.dropout = dropout
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)
        lq, batch, _ = query.shape
        lk = key.shape[0]
        h, d = self.heads, self.head_dim
        q = F.linear(query, w_q, b_q).reshape(lq, batch * h, d).transpose(0, 1)
        k = F.linear(key, w_k, b_k).reshape(lk, batch * h, d).transpose(0, 1)
        v = F.linear(value, w_v, b_v).reshape(lk, batch * h, d).transpose(0, 1)
        scores = torch.bmm(q * d ** -0.5, k.transpose(1, 2))  # [B*h, lq, lk]
        if key_padding_mask is not None:
            blocked = key_padding_mask[:, None, None, :]  # [B,1,1,lk]
            scores = scores.view(batch, h, lq, lk).masked_fill(blocked, float("-inf")).view(batch * h, lq, lk)
        weights = F.dropout(scores.softmax(dim=-1), p=self.dropout, training=self.training)
        out = torch.bmm(weights, v).transpose(0, 1).reshape(lq, batch, h * d)
        # A functional call, as nn.MultiheadAttention does: module-hook counters see no Linear here.
        return F.linear(out, self.out_proj.weight, self.out_proj.bias)


def _with_pos(x: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
    return x if pos is None else x + pos


class _PostNormLayer(nn.Module):
    """What encoder and decoder layers share: named attentions, the ReLU FFN, and one
    LayerNorm + dropout per residual step (``norm<k>`` / ``dropout<k>``, DETR's names)."""

    def __init__(self, d_model: int, spec: Mapping[str, Any], attentions: Sequence[str], *, dropout: float) -> None:
        super().__init__()
        for name in attentions:
            setattr(self, name, Attention(d_model, spec[name]["heads"], spec[name]["head_dim"], dropout=dropout))
        self.linear1 = nn.Linear(d_model, spec["ffn"])
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(spec["ffn"], d_model)
        for k in range(1, len(attentions) + 2):  # after each attention and after the FFN
            setattr(self, f"norm{k}", nn.LayerNorm(d_model))
            setattr(self, f"dropout{k}", nn.Dropout(dropout))

    def _residual(self, k: int, x: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
        return getattr(self, f"norm{k}")(x + getattr(self, f"dropout{k}")(update))

    def _feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.dropout(F.relu(self.linear1(x))))


class EncoderLayer(_PostNormLayer):
    def __init__(self, d_model: int, spec: Mapping[str, Any], *, dropout: float) -> None:
        super().__init__(d_model, spec, ("self_attn",), dropout=dropout)

    def forward(self, src: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        qk = _with_pos(src, pos)
        src = self._residual(1, src, self.self_attn(qk, qk, src, mask))
        return self._residual(2, src, self._feed_forward(src))


class DecoderLayer(_PostNormLayer):
    def __init__(self, d_model: int, spec: Mapping[str, Any], *, dropout: float) -> None:
        super().__init__(d_model, spec, ("self_attn", "multihead_attn"), dropout=dropout)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, pos: torch.Tensor, query_pos: torch.Tensor,
                mask: torch.Tensor | None) -> torch.Tensor:
        qk = _with_pos(tgt, query_pos)
        tgt = self._residual(1, tgt, self.self_attn(qk, qk, tgt))
        tgt = self._residual(2, tgt, self.multihead_attn(_with_pos(tgt, query_pos), _with_pos(memory, pos), memory, mask))
        return self._residual(3, tgt, self._feed_forward(tgt))


class Encoder(nn.Module):
    def __init__(self, d_model: int, specs: Sequence[Mapping[str, Any]], *, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(d_model, s, dropout=dropout) for s in specs)

    def forward(self, src: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        for layer in self.layers:
            src = layer(src, pos, mask)
        return src


class Decoder(nn.Module):
    def __init__(self, d_model: int, specs: Sequence[Mapping[str, Any]], *, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(d_model, s, dropout=dropout) for s in specs)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, pos: torch.Tensor, query_pos: torch.Tensor,
                mask: torch.Tensor | None) -> torch.Tensor:
        for layer in self.layers:
            tgt = layer(tgt, memory, pos, query_pos, mask)
        return self.norm(tgt)


class Transformer(nn.Module):
    """Encoder over [template; search] tokens, decoder from one learned query."""

    def __init__(self, arch: Mapping[str, Any]) -> None:
        super().__init__()
        d_model, dropout = arch["d_model"], arch["dropout"]
        self.d_model = d_model
        self.encoder = Encoder(d_model, arch["encoder"], dropout=dropout)
        self.decoder = Decoder(d_model, arch["decoder"], dropout=dropout)
        for p in self.parameters():  # DETR's initialisation of every matrix
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, feat: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor | None,
                query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """feat, pos [L,B,C]; mask [B,L] (True = padding) or None; query [N,C].

        Returns the decoder output [N,B,C] and the encoder memory [L,B,C].
        """
        memory = self.encoder(feat, pos, mask)
        # A copy, not a view: a no_grad view of a leaf parameter trips module-tracking counters.
        query_pos = query.unsqueeze(1).repeat(1, feat.shape[1], 1)
        tgt = torch.zeros_like(query_pos)
        return self.decoder(tgt, memory, pos, query_pos, mask), memory
