"""Predict a child's per-frame latency from its record, fitted to measured children of one parent.

A budget projection asks for the latency of dozens of candidate widths per trial, so the
prediction must not time anything. Instead the per-frame path of the candidate is built on
the ``meta`` device (shapes, no data) and run once under a dispatch tap that records what
each op would do:

- multiply-accumulates, split by kind: dense convolutions, grouped / depthwise
  convolutions (the correlation of Siamese trackers) and matrix products (linear layers,
  attention): each kind runs at its own speed;
- elements written by every op (memory traffic: norms, activations, adds and copies are
  bound by it, not by arithmetic);
- ops dispatched and module calls (fixed per-op cost: Python, dispatcher, kernel launch),
  which is why halving the MACs of a small network does not halve its latency.

Latency is a non-negative linear combination of these, fitted by least squares to the
parent and a spread of children measured on the target runtime and thread count. A line in
MACs alone cannot see depth: removing a block removes its fixed cost too.

>>> model = fit_latency_model(family, parent, children, runtime="torch")  # doctest: +SKIP
>>> model.predict(arch)                                                     # doctest: +SKIP
"""
from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.optimize import nnls

from autoprune.cost.latency import evaluating
from autoprune.cost.macs import MAC_FORMULAS, DispatchTap, ModuleStack
from autoprune.errors import ConfigError

__all__ = ["FEATURES", "LatencyModel", "fit_latency_model", "frame_features"]

FEATURES = ("conv_gmacs", "grouped_gmacs", "matmul_gmacs", "written_melems", "ops", "module_calls", "one")

# Ops that only relabel a tensor's memory: they cost dispatch time but move no data.
_VIEWS = frozenset({
    "view", "reshape", "_reshape_alias", "permute", "transpose", "t", "expand", "select", "slice", "unsqueeze",
    "squeeze", "flatten", "unflatten", "split", "chunk", "unbind", "narrow", "as_strided", "detach", "alias",
    "_unsafe_view", "split_with_sizes", "view_as", "contiguous", "to", "lift_fresh",
})
_CONV = frozenset({"conv2d", "conv1d", "convolution", "_convolution", "conv_transpose2d"})
_MATMUL = frozenset({"linear", "matmul", "mm", "bmm", "addmm", "baddbmm", "einsum", "scaled_dot_product_attention"})


def _product_macs(name: str, args, out) -> int:
    if name in ("linear",):
        x, w = args[0], args[1]
        return out.numel() * w.shape[1]
    if name == "scaled_dot_product_attention":
        return MAC_FORMULAS[torch.ops.aten.scaled_dot_product_attention](args, {}, out)
    if name == "einsum":  # counted by the decomposing counter elsewhere; rare on the per-frame path
        return 0
    a, b = (args[1], args[2]) if name in ("addmm", "baddbmm") else (args[0], args[1])
    return a.numel() * (b.shape[-1] if b.dim() > 1 else 1)


class _FeatureTap:
    """Accumulates :data:`FEATURES` over every op of one call."""

    def __init__(self) -> None:
        self.values = dict.fromkeys(FEATURES, 0.0)
        self.values["one"] = 1.0

    def on_op(self, func, args, kwargs):
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        self.values["ops"] += 1
        if name in _VIEWS:
            return out
        first = out[0] if isinstance(out, (tuple, list)) and out else out
        if isinstance(first, torch.Tensor):
            self.values["written_melems"] += first.numel() / 1e6
        if name in _CONV:
            x, w = args[0], args[1]
            groups = kwargs.get("groups", args[6] if len(args) > 6 else 1)
            if name in ("convolution", "_convolution"):
                groups = args[8] if len(args) > 8 else kwargs.get("groups", 1)
            macs = first.numel() * w.shape[1] * math.prod(w.shape[2:])
            self.values["grouped_gmacs" if groups != 1 else "conv_gmacs"] += macs / 1e9
        elif name in _MATMUL:
            self.values["matmul_gmacs"] += _product_macs(name, args, first) / 1e9
        return out


def _meta_copy(value):
    if isinstance(value, torch.Tensor):
        return torch.empty_like(value, device="meta")
    if isinstance(value, (tuple, list)):
        return type(value)(_meta_copy(v) for v in value)
    if isinstance(value, dict):
        return {k: _meta_copy(v) for k, v in value.items()}
    return value


def frame_features(family, arch: Mapping[str, Any]) -> dict[str, float]:
    """:data:`FEATURES` of one tracked frame of the child ``arch`` (built on the meta device: no data, no timing)."""
    rec = family.validate_arch(dict(arch))
    with torch.device("meta"):
        model = family.build(rec)
    z, x = family.example_inputs(rec)
    tap = _FeatureTap()
    stack = ModuleStack(model)
    with evaluating(model), torch.inference_mode():
        cache = model.template(z.to("meta"))
        # The fused attention kernels are CPU-only; their unfused path is what meta tensors take
        # everywhere, so turning the fast path off keeps the trace the same on every device.
        fastpath = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            with stack, DispatchTap(tap.on_op, decompose=False):
                model.track(_meta_copy(cache), x.to("meta"))
        finally:
            torch.backends.mha.set_fastpath_enabled(fastpath)
    tap.values["module_calls"] = float(stack.calls)
    return dict(tap.values)


def _key(arch: Mapping[str, Any]) -> str:
    return json.dumps(arch, sort_keys=True, default=str)


@dataclass
class LatencyModel:
    """ms = coef . features(arch); fitted per parent, runtime and thread count."""

    family: str
    runtime: str
    threads: int
    coef: dict[str, float]
    points: list[dict] = field(default_factory=list)  # the measured children it was fitted to
    fit_mape: float = float("nan")
    _cache: OrderedDict = field(default_factory=OrderedDict, repr=False, compare=False)

    def features(self, family, arch: Mapping[str, Any]) -> dict[str, float]:
        key = _key(arch)
        if key not in self._cache:
            self._cache[key] = frame_features(family, arch)
            if len(self._cache) > 4096:
                self._cache.popitem(last=False)
        return self._cache[key]

    def predict_features(self, feats: Mapping[str, float]) -> float:
        return float(sum(self.coef[name] * feats[name] for name in FEATURES))

    def predict(self, family, arch: Mapping[str, Any]) -> float:
        """Predicted per-frame latency of the child ``arch`` in ms."""
        return self.predict_features(self.features(family, arch))

    def metric(self, family):
        """``arch -> predicted ms``: the budget metric of a ``--budget-ms`` search."""
        return lambda arch: self.predict(family, arch)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("_cache")
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencyModel:
        missing = [name for name in FEATURES if name not in data.get("coef", {})]
        if missing:
            raise ConfigError(f"latency model lacks coefficients {missing}; delete it to refit")
        return cls(family=data["family"], runtime=data["runtime"], threads=int(data["threads"]),
                   coef={k: float(v) for k, v in data["coef"].items()}, points=list(data.get("points", [])),
                   fit_mape=float(data.get("fit_mape", float("nan"))))


def _solve(rows: np.ndarray, ms: np.ndarray) -> np.ndarray:
    # Relative error is what a budget cares about: weight each child by 1/ms so a 5 ms child
    # misses by as few percent as a 50 ms one. Columns are scaled to unit norm for a
    # well-conditioned solve; non-negativity keeps every feature a cost.
    weights = 1.0 / ms
    a = rows * weights[:, None]
    scale = np.linalg.norm(a, axis=0)
    scale[scale == 0] = 1.0
    coef, _ = nnls(a / scale, ms * weights)
    return coef / scale


def fit_latency_model(family, measured: Iterable[tuple[Mapping[str, Any], float]], *, runtime: str, threads: int) -> LatencyModel:
    """Fit to ``(child arch, measured ms)`` pairs (at least as many as there are features)."""
    pairs = list(measured)
    if len(pairs) < len(FEATURES):
        raise ConfigError(f"a latency model needs at least {len(FEATURES)} measured children, got {len(pairs)}")
    feats = [frame_features(family, arch) for arch, _ in pairs]
    rows = np.array([[f[name] for name in FEATURES] for f in feats], dtype=float)
    ms = np.array([t for _, t in pairs], dtype=float)
    coef = _solve(rows, ms)
    model = LatencyModel(family=family.name, runtime=runtime, threads=threads,
                         coef={name: float(c) for name, c in zip(FEATURES, coef)})
    predicted = rows @ coef
    model.fit_mape = float(np.mean(np.abs(predicted - ms) / ms))
    model.points = [{"ms": float(t), "predicted_ms": float(p), **{k: float(v) for k, v in f.items()}}
                    for t, p, f in zip(ms, predicted, feats)]
    for (arch, _), f in zip(pairs, feats):
        model._cache[_key(arch)] = f
    return model
