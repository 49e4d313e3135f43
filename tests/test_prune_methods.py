"""Whole methods end to end: `autoprune prune` uniform and learned gates give smaller, working trackers."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import autoprune
import trackers
from autoprune.cli import main
from autoprune.prune.gates import threshold
from autoprune.prune.groups import Member, UnitGroup

FAMILIES = trackers.names()


def _track_once(directory):
    tracker = autoprune.load(directory)
    image = np.full((120, 160, 3), 80, np.uint8)
    image[50:80, 60:100] = 220
    tracker.init(image, (60, 50, 40, 30))
    box = tracker.update(image)
    assert np.isfinite(box).all()


@pytest.mark.parametrize("name", FAMILIES)
def test_gates_prune_to_a_budget_and_track(name, tmp_path):
    torch.set_num_threads(1)
    family = trackers.get(name)
    preset = family.default_preset if name != "siamrpn" else "tiny"
    parent_cost = family.analytic_cost(family.arch(preset))
    budget = 0.5 * parent_cost["frame_macs"] / 1e6
    out = tmp_path / "gates"
    code = main(["prune", "--tracker", name, "--preset", preset, "--method", "gates", "--budget-mflops", f"{budget:.3f}",
                 "--gate-steps", "3", "--finetune-steps", "2", "--out", str(out)])
    assert code == 0
    manifest = json.loads((out / "arch.json").read_text())
    assert manifest["cost"]["frame_macs"] <= budget * 1e6
    assert manifest["cost"]["params"] < parent_cost["params"]
    _track_once(out)


def test_uniform_keep_ratio_and_refusing_overwrite(tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "uniform"
    assert main(["prune", "--tracker", "siamrpn", "--preset", "tiny", "--keep", "0.5", "--finetune-steps", "1", "--out", str(out)]) == 0
    _track_once(out)
    assert main(["prune", "--tracker", "siamrpn", "--preset", "tiny", "--keep", "0.5", "--out", str(out)]) == 2


def test_threshold_naive_is_global_and_layerwise_is_per_group():
    a = UnitGroup("a", 4, (Member("a.w", 0),))
    b = UnitGroup("b", 4, (Member("b.w", 0),))
    scores = {"a": torch.tensor([4.0, 3.0, 2.0, 1.0]), "b": torch.tensor([0.4, 0.3, 0.2, 0.1])}
    groups = {"a": a, "b": b}
    assert threshold(scores, groups, 0.5, "naive") == {"a": 4, "b": 1}  # b keeps its min_keep
    assert threshold(scores, groups, 0.5, "layerwise") == {"a": 2, "b": 2}
