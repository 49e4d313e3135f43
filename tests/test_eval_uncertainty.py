"""Bootstrap intervals over sequences and paired differences: coverage, pairing, and the real evaluator."""
from __future__ import annotations

import numpy as np
import pytest

from autoprune.data import open_split
from autoprune.eval import evaluate
from autoprune.eval.baselines import StaticBoxTracker
from autoprune.eval.uncertainty import ao_interval, paired_difference, pooled_ao


def _split(rng, n, ao):
    counts = rng.integers(30, 80, n).astype(float)
    per_seq = np.clip(rng.normal(ao, 0.2, n), 0, 1)  # sequences differ a lot, as real ones do
    return per_seq * counts, counts


def test_interval_holds_the_pooled_ao_and_narrows_with_more_sequences():
    rng = np.random.default_rng(0)
    small = ao_interval(*_split(rng, 8, 0.5))
    large = ao_interval(*_split(rng, 128, 0.5))
    for ci in (small, large):
        assert ci.low <= ci.value <= ci.high
    assert large.half_width < small.half_width / 2.5  # ~1/sqrt(16) of the width


def test_interval_covers_the_true_ao_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(200):
        sums, counts = _split(rng, 48, 0.5)
        ci = ao_interval(sums, counts, resamples=1000)
        hits += ci.low <= 0.5 <= ci.high
    assert 0.88 <= hits / 200 <= 0.99


def test_paired_difference_sees_what_unpaired_intervals_cannot():
    rng = np.random.default_rng(2)
    b_sums, counts = _split(rng, 32, 0.4)
    a_sums = np.minimum(b_sums * 1.06, counts)  # a is 6 % better on every sequence
    a_ci, b_ci = ao_interval(a_sums, counts), ao_interval(b_sums, counts)
    assert a_ci.low < b_ci.high  # the two intervals overlap ...
    diff = paired_difference(a_sums, b_sums, counts)
    assert diff.resolved and diff.difference.low > 0  # ... yet pairing resolves the gain
    assert diff.relative.value == pytest.approx(pooled_ao(a_sums, counts) / pooled_ao(b_sums, counts) - 1)
    same = paired_difference(b_sums, b_sums, counts)
    assert not same.resolved and same.difference.half_width == 0


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="equal 1-D"):
        ao_interval([1.0, 2.0], [10])


def test_evaluate_reports_an_interval_and_compares_paired(tmp_path):
    from autoprune.data import synth

    root = synth.generate(tmp_path / "d", seed=5, train=0, val=6, test=0, frames=(20, 24))
    seqs = open_split(root, "val")
    static = evaluate(StaticBoxTracker(), seqs, progress=False)
    ci = static.ao_interval()
    assert ci.low <= static.ao <= ci.high and ci.high > ci.low
    assert static.as_dict()["ao_ci"] == [ci.low, ci.high]
    again = evaluate(StaticBoxTracker(), seqs, progress=False)
    assert not static.compare(again).resolved  # the same tracker twice: no difference
    with pytest.raises(ValueError, match="same sequences"):
        static.compare(evaluate(StaticBoxTracker(), seqs[:3], progress=False))
