"""STARK training recipe and tracking loop: loss, optimizer, crop geometry, size smoothing.

Real training steps and tracking of a built-in sequence: test_family_conformance.py.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import trackers
from conftest import builtin_val_sequence, load_as_checkpoint, track_steps
from autoprune.errors import ConfigError
from autoprune.geometry import box_in_crop
from trackers.common.boxes import giou, smooth_size
from trackers.stark.loss import box_loss
from trackers.stark.tracker import StarkTracker

FAMILY = trackers.get("stark")


def test_box_loss_on_hand_made_boxes():
    target = torch.tensor([[0.2, 0.2, 0.6, 0.6]])
    loss, parts = box_loss(target.clone(), target)
    assert loss.item() == pytest.approx(0.0, abs=1e-5) and parts["iou"] == pytest.approx(1.0)
    half = torch.tensor([[0.2, 0.2, 0.4, 0.6]])  # half the target: IoU 0.5, enclosing box = target
    loss, parts = box_loss(half, target)
    assert parts["iou"] == pytest.approx(0.5) and parts["giou"] == pytest.approx(0.5)
    assert parts["l1"] == pytest.approx(0.05) and loss.item() == pytest.approx(2 * 0.5 + 5 * 0.05)
    swapped = torch.tensor([[0.6, 0.6, 0.2, 0.2]], requires_grad=True)  # corners crossed: empty box
    g, iou = giou(swapped, target)
    assert iou.item() == 0.0 and torch.isfinite(g).all()
    (1 - g).sum().backward()
    assert torch.isfinite(swapped.grad).all()


def test_family_loss_on_a_hand_made_batch():
    torch.manual_seed(0)
    model = FAMILY.create("tiny")
    batch = {
        "template": torch.rand(2, 3, 64, 64) * 255,
        "search": torch.rand(2, 3, 128, 128) * 255,
        "template_box": torch.tensor([[16.0, 16.0, 48.0, 48.0]] * 2),
        "search_box": torch.tensor([[40.0, 50.0, 70.0, 90.0], [-5.0, 10.0, 30.0, 140.0]]),  # 2nd leaves the crop
    }
    FAMILY.train_mode(model)
    loss, parts = FAMILY.loss(model, batch)
    assert loss.ndim == 0 and torch.isfinite(loss) and set(parts) == {"giou", "l1", "iou"}
    loss.backward()
    assert model.box_head.conv1_tl[0].weight.grad is not None
    assert model.backbone[0].body.layer1[0].conv1.weight.grad is None  # frozen with conv1


def test_optimizer_follows_stark_recipe_for_loaded_weights(tmp_path):
    model = load_as_checkpoint(FAMILY, "tiny", FAMILY.create("tiny"), tmp_path)
    optimizer, scheduler = FAMILY.make_optimizer(model, steps=100)
    assert isinstance(optimizer, torch.optim.AdamW) and FAMILY.grad_clip == 0.1
    rest, trunk = optimizer.param_groups
    assert rest["lr"] == pytest.approx(1e-4) and trunk["lr"] == pytest.approx(1e-5)
    assert rest["weight_decay"] == pytest.approx(1e-4)
    trunk_ids = {id(p) for p in trunk["params"]}
    body = model.backbone[0].body
    assert id(body.layer2[0].conv1.weight) in trunk_ids and id(body.conv1.weight) not in trunk_ids
    assert not body.conv1.weight.requires_grad and not any(p.requires_grad for p in body.layer1.parameters())
    for _ in range(80):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-5)  # step decay at 80 % of the run


def test_from_scratch_the_lr_is_ten_times_higher_and_children_keep_their_parents_lr(tmp_path):
    from autoprune.prune.pruner import Pruner
    from autoprune.prune.space import load_space

    scratch = FAMILY.create("tiny")
    rest, trunk = FAMILY.make_optimizer(scratch, steps=100)[0].param_groups
    assert rest["lr"] == pytest.approx(1e-3) and trunk["lr"] == pytest.approx(1e-4)
    assert not scratch.backbone[0].body.conv1.weight.requires_grad  # frozen either way: it measured better

    loaded = load_as_checkpoint(FAMILY, "tiny", scratch, tmp_path)
    for parent, lr in ((scratch, 1e-3), (loaded, 1e-4)):
        pruner = Pruner(parent.eval(), load_space("stark"))
        child, _ = pruner.prune(pruner.space.uniform(0.5))
        assert FAMILY.make_optimizer(child, steps=10)[0].param_groups[0]["lr"] == pytest.approx(lr)


def test_tracker_maps_the_crop_back_to_the_image():
    truth, center, side = [100.0, 50.0, 40.0, 30.0], (130.0, 70.0), 250.0
    normalised = box_in_crop(truth, center, side, 128) / 128
    assert np.allclose(StarkTracker.locate(normalised, center, side), truth)


def test_size_smoothing_keeps_the_centre_and_moves_the_size_part_way():
    previous = np.array([0.0, 0.0, 40.0, 20.0])
    predicted = np.array([100.0, 50.0, 80.0, 60.0])  # centre (140, 80)
    smoothed = smooth_size(predicted, previous, 0.25)
    assert np.allclose(smoothed, [140 - 25, 80 - 15, 50.0, 30.0])
    assert np.allclose(smooth_size(predicted, previous, 1.0), predicted)


def test_cpu_settings_smooth_the_size_official_ones_do_not():
    torch.manual_seed(0)
    model = FAMILY.create("tiny")
    seq = builtin_val_sequence()
    # margin 0: the untrained model's tiny boxes must not be clipped to STARK's 10-pixel floor.
    boxes = {name: track_steps(FAMILY.make_tracker(model, settings), seq, 2)[0]
             for name, settings in (("smoothed", {"margin": 0.0}), ("raw", {"size_lr": 1.0, "margin": 0.0}))}
    assert FAMILY.make_tracker(model).size_lr == 0.3 and FAMILY.make_tracker(model, "official").size_lr == 1.0
    # One update from the true box: the smoothed size is 30 % of the way to the raw prediction.
    w0, h0 = seq.boxes[0][2:]
    raw_w, raw_h = boxes["raw"][2:]
    assert np.allclose(boxes["smoothed"][2:], [w0 + 0.3 * (raw_w - w0), h0 + 0.3 * (raw_h - h0)], rtol=1e-6)
    with pytest.raises(ConfigError, match="size_lr must be in"):
        FAMILY.make_tracker(model, {"size_lr": 0.0})
