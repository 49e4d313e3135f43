"""`python -m benchmarks gpu` (`make gpu-check`): does autoprune use a CUDA GPU end to end?

It trains a few steps of each family on CUDA (and, as a speed reference, the same steps on
the CPU), runs a 4-trial search with 2 workers on CUDA through the same functions the
`autoprune search` command calls, validates and exports its best child, loads the export on
the CPU, and tracks one built-in val sequence with that export on the CPU and on CUDA. It
exits non-zero on any failure; without CUDA it says so in one line and exits 0. Results go
to benchmarks/results/gpu.{md,json} only when it ran on a GPU.
"""
from __future__ import annotations

import contextlib
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

NO_CUDA = "no CUDA device here; the GPU check needs one"
TRAIN_STEPS = 6  # timed steps per family and device, after one warm-up step
BOX_TOLERANCE_PX = 1.0


def _timed_training(family, model, sequences, device: str, *, amp: str | None = None) -> float:
    """Seconds per step of ``TRAIN_STEPS`` steps on ``device`` (after a warm-up step: CUDA/cuDNN set-up is not speed)."""
    from autoprune.data.pairs import pair_loader
    from autoprune.device import loader_workers
    from autoprune.train import train

    batches = pair_loader(sequences, family.crop_spec(model.arch), batch_size=8, seed=0,
                          workers=loader_workers(device), pin_memory=device.startswith("cuda"))
    train(family, model, batches, steps=1, progress=False, device=device, amp=amp)
    _sync(device)
    start = time.perf_counter()
    train(family, model, batches, steps=TRAIN_STEPS, progress=False, device=device, amp=amp)
    _sync(device)
    return (time.perf_counter() - start) / TRAIN_STEPS


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def train_families(sequences) -> list[dict]:
    """A few training steps of every family on CUDA (plain and bf16) and on the CPU; loss finite, params on the GPU."""
    import trackers
    from autoprune.device import model_device

    rows = []
    for name in ("siamrpn", "ostrack", "stark"):
        family = trackers.get(name)
        torch.manual_seed(0)
        model = family.create(family.default_preset)
        cpu_model = copy.deepcopy(model)
        cuda_s = _timed_training(family, model, sequences, "cuda")
        if not model_device(model).startswith("cuda"):
            raise AssertionError(f"{name}: trained on {model_device(model)}, not on CUDA")
        amp_s = _timed_training(family, copy.deepcopy(model), sequences, "cuda", amp="bf16")
        with _cpu_threads():
            cpu_s = _timed_training(family, cpu_model, sequences, "cpu")
        rows.append({"check": f"train {name}/{family.default_preset}", "cpu s/step": cpu_s, "cuda s/step": cuda_s,
                     "cuda bf16 s/step": amp_s, "speed-up": cpu_s / cuda_s, "result": "ok"})
    return rows


@contextlib.contextmanager
def _cpu_threads():
    """The CPU reference uses every core (the harness sets one thread for latency benchmarks)."""
    import os

    before = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def search_on_cuda(work: Path) -> dict:
    """A 4-trial, 2-worker search on CUDA, validated and exported: the `autoprune search` path."""
    from autoprune.pipeline import search
    from autoprune.run.settings import SearchSettings
    from autoprune.run.study import finished, open_run

    settings = SearchSettings.from_options(tracker="siamrpn", preset="tiny", budget_kind="mflops", budget_value=25.0, trials=4, workers=2,
                                           proxy_steps=3, proxy_sequences=1, parent_steps=4, validate_steps=3, validate_max=1, device="cuda",
                                           runs_dir=str(work / "runs"), seed=0, command="python -m benchmarks gpu")
    start = time.perf_counter()
    summary = search(settings, progress=False)
    seconds = time.perf_counter() - start
    study = open_run(summary["run_dir"]).study
    if finished(study) < 4:
        raise AssertionError(f"search finished {finished(study)} of 4 trials")
    devices = sorted({str(t.user_attrs.get("device")) for t in study.trials if t.user_attrs.get("device")})
    if not devices or not all(d.startswith("cuda") for d in devices):
        raise AssertionError(f"trials ran on {devices}, not on CUDA")
    if not summary.get("export"):
        raise AssertionError("the search exported no child")
    return {"export": summary["export"], "seconds": seconds, "devices": devices,
            "run_json_device": json.loads((Path(summary["run_dir"]) / "run.json").read_text()).get("device_name")}


@contextlib.contextmanager
def _exact_float32():
    """TF32 off while boxes are compared: the check is about moves between devices, not reduced precision."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def track(tracker, sequence) -> np.ndarray:
    boxes = [np.asarray(sequence.boxes[0], dtype=np.float64)]
    tracker.init(sequence.image(0), boxes[0])
    for i in range(1, len(sequence)):
        boxes.append(np.asarray(tracker.update(sequence.image(i)), dtype=np.float64))
    return np.stack(boxes)


def export_boxes(export: str, sequence) -> dict:
    """The export loaded on the CPU (as `autoprune.load` does), then the same weights on CUDA: box difference."""
    from autoprune.device import model_device
    from autoprune.export import load
    from autoprune.export.loader import load_model

    cpu_tracker = load(export)
    if model_device(cpu_tracker.model) != "cpu":
        raise AssertionError(f"the export loaded on {model_device(cpu_tracker.model)}, not on the CPU")
    family, model = load_model(export)
    cuda_tracker = family.make_tracker(model.to("cuda"))
    with _exact_float32():
        on_cpu, on_cuda = track(cpu_tracker, sequence), track(cuda_tracker, sequence)
    diff = float(np.abs(on_cpu - on_cuda).max())
    return {"frames": len(sequence), "max box diff px": diff, "ok": diff <= BOX_TOLERANCE_PX}


def gpu_check(out_dir: Path) -> int:
    if not torch.cuda.is_available():
        print(NO_CUDA, file=sys.stderr)  # a note, not a result: nothing was measured
        return 0
    from benchmarks._harness import machine, markdown

    from autoprune.data import builtin_root, open_split
    from autoprune.device import describe

    started = time.perf_counter()
    rows, notes, failed = [], [], []
    root = builtin_root()
    train_split, val_split = open_split(root, "train"), open_split(root, "val")
    try:
        rows += train_families(train_split[:24])
    except Exception as exc:  # reported, and the check goes on to the search
        failed.append(f"training: {type(exc).__name__}: {exc}")
    with tempfile.TemporaryDirectory(prefix="autoprune-gpu-check-") as work:
        try:
            found = search_on_cuda(Path(work))
            rows.append({"check": "search 4 trials / 2 workers, validate, export", "cuda s/step": None,
                         "result": f"ok in {found['seconds']:.0f} s on {', '.join(found['devices'])}"})
            boxes = export_boxes(found["export"], val_split[0])
            rows.append({"check": f"export on CPU vs CUDA, {val_split[0].name} ({boxes['frames']} frames)",
                         "result": f"max box diff {boxes['max box diff px']:.4f} px" + ("" if boxes["ok"] else " — too large")})
            if not boxes["ok"]:
                failed.append(f"boxes differ by {boxes['max box diff px']:.3f} px (> {BOX_TOLERANCE_PX} px) between CPU and CUDA")
            notes.append(f"run.json records the device as {found['run_json_device']}")
        except Exception as exc:
            failed.append(f"search/export: {type(exc).__name__}: {exc}")
    notes += [f"{TRAIN_STEPS} timed training steps (batch 8) per family and device after one warm-up step; the CPU "
              "reference uses every core.", "Boxes are compared with TF32 off (exact float32 on the GPU)."]
    result = {"title": f"GPU check on {describe('cuda:0')}", "rows": rows, "notes": notes + [f"FAILED: {f}" for f in failed],
              "columns": ["check", "cpu s/step", "cuda s/step", "cuda bf16 s/step", "speed-up", "result"],
              "goals": [{"text": "every step ran on CUDA and agrees with the CPU", "measured": "; ".join(failed) or "all passed",
                         "met": not failed}],
              "seconds": time.perf_counter() - started, "quick": False, "machine": {**machine(), "gpu": describe("cuda:0")},
              "command": "python -m benchmarks gpu"}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "gpu.json").write_text(json.dumps(result, indent=2, default=str))
    (out_dir / "gpu.md").write_text(markdown("gpu", result))
    print(markdown("gpu", result))
    return 1 if failed else 0
