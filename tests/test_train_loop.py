"""The shared training loop: checkpoints in safetensors, resume equals an uninterrupted run."""
from __future__ import annotations

import json

import pytest
import torch

import trackers
from autoprune.data import builtin_root, open_split
from autoprune.data.pairs import pair_loader
from autoprune.train import train


class Interrupted(Exception):
    pass


def _run(out, steps, *, resume=False, stop_at=None):
    family = trackers.get("siamrpn")
    torch.manual_seed(0)
    model = family.create("tiny")
    batches = pair_loader(open_split(builtin_root(), "train"), family.crop_spec(model.arch), batch_size=2, seed=0)
    if resume:  # a new process: its loader starts over, so skip what the first run consumed
        for _ in range(json.loads((out / "progress.json").read_text())["steps"]):
            next(batches)

    def on_step(step, loss):
        if step == stop_at:
            raise Interrupted

    result = train(family, model, batches, steps=steps, out_dir=out, save_every=2, resume=resume, progress=False, on_step=on_step)
    return model, result


def test_resume_after_an_interruption_continues_exactly(tmp_path):
    torch.set_num_threads(1)
    full, full_result = _run(tmp_path / "full", 4)
    with pytest.raises(Interrupted):
        _run(tmp_path / "split", 4, stop_at=3)  # dies during step 3; the checkpoint of step 2 stays
    assert json.loads((tmp_path / "split" / "progress.json").read_text())["steps"] == 2
    resumed, resumed_result = _run(tmp_path / "split", 4, resume=True)
    assert resumed_result.steps == 4
    assert resumed_result.losses == pytest.approx(full_result.losses, rel=1e-5)
    for k, v in full.state_dict().items():
        assert torch.allclose(v.float(), resumed.state_dict()[k].float(), atol=1e-5), k


def test_snapshots_keep_the_weights_of_every_nth_step(tmp_path):
    from autoprune.checkpoint import read_state_dict
    from autoprune.train import train

    torch.set_num_threads(1)
    family = trackers.get("siamrpn")
    torch.manual_seed(0)
    model = family.create("tiny")
    batches = pair_loader(open_split(builtin_root(), "train"), family.crop_spec(model.arch), batch_size=2, seed=0)
    train(family, model, batches, steps=4, out_dir=tmp_path, snapshot_every=2, progress=False)
    snaps = sorted(p.name for p in (tmp_path / "snapshots").iterdir())
    assert snaps == ["step-000002.safetensors", "step-000004.safetensors"]
    last = read_state_dict(tmp_path / "snapshots" / "step-000004.safetensors")
    first = read_state_dict(tmp_path / "snapshots" / "step-000002.safetensors")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in last.items())  # the final weights
    assert any(not torch.equal(v, last[k]) for k, v in first.items())  # an earlier step, not a copy
