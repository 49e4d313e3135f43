"""Weight averaging and BatchNorm recalibration on real children and real training batches."""
from __future__ import annotations

import pytest
import torch

import trackers
from autoprune.proxy.stabilize import WeightAverage, recalibrate_batchnorm
from tests.conftest import builtin_train_pairs


def test_weight_average_lies_between_start_and_end_and_is_written_back():
    model = torch.nn.Linear(3, 2)
    start = model.weight.detach().clone()
    average = WeightAverage(model, decay=0.5)
    with torch.no_grad():
        model.weight.add_(1.0)
    average.update()  # first update: decay 0.5 -> halfway
    end = model.weight.detach().clone()
    average.apply()
    assert torch.allclose(model.weight, (start + end) / 2)
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(model, decay=1.0)


def test_batchnorm_recalibration_replaces_inherited_statistics():
    family = trackers.get("siamrpn")
    model = family.create("tiny")
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:  # statistics that belong to no real activations
        m.running_mean.fill_(5.0)
        m.running_var.fill_(100.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = builtin_train_pairs(family, "tiny", batch_size=2)
    n = recalibrate_batchnorm(family, model, batches, 2)
    assert n == len(bns) > 0
    assert all(not torch.allclose(m.running_mean, torch.full_like(m.running_mean, 5.0)) for m in bns)
    weights = [k for k in before if "running" not in k and "num_batches" not in k]
    assert all(torch.equal(before[k], model.state_dict()[k]) for k in weights)  # statistics only
    assert all(m.momentum == 0.1 for m in bns)  # restored after the cumulative average


def test_recalibration_leaves_a_model_without_batchnorm_alone():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    family = trackers.get("siamrpn")
    assert recalibrate_batchnorm(family, model, iter(()), 2) == 0  # reads no batch
