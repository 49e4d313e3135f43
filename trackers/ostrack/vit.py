"""ViT blocks with per-block widths and OSTrack's candidate elimination (CE).

Parameter names follow timm's ViT (``norm1``, ``attn.qkv``, ``attn.proj``, ``norm2``,
``mlp.fc1``, ``mlp.fc2``) so official checkpoints load as they are. Attention is written
as two explicit matmuls: each block may have its own head count and head width, and
MAC counters see both products.
"""
from __future__ import annotations

from functools import partial

import torch
from timm.layers import Mlp
from torch import nn

from trackers.ostrack.arch import kept_tokens

LayerNorm = partial(nn.LayerNorm, eps=1e-6)


class Attention(nn.Module):
    """Multi-head self-attention with ``heads`` heads of ``head_dim`` channels.

    ``scale`` is given, not derived, so pruning channels inside heads keeps the softmax
    temperature the surviving channels were trained with.
    """

    def __init__(self, dim: int, heads: int, head_dim: int, *, scale: float, qkv_bias: bool = True) -> None:
        super().__init__()
        self.heads, self.head_dim, self.scale = heads, head_dim, scale
        self.qkv = nn.Linear(dim, 3 * heads * head_dim, bias=qkv_bias)
        self.proj = nn.Linear(heads * head_dim, dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the output [B,N,dim] and the attention probabilities [B,heads,N,N]."""
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, n, self.heads * self.head_dim)
        return self.proj(out), attn


class Block(nn.Module):
    """Pre-norm transformer block; optionally drops search tokens between attention and MLP."""

    def __init__(self, dim: int, *, heads: int, head_dim: int, mlp: int, scale: float, qkv_bias: bool = True) -> None:
        super().__init__()
        self.norm1 = LayerNorm(dim)
        self.attn = Attention(dim, heads, head_dim, scale=scale, qkv_bias=qkv_bias)
        self.norm2 = LayerNorm(dim)
        self.mlp = Mlp(dim, hidden_features=mlp)

    def forward(self, x: torch.Tensor, eliminate=None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``eliminate(tokens, attn) -> (tokens, kept)`` runs after the attention residual.

        Returns the block output and the kept positions (None when nothing was dropped).
        """
        y, attn = self.attn(self.norm1(x))
        x = x + y
        kept = None
        if eliminate is not None:
            x, kept = eliminate(x, attn)
        return x + self.mlp(self.norm2(x)), kept


def candidate_elimination(
    tokens: torch.Tensor, attn: torch.Tensor, *, num_template: int, keep_ratio: float, template_index: int | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Keep the search tokens the template attends to most.

    Score of a search token = its attention from the template centre token
    (``template_index``; all template tokens when None), averaged over heads. The kept
    tokens follow the template in descending score order. Returns the new tokens and the
    kept positions among the incoming search tokens [B, kept] (None if all are kept).
    """
    n_search = tokens.shape[1] - num_template
    n_keep = kept_tokens(n_search, keep_ratio)
    if n_keep == n_search:
        return tokens, None
    rows = attn[:, :, :num_template, num_template:]
    if template_index is not None:
        rows = rows[:, :, template_index : template_index + 1]
    score = rows.mean(dim=2).mean(dim=1)  # [B, n_search]
    order = torch.sort(score, dim=1, descending=True).indices[:, :n_keep]
    search = tokens[:, num_template:].gather(1, order.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
    return torch.cat([tokens[:, :num_template], search], dim=1), order


def scatter_search(search: torch.Tensor, index: torch.Tensor, n_search: int) -> torch.Tensor:
    """Put the surviving search tokens back at their grid positions; eliminated ones are 0."""
    out = search.new_zeros(search.shape[0], n_search, search.shape[-1])
    return out.scatter(1, index.unsqueeze(-1).expand(-1, -1, search.shape[-1]), search)
