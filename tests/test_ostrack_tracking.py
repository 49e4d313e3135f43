"""OSTrack tracking loop: preprocessing, crops, Hann window, mapping boxes back, settings."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import trackers
from autoprune.errors import ConfigError
from autoprune.geometry import box_in_crop, context_side
from trackers.ostrack.head import decode_boxes
from trackers.ostrack.tracker import crop_box_to_image, hann_window

FAMILY = trackers.get("ostrack")


def test_preprocess_is_imagenet_normalisation_of_rgb():
    crops = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1).expand(2, 3, 4, 4) * 255
    assert torch.allclose(FAMILY.preprocess(crops), torch.zeros(2, 3, 4, 4), atol=1e-6)
    white = FAMILY.preprocess(torch.full((1, 3, 1, 1), 255.0)).flatten()
    assert torch.allclose(white, torch.tensor([(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225]))


def test_crop_spec_follows_the_record():
    spec = FAMILY.crop_spec(FAMILY.arch("vitb-256-ce"))
    assert (spec.template_size, spec.search_size, spec.template_factor, spec.search_factor) == (128, 256, 2.0, 4.0)
    assert (spec.context, spec.pad) == ("area", "zero")


def test_hann_window_is_ostracks_centred_cosine_window():
    w = hann_window(16)
    ref = np.outer(np.hanning(18)[1:-1], np.hanning(18)[1:-1])  # OSTrack's window: hann(sz + 2) without its zero ends
    assert np.allclose(w.numpy(), ref, atol=1e-6)
    assert w.shape == (16, 16) and torch.equal(w, w.T) and float(w.min()) > 0


def test_decoded_box_is_offset_plus_cell_and_size_at_the_peak():
    score = torch.zeros(1, 1, 8, 8)
    score[0, 0, 5, 2] = 1.0  # row (y) 5, column (x) 2
    size = torch.zeros(1, 2, 8, 8)
    size[0, :, 5, 2] = torch.tensor([0.25, 0.5])
    offset = torch.zeros(1, 2, 8, 8)
    offset[0, :, 5, 2] = torch.tensor([0.5, 0.25])
    box = decode_boxes(score, size, offset)[0]
    assert torch.allclose(box, torch.tensor([2.5 / 8, 5.25 / 8, 0.25, 0.5]))


def test_crop_box_maps_back_to_the_image_box():
    box = np.array([40.0, 60.0, 30.0, 20.0])  # xywh
    center = (70.0, 65.0)  # the crop is not centred on the box
    side = 4.0 * context_side(30, 20, "area")
    x1, y1, x2, y2 = box_in_crop(box, center, side, 256) / 256  # fractions of the crop
    frac = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
    assert np.allclose(crop_box_to_image(frac, center, side), box)


def _moving_square(frames: int = 5) -> tuple[list[np.ndarray], list[list[float]]]:
    rng = np.random.default_rng(0)
    background = rng.integers(0, 60, (120, 160, 3), dtype=np.uint8)
    images, boxes = [], []
    for t in range(frames):
        img = background.copy()
        x, y = 50 + 3 * t, 40 + 2 * t
        img[y : y + 24, x : x + 20] = (220, 60, 40)
        images.append(img)
        boxes.append([x, y, 20, 24])
    return images, boxes


def test_tracker_runs_with_the_template_cached_once():
    torch.manual_seed(0)
    model = FAMILY.create("tiny")
    tracker = FAMILY.make_tracker(model)
    images, boxes = _moving_square()
    tracker.init(images[0], boxes[0])
    cache = tracker.cache
    for img in images[1:]:
        box = tracker.update(img)
        assert box.shape == (4,) and np.isfinite(box).all()
        assert box[0] >= 0 and box[1] >= 0 and box[2] >= 10 and box[3] >= 10  # clipped, margin 10
        assert box[0] + box[2] <= 160 + 1e-6 and box[1] + box[3] <= 120 + 1e-6
    assert tracker.cache is cache


def test_pruned_model_tracks_a_few_frames():
    rec = FAMILY.arch("tiny")
    rec["blocks"] = [{"heads": 1, "head_dim": 20, "mlp": 50, "scale": 32 ** -0.5}, {"heads": 3, "head_dim": 16, "mlp": 8}]
    rec["ce"]["blocks"] = [0, 1]
    model = FAMILY.build(rec)
    tracker = FAMILY.make_tracker(model, {"window": False, "clip_margin": 10})
    images, boxes = _moving_square(4)
    tracker.init(images[0], boxes[0])
    out = [tracker.update(img) for img in images[1:]]
    assert all(np.isfinite(b).all() for b in out)


def test_tracker_settings_are_checked():
    model = FAMILY.create("tiny")
    with pytest.raises(ConfigError, match="unknown ostrack tracker settings 'vot'"):
        FAMILY.make_tracker(model, "vot")
    with pytest.raises(ConfigError, match="missing \\['clip_margin'\\]"):
        FAMILY.make_tracker(model, {"window": True})
    with pytest.raises(RuntimeError, match="init"):
        FAMILY.make_tracker(model).update(np.zeros((20, 20, 3), np.uint8))
