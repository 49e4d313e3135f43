"""Measured latency: sane numbers, thread count set for the run and restored after."""
import math

import pytest
import torch
from torch import nn

from autoprune.cost import measure_latency, num_threads
from autoprune.cost.latency import evaluating
from autoprune.errors import ConfigError


@pytest.fixture
def two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def test_latency_is_positive_finite_and_ordered(two_threads):
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3)).eval()
    seen = []

    def frame(x):
        seen.append((torch.get_num_threads(), torch.is_inference_mode_enabled()))
        return net(x)

    lat = measure_latency(frame, torch.randn(1, 3, 32, 32), threads=1, warmup=2, repeats=7, min_time=0.0)
    assert all(math.isfinite(v) and v > 0 for v in (lat.median_ms, lat.p10_ms, lat.p90_ms))
    assert lat.p10_ms <= lat.median_ms <= lat.p90_ms and lat.iqr_ms >= 0
    assert lat.repeats == 7 and len(seen) == 9 and lat.threads == 1
    assert set(seen) == {(1, True)}
    assert torch.get_num_threads() == 2
    assert lat.spread == (lat.p10_ms, lat.p90_ms)


def test_min_time_keeps_timing_past_repeats():
    lat = measure_latency(torch.zeros, 4, repeats=3, warmup=0, min_time=0.05)
    assert lat.repeats > 3


def test_thread_count_restored_after_an_error(two_threads):
    def broken(x):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        measure_latency(broken, torch.zeros(1), threads=1)
    assert torch.get_num_threads() == 2


def test_cpu_clock_counts_this_threads_work():
    lat = measure_latency(torch.randn, 64, 64, repeats=5, warmup=1, min_time=0.0, clock="cpu")
    assert lat.median_ms > 0 and math.isfinite(lat.median_ms)
    with pytest.raises(ConfigError, match="one thread"):
        measure_latency(torch.randn, 4, threads=2, clock="cpu")
    with pytest.raises(ConfigError, match="unknown clock"):
        measure_latency(torch.randn, 4, clock="gpu")


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError):
        measure_latency(torch.zeros, 1, threads=0)
    with pytest.raises(ConfigError):
        measure_latency(torch.zeros, 1, repeats=0)
    with pytest.raises(ConfigError):
        with num_threads(0):
            pass


def test_evaluating_restores_each_modules_flag():
    net = nn.Sequential(nn.BatchNorm1d(3), nn.Dropout())
    net[0].eval()
    with evaluating(net):
        assert not any(m.training for m in net.modules())
    assert net.training and not net[0].training and net[1].training
