"""Overlap, centre-error and curve scores against hand-computed values and got10k's rect_iou."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from got10k.utils.metrics import rect_iou

from autoprune.eval.metrics import (
    IOU_THRESHOLDS,
    FrameScores,
    center_error,
    iou,
    normalized_center_error,
    precision_curve,
    score_frames,
    scoring_mask,
    sequence_metrics,
    split_metrics,
    success_curve,
)


def test_iou_hand_values():
    gt = [[0, 0, 10, 10]] * 3
    pred = [[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5]]
    assert iou(pred, gt) == pytest.approx([1.0, 50 / 150, 0.0])


def test_iou_bound_follows_got10k_shift_then_crop():
    # got10k clips x to the image first and then the width to what is left: a box hanging
    # off the left edge is shifted inside, one off the right edge is cropped
    gt = np.array([[0, 0, 10, 10], [90, 0, 10, 10]], float)
    pred = np.array([[-5, 0, 10, 10], [95, 0, 10, 10]], float)
    assert iou(pred, gt) == pytest.approx([50 / 150, 50 / 150])
    assert iou(pred, gt, bound=(100, 100)) == pytest.approx([1.0, 0.5])
    assert pred[0, 0] == -5  # inputs are never modified (got10k's are)


def test_iou_matches_got10k_rect_iou_on_random_boxes():
    rng = np.random.default_rng(0)
    a = np.column_stack([rng.uniform(-30, 120, (500, 2)), rng.uniform(-5, 60, (500, 2))])
    b = np.column_stack([rng.uniform(-30, 120, (500, 2)), rng.uniform(0, 60, (500, 2))])
    ours = iou(a, b, bound=(100, 80))
    theirs = rect_iou(a.copy(), b.copy(), bound=(100, 80))
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_degenerate_boxes_give_zero_or_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert iou([[0, 0, 0, 0]], [[0, 0, 0, 0]])[0] == 0.0
        assert iou([[0, 0, -4, 5]], [[0, 0, 10, 10]])[0] == 0.0
        assert np.isnan(iou([[np.nan] * 4], [[0, 0, 10, 10]])[0])
        assert normalized_center_error([[0, 0, 5, 5]], [[0, 0, 0, 10]])[0] == np.inf
        scores = score_frames([[np.nan] * 4, [0, 0, 10, 10]], [[0, 0, 10, 10]] * 2, mask=[True, True])
    assert scores.ious.tolist() == [0.0, 1.0]  # a lost prediction is a failure, not a hole


def test_center_errors_hand_values():
    assert center_error([[3, 4, 10, 10]], [[0, 0, 10, 10]])[0] == pytest.approx(5.0)
    assert normalized_center_error([[3, 4, 10, 10]], [[0, 0, 10, 10]])[0] == pytest.approx(0.5)
    # centres use the (w - 1) / 2 pixel convention: sizes 10 and 12 differ by one pixel
    assert center_error([[0, 0, 12, 10]], [[0, 0, 10, 10]])[0] == pytest.approx(1.0)


def test_success_and_precision_curves_hand_values():
    curve = success_curve([0.0, 0.5, 1.0])
    assert len(curve) == 21
    assert curve[0] == pytest.approx(2 / 3)  # strictly greater: IoU 0 never succeeds
    assert curve[10] == pytest.approx(1 / 3)  # IoU 0.5 is not > 0.5
    assert curve[-1] == 0.0
    assert curve.mean() == pytest.approx(30 / 63)  # 10 + 20 thresholds passed, of 3 x 21
    prec = precision_curve([0.0, 20.0, 20.5, np.nan])
    assert prec[20] == pytest.approx(0.5)  # at most 20 px; NaN is a miss
    assert prec[21] == pytest.approx(0.75)


def test_scoring_mask_rules():
    boxes = np.array([[0, 0, 5, 5], [0, 0, 5, 5], [np.nan] * 4, [0, 0, 0, 5], [0, 0, 5, 5]], float)
    # GOT-10k: frame 0 never, cover > 0 decides visibility (even for an empty box, as got10k does)
    assert scoring_mask(boxes, cover=[8, 8, 8, 3, 0]).tolist() == [False, True, False, True, False]
    # other datasets: not absent and of positive size
    assert scoring_mask(boxes, absent=[0, 1, 0, 0, 0]).tolist() == [False, False, False, False, True]


def test_split_pools_frames_for_ao_and_averages_sequences_for_curves():
    long_good = FrameScores(np.ones(3), np.zeros(3), np.zeros(3))
    short_bad = FrameScores(np.zeros(1), np.full(1, 100.0), np.full(1, 5.0))
    m = split_metrics([long_good, short_bad])
    assert m.frames == 4
    assert m.ao == pytest.approx(0.75)
    assert m.sr50 == pytest.approx(0.75)
    assert m.auc == pytest.approx((20 / 21) / 2)
    assert m.precision == pytest.approx(0.5)
    assert m.norm_precision == pytest.approx(0.5)
    one = sequence_metrics(long_good)
    assert (one.ao, one.sr75, one.auc) == pytest.approx((1.0, 1.0, 20 / 21))


def test_empty_inputs_score_nan_quietly():
    empty = FrameScores.concat([])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for m in (sequence_metrics(empty), split_metrics([]), split_metrics([empty])):
            assert m.frames == 0
            assert all(np.isnan(v) for v in (m.ao, m.sr50, m.auc, m.precision, m.norm_precision))
        assert np.isnan(success_curve([])).all() and len(success_curve([])) == len(IOU_THRESHOLDS)
    assert m.as_dict()["frames"] == 0
