"""Run a tracker over sequences, time it, score it, optionally write got10k-layout results.

    from autoprune.data import builtin_root, open_split
    from autoprune.eval import evaluate
    from autoprune.eval.baselines import StaticBoxTracker

    result = evaluate(StaticBoxTracker(), open_split(builtin_root(), "val"), out_dir="results/GOT-10k")
    print(result.ao, result.sr50)
"""
from __future__ import annotations

import ast
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from rich.table import Table

from autoprune.cost import quiet
from autoprune.data.sequence import Sequence
from autoprune.errors import AutoPruneError, ConfigError, DataError
from autoprune.eval.metrics import FrameScores, Metrics, score_frames, scoring_mask, sequence_metrics, split_metrics
from autoprune.eval.results import BOX_DECIMALS, write_sequence_results
from autoprune.eval.uncertainty import Interval, PairedDifference, ao_interval, paired_difference, span_text
from autoprune.progress import progress_bar
from trackers.base import Tracker


@dataclass(frozen=True, eq=False)
class Run:
    """One pass of a tracker over a sequence: boxes (frame 0 = the given box) and seconds per frame."""

    boxes: np.ndarray
    times: np.ndarray

    @property
    def update_seconds(self) -> float:
        return float(self.times[1:].sum())


def _from_overall(name: str) -> property:
    return property(lambda self: getattr(self.overall, name), doc=f"``overall.{name}``")


@dataclass(eq=False)
class EvalResult:
    """Scores of a tracker on a set of sequences; fractions in [0, 1] (``table()`` shows percent).

    ``ao`` / ``sr50`` / ``sr75`` are GOT-10k's (frames pooled), ``auc`` / ``precision`` /
    ``norm_precision`` OTB / LaSOT's (sequences averaged); ``fps`` counts ``update`` calls only.
    """

    tracker_name: str
    overall: Metrics  # the split's scores; ``result.ao`` etc. read from it
    sequences: dict[str, Metrics] = field(repr=False)
    runs: dict[str, list[Run]] = field(default_factory=dict, repr=False)
    out_dir: Path | None = None

    # The split's scalar scores, read from ``overall``.
    ao = _from_overall("ao")
    sr50 = _from_overall("sr50")
    sr75 = _from_overall("sr75")
    auc = _from_overall("auc")
    precision = _from_overall("precision")
    norm_precision = _from_overall("norm_precision")
    fps = _from_overall("fps")
    frames = _from_overall("frames")

    def frame_totals(self) -> tuple[np.ndarray, np.ndarray]:
        """Per sequence (in order): the IoU summed over its scored frames, and how many there were."""
        counts = np.array([m.frames for m in self.sequences.values()], dtype=float)
        aos = np.array([m.ao if m.frames else 0.0 for m in self.sequences.values()], dtype=float)
        return aos * counts, counts

    def ao_interval(self, **options) -> Interval:
        """The split's AO with its 95 % bootstrap interval over sequences."""
        return ao_interval(*self.frame_totals(), **options)

    def compare(self, other: EvalResult, **options) -> PairedDifference:
        """AO of this result minus ``other``'s, with a paired bootstrap interval (same sequences)."""
        if list(self.sequences) != list(other.sequences):
            raise ValueError("a paired comparison needs both results on the same sequences, in the same order")
        a, counts = self.frame_totals()
        b, other_counts = other.frame_totals()
        if not np.array_equal(counts, other_counts):
            raise ValueError("a paired comparison needs the same scored frames in both results")
        return paired_difference(a, b, counts, **options)

    def as_dict(self) -> dict:
        """Overall and per-sequence scalar scores (JSON-friendly); ``ao_ci`` is the 95 % interval."""
        ci = self.ao_interval()
        return {
            "tracker": self.tracker_name,
            **self.overall.as_dict(),
            "ao_ci": [ci.low, ci.high],
            "sequences": {name: m.as_dict() for name, m in self.sequences.items()},
        }

    def table(self, *, per_sequence: bool = False) -> Table:
        """A rich table: one row for the split, plus one per sequence if asked."""
        table = Table(title=f"{self.tracker_name} on {len(self.sequences)} sequences", caption="scores in %; FPS counts update() calls")
        labels = [self.tracker_name, *(self.sequences if per_sequence else ())]
        table.add_column("sequence" if per_sequence else "tracker", no_wrap=True, min_width=min(max(map(len, labels)), 40))
        for col in ("AO", "AO 95 % CI", "SR50", "SR75", "AUC", "Prec@20", "NPrec@.2", "FPS", "frames"):
            table.add_column(col, justify="right")

        def row(label: str, m: Metrics, ci: str, *, style: str | None = None) -> None:
            pct = [_pct(v) for v in (m.sr50, m.sr75, m.auc, m.precision, m.norm_precision)]
            table.add_row(label, _pct(m.ao), ci, *pct, _num(m.fps, 1 if m.fps < 100 else 0), str(m.frames), style=style)

        ci = self.ao_interval()
        span = span_text([ci.low, ci.high], scale=100, digits=1)
        row(self.tracker_name if not per_sequence else "all", self.overall, span, style="bold" if per_sequence else None)
        if per_sequence:
            for name, m in self.sequences.items():
                row(name, m, "")
        return table


def _pct(v: float) -> str:
    return "-" if not np.isfinite(v) else f"{100 * v:.1f}"


def _num(v: float, digits: int) -> str:
    return "-" if not np.isfinite(v) else f"{v:.{digits}f}"


TrackerSource = Tracker | Callable[[], Tracker]


def _tracker_maker(tracker: TrackerSource) -> Callable[[], Tracker]:
    """A tracker instance is reused (``init`` restarts it); a factory makes one per run."""
    is_instance = isinstance(tracker, Tracker) or (
        not isinstance(tracker, type) and hasattr(tracker, "init") and hasattr(tracker, "update")
    )
    if is_instance:
        return lambda: tracker
    if callable(tracker):
        return tracker
    raise ConfigError(f"evaluate needs a Tracker or a zero-argument function returning one, got {type(tracker).__name__}")


def image_bound(seq: Sequence, first_image: np.ndarray) -> tuple[float, float]:
    """(width, height) boxes are clipped to: the GOT-10k meta resolution if given (what got10k
    uses), else the first frame's size."""
    text = seq.meta.get("resolution") if seq.meta else None
    if text:
        try:
            w, h = ast.literal_eval(str(text))
            return float(w), float(h)
        except (ValueError, SyntaxError, TypeError):
            pass
    return float(first_image.shape[1]), float(first_image.shape[0])


def _as_box(out, tracker: Tracker, seq: Sequence, index: int) -> np.ndarray:
    box = np.asarray(out, dtype=np.float64).reshape(-1)
    if box.shape != (4,):
        raise AutoPruneError(
            f"{type(tracker).__name__}.update returned {np.shape(out)} on frame {index} of {seq.name}; expected 4 numbers (x, y, w, h)"
        )
    return box


def run_sequence(tracker: Tracker, seq: Sequence, *, on_frame: Callable[[], None] | None = None) -> tuple[Run, np.ndarray]:
    """Track ``seq`` from its first box; returns the run and the first image (for its size)."""
    box0 = np.asarray(seq.boxes[0], dtype=np.float64)
    if not (np.isfinite(box0).all() and box0[2] > 0 and box0[3] > 0):
        where = f" ({seq.anno_path}:{seq.anno_first_line})" if getattr(seq, "anno_path", None) else ""
        raise DataError(f"sequence {seq.name}: first-frame box {box0.tolist()}{where} is missing or empty; a tracker needs it to start")
    n = len(seq)
    boxes = np.full((n, 4), np.nan)
    times = np.zeros(n)
    first = seq.image(0)
    start = time.perf_counter()
    tracker.init(first, box0.copy())
    times[0] = time.perf_counter() - start
    boxes[0] = box0
    if on_frame:
        on_frame()
    for i in range(1, n):
        image = seq.image(i)
        start = time.perf_counter()
        out = tracker.update(image)
        times[i] = time.perf_counter() - start
        boxes[i] = _as_box(out, tracker, seq, i)
        if on_frame:
            on_frame()
    # scored at the precision the result files keep, so files and scores always agree
    boxes[1:] = np.round(boxes[1:], BOX_DECIMALS)
    return Run(boxes, times), first


def _annotations(seq: Sequence) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Ground truth, cover and absence with one row per frame; missing rows (a test split
    gives only the first box) are NaN and never scored."""
    n = len(seq)
    if len(seq.boxes) > n:
        raise DataError(f"sequence {seq.name}: {len(seq.boxes)} boxes for {n} frames; the annotation file does not match the frames")

    def pad(a, fill):
        if a is None:
            return None
        a = np.asarray(a)
        return np.concatenate([a, np.full((n - len(a),) + a.shape[1:], fill, dtype=a.dtype)]) if len(a) < n else a[:n]

    return pad(seq.boxes, np.nan), pad(seq.cover, 0), pad(seq.absent, True)


def _fps(runs: Iterable[Run]) -> float:
    runs = list(runs)
    updates = sum(len(r.times) - 1 for r in runs)
    seconds = sum(r.update_seconds for r in runs)
    return updates / seconds if updates and seconds > 0 else float("nan")


def evaluate(
    tracker: TrackerSource,
    sequences: Iterable[Sequence],
    *,
    out_dir: str | Path | None = None,
    tracker_name: str | None = None,
    progress: bool = True,
    repetitions: int = 1,
) -> EvalResult:
    """Track every sequence ``repetitions`` times and score it (GOT-10k, OTB and LaSOT metrics).

    ``tracker``: a :class:`trackers.base.Tracker` or a zero-argument factory of one.
    ``out_dir``: write got10k-layout result files under ``<out_dir>/<tracker_name>/``.
    Frames that count: all but the first, with a visible target (see ``scoring_mask``).
    """
    sequences = list(sequences)
    if not sequences:
        raise DataError("no sequences to evaluate; check the dataset root and split")
    if not isinstance(repetitions, int) or repetitions < 1:
        raise ConfigError(f"repetitions must be a whole number >= 1, got {repetitions!r}")
    names = [s.name for s in sequences]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"sequence names must be unique to be reported, repeated: {', '.join(dup[:5])}")
    make = _tracker_maker(tracker)
    name = tracker_name
    runs: dict[str, list[Run]] = {}
    scores: dict[str, FrameScores] = {}
    total = sum(len(s) for s in sequences) * repetitions
    # tracking is work a latency timing elsewhere on the machine waits for (cost/quiet.py)
    with progress_bar(f"evaluating {tracker_name or ''}".strip(), total=total, enabled=progress) as bar, quiet.working():
        for seq in sequences:
            quiet.pause_point()
            bar.update(info=seq.name)
            seq_runs, bound = [], None
            for _ in range(repetitions if len(seq) else 0):
                instance = make()
                name = name or getattr(instance, "name", None) or type(instance).__name__
                run, first = run_sequence(instance, seq, on_frame=bar.advance)
                bound = bound or image_bound(seq, first)
                seq_runs.append(run)
            runs[seq.name] = seq_runs
            gt, cover, absent = _annotations(seq)
            mask = scoring_mask(gt, cover=cover, absent=absent)
            scores[seq.name] = FrameScores.concat(score_frames(r.boxes, gt, mask=mask, bound=bound) for r in seq_runs)
            if out_dir is not None and seq_runs:
                write_sequence_results(
                    out_dir, tracker_name=name, seq_name=seq.name,
                    boxes=[r.boxes for r in seq_runs], times=[r.times for r in seq_runs],
                )
    per_seq = {n: _with_fps(sequence_metrics(scores[n]), _fps(runs[n])) for n in names}
    overall = _with_fps(split_metrics(scores[n] for n in names), _fps(r for n in names for r in runs[n]))
    return EvalResult(tracker_name=name or "tracker", overall=overall, sequences=per_seq, runs=runs,
                      out_dir=Path(out_dir) if out_dir is not None else None)


def _with_fps(m: Metrics, fps: float) -> Metrics:
    return replace(m, fps=fps)
