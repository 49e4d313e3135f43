"""The parent as a speedometer: timed beside each child, it says how fast the machine runs now.

A shared machine's speed drifts by 5-20 % over minutes (other tenants, clocks, another
search): a child timed in a slow spell looks slower than it is, the search keeps a smaller
child than the budget allows, and that child re-measures well under its budget later
(benchmarks/results/latency_budget.md). So a latency search times each child in turns
with its parent, on the same runtime and threads, and states the child's latency at the
parent's typical speed over the search:

    child ms = child ms now × parent's typical ms / parent ms now

where "typical" is the median of the parent timings beside every child the study has timed
(the first child's factor is 1). On a steady machine the factor is 1 within the timing
noise; in a slow spell child and parent slow down together and the ratio holds. The parent
timed alone reads a few per cent apart from the parent timed in turns with children
(1.81-1.86 against 1.70-1.77 ms for stark/small on ONNX Runtime), so only timings taken in
turns are pooled.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoprune.cost.latency import evaluating, measure_latency
from autoprune.cost.runtime import default_clock, frame_call

__all__ = ["PairedTiming", "SpeedReference", "typical_speed"]

# Turns of (parent, child) timings per child: two turns average out a spell that starts or
# ends in the middle of one timing, for ~0.5 s more per trial.
ROUNDS = 2
# A factor outside this range means the reference timing itself went wrong (a stall in one
# timing); the child's own figure is then trusted as it is.
FACTOR_RANGE = (0.6, 1.6)


@dataclass(frozen=True)
class PairedTiming:
    """A child timed in turns with the parent: both raw medians and the child at typical speed."""

    raw_ms: float  # the child, as timed now
    parent_ms: float  # the parent, timed in the same turns
    typical_parent_ms: float  # the parent's median over the study's timings, this one included
    factor: float  # typical / now, clipped to FACTOR_RANGE (1.0 when clipped away)

    @property
    def ms(self) -> float:
        """The child's latency at the machine's typical speed: the figure that decides the budget."""
        return self.raw_ms * self.factor

    def attrs(self) -> dict[str, float]:
        """The record a trial keeps of this timing."""
        return {"latency_raw_ms": self.raw_ms, "reference_ms": self.parent_ms, "speed_factor": self.factor}


def typical_speed(readings: list[float]) -> float:
    """The parent's typical per-frame ms: the median of its timings (robust to a few odd ones)."""
    if not readings:
        raise ValueError("no parent timings to take the typical speed from")
    return float(np.median(readings))


class SpeedReference:
    """The parent's per-frame path, built once, timed in turns with each child."""

    def __init__(self, family, parent, *, runtime: str = "torch", threads: int = 1, repeats: int = 15) -> None:
        self.family = family
        self.parent = parent
        self.runtime = runtime
        self.threads = threads
        self.repeats = repeats
        self.clock = default_clock(threads)
        self._call = frame_call(family, parent, runtime=runtime, threads=threads)

    def _time(self, call) -> float:
        return measure_latency(call, threads=self.threads, repeats=self.repeats, clock=self.clock).median_ms

    def time_beside(self, child, *, others: list[float] = ()) -> PairedTiming:
        """Time ``child`` in ROUNDS turns with the parent.

        ``others``: the parent timings the study's trials recorded (every process's), pooled
        with this one into the typical speed.
        """
        call = frame_call(self.family, child, runtime=self.runtime, threads=self.threads)
        child_ms, parent_ms = [], []
        with evaluating(child), evaluating(self.parent):
            self._time(call)  # a fresh graph's first calls pay one-off costs; this run absorbs them
            for _ in range(ROUNDS):
                parent_ms.append(self._time(self._call))
                child_ms.append(self._time(call))
        now = float(np.median(parent_ms))
        typical = typical_speed([*others, now])
        factor = typical / now
        if not FACTOR_RANGE[0] <= factor <= FACTOR_RANGE[1]:
            factor = 1.0
        return PairedTiming(float(np.median(child_ms)), now, typical, factor)
