"""Load an export without the pruning library and without pickle; refuse a changed record, weights or graph."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import trackers
from autoprune.checkpoint import load_strict, read_metadata, read_state_dict
from autoprune.errors import ExportError

FORMAT_VERSION = 2  # 2: arch.json hashes itself and every file that changes behaviour
RECORD_HASH = "record_sha256"  # SHA-256 of arch.json's own content, this field left out
FILE_HASHES = "file_sha256"  # file name -> SHA-256, for the weights and the ONNX graph
HASHED_FILES = ("model.safetensors", "model.onnx")
RUNTIMES = ("torch", "onnx")  # what runs the per-frame network of a loaded export


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def record_digest(manifest: dict) -> str:
    """SHA-256 of a manifest's content (keys sorted, compact), its own hash field left out."""
    body = {k: v for k, v in manifest.items() if k != RECORD_HASH}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def verify_export(directory: Path, manifest: dict) -> None:
    """Refuse, in one line, an export whose record or any hashed file is not what was written."""
    where = directory / "arch.json"
    if manifest.get(RECORD_HASH) != record_digest(manifest):
        raise ExportError(f"{where}: SHA-256 of the record does not match its {RECORD_HASH}; arch.json was edited or "
                          "damaged — refusing to load (re-export the model)")
    files = manifest.get(FILE_HASHES)
    if not isinstance(files, dict) or "model.safetensors" not in files or not set(files) <= set(HASHED_FILES):
        raise ExportError(f"{where}: {FILE_HASHES} must list model.safetensors (and model.onnx with --onnx); re-export the model")
    for name, digest in files.items():
        path = directory / name
        if not path.is_file():
            raise ExportError(f"{directory}: {name} is missing")
        if sha256_file(path) != digest:
            raise ExportError(f"{path}: SHA-256 does not match arch.json; the file was changed or damaged — refusing to load")


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
    if version < FORMAT_VERSION:
        raise ExportError(f"{manifest}: format version {version} does not hash the record or the ONNX graph; "
                          "re-export the model with this autoprune")
    return data


def load_model(directory: str | Path, *, runtime: str = "torch"):
    """(family, model) of an export, its record and files checked against the recorded SHA-256s."""
    if runtime not in RUNTIMES:
        raise ExportError(f"unknown runtime {runtime!r}; valid: {', '.join(RUNTIMES)}")
    directory = Path(directory)
    manifest = read_manifest(directory)
    verify_export(directory, manifest)
    weights = directory / "model.safetensors"
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
