"""Run an export's per-frame path in ONNX Runtime instead of PyTorch.

ONNX Runtime fuses BatchNorm into convolutions and runs small convolutions and matmuls with
far less per-operator overhead than eager PyTorch on a CPU (3.5-4x faster per frame for a
50 M MAC SiamRPN++ child on one thread, see benchmarks/results/tracker_speed.md). The
template path stays in PyTorch: it runs once per sequence.
"""
from __future__ import annotations

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
