"""Retention with confidence intervals, and paired differences, over sequences and seeds.

A cell's retention is its AO over the AO of the dense parent fine-tuned with the same seed,
averaged over seeds as a ratio of means: ``mean_s AO(child_s) / mean_s AO(dense_s)``.

Its interval is a two-level bootstrap: every draw resamples the validation sequences (the
unit that is independent; frames of one sequence are not) and, within that draw, the seeds,
both with replacement. Every quantity of a study is computed on the *same* draws, so a
difference of two retentions (two methods on one family, or two families under one method)
is paired: an easy or hard sequence, or a lucky seed index, cancels out of it, and only
the difference between the two is left. A difference is *separated* when its interval
excludes zero.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoprune.eval.uncertainty import LEVEL, RESAMPLES, Interval


@dataclass(frozen=True)
class Scores:
    """Per-seed, per-sequence IoU sums of one (family, method, budget), and the frame counts."""

    seeds: tuple[int, ...]
    sums: np.ndarray  # [seeds, sequences]
    counts: np.ndarray  # [sequences]

    @classmethod
    def of(cls, cells) -> Scores:
        cells = sorted(cells, key=lambda c: c.seed)
        counts = np.asarray(cells[0].frame_counts, float)
        if any(np.asarray(c.frame_counts, float).shape != counts.shape for c in cells):
            raise ValueError("cells of one group were scored on different sequences")
        return cls(tuple(c.seed for c in cells), np.asarray([c.iou_sums for c in cells], float), counts)

    def on(self, seeds: tuple[int, ...]) -> Scores:
        index = [self.seeds.index(s) for s in seeds]
        return Scores(tuple(seeds), self.sums[index], self.counts)


class Bootstrap:
    """One set of draws (sequences, then seeds within each draw) shared by every estimate of a study."""

    def __init__(self, sequences: int, seeds: int, *, resamples: int = RESAMPLES, seed: int = 0, level: float = LEVEL) -> None:
        rng = np.random.default_rng([seed, sequences, seeds])
        self.sequences, self.seeds, self.level = sequences, seeds, level
        self.sequence_draws = rng.integers(0, sequences, size=(resamples, sequences))
        self.seed_draws = rng.random((resamples, seeds))  # [0, 1): scaled to however many seeds a group has

    def _mean_ao(self, scores: Scores) -> tuple[float, np.ndarray]:
        """Seed-mean pooled AO: the point value and its bootstrap samples."""
        if scores.sums.shape[1] != self.sequences:
            raise ValueError(f"scores on {scores.sums.shape[1]} sequences, draws for {self.sequences}")
        counts = scores.counts
        point = float(np.mean(scores.sums.sum(axis=1) / max(counts.sum(), 1)))
        total = counts[self.sequence_draws].sum(axis=1)  # [R]
        per_seed = scores.sums[:, self.sequence_draws].sum(axis=2) / np.maximum(total, 1)  # [S, R]
        k = len(scores.seeds)
        draws = np.minimum((self.seed_draws[:, :k] * k).astype(int), k - 1)  # [R, k]
        samples = np.take_along_axis(per_seed.T, draws, axis=1).mean(axis=1)
        return point, samples

    def _interval(self, value: float, samples: np.ndarray) -> Interval:
        samples = samples[np.isfinite(samples)]
        if not np.isfinite(value) or len(samples) == 0:
            return Interval(float(value), float("nan"), float("nan"), self.level)
        tail = 100 * (1 - self.level) / 2
        low, high = np.percentile(samples, [tail, 100 - tail])
        return Interval(float(value), float(low), float(high), self.level)

    def _retention(self, child: Scores, dense: Scores) -> tuple[float, np.ndarray]:
        seeds = tuple(s for s in child.seeds if s in dense.seeds)  # each child against its own seed's parent
        if not seeds:
            raise ValueError("no dense parent scored with the child's seeds")
        c, cs = self._mean_ao(child.on(seeds))
        d, ds = self._mean_ao(dense.on(seeds))
        with np.errstate(invalid="ignore", divide="ignore"):
            return (c / d if d > 0 else float("nan")), cs / ds

    def ao(self, scores: Scores) -> Interval:
        return self._interval(*self._mean_ao(scores))

    def retention(self, child: Scores, dense: Scores) -> Interval:
        return self._interval(*self._retention(child, dense))

    def difference(self, a: tuple[Scores, Scores], b: tuple[Scores, Scores]) -> Interval:
        """retention(a) - retention(b), each a (child, dense) pair, on the same draws."""
        ra, sa = self._retention(*a)
        rb, sb = self._retention(*b)
        with np.errstate(invalid="ignore"):  # a draw where a parent tracked nothing has no retention: left out
            return self._interval(ra - rb, sa - sb)


def separated(interval: Interval) -> bool:
    """The interval of a difference excludes zero."""
    return bool(interval.low > 0 or interval.high < 0)
