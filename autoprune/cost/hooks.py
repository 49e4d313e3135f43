"""MACs counted the way module-hook counters (thop) and most tracking papers count them.

Only layers are seen: ``nn.Conv*`` / ``nn.ConvTranspose*``, ``nn.Linear`` (and subclasses)
and the four projections of ``nn.MultiheadAttention``. Functional products are invisible to
a module hook: attention matmuls (``q @ k.T``, ``attn @ v``, ``F.scaled_dot_product_attention``),
the depthwise cross-correlation of Siamese heads (``F.conv2d`` with a template kernel) and
``torch.einsum``. The gap to :func:`autoprune.cost.count_macs` is exactly those products.

What the real ``thop.profile`` (0.1.1) does differently, wrapped by :func:`thop_macs`:

* counts extras beside products: BatchNorm / LayerNorm (2 per element when affine),
  average pooling, ``nn.Softmax``, ``nn.Upsample``, ``nn.LeakyReLU``;
* looks rules up by exact type, so ``nn.Linear`` subclasses and ``nn.MultiheadAttention``
  (projections included: its ``out_proj`` is a Linear subclass used functionally) cost 0;
* counts ``nn.ConvTranspose*`` like a convolution over the *output*: stride² too high;
* conv and linear bias adds are not counted (as here).
"""
from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections import defaultdict
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook

from autoprune.cost.macs import MacCount, ModuleStack, root_module

__all__ = ["count_macs_hooks", "layer_macs", "thop_macs"]


def _mha_macs(module: nn.MultiheadAttention, args: tuple, kwargs: dict) -> int:
    names = ("query", "key", "value")
    query, key, value = (args[i] if len(args) > i else kwargs[n] for i, n in enumerate(names))
    tokens_q = query.numel() // query.shape[-1]
    tokens_k = key.numel() // key.shape[-1]
    e = module.embed_dim
    # q, k, v projections + output projection; the attention products themselves are not seen.
    return tokens_q * e * e + tokens_k * key.shape[-1] * e + tokens_k * value.shape[-1] * e + tokens_q * e * e


def layer_macs(module: nn.Module, args: tuple, kwargs: dict, output) -> int | None:
    """MACs of one layer call as a module-hook counter sees it; None for layers it ignores."""
    if isinstance(module, nn.MultiheadAttention):
        return _mha_macs(module, args, kwargs)
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        x = args[0]
        return x.numel() * module.weight.shape[1] * math.prod(module.weight.shape[2:])
    if isinstance(module, nn.modules.conv._ConvNd):
        return output.numel() * module.weight.shape[1] * math.prod(module.weight.shape[2:])
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return None


def count_macs_hooks(fn: Callable, *args, **kwargs) -> MacCount:
    """MACs of ``fn(*args, **kwargs)`` counted by module hooks (paper / thop convention).

    Breakdown by module path as in :func:`autoprune.cost.count_macs`.
    """
    stack = ModuleStack(root_module(fn))
    by_module: dict[str, int] = defaultdict(int)
    by_op: dict[str, int] = defaultdict(int)

    def on_forward(module, f_args, f_kwargs, output):
        macs = layer_macs(module, f_args, f_kwargs, output)
        if macs is not None:
            by_module[stack.current] += macs  # the hook runs before the stack pops this module
            by_op[type(module).__name__] += macs

    # Global hooks run in registration order: ours before the stack pops the module.
    handle = register_module_forward_hook(on_forward, with_kwargs=True)
    try:
        with torch.inference_mode(), stack:
            fn(*args, **kwargs)
    finally:
        handle.remove()
    return MacCount(sum(by_module.values()), by_module=by_module, by_op=by_op, containers=stack.containers or None)


class _Call(nn.Module):
    """Presents any callable as a module so thop can run it (thop only calls ``model(*inputs)``)."""

    def __init__(self, fn: Callable, owner: nn.Module | None):
        super().__init__()
        self.fn = fn
        self.owner = owner  # registered so thop hooks the owner's layers

    def forward(self, *args):
        return self.fn(*args)


def thop_macs(fn: Callable, *args) -> int:
    """What the real ``thop.profile`` reports for ``fn(*args)`` (see the module docstring for its rules).

    The model is left exactly as found: training flags and thop's temporary buffers are restored.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # thop imports distutils' LooseVersion
        import thop

    wrapper = fn if isinstance(fn, nn.Module) else _Call(fn, root_module(fn))
    modules = list(wrapper.modules())
    training = [m.training for m in modules]
    had_buffers = {id(m) for m in modules if "total_ops" in m._buffers or "total_params" in m._buffers}
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            macs, _ = thop.profile(wrapper, inputs=args, verbose=False)
    finally:
        for module, flag in zip(modules, training):
            module.training = flag
            if id(module) not in had_buffers:  # thop leaves them on modules it has no rule for
                module._buffers.pop("total_ops", None)
                module._buffers.pop("total_params", None)
    return int(macs)
