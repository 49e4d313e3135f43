"""What a tracker costs: per-frame and init MACs, params, latency, and where they go.

``tracker_cost`` is what ``autoprune profile`` prints (``profile_table``) and saves
(``Cost.to_json``). MACs are shown as "FLOPs (MACs)": tracking papers call
multiply-accumulates FLOPs, and autoprune keeps their convention.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from rich.table import Table
from torch import nn

from autoprune.cost.hooks import count_macs_hooks
from autoprune.cost.latency import evaluating
from autoprune.cost.macs import block_of, count_macs

__all__ = ["BreakdownRow", "Cost", "format_count", "format_macs", "profile_table", "tracker_cost"]

TOP_LEVEL = "(top level)"  # work done in the model's own track()/template() outside submodules


@dataclass(frozen=True)
class BreakdownRow:
    """One stage/block of the model."""

    name: str
    frame_macs: int
    init_macs: int
    params: int
    latency_share: float | None = None  # fraction of per-frame op time, from the op timing table


@dataclass(frozen=True)
class Cost:
    """A tracker's cost. MACs per tracked frame exclude the template work cached at init."""

    frame_macs: int
    init_macs: int
    frame_macs_hooks: int  # what module-hook counters (thop, papers) report per frame
    params: int
    latency_ms: float | None = None  # median per-frame time (one thread: the thread's CPU time, see frame_latency)
    latency_spread: tuple[float, float] | None = None  # (p10, p90) ms
    threads: int = 1
    runtime: str = "torch"  # where latency was measured: eager PyTorch or ONNX Runtime
    breakdown: tuple[BreakdownRow, ...] = ()
    uncounted_ops: tuple[str, ...] = ()  # product-like kernels with no formula (should be empty)
    family: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["units"] = {"macs": "multiply-accumulates (reported as FLOPs)", "latency": "ms"}
        return data

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str:
        """The cost as JSON; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cost:
        data = {k: v for k, v in data.items() if k != "units"}
        data["breakdown"] = tuple(BreakdownRow(**row) for row in data.get("breakdown", ()))
        data["uncounted_ops"] = tuple(data.get("uncounted_ops", ()))
        if data.get("latency_spread") is not None:
            data["latency_spread"] = tuple(data["latency_spread"])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> Cost:
        return cls.from_dict(json.loads(text))


class _Blocks:
    """Names breakdown rows: ``depth`` names deep (see :func:`block_of`), and a row holding
    more than half the per-frame MACs is split a level further, so one giant row (a whole
    backbone behind a wrapper) never hides its stages."""

    def __init__(self, model: nn.Module, depth: int, frame_by_module: Mapping[str, int]):
        self.containers = {path for path, m in model.named_modules() if next(m.children(), None) is not None}
        self.depth = depth
        self.split: set[str] = set()
        total = sum(frame_by_module.values())
        while True:
            rows = _group(frame_by_module, self)
            big = {row for row, macs in rows.items() if macs > total / 2 and row not in self.split}
            big = {row for row in big if any(self._deeper(p, row) for p in frame_by_module)}
            if not big:
                break
            self.split |= big

    def _deeper(self, path: str, row: str) -> bool:
        # Would splitting `row` give `path` a finer name?
        return self(path) == row and block_of(path, self._depth_of(row) + 1, containers=self.containers) != row

    def _depth_of(self, row: str) -> int:
        return sum(1 for part in row.split(".") if not part.isdigit()) if row else 0

    def __call__(self, path: str) -> str:
        depth = self.depth
        name = block_of(path, depth, containers=self.containers)
        while name in self.split:
            finer = block_of(path, depth + 1, containers=self.containers)
            if finer == name:
                break
            depth, name = depth + 1, finer
        return name


def _group(values: Mapping[str, float], name_of) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for path, value in values.items():
        out[name_of(path)] += value
    return dict(out)


def _params_by_module(model: nn.Module) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for name, p in model.named_parameters():
        out[name.rpartition(".")[0]] += p.numel()
    return dict(out)


def _breakdown(model: nn.Module, blocks: _Blocks, frame, init, params, shares) -> tuple[BreakdownRow, ...]:
    frame, init, params = _group(frame, blocks), _group(init, blocks), _group(params, blocks)
    shares = _group(shares, blocks) if shares else {}
    # Rows in the order the model declares its modules; work outside every submodule last.
    order: dict[str, int] = {}
    for path, _ in model.named_modules():
        order.setdefault(blocks(path), len(order))
    names = set(frame) | set(init) | set(params) | set(shares)
    rows = []
    for name in sorted(names, key=lambda n: (n == "", order.get(n, len(order)), n)):
        row = BreakdownRow(
            name=name or TOP_LEVEL,
            frame_macs=int(frame.get(name, 0)),
            init_macs=int(init.get(name, 0)),
            params=int(params.get(name, 0)),
            latency_share=shares.get(name, 0.0) if shares else None,
        )
        if row.frame_macs or row.init_macs or row.params or row.latency_share:
            rows.append(row)
    return tuple(rows)


def tracker_cost(
    family,
    model: nn.Module,
    *,
    latency: bool = False,
    threads: int = 1,
    depth: int = 2,
    cache_dir: str | Path | None = None,
    runtime: str = "torch",
    onnx_path: str | Path | None = None,
) -> Cost:
    """Count (and with ``latency`` measure) a family's model on its example inputs.

    init MACs = ``model.template(z)``; frame MACs = ``model.track(cache, x)`` with the cache
    computed outside the count. ``depth`` sets the breakdown granularity (see
    :func:`autoprune.cost.macs.block_of`). With ``latency`` the per-frame path is timed on
    ``runtime`` as a search measures its children (median, p10/p90; see
    :func:`autoprune.cost.runtime.frame_latency`, ``onnx_path``: an export's graph) and, on
    torch, each block's share comes from timing its ops one by one (cached in ``cache_dir``,
    see :class:`autoprune.cost.LatencyPredictor`).
    """
    z, x = family.example_inputs(model.arch)
    lat = None
    shares: dict[str, float] = {}
    with evaluating(model), torch.inference_mode():
        init = count_macs(model.template, z)
        cache = model.template(z)
        frame = count_macs(model.track, cache, x)
        hooks = count_macs_hooks(model.track, cache, x)
        if latency and runtime == "torch":
            from autoprune.cost.predictor import LatencyPredictor  # only timing needs it

            op_ms = LatencyPredictor(threads=threads, cache_dir=cache_dir).profile(model.track, cache, x).by_module
            total = sum(op_ms.values()) or 1.0
            shares = {path: ms / total for path, ms in op_ms.items()}
    if latency:
        from autoprune.cost.quiet import machine_quiet
        from autoprune.cost.runtime import frame_latency

        with machine_quiet().timing():  # as a latency search times its children: training on this machine paused
            lat = frame_latency(family, model, runtime=runtime, threads=threads, repeats=30, onnx_path=onnx_path)
    return Cost(
        frame_macs=int(frame),
        init_macs=int(init),
        frame_macs_hooks=int(hooks),
        params=sum(p.numel() for p in model.parameters()),
        latency_ms=lat.median_ms if lat else None,
        latency_spread=lat.spread if lat else None,
        threads=threads,
        runtime=runtime,
        breakdown=_breakdown(model, _Blocks(model, depth, frame.by_module), frame.by_module, init.by_module, _params_by_module(model), shares),
        uncounted_ops=tuple(sorted(set(frame.uncounted) | set(init.uncounted))),
        family=getattr(family, "name", ""),
    )


# --- display ----------------------------------------------------------------------------
def format_macs(macs: int) -> str:
    """'48.92 G' / '530.1 M' / '12.0 K': MACs in the unit papers print them."""
    if macs >= 1e9:
        return f"{macs / 1e9:.2f} G"
    if macs >= 1e6:
        return f"{macs / 1e6:.1f} M"
    if macs >= 1e3:
        return f"{macs / 1e3:.1f} K"
    return str(int(macs))


def format_count(n: int) -> str:
    """Parameter counts: '53.95 M', '12.3 K'."""
    if n >= 1e6:
        return f"{n / 1e6:.2f} M"
    if n >= 1e3:
        return f"{n / 1e3:.1f} K"
    return str(int(n))


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def profile_table(cost: Cost, *, title: str | None = None) -> Table:
    """Rich table per stage/block with totals; MACs shown as "FLOPs (MACs)"."""
    table = Table(title=title or f"{cost.family or 'model'} cost", title_justify="left")
    table.add_column("block", overflow="fold")
    table.add_column("FLOPs (MACs)/frame", justify="right", no_wrap=True)
    table.add_column("init FLOPs (MACs)", justify="right", no_wrap=True)
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("latency", justify="right", no_wrap=True)
    for row in cost.breakdown:
        table.add_row(row.name, format_macs(row.frame_macs), format_macs(row.init_macs), format_count(row.params), _share(row.latency_share))
    total_share = 1.0 if cost.latency_ms is not None else None
    table.add_section()
    table.add_row("total", format_macs(cost.frame_macs), format_macs(cost.init_macs), format_count(cost.params), _share(total_share), style="bold")
    notes = [
        "FLOPs = multiply-accumulates, as tracking papers count them",
        f"module-hook (thop-style) count per frame: {format_macs(cost.frame_macs_hooks)}",
    ]
    if cost.latency_ms is not None:
        lo, hi = cost.latency_spread or (cost.latency_ms, cost.latency_ms)
        notes.append(f"latency on {cost.runtime}: {cost.latency_ms:.2f} ms median (p10 {lo:.2f}, p90 {hi:.2f}) "
                     f"at {cost.threads} thread(s)" + ("; per-block shares are measured on torch only" if cost.runtime != "torch" else ""))
    if cost.uncounted_ops:
        notes.append(f"not counted (no formula): {', '.join(cost.uncounted_ops)}")
    table.caption = "\n".join(notes)
    table.caption_justify = "left"
    return table
