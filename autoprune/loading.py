"""One way back from saved weights to a ready model: exports, training outputs, our checkpoints.

Every load builds the network from its architecture record, loads the weights strictly (keys
and shapes 1:1), sets the model's training flags and puts it in eval mode. An export
(``arch.json`` + ``model.safetensors``) is refused unless its record and every file it hashes
match the SHA-256s it recorded; no pickle is read anywhere on this path.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import trackers
from autoprune.checkpoint import load_strict, read_metadata, read_state_dict
from autoprune.errors import CheckpointError, ExportError

FORMAT_VERSION = 2  # 2: arch.json hashes itself and every file that changes behaviour
RECORD_HASH = "record_sha256"  # SHA-256 of arch.json's own content, this field left out
FILE_HASHES = "file_sha256"  # file name -> SHA-256, for the weights and the ONNX graph
HASHED_FILES = ("model.safetensors", "model.onnx")
WEIGHTS_FILE = "model.safetensors"


def load(path: str | Path):
    """(family, model) of what ``autoprune train`` or ``export`` wrote: a directory or a .safetensors file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or directory")
    if path.is_dir() and (path / "arch.json").is_file():
        return load_export(path)
    weights = path / WEIGHTS_FILE if path.is_dir() else path
    if not weights.is_file():
        raise CheckpointError(f"{path}: no {WEIGHTS_FILE} here; pass a training output or export directory")
    meta = read_metadata(weights)
    if "arch" not in meta:
        raise CheckpointError(f"{weights}: carries no architecture record; pass --tracker and --preset with --checkpoint")
    return from_record(json.loads(meta["arch"]), weights, metadata=meta)


def load_export(directory: str | Path, manifest: dict | None = None):
    """(family, model) of an export, its record and files checked against the recorded SHA-256s
    (``manifest``: what :func:`checked_manifest` already returned for it)."""
    directory = Path(directory)
    manifest = manifest or checked_manifest(directory)
    weights = directory / WEIGHTS_FILE
    return from_record(manifest["arch"], weights, metadata=read_metadata(weights))


def from_record(arch: Mapping[str, Any], weights: str | Path, *, metadata: Mapping[str, str] | None = None,
                checkpoint: bool = False, trust_pickle: bool = False):
    """(family, model): ``arch`` built and ``weights`` loaded into it strictly, in eval mode.

    Saved models get back the training flags their ``metadata`` stored; a ``checkpoint``
    (``--checkpoint``) is loaded as trained weights, the family's flags set as for official ones.
    """
    family = trackers.get(arch.get("family", ""))
    model = family.build(family.validate_arch(arch))
    if checkpoint:
        family.load_checkpoint(model, str(weights), trust_pickle=trust_pickle)
    else:
        load_strict(model, read_state_dict(weights), source=str(weights))
        family.restore_flags(model, metadata or {})  # e.g. "from official weights": a fine-tune then treats it gently
    return family, model.eval()


# --- the integrity of an export ---------------------------------------------------------
def checked_manifest(directory: str | Path) -> dict:
    """An export's ``arch.json``, its record and every file it hashes verified."""
    manifest = read_manifest(directory)
    verify_export(Path(directory), manifest)
    return manifest


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
    if not isinstance(files, dict) or WEIGHTS_FILE not in files or not set(files) <= set(HASHED_FILES):
        raise ExportError(f"{where}: {FILE_HASHES} must list model.safetensors (and model.onnx with --onnx); re-export the model")
    for name, digest in files.items():
        path = directory / name
        if not path.is_file():
            raise ExportError(f"{directory}: {name} is missing; re-export the model (or copy the whole export folder again)")
        if sha256_file(path) != digest:
            raise ExportError(f"{path}: SHA-256 does not match arch.json; the file was changed or damaged — refusing to load (re-export the model, or copy the export folder again)")


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
