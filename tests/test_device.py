"""--device end to end: model, batch, crops, template cache, a training step, tracking, export reload.

The moves run on the CPU always and on CUDA where there is one; the CLI's device errors are
one line and exit status 2.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import trackers
from autoprune.cli import main
from autoprune.data import builtin_root, open_split
from autoprune.device import check_amp, resolve_device, same_device, to_device, worker_device
from autoprune.errors import ConfigError
from autoprune.export import export_model
from autoprune.export.loader import load_model
from autoprune.train import train
from tests.conftest import builtin_train_pairs
from trackers.base import crop_tensor

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))]
FAMILIES = [("siamrpn", "tiny"), ("ostrack", "tiny"), ("stark", "tiny")]


def _on(tensors, device: str) -> bool:
    return all(same_device(str(t.device), device) for t in tensors)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,preset", FAMILIES)
def test_model_batch_crops_cache_training_tracking_and_export_follow_the_device(name, preset, device, tmp_path):
    family = trackers.get(name)
    torch.manual_seed(0)
    model = family.create(preset)
    batches = builtin_train_pairs(family, preset, batch_size=2, pin_memory=device == "cuda")
    batch = to_device(next(batches), device)
    assert _on([v for v in batch.values() if torch.is_tensor(v)], device)

    result = train(family, model, batches, steps=1, progress=False, device=device)
    assert np.isfinite(result.losses[0]) and _on(model.parameters(), device)

    sequence = open_split(builtin_root(), "val")[0]
    frame = sequence.image(0)
    assert _on([crop_tensor(frame, (40.0, 40.0), 64.0, 32, pad="zero", device=device)], device)
    tracker = family.make_tracker(model)
    tracker.init(frame, sequence.boxes[0])
    cache = tracker.cache if isinstance(tracker.cache, (tuple, list)) else (tracker.cache,)
    assert _on([c for c in cache if torch.is_tensor(c)], device)  # the template work stays where the model is
    boxes = np.stack([tracker.update(sequence.image(i)) for i in range(1, 4)])
    assert np.isfinite(boxes).all()

    out = export_model(family, model, tmp_path / "export")
    assert _on(model.parameters(), device)  # the export traced a CPU copy, not the model itself
    _, reloaded = load_model(out)
    assert _on(reloaded.parameters(), "cpu")
    back = family.make_tracker(reloaded)
    back.init(frame, sequence.boxes[0])
    again = np.stack([back.update(sequence.image(i)) for i in range(1, 4)])
    tolerance = 1e-4 if device == "cpu" else 1.0  # pixels; another device's kernels round differently
    assert np.abs(again - boxes).max() <= tolerance


def test_auto_is_the_cpu_without_cuda_and_values_are_checked():
    if not torch.cuda.is_available():
        assert resolve_device("auto") == "cpu" and resolve_device(None) == "cpu"
        with pytest.raises(ConfigError, match="no CUDA device here"):
            resolve_device("cuda")
    assert resolve_device("CPU") == "cpu" and worker_device("cpu", 3) == "cpu" and worker_device("cuda:1", 3) == "cuda:1"
    for bad in ("gpu", "cpu:0", "cuda:x", ""):
        if bad:
            with pytest.raises(ConfigError, match="expected cpu, cuda, cuda:N or auto"):
                resolve_device(bad)
    with pytest.raises(ConfigError, match="needs a CUDA device"):
        check_amp("bf16", "cpu")
    assert check_amp(None, "cpu") is None


@pytest.mark.parametrize("argv", [
    ["train", "--steps", "1", "--device", "cuda:7"],
    ["evaluate", "--baseline", "static", "--device", "cuda:7"],
    ["validate", "no-such-run", "--device", "cuda:7"],
    ["prune", "--keep", "0.5", "--out", "unused", "--device", "cuda:7"],
    ["search", "--budget-mflops", "10", "--device", "cuda:7"],
])
def test_a_missing_cuda_device_is_one_line_and_status_2(argv, capsys, tmp_path, monkeypatch):
    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr()
    lines = [line for line in (err.out + err.err).splitlines() if line.strip()]
    assert lines[-1].startswith("error: --device cuda:7") and "CUDA device" in lines[-1]
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU-only answer")
def test_amp_on_the_cpu_is_refused_in_one_line(capsys):
    assert main(["train", "--steps", "1", "--amp"]) == 2
    assert "--amp bf16 needs a CUDA device" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU-only answer")
def test_gpu_check_without_cuda_says_so_and_exits_0(tmp_path):
    done = subprocess.run([sys.executable, "-m", "benchmarks", "gpu", "--out", str(tmp_path / "results")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "no CUDA device here; the GPU check needs one" and not done.stdout.strip()
    assert not (tmp_path / "results").exists()  # results are written only when it ran on a GPU
