"""What a child costs in budget units: per-frame mega-MACs, or milliseconds from a fitted model.

Latency as a budget is a per-parent fitted model ms = a * MACs + b, from real measurements.
Budget projection evaluates the metric thousands of times, so it must be analytic. At the
start of a ``--budget-ms`` search the parent and a few uniformly thinned children are timed
on this machine (one thread, batch 1, per-frame path); a non-negative least-squares line in
per-frame MACs predicts the rest. Each trial's child is then *measured*, and the measurement
decides feasibility.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from autoprune.cost import tracker_latency

FIT_RATIOS = (1.0, 0.75, 0.5, 0.3, 0.15)


def frame_mflops(family) -> Callable[[dict], float]:
    """child record -> per-frame mega-MACs (the ``--budget-mflops`` unit)."""
    return lambda arch: family.analytic_cost(arch)["frame_macs"] / 1e6


def fit_latency_model(pruner, *, ratios=FIT_RATIOS, repeats: int = 15) -> tuple[Callable[[dict], float], dict]:
    """(arch -> predicted ms, fit details with points and in-sample error)."""
    family = pruner.family
    macs, ms = [], []
    # The first timing in a process pays one-off costs (allocator growth, kernel selection)
    # that made the parent look up to 50 % slower; a discarded run absorbs them.
    warm_child, _ = pruner.prune(pruner.space.uniform(ratios[0]))
    tracker_latency(family, warm_child, repeats=3, clock="cpu")
    for ratio in ratios:
        child, arch = pruner.prune(pruner.space.uniform(ratio))
        macs.append(family.analytic_cost(arch)["frame_macs"])
        ms.append(tracker_latency(family, child, repeats=repeats, clock="cpu").median_ms)
    a = np.stack([np.asarray(macs, dtype=float), np.ones(len(macs))], axis=1)
    coef, *_ = np.linalg.lstsq(a, np.asarray(ms), rcond=None)
    slope, intercept = max(float(coef[0]), 1e-15), max(float(coef[1]), 0.0)
    predicted = [slope * m + intercept for m in macs]
    error = float(np.mean([abs(p - t) / t for p, t in zip(predicted, ms)]))
    details = {"macs": macs, "ms": ms, "slope_ms_per_gmac": slope * 1e9, "intercept_ms": intercept, "fit_mape": error}

    def metric(arch: dict) -> float:
        return slope * family.analytic_cost(arch)["frame_macs"] + intercept

    return metric, details
