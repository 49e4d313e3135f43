"""Run an export's per-frame path in ONNX Runtime instead of PyTorch.

ONNX Runtime fuses BatchNorm into convolutions and runs small convolutions and matmuls with
far less per-operator overhead than eager PyTorch on a CPU (3.5-4x faster per frame for a
50 M MAC SiamRPN++ child on one thread, see benchmarks/results/tracker_speed.md). The
template path stays in PyTorch: it runs once per sequence.
"""
from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from autoprune.errors import ExportError


class OnnxFramePath:
    """A drop-in for ``model.track(cache, x)`` backed by an ONNX Runtime session."""

    def __init__(self, model, path: Path, output_names: list[str], *, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ExportError("--runtime onnx needs onnxruntime: pip install 'autoprune[onnx]'") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = output_names
        self.torch_track = model.track  # for calls the exported graph does not cover
        self.fallbacks = 0

    def __call__(self, cache, x: torch.Tensor, *extra):
        if any(e is not None for e in extra):  # e.g. STARK's padding mask: not part of the exported graph
            self.fallbacks += 1
            return self.torch_track(cache, x, *extra)
        feeds = {name: t.detach().cpu().numpy() for name, t in zip(self.input_names, (x, *cache))}
        outputs = self.session.run(None, feeds)
        return {name: torch.from_numpy(np.asarray(value)) for name, value in zip(self.output_names, outputs)}


def use_onnx_runtime(model, directory: str | Path, manifest: dict) -> None:
    """Make ``model.track`` run the export's ``model.onnx`` (in place)."""
    path = Path(directory) / "model.onnx"
    if not path.is_file():
        raise ExportError(f"{directory}: no model.onnx; re-export with `autoprune export RUN --onnx` to use --runtime onnx")
    names = manifest.get("onnx_outputs")
    if not names:
        raise ExportError(f"{directory}: arch.json does not name the ONNX outputs; re-export with --onnx")
    # An instance attribute shadows the class method: trackers keep calling model.track(...).
    model.__dict__["track"] = OnnxFramePath(model, path, names)


@contextlib.contextmanager
def tracking_on(runtime: str, family, model, *, threads: int | None = None) -> Iterator[None]:
    """Inside the block, ``model.track`` runs on ``runtime``: "torch" changes nothing; "onnx"
    exports the per-frame path to a temporary graph and runs it in ONNX Runtime (CPU only) on
    ``threads`` intra-op threads (default: torch's thread count).

    Full validation of a small child is mostly per-operator overhead, which ONNX Runtime cuts:
    per tracked frame, decoding and cropping included, 1.8-2.5x less time than eager PyTorch on
    one thread. Scores differ from PyTorch's only as far as float rounding moves a tracker.
    """
    from autoprune.cost.latency import evaluating
    from autoprune.cost.runtime import check_runtime, frame_inputs, frame_output_names, write_frame_onnx
    from autoprune.device import model_device
    from autoprune.errors import ConfigError

    check_runtime(runtime)
    if runtime == "torch":
        yield
        return
    if model_device(model) != "cpu":
        raise ConfigError(f"tracking in ONNX Runtime runs on the CPU; the model is on {model_device(model)}: "
                          "use --device cpu or the torch runtime")
    with tempfile.TemporaryDirectory(prefix="autoprune-track-") as tmp, evaluating(model):
        path = Path(tmp) / "frame.onnx"
        x, cache = frame_inputs(family, model)
        names = frame_output_names(model, x, cache)
        write_frame_onnx(family, model, path, inputs=(x, cache))
        model.__dict__["track"] = OnnxFramePath(model, path, names, threads=threads)
    try:
        yield
    finally:
        model.__dict__.pop("track", None)
