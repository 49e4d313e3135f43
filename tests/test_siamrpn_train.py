"""SiamRPN++ training: anchor targets, loss, BatchNorm handling, schedule (real steps: test_family_conformance.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import trackers
from trackers.siamrpn.anchors import anchor_grid, decode
from trackers.siamrpn.loss import anchor_targets, box_iou, rpn_loss

FAMILY = trackers.get("siamrpn")


def _crop_anchors(preset: str) -> torch.Tensor:
    rec = FAMILY.arch(preset)
    anchors = torch.from_numpy(anchor_grid(rec))
    anchors[:, :2] += rec["search_size"] / 2
    return anchors


BOXES = torch.tensor([
    [95.5, 95.5, 159.5, 159.5],  # centred, the size of the square anchors
    [60.0, 100.0, 160.0, 140.0],  # wide, off centre
    [120.0, 120.0, 130.0, 130.0],  # far smaller than any anchor: no positive
    [10.0, 20.0, 250.0, 230.0],  # larger than any anchor
])


def test_anchor_targets_sample_at_most_16_positives_and_64_in_all():
    anchors = _crop_anchors("r50")
    targets = anchor_targets(BOXES, anchors, seed=3)
    corners = torch.cat([anchors[:, :2] - anchors[:, 2:] / 2, anchors[:, :2] + anchors[:, 2:] / 2], 1)
    iou = box_iou(corners, BOXES)
    pos = (targets.labels == 1).sum(1)
    neg = (targets.labels == 0).sum(1)
    assert pos.tolist() == torch.clamp((iou > 0.6).sum(1), max=16).tolist()
    assert pos[0] >= 1 and pos[1] >= 1 and pos[2] == 0
    assert (pos + neg).tolist() == [64, 64, 64, 64]
    assert (iou[targets.labels == 1] > 0.6).all() and (iou[targets.labels == 0] < 0.3).all()
    # loc weights: 1 / positives on the positives of a pair, 0 elsewhere
    for row in range(len(BOXES)):
        w = targets.weights[row]
        assert math.isclose(float(w.sum()), 1.0 if pos[row] else 0.0, rel_tol=1e-6)

    again = anchor_targets(BOXES, anchors, seed=3)
    assert torch.equal(again.labels, targets.labels)
    other = anchor_targets(BOXES, anchors, seed=4)
    assert not torch.equal(other.labels, targets.labels)


def test_regression_targets_decode_back_to_the_box():
    anchors = _crop_anchors("r50")
    targets = anchor_targets(BOXES[:2], anchors, seed=0)
    for row in range(2):
        boxes = decode(targets.deltas[row].double().numpy(), anchors.double().numpy())
        x1, y1, x2, y2 = BOXES[row].tolist()
        expected = np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])
        assert np.allclose(boxes.T, expected, atol=1e-3)


def test_loss_is_near_zero_for_perfect_outputs_and_log2_for_blank_ones():
    anchors = _crop_anchors("r50")
    targets = anchor_targets(BOXES[:2], anchors, seed=0)
    size, num = 25, 5
    blank_cls = torch.zeros(2, 2 * num, size, size, requires_grad=True)
    blank_loc = targets.deltas.reshape(2, 4 * num, size, size).clone().requires_grad_(True)
    loss, parts = rpn_loss(blank_cls, blank_loc, targets)
    assert math.isclose(parts["cls"], math.log(2), rel_tol=1e-5) and parts["loc"] == 0.0
    loss.backward()
    assert blank_cls.grad.abs().sum() > 0

    logits = torch.zeros(2, 2, num * size * size)
    logits[:, 1] = torch.where(targets.labels == 1, 30.0, -30.0)
    perfect, parts = rpn_loss(logits.reshape(2, 2 * num, size, size), blank_loc, targets)
    assert float(perfect.detach()) < 1e-6


def test_train_mode_freezes_backbone_bn_only_for_loaded_weights(tmp_path):
    model = FAMILY.create("tiny")
    FAMILY.train_mode(model)
    assert all(m.training for m in model.modules())

    path = tmp_path / "tiny.pth"
    torch.save(model.state_dict(), path)
    loaded = FAMILY.create("tiny", checkpoint=str(path))
    FAMILY.train_mode(loaded)
    bns = [m for m in loaded.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert loaded.neck.training and loaded.rpn_head.rpn3.cls.conv_search[1].training


def test_optimizer_is_sgd_with_warm_up_then_log_decay(tmp_path):
    model = FAMILY.create("tiny")
    opt, sched = FAMILY.make_optimizer(model, steps=100, lr=0.02)
    assert isinstance(opt, torch.optim.SGD)
    assert all(g["momentum"] == 0.9 and g["weight_decay"] == 1e-4 for g in opt.param_groups)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[1]["lr"])
        opt.step()
        sched.step()
    assert math.isclose(lrs[0], 0.02 * 0.2, rel_tol=1e-6)
    assert math.isclose(max(lrs), 0.02, rel_tol=1e-6) and lrs.index(max(lrs)) == 10
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:11]))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert math.isclose(lrs[-1], 0.002, rel_tol=1e-6)

    path = tmp_path / "tiny.pth"
    torch.save(model.state_dict(), path)
    loaded = FAMILY.create("tiny", checkpoint=str(path))
    opt, _ = FAMILY.make_optimizer(loaded, steps=10)
    assert [g["initial_lr"] for g in opt.param_groups] == pytest.approx([0.0005, 0.005])
