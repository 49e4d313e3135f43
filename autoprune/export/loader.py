"""Load an export without the pruning library and without pickle; refuse a changed record, weights or graph.

Building and checking go through ``autoprune.loading`` (the one load path, which verifies
the SHA-256s ``arch.json`` records); this module adds the ONNX runtime and the ready tracker.
"""
from __future__ import annotations

from pathlib import Path

from autoprune.errors import ExportError
from autoprune.loading import (FILE_HASHES, FORMAT_VERSION, HASHED_FILES, RECORD_HASH, checked_manifest, load_export,
                               read_manifest, record_digest, sha256_file, verify_export)

__all__ = ["FILE_HASHES", "FORMAT_VERSION", "HASHED_FILES", "RECORD_HASH", "RUNTIMES", "checked_manifest", "load",
           "load_model", "read_manifest", "record_digest", "sha256_file", "verify_export"]

RUNTIMES = ("torch", "onnx")  # what runs the per-frame network of a loaded export


def load_model(directory: str | Path, *, runtime: str = "torch"):
    """(family, model) of an export, its record and files checked against the recorded SHA-256s."""
    if runtime not in RUNTIMES:
        raise ExportError(f"unknown runtime {runtime!r}; valid: {', '.join(RUNTIMES)}")
    manifest = checked_manifest(directory)
    family, model = load_export(directory, manifest)
    if runtime == "onnx":
        from autoprune.export.onnx_runtime import use_onnx_runtime

        use_onnx_runtime(model, Path(directory), manifest)
    return family, model


def load(directory: str | Path, *, hparams: str | None = None, runtime: str = "torch"):
    """A ready tracker (``init(image, box)`` / ``update(image)``) from an export directory.

    ``runtime="onnx"`` runs the per-frame network in ONNX Runtime (exports made with
    ``--onnx``); the weights are still hash-checked and the template path stays in PyTorch.
    """
    family, model = load_model(directory, runtime=runtime)
    return family.make_tracker(model, hparams or read_manifest(directory).get("hparams"))
