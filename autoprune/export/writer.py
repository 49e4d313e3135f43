"""Write an export: weights, record with hash, a model card, and optionally ONNX checked by onnxruntime."""
from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from autoprune.checkpoint import save_safetensors
from autoprune.cost.runtime import FramePath, frame_inputs, frame_output_names, write_frame_onnx
from autoprune.device import model_device
from autoprune.errors import ExportError
from autoprune.eval.uncertainty import span_text
from autoprune.export.loader import FILE_HASHES, FORMAT_VERSION, HASHED_FILES, RECORD_HASH, record_digest, sha256_file
from autoprune.redact import mask_secrets


# ONNX Runtime and PyTorch sum in different orders, so their float32 outputs differ by a few
# units in the last places of an output's largest values. A graph off by more than this share
# of an output's scale computes something else, and the export is refused.
ONNX_MAX_REL_DIFF = 1e-4


def relative_difference(got: np.ndarray, expected: np.ndarray) -> float:
    """max |got - expected| over the output's scale, its largest magnitude (floored so an
    all-zero output does not divide by zero)."""
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-12)
    return float(np.abs(got - expected).max(initial=0.0)) / scale


def _export_onnx(family, model, path: Path) -> dict:
    """Write the per-frame path as ONNX and check it in onnxruntime against PyTorch.

    Returns the manifest's ONNX entries: the largest absolute and relative (to each output's
    scale) difference and the names of the outputs (the keys of ``model.track``'s result, in
    order). Raises ExportError when an output differs by more than ``ONNX_MAX_REL_DIFF``.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError("--onnx needs onnx and onnxruntime: pip install 'autoprune[onnx]'") from None
    x, cache = frame_inputs(family, model)
    with torch.no_grad():
        expected = FramePath(model)(x, *cache)
    outputs = frame_output_names(model, x, cache)
    names = write_frame_onnx(family, model, path, inputs=(x, cache))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {n: t.numpy() for n, t in zip(names, (x, *cache))}
    got = session.run(None, feeds)
    relative = {name: relative_difference(a, b.numpy()) for name, a, b in zip(outputs, got, expected)}
    worst = max(relative, key=relative.get)
    if relative[worst] > ONNX_MAX_REL_DIFF:
        raise ExportError(f"the ONNX graph's {worst!r} differs from PyTorch by {relative[worst]:.1e} of its scale "
                          f"(at most {ONNX_MAX_REL_DIFF:g} allowed); export without --onnx")
    return {"onnx_max_abs_diff": max(float(np.abs(a - b.numpy()).max()) for a, b in zip(got, expected)),
            "onnx_max_rel_diff": relative[worst], "onnx_outputs": outputs}


def _card(manifest: dict) -> str:
    m = manifest
    lines = [
        f"# {m['arch']['family']} pruned tracker",
        "",
        # The search's parent note already reads "parent: ..."; say it once.
        f"- family: `{m['arch']['family']}`, parent: {str(m.get('parent') or 'unknown').removeprefix('parent: ')}",
        f"- budget: {m.get('budget', '-')}",
        f"- per-frame FLOPs (MACs): {m['cost']['frame_macs'] / 1e6:.2f} M; init (template) FLOPs: {m['cost']['init_macs'] / 1e6:.2f} M",
        f"- parameters: {m['cost']['params'] / 1e6:.3f} M",
    ]
    if m.get("device"):
        lines.append(f"- fine-tuned on: {m['device']}")
    if m.get("latency_ms") is not None:
        where = m.get("latency_on") or "torch, 1 thread"
        machine = f"; {m['latency_machine']}" if m.get("latency_machine") else ""
        lines.append(f"- per-frame latency ({where}{machine}): {m['latency_ms']:.2f} ms")
        if m.get("speed_factor") is not None and m.get("latency_raw_ms") is not None:
            lines.append(f"  (at the machine's typical speed over the search: timed {m['latency_raw_ms']:.2f} ms in turns "
                         f"with the parent, which ran at {1 / m['speed_factor']:.2f}x its typical time then)")
    if m.get("onnx_max_rel_diff") is not None:
        lines.append(f"- ONNX graph vs PyTorch: outputs differ by at most {m['onnx_max_rel_diff']:.1e} of their scale")
    metrics = m.get("metrics", {})
    for key, label in (("full_ao", "full-validation AO"), ("full_sr50", "SR0.50"), ("full_sr75", "SR0.75"), ("proxy_ao", "proxy AO")):
        if metrics.get(key) is not None:
            ci = metrics.get(f"{key}_ci")
            text = span_text(ci, digits=4)
            span = f" (95 % CI {text}, bootstrap over sequences)" if text != "-" else ""
            lines.append(f"- {label}: {metrics[key]:.4f}{span}")
    done = m.get("validation") or {}
    if done.get("sequences"):
        where = "ONNX Runtime" if done.get("runtime") == "onnx" else "PyTorch"
        lines.append(f"- full validation: {done['sequences']} val sequences tracked in {where}, after "
                     f"{done.get('steps', '-')} fine-tune steps")
    if m.get("command"):
        lines += ["", "Made with:", "", f"    {m['command']}", "", f"seed: {m.get('seed', '-')}"]
    lines += ["", "Load it with `autoprune.load(DIR)` (no pickle; arch.json, the weights and the ONNX graph checked against "
              "the SHA-256s in arch.json)."]
    return "\n".join(lines) + "\n"


def export_model(family, model, out: str | Path, *, info: dict | None = None, onnx: bool = False, force: bool = False) -> Path:
    """Write ``model`` to ``out`` atomically (a temp directory renamed into place)."""
    out = Path(out)
    if out.exists() and not force:
        raise ExportError(f"{out} exists; choose another --out or pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    if model_device(model) != "cpu":  # exports are traced and checked on the CPU, where they load back
        model = copy.deepcopy(model).cpu()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        save_safetensors(model.state_dict(), tmp / "model.safetensors", metadata=family.weights_metadata(model))
        manifest = {"format_version": FORMAT_VERSION, "arch": model.arch, "cost": family.analytic_cost(model.arch),
                    **(info or {}), "sha256": sha256_file(tmp / "model.safetensors")}
        if manifest.get("command"):  # a command line may hold a storage URL: never its password
            manifest["command"] = mask_secrets(manifest["command"])
        if onnx:
            manifest.update(_export_onnx(family, model, tmp / "model.onnx"))
        manifest[FILE_HASHES] = {name: sha256_file(tmp / name) for name in HASHED_FILES if (tmp / name).is_file()}
        manifest[RECORD_HASH] = record_digest(manifest)
        (tmp / "card.md").write_text(_card(manifest))
        (tmp / "arch.json").write_text(json.dumps(manifest, indent=2))
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; an export is as readable as any other output
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _replace_dir(new: Path, out: Path) -> None:
    """Put the finished directory ``new`` at ``out`` by renames only.

    The old export is renamed aside before it is deleted, so ``out`` is always either the
    whole old export, nothing, or the whole new one — never a half-deleted mix.
    """
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        out.rename(old / out.name)
    new.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
