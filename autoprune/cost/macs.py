"""Count multiply-accumulates (MACs) at the torch dispatch level, attributed to modules.

Counting below ``nn.Module`` sees every product a network computes: layers (``nn.Conv2d``),
functional calls (``F.conv2d`` with a template kernel as in depthwise cross-correlation,
``q @ k.transpose(-2, -1)``, ``torch.einsum``) and fused kernels
(``F.scaled_dot_product_attention``). Composite ops are decomposed until an op with a
formula (or a real kernel) is reached, so a network costs the same whether its attention
runs fused or as explicit matmuls.

Convention (tracking papers call these "FLOPs"): one MAC per multiply-add inside a
product; bias adds, norms, activations and softmax are not counted.

>>> import torch
>>> conv = torch.nn.Conv2d(3, 8, 3, bias=False)
>>> int(count_macs(conv, torch.zeros(1, 3, 10, 10)))  # 8*8*8 outputs x 3*3*3 products
13824
"""
from __future__ import annotations

import functools
import inspect
import math
import re
from collections import defaultdict
from collections.abc import Callable, Collection
from typing import Any

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

__all__ = ["MacCount", "MacCounter", "DispatchTap", "ModuleStack", "block_of", "count_macs", "root_module"]


# --- formulas -------------------------------------------------------------------------
def _conv(args, kwargs, out) -> int:
    # aten.convolution(input, weight, bias, stride, padding, dilation, transposed, ...)
    x, w = args[0], args[1]
    transposed = args[6] if len(args) > 6 else kwargs.get("transposed", False)
    kernel = math.prod(w.shape[2:])
    if transposed:  # weight [Cin, Cout/groups, k...]: each input element meets Cout/groups*k weights
        return x.numel() * w.shape[1] * kernel
    return out.numel() * w.shape[1] * kernel  # weight [Cout, Cin/groups, k...]


def _mm(a_index: int):
    # [.., n, k] @ [.., k, m]: every element of the left operand meets m columns.
    def count(args, kwargs, out) -> int:
        a, b = args[a_index], args[a_index + 1]
        return a.numel() * (b.shape[-1] if b.dim() > 1 else 1)

    return count


def _attention(seq_dim: int):
    # q [..., Lq, Dqk] (or [B, Lq, H, D] for the varlen kernels): scores Lq*Lk*Dqk + mixing Lq*Lk*Dv.
    def count(args, kwargs, out) -> int:
        q, k, v = args[0], args[1], args[2]
        return q.numel() // q.shape[-1] * k.shape[seq_dim] * (q.shape[-1] + v.shape[-1])

    return count


_BHLD, _BLHD = _attention(-2), _attention(1)

# Keyed by overload packet. Ops listed here are counted and run whole (never decomposed),
# so a fused attention kernel still runs fused while it is being counted.
MAC_FORMULAS: dict[Any, Callable[[tuple, dict, Any], int]] = {
    aten.convolution: _conv,
    aten._convolution: _conv,
    aten.convolution_overrideable: _conv,
    aten.mm: _mm(0),
    aten.bmm: _mm(0),
    aten.mv: _mm(0),
    aten.dot: _mm(0),
    aten.addmm: _mm(1),
    aten._addmm_activation: _mm(1),
    aten.baddbmm: _mm(1),
    aten.addbmm: _mm(1),
    aten.addmv: _mm(1),
    aten.scaled_dot_product_attention: _BHLD,
    aten._scaled_dot_product_attention_math: _BHLD,
    aten._scaled_dot_product_flash_attention_for_cpu: _BHLD,
    aten._scaled_dot_product_flash_attention: _BHLD,
    aten._scaled_dot_product_efficient_attention: _BHLD,
    aten._scaled_dot_product_cudnn_attention: _BHLD,
    aten._scaled_dot_product_fused_attention_overrideable: _BHLD,
    aten._flash_attention_forward: _BLHD,
    aten._efficient_attention_forward: _BLHD,
}

# A kernel whose name looks like a product but has no formula would be silently free.
_LOOKS_COSTLY = re.compile(r"conv|mm|matmul|linear|attention|einsum|lstm|gru|rnn")


# --- which module is running ------------------------------------------------------------
class ModuleStack:
    """Which module is running right now, kept by global forward hooks.

    Global hooks (not per-module ones) also see modules reached outside ``root`` and
    functional code between layers is charged to the innermost running module.
    """

    def __init__(self, root: nn.Module | None = None):
        self._names = {id(m): name for name, m in root.named_modules()} if root is not None else {}
        # Paths of modules with children: a block index only names a block if it has layers.
        self.containers = frozenset(
            name for name, m in (root.named_modules() if root is not None else ()) if next(m.children(), None) is not None
        )
        self._stack: list[str] = []
        self._handles: list = []
        self.calls = 0  # module calls seen (each costs Python overhead a kernel timing misses)

    @property
    def current(self) -> str:
        return self._stack[-1] if self._stack else ""

    def _name(self, module: nn.Module) -> str:
        name = self._names.get(id(module))
        if name is None:  # not part of root: name it by class under its caller
            own = type(module).__name__
            name = f"{self.current}.{own}" if self.current else own
        return name

    def _push(self, module, args) -> None:
        self.calls += 1
        self._stack.append(self._name(module))

    def _pop(self, module, args, output) -> None:
        if self._stack:
            self._stack.pop()

    def __enter__(self) -> ModuleStack:
        self._handles = [
            register_module_forward_pre_hook(self._push),
            register_module_forward_hook(self._pop, always_call=True),
        ]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._stack.clear()


class DispatchTap(TorchDispatchMode):
    """Hands every op that runs as one kernel to ``on_op(func, args, kwargs) -> result``.

    With ``decompose`` composite ops (``linear``, ``matmul``, ``einsum``, ``conv2d``) are
    broken down until an op in :data:`MAC_FORMULAS` or an op with its own kernel is reached;
    without it every op is handed over as called (what actually runs, for timing).
    """

    def __init__(self, on_op: Callable[[Any, tuple, dict], Any], *, decompose: bool):
        super().__init__()
        self.on_op = on_op
        self.decompose = decompose

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.decompose and func.overloadpacket not in MAC_FORMULAS:
            with self:  # the mode is popped while inside this handler: re-enter to see the parts
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
        return self.on_op(func, args, kwargs)


# --- results ----------------------------------------------------------------------------
def block_of(path: str, depth: int = 2, *, containers: Collection[str] | None = None) -> str:
    """The stage/block a module path belongs to, ``depth`` names deep; list indices ride along.

    With ``containers`` (paths of modules that have children) an index rides along only
    when it names a block, so ``head.conv1.0`` (a conv in a Sequential) stays ``head.conv1``.

    >>> block_of("backbone.blocks.3.attn.qkv"), block_of("backbone.layer1.0.conv1")
    ('backbone.blocks.3', 'backbone.layer1.0')
    """
    parts = path.split(".") if path else []
    kept: list[str] = []
    named = 0
    for i, part in enumerate(parts):
        if part.isdigit() and i > 0:  # a leading index (root is a Sequential) is a level itself
            prefix = ".".join([*kept, part])
            at_boundary = named >= depth
            if at_boundary and containers is not None and prefix not in containers:
                break
        else:
            named += 1
            if named > depth:
                break
        kept.append(part)
    return ".".join(kept)


class MacCount(int):
    """Total MACs (usable as an ``int``) plus where they were spent.

    ``by_module``: MACs per innermost running module path ('' = outside every submodule);
    ``by_op``: MACs per aten op; ``uncounted``: product-like kernels that had no formula.
    """

    by_module: dict[str, int]
    by_op: dict[str, int]
    uncounted: tuple[str, ...]
    containers: frozenset[str] | None  # module paths with children, when the root was known

    def __new__(cls, total: int, *, by_module=None, by_op=None, uncounted=(), containers=None) -> MacCount:
        self = super().__new__(cls, int(total))
        self.by_module = dict(by_module or {})
        self.by_op = dict(by_op or {})
        self.uncounted = tuple(uncounted)
        self.containers = frozenset(containers) if containers is not None else None
        return self

    @property
    def total(self) -> int:
        return int(self)

    def by_block(self, depth: int = 2) -> dict[str, int]:
        """MACs summed per stage/block (see :func:`block_of`)."""
        out: dict[str, int] = defaultdict(int)
        for path, macs in self.by_module.items():
            out[block_of(path, depth, containers=self.containers)] += macs
        return dict(out)

    def __repr__(self) -> str:
        return f"MacCount({int(self):,} MACs, {len(self.by_module)} modules)"

    def __reduce__(self):
        return (_rebuild, (int(self), self.by_module, self.by_op, self.uncounted, self.containers))


def _rebuild(total, by_module, by_op, uncounted, containers) -> MacCount:
    return MacCount(total, by_module=by_module, by_op=by_op, uncounted=uncounted, containers=containers)


class MacCounter:
    """Context manager counting the MACs of all torch ops run inside it.

    >>> with MacCounter(root=model) as counter:      # doctest: +SKIP
    ...     model.track(cache, x)
    >>> counter.result().by_block()                   # doctest: +SKIP
    """

    def __init__(self, root: nn.Module | None = None):
        self.modules = ModuleStack(root)
        self._tap = DispatchTap(self._on_op, decompose=True)
        self._by_module: dict[str, int] = defaultdict(int)
        self._by_op: dict[str, int] = defaultdict(int)
        self._uncounted: set[str] = set()
        self._fastpath = True

    def _on_op(self, func, args, kwargs):
        out = func(*args, **kwargs)
        formula = MAC_FORMULAS.get(func.overloadpacket)
        if formula is not None:
            macs = int(formula(args, kwargs, out))
            self._by_module[self.modules.current] += macs
            self._by_op[str(func.overloadpacket)] += macs
        elif _LOOKS_COSTLY.search(func.overloadpacket.__name__):
            self._uncounted.add(str(func))
        return out

    def __enter__(self) -> MacCounter:
        # The fused nn.MultiheadAttention / TransformerEncoderLayer kernels would hide their
        # matmuls in one op; the regular path gives identical outputs and countable parts.
        self._fastpath = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        self.modules.__enter__()
        self._tap.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._tap.__exit__(*exc)
        finally:
            self.modules.__exit__(*exc)
            torch.backends.mha.set_fastpath_enabled(self._fastpath)

    def result(self) -> MacCount:
        return MacCount(
            sum(self._by_module.values()),
            by_module=self._by_module,
            by_op=self._by_op,
            uncounted=sorted(self._uncounted),
            containers=self.modules.containers if self.modules.containers else None,
        )


def root_module(fn: Callable) -> nn.Module | None:
    """The module whose names label a breakdown: ``fn`` itself, or the owner of a bound method."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if isinstance(fn, nn.Module):
        return fn
    if inspect.ismethod(fn) and isinstance(fn.__self__, nn.Module):
        return fn.__self__
    return None


def count_macs(fn: Callable, *args, **kwargs) -> MacCount:
    """MACs of one call ``fn(*args, **kwargs)`` (run under ``torch.inference_mode``).

    ``fn`` is a module or any callable; for a module or a bound method of one
    (``model.track``) the breakdown uses that module's submodule names.
    """
    with torch.inference_mode(), MacCounter(root=root_module(fn)) as counter:
        fn(*args, **kwargs)
    return counter.result()
