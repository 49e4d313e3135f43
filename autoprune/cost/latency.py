"""Measured latency on this machine: batch 1, inference mode, a fixed number of threads.

>>> import torch
>>> lat = measure_latency(torch.nn.Linear(64, 64), torch.zeros(1, 64), repeats=10)
>>> lat.median_ms > 0
True
"""
from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from autoprune.errors import ConfigError

__all__ = ["Latency", "evaluating", "measure_latency", "num_threads", "tracker_latency"]


@dataclass(frozen=True)
class Latency:
    """Per-call wall time in milliseconds: median and spread over ``repeats`` timed calls."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    iqr_ms: float  # p75 - p25
    repeats: int
    threads: int

    @property
    def spread(self) -> tuple[float, float]:
        """(p10, p90) in ms."""
        return (self.p10_ms, self.p90_ms)

    def to_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def num_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads; the previous count is restored afterwards."""
    if n < 1:
        raise ConfigError(f"threads must be at least 1, got {n}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode for the block; every submodule's own training flag is restored afterwards."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, flag in flags:
            module.training = flag


@contextlib.contextmanager
def _quiet_gc() -> Iterator[None]:
    # A collection in the middle of a timed call is noise, not the model's cost.
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def clock_for(clock: str, threads: int):
    """The timer behind ``clock``: 'wall' (perf_counter) or 'cpu' (this thread's CPU time)."""
    if clock == "wall":
        return time.perf_counter
    if clock == "cpu":
        if threads != 1:
            raise ConfigError(f"clock='cpu' times one thread only; got threads={threads}")
        return time.thread_time
    raise ConfigError(f"unknown clock {clock!r}; use 'wall' or 'cpu'")


def measure_latency(
    fn: Callable,
    *args,
    threads: int = 1,
    warmup: int = 5,
    repeats: int = 20,
    min_time: float = 0.2,
    max_repeats: int = 10_000,
    clock: str = "wall",
) -> Latency:
    """Time ``fn(*args)``: ``warmup`` untimed calls, then at least ``repeats`` timed calls and
    at least ``min_time`` seconds of them (up to ``max_repeats``).

    ``clock="wall"`` is latency proper. ``clock="cpu"`` counts the calling thread's CPU time
    instead: with one thread it is the wall time minus the time other processes held the
    core, a steadier figure on a shared machine (only valid with ``threads=1``).
    """
    if repeats < 1 or warmup < 0:
        raise ConfigError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    now = clock_for(clock, threads)
    samples: list[float] = []
    with num_threads(threads), torch.inference_mode(), _quiet_gc():
        for _ in range(warmup):
            fn(*args)
        started = time.perf_counter()
        while len(samples) < max_repeats and (
            len(samples) < repeats or time.perf_counter() - started < min_time
        ):
            t0 = now()
            fn(*args)
            samples.append((now() - t0) * 1e3)
    p10, p25, p50, p75, p90 = np.percentile(samples, [10, 25, 50, 75, 90])
    return Latency(
        median_ms=float(p50),
        p10_ms=float(p10),
        p90_ms=float(p90),
        iqr_ms=float(p75 - p25),
        repeats=len(samples),
        threads=threads,
    )


def tracker_latency(
    family, model: nn.Module, *, threads: int = 1, warmup: int = 5, repeats: int = 20, min_time: float = 0.2, clock: str = "wall"
) -> Latency:
    """Latency of the per-frame path ``model.track(cache, x)`` on the family's example inputs.

    The template cache is computed once beforehand, as a tracker does at ``init``.
    ``clock="cpu"`` (one thread) is steadier on a shared machine, see :func:`measure_latency`.
    """
    z, x = family.example_inputs(model.arch)
    with evaluating(model), torch.inference_mode():
        cache = model.template(z)
        return measure_latency(model.track, cache, x, threads=threads, warmup=warmup, repeats=repeats, min_time=min_time, clock=clock)
