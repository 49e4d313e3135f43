"""OSTrack tracking loop: preprocessing, crops, Hann window, mapping boxes back, settings."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import trackers
from conftest import builtin_val_sequence, track_steps
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


def test_tracker_settings_are_checked():
    model = FAMILY.create("tiny")
    with pytest.raises(ConfigError, match="unknown ostrack tracker settings 'vot'"):
        FAMILY.make_tracker(model, "vot")
    with pytest.raises(ConfigError, match="unknown ostrack tracker settings \\['lr'\\]"):
        FAMILY.make_tracker(model, {"lr": 0.3})
    with pytest.raises(ConfigError, match="size_lr must be in"):
        FAMILY.make_tracker(model, {"size_lr": 0.0})
    with pytest.raises(ConfigError, match="window_influence must be in"):
        FAMILY.make_tracker(model, {"window_influence": 1.5})
    # A partial mapping takes the rest from the default set.
    assert FAMILY.make_tracker(model, {"window": False}).hp == {**FAMILY.make_tracker(model).hp, "window": False}


def test_default_settings_smooth_the_size_official_ones_do_not():
    torch.manual_seed(0)
    model = FAMILY.create("tiny")
    seq = builtin_val_sequence()
    boxes = {name: track_steps(FAMILY.make_tracker(model, settings), seq, 2)[0]
             for name, settings in (("smoothed", {"clip_margin": 0.0}), ("raw", {"size_lr": 1.0, "clip_margin": 0.0}))}
    assert FAMILY.make_tracker(model).hp["size_lr"] == 0.4 and FAMILY.make_tracker(model, "official").hp["size_lr"] == 1.0
    # One update from the true box: the smoothed size is 40 % of the way to the raw prediction,
    # around the same centre.
    w0, h0 = seq.boxes[0][2:]
    raw, smoothed = boxes["raw"], boxes["smoothed"]
    assert np.allclose(smoothed[2:], [w0 + 0.4 * (raw[2] - w0), h0 + 0.4 * (raw[3] - h0)], rtol=1e-6)
    assert np.allclose(smoothed[:2] + smoothed[2:] / 2, raw[:2] + raw[2:] / 2, rtol=1e-6)
