"""OSTrack training: Gaussian targets, focal / GIoU / L1 loss, optimizer, CE warm-up (real steps: test_family_conformance.py)."""
from __future__ import annotations

import math

import pytest
import torch

import trackers
from trackers.ostrack.loss import centre_heatmap, focal_loss, giou_loss, ostrack_loss
from trackers.ostrack.model import ce_keep_schedule

FAMILY = trackers.get("ostrack")


def test_heatmap_peaks_at_the_centre_cell_with_a_gaussian_around_it():
    boxes = torch.tensor([[0.25, 0.25, 0.5, 0.5], [0.0, 0.5, 0.2, 0.9]])  # xyxy fractions
    heat = centre_heatmap(boxes, 16)
    assert heat.shape == (2, 1, 16, 16)
    assert heat[0, 0, 6, 6] == 1.0 and heat[1, 0, 11, 2] == 1.0  # rounded centres (x 6, y 6) and (x 1.6 -> 2, y 11.2 -> 11)
    assert (heat == 1.0).sum() == 2
    assert 0 < heat[0, 0, 6, 7] < 1 and heat[0, 0, 6, 7] == heat[0, 0, 7, 6]  # symmetric falloff
    assert heat[0, 0, 0, 0] == 0  # cut outside the radius


def test_focal_loss_is_small_for_the_target_and_large_for_its_opposite():
    target = centre_heatmap(torch.tensor([[0.3, 0.3, 0.6, 0.7]]), 16)
    good = focal_loss(target.clamp(1e-4, 1 - 1e-4), target)
    bad = focal_loss((1 - target).clamp(1e-4, 1 - 1e-4), target)
    assert float(good) < 0.01 < 10 < float(bad)


def test_giou_is_one_minus_iou_for_nested_boxes_and_above_one_when_apart():
    a = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    loss, iou = giou_loss(torch.tensor([[0.0, 0.0, 0.5, 1.0]]), a)
    assert math.isclose(float(iou), 0.5, rel_tol=1e-5) and math.isclose(float(loss), 0.5, rel_tol=1e-5)
    far, _ = giou_loss(torch.tensor([[2.0, 2.0, 3.0, 3.0]]), a)
    assert 1.0 < float(far) < 2.0


def test_loss_weights_and_parts():
    box = torch.tensor([[64.0, 80.0, 128.0, 160.0]])  # search-crop pixels of a 256 crop
    target = centre_heatmap(box / 256, 16)
    perfect = {"score_map": target.clamp(1e-4, 1 - 1e-4), "boxes": torch.tensor([[96 / 256, 120 / 256, 0.25, 0.3125]])}
    loss, parts = ostrack_loss(perfect, box, search_size=256)
    assert parts["giou"] < 1e-5 and parts["l1"] < 1e-6 and parts["iou"] > 0.9999
    assert math.isclose(float(loss), parts["focal"] + 2 * parts["giou"] + 5 * parts["l1"], rel_tol=1e-5)


def test_augmentation_moves_boxes_with_the_flipped_pixels():
    from trackers.ostrack.augment import augment_pairs

    n, size = 64, 32
    boxes = torch.tensor([[4.0, 6.0, 12.0, 20.0]]).repeat(n, 1)
    crops = torch.full((n, 3, size, size), 20.0)
    crops[:, :, 6:20, 4:12] = 200.0  # the target fills its box exactly
    batch = {"template": crops.clone(), "search": crops.clone(), "template_box": boxes.clone(), "search_box": boxes.clone()}
    out = augment_pairs(batch, torch.Generator().manual_seed(0))
    flipped = 0
    for key in ("template", "search"):
        for img, box in zip(out[key], out[f"{key}_box"]):
            x1, y1, x2, y2 = (int(v) for v in box.tolist())
            inside = img[:, y1:y2, x1:x2]
            assert inside.min() > 150 and float(img.sum()) - float(inside.sum()) < 40 * img.numel()
            flipped += x1 != 4
    assert 0.3 * 2 * n < flipped < 0.7 * 2 * n
    assert torch.equal(batch["search"], crops)  # the input batch is left alone


def test_optimizer_is_adamw_with_backbone_at_a_tenth_for_loaded_weights_and_step_decay(tmp_path):
    model = FAMILY.create("tiny")
    opt, sched = FAMILY.make_optimizer(model, steps=100)
    assert isinstance(opt, torch.optim.AdamW) and FAMILY.grad_clip == 0.1
    assert [g["lr"] for g in opt.param_groups] == [2e-3, 2e-3]  # from scratch: one, higher LR
    assert all(g["weight_decay"] == 1e-4 for g in opt.param_groups)
    backbone = {id(p) for p in model.backbone.parameters()}
    assert {id(p) for p in opt.param_groups[1]["params"]} == backbone

    path = tmp_path / "tiny.pth"
    torch.save({"net": model.state_dict()}, path)
    loaded = FAMILY.create("tiny", checkpoint=str(path))
    opt, _ = FAMILY.make_optimizer(loaded, steps=100)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([4e-4, 4e-5])  # OSTrack's recipe
    opt, sched = FAMILY.make_optimizer(loaded, steps=100, lr=1e-3)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-3, 1e-4])
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[79] == pytest.approx(1e-3) and lrs[80] == pytest.approx(1e-4)  # x0.1 after 80 % of the run


def test_ce_keep_rate_schedule_is_ostracks_warm_up_then_cosine():
    # OSTrack GOT-10k: keep 1.0 until epoch 20 of 100, cosine down to the target by epoch 70
    assert ce_keep_schedule(0.0, 0.7) == ce_keep_schedule(0.19, 0.7) == 1.0
    assert ce_keep_schedule(0.45, 0.7) == pytest.approx(0.85)
    assert ce_keep_schedule(0.7, 0.7) == ce_keep_schedule(1.0, 0.7) == 0.7
    values = [ce_keep_schedule(p / 100, 0.7) for p in range(101)]
    assert all(a >= b for a, b in zip(values, values[1:]))
