"""Load an export without the pruning library and without pickle; refuse tampered weights."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import trackers
from autoprune.checkpoint import load_strict, read_metadata, read_state_dict
from autoprune.errors import ExportError

FORMAT_VERSION = 1
RUNTIMES = ("torch", "onnx")  # what runs the per-frame network of a loaded export


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: str | Path) -> dict:
    directory = Path(directory)
    manifest = directory / "arch.json"
    if not manifest.is_file():
        raise ExportError(f"{directory}: no arch.json; pass a directory written by `autoprune export`")
    try:
        data = json.loads(manifest.read_text())
    except json.JSONDecodeError as exc:
        raise ExportError(f"{manifest}: not valid JSON (line {exc.lineno}); re-export the model") from None
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ExportError(f"{manifest}: format version {version!r} is newer than this autoprune reads ({FORMAT_VERSION}); upgrade autoprune")
    return data


def load_model(directory: str | Path, *, runtime: str = "torch"):
    """(family, model) of an export, weights checked against the recorded SHA-256."""
    if runtime not in RUNTIMES:
        raise ExportError(f"unknown runtime {runtime!r}; valid: {', '.join(RUNTIMES)}")
    directory = Path(directory)
    manifest = read_manifest(directory)
    weights = directory / "model.safetensors"
    if not weights.is_file():
        raise ExportError(f"{directory}: model.safetensors is missing")
    if sha256_file(weights) != manifest.get("sha256"):
        raise ExportError(f"{weights}: SHA-256 does not match arch.json; the weights were changed or damaged — refusing to load")
    family = trackers.get(manifest["arch"]["family"])
    model = family.build(family.validate_arch(manifest["arch"]))
    load_strict(model, read_state_dict(weights), source=str(weights))
    family.restore_flags(model, read_metadata(weights))
    model.eval()
    if runtime == "onnx":
        from autoprune.export.onnx_runtime import use_onnx_runtime

        use_onnx_runtime(model, directory, manifest)
    return family, model


def load(directory: str | Path, *, hparams: str | None = None, runtime: str = "torch"):
    """A ready tracker (``init(image, box)`` / ``update(image)``) from an export directory.

    ``runtime="onnx"`` runs the per-frame network in ONNX Runtime (exports made with
    ``--onnx``); the weights are still hash-checked and the template path stays in PyTorch.
    """
    family, model = load_model(directory, runtime=runtime)
    return family.make_tracker(model, hparams or read_manifest(directory).get("hparams"))
