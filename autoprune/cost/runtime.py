"""The per-frame path on a deployment runtime: eager PyTorch or ONNX Runtime, timed the same way.

A latency budget is only worth what the runtime it was measured on: ONNX Runtime fuses
BatchNorm into convolutions and runs small layers with far less per-op overhead, so the
same child is several times faster there than in eager PyTorch. Every latency autoprune
records names its runtime and thread count.

>>> import trackers                                                     # doctest: +SKIP
>>> family = trackers.get("siamrpn"); model = family.create("small")    # doctest: +SKIP
>>> frame_latency(family, model, runtime="onnx").median_ms              # doctest: +SKIP
"""
from __future__ import annotations

import platform
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from autoprune.cost.latency import Latency, evaluating, measure_latency
from autoprune.errors import ConfigError

__all__ = ["RUNTIMES", "FramePath", "check_runtime", "frame_call", "frame_latency", "frame_output_names", "machine_name", "onnx_frame_session",
           "write_frame_onnx"]

RUNTIMES = ("torch", "onnx")


def machine_name() -> str:
    """The CPU latency was measured on (its model name where the OS tells it), for records and cards."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return "cpu (" + line.split(":", 1)[1].strip() + ")"
    except OSError:
        pass
    return f"cpu ({platform.processor() or platform.machine()})"


def check_runtime(runtime: str) -> str:
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime {runtime!r}; use one of: {', '.join(RUNTIMES)}")
    if runtime == "onnx":
        try:
            import onnx  # noqa: F401  (torch.onnx.export writes through it)
            import onnxruntime  # noqa: F401
        except ImportError:
            raise ConfigError("--runtime onnx needs onnx and onnxruntime: pip install 'autoprune[onnx]'") from None
    return runtime


class FramePath(torch.nn.Module):
    """The per-frame path as a plain module, the template cache given as inputs (for ONNX)."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, x, *cache):
        out = self.model.track(tuple(cache), x)
        return tuple(v for v in out.values() if torch.is_tensor(v))


def frame_output_names(model, x: torch.Tensor, cache: tuple) -> list[str]:
    """The names of the per-frame path's tensor outputs, in the order :class:`FramePath` returns them."""
    with torch.no_grad():
        return [k for k, v in model.track(cache, x).items() if torch.is_tensor(v)]


def frame_inputs(family, model) -> tuple[torch.Tensor, tuple]:
    """The family's example search crop and the template cache ``model.template`` makes of its template."""
    z, x = family.example_inputs(model.arch)
    with torch.no_grad():
        cache = tuple(model.template(z))
    return x, cache


def write_frame_onnx(family, model, path: str | Path, *, inputs: tuple | None = None) -> list[str]:
    """Write ``model``'s per-frame path to ``path`` (opset 17, traced in eval mode); returns the graph's input names.

    ``model`` keeps its modes: each submodule's training flag is the same afterwards.

    ``inputs``: the ``(search crop, template cache)`` to trace with (default :func:`frame_inputs`).
    """
    x, cache = inputs if inputs is not None else frame_inputs(family, model)
    names = ["search"] + [f"cache{i}" for i in range(len(cache))]
    # The exporter traces in eval mode and afterwards calls train() with the wrapper's own flag,
    # which would switch every submodule of ``model`` to training (BatchNorm then normalises
    # with batch statistics): each module's flag is put back instead.
    with warnings.catch_warnings(), evaluating(model):
        warnings.simplefilter("ignore")
        torch.onnx.export(FramePath(model), (x, *cache), str(path), input_names=names, dynamo=False, opset_version=17)
    return names


def onnx_frame_session(path: str | Path, *, threads: int = 1, profile_prefix: str | None = None):
    """An ONNX Runtime CPU session on ``path``: ``threads`` intra-op threads, ops run one after another.

    ``profile_prefix``: turn on ONNX Runtime's per-operator profiler, writing under that prefix.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # warnings about unused initializers are not the user's concern
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _onnx_call(family, model, threads: int, onnx_path: str | Path | None) -> Callable[[], object]:
    x, cache = frame_inputs(family, model)
    if onnx_path is None:
        with tempfile.TemporaryDirectory(prefix="autoprune-onnx-") as tmp:
            path = Path(tmp) / "frame.onnx"
            write_frame_onnx(family, model, path, inputs=(x, cache))
            session = onnx_frame_session(path, threads=threads)  # the session holds the graph; the file can go
    else:
        session = onnx_frame_session(onnx_path, threads=threads)
    names = [i.name for i in session.get_inputs()]
    feeds = {n: np.ascontiguousarray(t.detach().cpu().numpy()) for n, t in zip(names, (x, *cache))}
    return lambda: session.run(None, feeds)


def default_clock(threads: int) -> str:
    # One thread: count this thread's CPU time, which other processes on a shared machine
    # cannot inflate (ONNX Runtime with one intra-op thread computes on the calling thread).
    return "cpu" if threads == 1 else "wall"


def frame_call(family, model, *, runtime: str = "torch", threads: int = 1,
               onnx_path: str | Path | None = None) -> Callable[[], object]:
    """One tracked frame of ``model`` on ``runtime`` as a call without arguments, built once.

    The template cache is computed beforehand, as a tracker does at ``init``. For
    ``runtime="onnx"`` the per-frame path is exported to a temporary graph unless
    ``onnx_path`` names one (an export's ``model.onnx``); the session keeps the graph.
    Call it inside :func:`autoprune.cost.latency.evaluating` for a torch model that trains.
    """
    check_runtime(runtime)
    with evaluating(model):
        if runtime == "onnx":  # traced for export outside inference mode, which tracing refuses
            return _onnx_call(family, model, threads, onnx_path)
        x, cache = frame_inputs(family, model)
    return lambda: model.track(cache, x)


def frame_latency(family, model, *, runtime: str = "torch", threads: int = 1, warmup: int = 5, repeats: int = 15,
                  min_time: float = 0.2, clock: str | None = None, onnx_path: str | Path | None = None) -> Latency:
    """Latency of one tracked frame (search crop in, head outputs out) on ``runtime``.

    The template cache is computed once beforehand, as a tracker does at ``init``. For
    ``runtime="onnx"`` the per-frame path is exported to a temporary graph unless
    ``onnx_path`` names one (an export's ``model.onnx``).
    """
    call = frame_call(family, model, runtime=runtime, threads=threads, onnx_path=onnx_path)
    with evaluating(model):
        return measure_latency(call, threads=threads, warmup=warmup, repeats=repeats, min_time=min_time,
                               clock=clock or default_clock(threads))
