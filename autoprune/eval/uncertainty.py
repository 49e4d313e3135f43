"""How sure a score is: bootstrap intervals over sequences, and paired differences of two trackers.

GOT-10k's AO pools the scored frames of all sequences, so a split's AO is
``sum(per-sequence IoU sums) / sum(per-sequence frame counts)``. Frames of one sequence are
strongly correlated, so the unit that is resampled is the sequence, not the frame: each
bootstrap draw picks as many sequences as the split has, with replacement, and pools them.

Two trackers scored on the same sequences are compared with a *paired* bootstrap: the same
draw of sequences is applied to both, so what the sequences have in common (an easy or a
hard sequence) cancels out and only the difference between the trackers is left.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 4000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate with its two-sided bootstrap interval at ``level``."""

    value: float
    low: float
    high: float
    level: float = LEVEL

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high, "level": self.level}

    def format(self, scale: float = 100.0, digits: int = 1) -> str:
        """``"21.9 [18.2, 25.6]"`` (percent by default)."""
        if not np.isfinite(self.value):
            return "-"
        v, lo, hi = (f"{scale * x:.{digits}f}" for x in (self.value, self.low, self.high))
        return f"{v} [{lo}, {hi}]"


@dataclass(frozen=True)
class PairedDifference:
    """AO of ``a`` minus AO of ``b`` on the same sequences, absolute and relative to ``b``."""

    a: float
    b: float
    difference: Interval  # a - b
    relative: Interval  # (a - b) / b
    sequences: int

    @property
    def resolved(self) -> bool:
        """True when the interval of the difference excludes zero."""
        return self.difference.low > 0 or self.difference.high < 0

    def as_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "difference": self.difference.as_dict(),
                "relative": self.relative.as_dict(), "sequences": self.sequences, "resolved": self.resolved}


def _check(sums: np.ndarray, counts: np.ndarray) -> None:
    if sums.shape != counts.shape or sums.ndim != 1:
        raise ValueError(f"per-sequence IoU sums and frame counts must be two equal 1-D arrays, got {sums.shape} and {counts.shape}")


def _draws(n: int, resamples: int, seed: int) -> np.ndarray:
    """[resamples, n] sequence indices, the same for the same (n, resamples, seed)."""
    return np.random.default_rng([seed, n]).integers(0, n, size=(resamples, n))


def _pooled(sums: np.ndarray, counts: np.ndarray, draws: np.ndarray) -> np.ndarray:
    total = counts[draws].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, sums[draws].sum(axis=1) / np.maximum(total, 1), np.nan)


def _interval(value: float, samples: np.ndarray, level: float) -> Interval:
    samples = samples[np.isfinite(samples)]
    if not np.isfinite(value) or len(samples) == 0:
        return Interval(float(value), float("nan"), float("nan"), level)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return Interval(float(value), float(low), float(high), level)


def pooled_ao(sums: Sequence[float], counts: Sequence[int]) -> float:
    sums, counts = np.asarray(sums, float), np.asarray(counts, float)
    return float(sums.sum() / counts.sum()) if counts.sum() > 0 else float("nan")


def ao_interval(sums: Sequence[float], counts: Sequence[int], *, level: float = LEVEL,
                resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """Pooled AO with a bootstrap interval over sequences.

    ``sums[i]``: the IoU summed over sequence i's scored frames; ``counts[i]``: how many there were.
    Example: ``ao_interval(sums, counts).format()`` gives ``"AO [low, high]"`` in percent.
    """
    sums, counts = np.asarray(sums, float), np.asarray(counts, float)
    _check(sums, counts)
    if len(sums) == 0:
        return Interval(float("nan"), float("nan"), float("nan"), level)
    samples = _pooled(sums, counts, _draws(len(sums), resamples, seed))
    return _interval(pooled_ao(sums, counts), samples, level)


def paired_difference(a_sums: Sequence[float], b_sums: Sequence[float], counts: Sequence[int], *,
                      level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0) -> PairedDifference:
    """AO(a) - AO(b) with a paired bootstrap interval; both scored on the same sequences and frames."""
    a, b, counts = np.asarray(a_sums, float), np.asarray(b_sums, float), np.asarray(counts, float)
    _check(a, counts)
    _check(b, counts)
    draws = _draws(len(counts), resamples, seed)
    sa, sb = _pooled(a, counts, draws), _pooled(b, counts, draws)
    ao_a, ao_b = pooled_ao(a, counts), pooled_ao(b, counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel_samples = (sa - sb) / sb
        rel = (ao_a - ao_b) / ao_b if ao_b else float("nan")
    return PairedDifference(ao_a, ao_b, _interval(ao_a - ao_b, sa - sb, level), _interval(rel, rel_samples, level), len(counts))


def span_text(ci, *, scale: float = 1.0, digits: int = 3) -> str:
    """``"0.182-0.256"`` for a ``[low, high]`` interval; ``"-"`` when there is none or it is not finite
    (older records, nothing tracked)."""
    if not isinstance(ci, (list, tuple)) or len(ci) != 2 or not all(isinstance(x, (int, float)) and np.isfinite(x) for x in ci):
        return "-"
    return f"{scale * ci[0]:.{digits}f}-{scale * ci[1]:.{digits}f}"
