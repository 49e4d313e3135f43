"""Exports and checkpoints are written whole or not at all: a crash mid-write, or kill -9, never
leaves a half-written file or export that loads."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import trackers
from autoprune.checkpoint import atomic_write, read_state_dict, save_safetensors
from autoprune.export import export_model, load_model
from autoprune.export.loader import read_manifest


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    family = trackers.get("siamrpn")
    return family, family.create("tiny").eval()


def test_a_failing_export_leaves_the_previous_export_whole(tiny, tmp_path):
    family, model = tiny
    out = tmp_path / "best"
    export_model(family, model, out, info={"trial": 1})
    before = read_manifest(out)["sha256"]
    with pytest.raises(TypeError):  # raised while arch.json is written, after the weights
        export_model(family, model, out, force=True, info={"trial": object()})
    assert read_manifest(out)["sha256"] == before and read_manifest(out)["trial"] == 1
    load_model(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]  # no temp directory left behind


def test_a_failing_first_export_writes_nothing(tiny, tmp_path):
    family, model = tiny
    with pytest.raises(TypeError):
        export_model(family, model, tmp_path / "best", info={"trial": object()})
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_halfway_keeps_the_old_checkpoint(tmp_path):
    path = tmp_path / "model.safetensors"
    save_safetensors({"w": torch.ones(4)}, path)

    def half_then_disk_full(tmp):
        Path(tmp).write_bytes(path.read_bytes()[:20])
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomic_write(path, half_then_disk_full)
    assert torch.equal(read_state_dict(path)["w"], torch.ones(4))
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


WRITER = """
import sys, torch, trackers
from autoprune.checkpoint import save_safetensors
from autoprune.export import export_model
torch.set_num_threads(1)
family = trackers.get("siamrpn")
model = family.create("tiny").eval()
out, ckpt = sys.argv[1], sys.argv[2]
for i in range(10_000):
    with torch.no_grad():
        next(model.parameters()).fill_(float(i))
    export_model(family, model, out, force=True, info={"trial": i})
    save_safetensors({"big": torch.full((4_000_000,), float(i))}, ckpt)
    print(i, flush=True)
"""


def test_kill_9_during_repeated_writes_never_leaves_a_loadable_half(tmp_path):
    out, ckpt = tmp_path / "export", tmp_path / "ckpt.safetensors"
    log = tmp_path / "writer.log"
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(ckpt)], stdout=f, stderr=subprocess.STDOUT,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 120
        while len(log.read_text().split()) < 3:  # a few rounds written, then kill it wherever it is
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the writer made no progress"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # The export at its name is always a whole one (loads, hash checked), the old or the new;
    # killed between the two renames of a replacement, the name is empty and the old one is
    # whole in its hidden side directory.
    whole = out if out.exists() else next(tmp_path.glob(".export.old.*/export"))
    family, model = load_model(whole)
    assert float(next(model.parameters()).flatten()[0]) == float(read_manifest(whole)["trial"])
    assert {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")} <= {"export", "ckpt.safetensors", "writer.log"}
    big = read_state_dict(ckpt)["big"]
    assert big.shape == (4_000_000,) and bool((big == big[0]).all())
