"""SiamRPN++ tracking loop: anchors, window, settings, box decoding on a moving target."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import trackers
from autoprune.errors import ConfigError
from trackers.siamrpn.anchors import anchor_grid, base_anchor_sizes, decode
from trackers.siamrpn.tracker import cosine_window

FAMILY = trackers.get("siamrpn")


def test_r50_anchors_follow_pysot():
    rec = FAMILY.arch("r50")
    sizes = base_anchor_sizes(8, rec["anchor"]["ratios"], rec["anchor"]["scales"])
    assert sizes.tolist() == [[104, 32], [88, 40], [64, 64], [40, 80], [32, 96]]
    grid = anchor_grid(rec)
    assert grid.shape == (5 * 25 * 25, 4)
    # anchor-major: the first 625 rows are anchor 0 over the map, row-major, centred at -96 + 8k
    assert grid[0, :2].tolist() == [-96, -96] and grid[1, :2].tolist() == [-88, -96]
    assert grid[25, :2].tolist() == [-96, -88] and grid[624, :2].tolist() == [96, 96]
    assert grid[625, 2:].tolist() == [88, 40]
    boxes = decode(np.zeros((4, len(grid))), grid)
    assert np.allclose(boxes.T, grid)


def test_cosine_window_is_pysots_hanning_for_r50_and_keeps_its_reach_for_small_crops():
    assert np.allclose(cosine_window(FAMILY.arch("r50")), np.outer(np.hanning(25), np.hanning(25)))
    small = cosine_window(FAMILY.arch("tiny"))  # 9x9 map, pysot's formula gives 17 cells
    assert small.shape == (9, 9) and small[4, 4] == 1.0
    assert np.allclose(small[4], np.hanning(17)[4:13])


def test_tracker_settings_are_pysot_values_and_checked():
    assert FAMILY.hparams["vot"] == {"penalty_k": 0.05, "window_influence": 0.42, "lr": 0.38}
    assert FAMILY.hparams["otb"] == {"penalty_k": 0.24, "window_influence": 0.5, "lr": 0.25}
    model = FAMILY.create("tiny")
    with pytest.raises(ConfigError, match="valid: otb, vot"):
        FAMILY.make_tracker(model, "lasot")
    with pytest.raises(ConfigError, match="missing"):
        FAMILY.make_tracker(model, {"penalty_k": 0.1})


def _moving_square_sequence(frames: int = 8, size: int = 160, side: int = 32):
    """A textured square drifting over a smooth background: (RGB frames, true xywh boxes)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    background = np.stack([xx, yy, (xx + yy) // 2], axis=-1) * (200.0 / size)
    texture = rng.integers(0, 256, (side, side, 3))
    images, boxes = [], []
    for t in range(frames):
        x, y = 40 + 6 * t, 50 + 3 * t
        image = background.copy()
        image[y:y + side, x:x + side] = texture
        images.append(image.astype(np.uint8))
        boxes.append([x, y, side, side])
    return images, np.asarray(boxes, dtype=np.float64)


def test_tracker_follows_a_perfect_response():
    """Outputs that point at the true box must give back the true box (decode + crop geometry)."""
    torch.manual_seed(0)
    model = FAMILY.create("tiny").eval()
    tracker = FAMILY.make_tracker(model, {"penalty_k": 0.0, "window_influence": 0.0, "lr": 1.0})
    images, truth = _moving_square_sequence(frames=2)
    tracker.init(images[0], truth[0])
    rec = model.arch
    grid = anchor_grid(rec)
    scale = rec["template_size"] / np.sqrt(np.prod(truth[0][2:] * 1.0 + truth[0][2:].sum() / 2))
    # where the new box sits in search-crop pixels, relative to the crop centre
    target = np.array([*(truth[1][:2] + truth[1][2:] / 2 - (truth[0][:2] + truth[0][2:] / 2)), *truth[1][2:]]) * scale
    best = int(np.argmin(np.abs(grid[:, :2] - target[:2]).sum(1) + np.abs(np.log(grid[:, 2:] / target[2:])).sum(1)))
    deltas = np.stack([(target[0] - grid[:, 0]) / grid[:, 2], (target[1] - grid[:, 1]) / grid[:, 3],
                       np.log(target[2] / grid[:, 2]), np.log(target[3] / grid[:, 3])])
    size = int(round(np.sqrt(len(grid) // 5)))
    cls = torch.zeros(1, 10, size, size)
    cls.view(2, -1)[1, best] = 20.0
    loc = torch.from_numpy(deltas).float().reshape(1, 20, size, size)
    box = tracker.locate({"cls": cls, "loc": loc}, images[1].shape[1], images[1].shape[0])
    assert np.allclose(box, truth[1], atol=1e-3)
