"""STARK's optional Hanning prior on its corner maps (the `windowed` tracker settings)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import trackers
from trackers.stark.tracker import windowed_corners

FAMILY = trackers.get("stark")


def test_power_zero_is_the_heads_own_soft_argmax():
    torch.manual_seed(0)
    model = FAMILY.build(FAMILY.arch("tiny")).eval()  # random weights: the maps need not mean anything
    z, x = FAMILY.example_inputs(model.arch)
    with torch.no_grad():
        out = model.track(model.template(torch.rand_like(z) * 4 - 2), torch.rand_like(x) * 4 - 2)
    assert torch.allclose(windowed_corners(out["score_maps"], 0.0), out["boxes"], atol=1e-5)


def test_the_prior_pulls_a_weak_corner_in_and_leaves_a_strong_one():
    n = 16
    maps = torch.zeros(1, 2, n, n)
    maps[0, 0, 2, 2] = 3.0  # a weak top-left peak near the crop's edge
    maps[0, 1, 12, 12] = 12.0  # a sharp bottom-right peak
    plain, windowed = windowed_corners(maps, 0.0)[0], windowed_corners(maps, 1.0)[0]
    # the weak corner moves toward the centre (0.5), the sharp one stays on its cell (12/16)
    assert abs(windowed[0] - 0.5) < abs(plain[0] - 0.5) and abs(windowed[1] - 0.5) < abs(plain[1] - 0.5)
    assert windowed[2:].numpy() == pytest.approx([12 / n, 12 / n], abs=1e-3)
    assert np.isfinite(windowed.numpy()).all()


def test_the_windowed_settings_are_named_and_checked():
    assert FAMILY.settings.resolve("windowed")["window_power"] == 1.0
    assert FAMILY.settings.resolve(None)["window_power"] == 1.0  # on by default
    assert FAMILY.settings.resolve("unwindowed")["window_power"] == 0.0
    assert FAMILY.settings.resolve("official")["window_power"] == 0.0  # STARK itself has no prior
    with pytest.raises(Exception, match="window_power"):
        FAMILY.settings.resolve({"window_power": -1.0})
