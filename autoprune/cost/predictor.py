"""Predict a model's latency from a lookup table of per-op timings.

Works for any model and inputs: one traced call records every op that runs (aten op,
argument shapes, strides and options) and which module ran it; each distinct op is timed
once on its own, with its real arguments, and kept in a JSON table in a cache directory
(one file per machine, torch version and thread count). A prediction is a linear function
of the summed op times, the op count and the module-call count; its coefficients default
to (1, 0, 0) and are fitted by :meth:`LatencyPredictor.fit` to models measured whole,
which absorbs the Python overhead that per-op timings do not see. Op times and targets
are the undisturbed ones (fastest batches), which keeps the table stable on a shared machine.

>>> predictor = LatencyPredictor(cache_dir="/tmp/lut")              # doctest: +SKIP
>>> predictor.fit([(small_net, (x,)), (wide_net, (x,))])           # doctest: +SKIP
>>> predictor.predict(pruned_net, x)                               # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autoprune.checkpoint import atomic_write
from autoprune.cost.latency import clock_for, measure_latency, num_threads
from autoprune.cost.macs import DispatchTap, ModuleStack, root_module
from autoprune.errors import ConfigError

__all__ = ["LatencyPredictor", "OpProfile", "default_cache_dir", "mape", "trace_ops"]

FEATURES = ("op_ms", "ops", "module_calls")


def default_cache_dir() -> Path:
    """``$AUTOPRUNE_CACHE`` or ``$XDG_CACHE_HOME/autoprune`` (``~/.cache/autoprune``)."""
    if os.environ.get("AUTOPRUNE_CACHE"):
        return Path(os.environ["AUTOPRUNE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "autoprune"


# --- tracing --------------------------------------------------------------------------
def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        layout = "c" if value.is_contiguous() else str(tuple(value.stride()))
        device = "" if value.device.type == "cpu" else f"@{value.device}"
        return f"T{tuple(value.shape)}{str(value.dtype)[6:]}{layout}{device}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_describe(v) for v in value) + "]"
    return repr(value)


def op_key(func, args: tuple, kwargs: dict) -> str:
    """What decides an op's cost: the op and its arguments' shapes, dtypes, strides and options."""
    parts = [_describe(a) for a in args] + [f"{k}={_describe(v)}" for k, v in sorted(kwargs.items())]
    return f"{func}({', '.join(parts)})"


def _detach_written(func, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    # Replaying an in-place op on the model's own tensors would change them: copy those.
    args, kwargs = list(args), dict(kwargs)
    for i, spec in enumerate(func._schema.arguments):
        if spec.alias_info is None or not spec.alias_info.is_write:
            continue
        if spec.kwarg_only or i >= len(args):
            if isinstance(kwargs.get(spec.name), torch.Tensor):
                kwargs[spec.name] = kwargs[spec.name].clone()
        elif isinstance(args[i], torch.Tensor):
            args[i] = args[i].clone()
    return tuple(args), kwargs


@dataclass
class OpTrace:
    """The ops one call ran, in order, with the module running each; one argument sample per key."""

    calls: list[tuple[str, str]] = field(default_factory=list)  # (op key, module path)
    samples: dict[str, tuple[Any, tuple, dict]] = field(default_factory=dict)
    module_calls: int = 0


def trace_ops(fn: Callable, *args) -> OpTrace:
    """Run ``fn(*args)`` once under ``torch.inference_mode`` and record every op that ran."""
    trace = OpTrace()
    stack = ModuleStack(root_module(fn))

    def on_op(func, op_args, op_kwargs):
        key = op_key(func, op_args, op_kwargs)
        if key not in trace.samples:
            trace.samples[key] = (func, *_detach_written(func, op_args, op_kwargs))
        trace.calls.append((key, stack.current))
        return func(*op_args, **op_kwargs)

    with torch.inference_mode(), stack, DispatchTap(on_op, decompose=False):
        fn(*args)
    trace.module_calls = stack.calls
    return trace


def time_op(func, args: tuple, kwargs: dict, *, now=time.perf_counter, batch_s: float = 1e-3, batches: int = 5) -> float:
    """Milliseconds of one op call: the fastest of a few batches long enough for the clock
    (on a shared machine the minimum is the least disturbed estimate of the op's own cost)."""
    func(*args, **kwargs)  # first call may allocate caches or pick an algorithm
    t0 = now()
    func(*args, **kwargs)
    once = now() - t0
    inner = max(1, min(1000, int(batch_s / max(once, 1e-7))))
    times = []
    for _ in range(batches):
        t0 = now()
        for _ in range(inner):
            func(*args, **kwargs)
        times.append((now() - t0) / inner)
    return min(times) * 1e3


# --- prediction -----------------------------------------------------------------------
@dataclass(frozen=True)
class OpProfile:
    """One traced call priced with the table: features for the linear model and per-module time."""

    op_ms: float
    ops: int
    module_calls: int
    by_module: dict[str, float]  # summed op milliseconds per module path

    def features(self) -> list[float]:
        return [self.op_ms, float(self.ops), float(self.module_calls)]


def mape(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """Mean absolute percentage error, in percent."""
    pairs = list(zip(predicted, measured, strict=True))
    return 100.0 * sum(abs(p - m) / m for p, m in pairs) / len(pairs)


class LatencyPredictor:
    """Per-frame latency from a cached per-op timing table plus a fitted linear correction.

    Predicts the undisturbed latency: with one thread, the thread's CPU time per call
    (wall time without the moments other processes held the core); otherwise wall time.
    """

    def __init__(self, *, threads: int = 1, cache_dir: str | os.PathLike | None = None):
        self.threads = threads
        # One thread: time by its CPU time, blind to other processes taking the core.
        self.clock = "cpu" if threads == 1 else "wall"
        self._now = clock_for(self.clock, threads)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.machine = {
            "host": platform.node(),
            "cpu": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "threads": threads,
            "clock": self.clock,
        }
        digest = hashlib.sha1(json.dumps(self.machine, sort_keys=True).encode()).hexdigest()[:12]
        self.path = self.cache_dir / f"op-latency-{digest}.json"
        self.table: dict[str, float] = {}
        self.coef = [1.0, 0.0, 0.0]  # per FEATURES
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text())
            self.table = {str(k): float(v) for k, v in data["ops"].items()}
            self.coef = [float(c) for c in data.get("coef", self.coef)]
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise ConfigError(f"latency table {self.path} is unreadable ({err}); delete it to re-measure") from err

    def save(self) -> None:
        """Write the table; ops another process timed meanwhile are kept."""
        if self.path.exists():
            try:
                theirs = json.loads(self.path.read_text()).get("ops", {})
                self.table = {**theirs, **self.table}
            except (ValueError, AttributeError):
                pass  # an unreadable file is simply replaced
        data = {"machine": self.machine, "features": FEATURES, "coef": self.coef, "ops": self.table}
        atomic_write(self.path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=1, sort_keys=True)))

    def profile(self, fn: Callable, *args) -> OpProfile:
        """Trace ``fn(*args)``, time any op not yet in the table (then save it), price the call."""
        with num_threads(self.threads):
            trace = trace_ops(fn, *args)
            missing = [key for key in trace.samples if key not in self.table]
            with torch.inference_mode():
                for key in missing:
                    func, op_args, op_kwargs = trace.samples[key]
                    self.table[key] = time_op(func, op_args, op_kwargs, now=self._now)
        if missing:
            self.save()
        by_module: dict[str, float] = defaultdict(float)
        for key, module in trace.calls:
            by_module[module] += self.table[key]
        return OpProfile(
            op_ms=sum(by_module.values()),
            ops=len(trace.calls),
            module_calls=trace.module_calls,
            by_module=dict(by_module),
        )

    def predict_profile(self, profile: OpProfile) -> float:
        return float(np.dot(self.coef, profile.features()))

    def predict(self, fn: Callable, *args) -> float:
        """Predicted milliseconds of one call ``fn(*args)``."""
        return self.predict_profile(self.profile(fn, *args))

    def measure(self, cases: Sequence[tuple[Callable, tuple]], *, rounds: int = 3, **timing) -> list[float]:
        """Undisturbed milliseconds of each ``(fn, args)`` case with this predictor's threads
        and clock (thread CPU time with one thread, wall time otherwise).

        Load from other processes only ever adds time, so the target is the fastest round's
        10th percentile (within a few % of the median on a quiet machine); cases are timed in
        interleaved rounds so a burst of load does not land on one case only.
        """
        timing = {"repeats": 10, "min_time": 0.1, "clock": self.clock, **timing}
        lows: list[list[float]] = [[] for _ in cases]
        for _ in range(rounds):
            for i, (fn, args) in enumerate(cases):
                lows[i].append(measure_latency(fn, *args, threads=self.threads, **timing).p10_ms)
        return [min(low) for low in lows]

    def fit(self, cases: Sequence[tuple[Callable, tuple]], *, measured: Sequence[float] | None = None, **timing) -> list[float]:
        """Fit the linear correction to whole-model timings of ``cases`` (measured if not given).

        Non-negative least squares on relative error (each case weighs the same whatever
        its size); with fewer than 3 cases only the scale of the op times is fitted.
        """
        if not cases:
            raise ConfigError("fit needs at least one (fn, args) case")
        measured = list(measured) if measured is not None else self.measure(cases, **timing)
        x = np.array([self.profile(fn, *args).features() for fn, args in cases])
        y = np.array(measured)
        columns = [0, 1, 2] if len(cases) >= 3 else [0]
        coef = _nonnegative_lstsq(x[:, columns] / y[:, None], np.ones_like(y))
        self.coef = [0.0, 0.0, 0.0]
        for c, value in zip(columns, coef):
            self.coef[c] = float(value)
        self.save()
        return self.coef

    def evaluate(self, cases: Sequence[tuple[Callable, tuple]], *, measured: Sequence[float] | None = None, **timing) -> tuple[float, list[float], list[float]]:
        """(MAPE in %, predictions, measurements) on held-out ``cases``."""
        measured = list(measured) if measured is not None else self.measure(cases, **timing)
        predicted = [self.predict(fn, *args) for fn, args in cases]
        return mape(predicted, measured), predicted, measured


def _nonnegative_lstsq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # Drop the most negative coefficient until none is left; enough for three features.
    active = list(range(a.shape[1]))
    while active:
        sol, *_ = np.linalg.lstsq(a[:, active], b, rcond=None)
        if (sol >= 0).all():
            out = np.zeros(a.shape[1])
            out[active] = sol
            return out
        active.pop(int(np.argmin(sol)))
    return np.zeros(a.shape[1])
