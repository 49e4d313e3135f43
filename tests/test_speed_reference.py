"""A latency budget's children are timed in turns with the parent and stated at the typical speed.

Real models and real timings (siamrpn/tiny on one thread). A slow spell is made real by
timing on a machine whose clock runs slow for the duration: a thread-CPU clock that counts
1.4x, which slows child and parent alike, as a shared machine does.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import trackers
from autoprune.cost import latency as latency_module
from autoprune.cost.reference import FACTOR_RANGE, SpeedReference, typical_speed
from autoprune.prune.pruner import Pruner
from autoprune.prune.space import load_space


@pytest.fixture(scope="module")
def parent_and_child():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    family = trackers.get("siamrpn")
    parent = family.create("tiny").eval()
    pruner = Pruner(parent, load_space("siamrpn"))
    child, _ = pruner.prune(pruner.space.uniform(0.5))
    return family, parent, child.eval()


def test_with_no_other_timings_the_child_is_taken_as_timed(parent_and_child):
    family, parent, child = parent_and_child
    timing = SpeedReference(family, parent).time_beside(child)
    assert timing.factor == 1.0 and timing.ms == timing.raw_ms
    assert 0 < timing.raw_ms < timing.parent_ms  # half the widths: a faster child than its parent


def test_a_child_timed_in_a_slow_spell_is_stated_at_the_typical_speed(parent_and_child, monkeypatch):
    family, parent, child = parent_and_child
    reference = SpeedReference(family, parent)
    real_clock = time.thread_time
    # A busy machine adds its own spells on top of the made one; a pair whose parents are
    # not ~1.4x apart is timed again (at most 3 times), so the check sees the made spell.
    for _ in range(3):
        steady = reference.time_beside(child)
        # the study's earlier parent timings: the machine as it usually runs
        others = [steady.parent_ms] * 5
        monkeypatch.setattr(latency_module.time, "thread_time", lambda: 1.4 * real_clock())  # everything takes 1.4x as long
        slow = reference.time_beside(child, others=others)
        monkeypatch.undo()
        if 1.2 <= slow.parent_ms / steady.parent_ms <= 1.6:
            break
    assert slow.raw_ms > 1.2 * steady.raw_ms  # as timed, the child looks slower
    assert slow.factor == pytest.approx(steady.parent_ms / slow.parent_ms)
    assert slow.ms == pytest.approx(steady.raw_ms, rel=0.25)  # stated at the usual speed it is itself again


def test_a_factor_no_machine_drifts_by_is_not_applied(parent_and_child):
    family, parent, child = parent_and_child
    timing = SpeedReference(family, parent).time_beside(child, others=[1e3] * 5)  # a parent "timed" at 1 s a frame
    assert not FACTOR_RANGE[0] <= timing.typical_parent_ms / timing.parent_ms <= FACTOR_RANGE[1]
    assert timing.factor == 1.0 and timing.ms == timing.raw_ms


def test_the_typical_speed_is_the_median_of_the_timings():
    assert typical_speed([1.0, 1.1, 9.0]) == 1.1
    assert typical_speed([2.0]) == 2.0
    with pytest.raises(ValueError):
        typical_speed([])


def test_the_record_keeps_the_raw_timing_and_its_factor(parent_and_child):
    family, parent, child = parent_and_child
    timing = SpeedReference(family, parent).time_beside(child)
    attrs = timing.attrs()
    assert set(attrs) == {"latency_raw_ms", "reference_ms", "speed_factor"}
    assert np.isclose(attrs["latency_raw_ms"] * attrs["speed_factor"], timing.ms)


def test_the_export_card_states_the_timing_and_its_factor(parent_and_child, tmp_path):
    from autoprune.export.writer import export_model

    family, _, child = parent_and_child
    out = export_model(family, child, tmp_path / "export", info={
        "latency_ms": 0.9, "latency_raw_ms": 1.0, "speed_factor": 0.9, "latency_on": "onnx, 1 thread"})
    card = (out / "card.md").read_text()
    assert "per-frame latency (onnx, 1 thread" in card and "0.90 ms" in card
    assert "timed 1.00 ms in turns with the parent, which ran at 1.11x its typical time then" in card
