"""Per-frame overlap and centre errors, and the benchmark scores built from them.

Conventions (boxes are ``xywh``, arrays [N,4]):

* IoU follows the got10k toolkit's ``rect_iou``: both boxes are first clipped to the image
  (``bound`` = (width, height)), the union gets a machine-epsilon guard and the result is
  clipped to [0, 1]. One IoU per frame feeds every overlap score below.
* GOT-10k scores pool frames: AO is the mean IoU over all scored frames of all sequences
  (and repetitions), SR@t the fraction of those with IoU > t, exactly as got10k reports them.
* OTB / LaSOT scores average sequences: each sequence gets a success curve (IoU > t over
  21 thresholds in [0, 1]), a precision curve (centre error <= t px, t = 0..50) and a
  normalised-precision curve (centre error / ground-truth size <= t, t in [0, 0.5]);
  the split's curve is the mean over sequences. AUC is the mean of the success curve,
  precision the curve at 20 px, normalised precision the curve at 0.2.

Nothing here warns or crashes on empty inputs: scores of nothing are NaN.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

IOU_THRESHOLDS = np.linspace(0.0, 1.0, 21)
PIXEL_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
NORM_THRESHOLDS = np.linspace(0.0, 0.5, 51)
PRECISION_AT_PX = 20.0
NORM_PRECISION_AT = 0.2

_EPS = np.finfo(float).eps


def _boxes(a) -> np.ndarray:
    return np.array(a, dtype=np.float64, copy=True).reshape(-1, 4)


def clip_to_image(boxes, bound: tuple[float, float]) -> np.ndarray:
    """Boxes clipped to a ``(width, height)`` image the way got10k clips them (a copy)."""
    b = _boxes(boxes)
    width, height = float(bound[0]), float(bound[1])
    b[:, 0] = np.clip(b[:, 0], 0, width)
    b[:, 1] = np.clip(b[:, 1], 0, height)
    b[:, 2] = np.clip(b[:, 2], 0, width - b[:, 0])
    b[:, 3] = np.clip(b[:, 3], 0, height - b[:, 1])
    return b


def iou(pred, gt, *, bound: tuple[float, float] | None = None) -> np.ndarray:
    """Per-row IoU of two [N,4] xywh arrays; NaN where either row is not finite.

    Without ``bound`` negative sizes count as empty boxes; zero-size boxes give IoU 0.
    """
    a, b = _boxes(pred), _boxes(gt)
    if a.shape != b.shape:
        raise ValueError(f"iou needs equal shapes, got {a.shape} and {b.shape}")
    if bound is not None:
        a, b = clip_to_image(a, bound), clip_to_image(b, bound)
    else:
        a[:, 2:] = np.maximum(a[:, 2:], 0)
        b[:, 2:] = np.maximum(b[:, 2:], 0)
    with np.errstate(invalid="ignore"):
        x1 = np.maximum(a[:, 0], b[:, 0])
        y1 = np.maximum(a[:, 1], b[:, 1])
        x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
        y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
        inter = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
        union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
        out = np.clip(inter / (union + _EPS), 0.0, 1.0)
    out[~(np.isfinite(a).all(1) & np.isfinite(b).all(1))] = np.nan
    return out


def _centers(b: np.ndarray) -> np.ndarray:
    # the (w - 1) / 2 offset is the OTB / got10k / pytracking pixel-centre convention
    return b[:, :2] + (b[:, 2:] - 1) / 2


def center_error(pred, gt) -> np.ndarray:
    """Euclidean distance in pixels between box centres (NaN where a row is not finite)."""
    a, b = _boxes(pred), _boxes(gt)
    return np.sqrt(((_centers(a) - _centers(b)) ** 2).sum(1))


def normalized_center_error(pred, gt) -> np.ndarray:
    """Centre distance with each axis divided by the ground-truth size (LaSOT); inf for empty ground truth."""
    a, b = _boxes(pred), _boxes(gt)
    size = b[:, 2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.sqrt((((_centers(a) - _centers(b)) / size) ** 2).sum(1))
    err[(size <= 0).any(1)] = np.inf
    return err


def _curve(hit: np.ndarray) -> np.ndarray:
    # hit: [frames, thresholds] booleans; a curve of nothing is NaN, not a warning
    if hit.shape[0] == 0:
        return np.full(hit.shape[1], np.nan)
    return hit.mean(axis=0)


def success_curve(ious, thresholds: np.ndarray = IOU_THRESHOLDS) -> np.ndarray:
    """Fraction of frames whose IoU is strictly above each threshold (NaN IoU counts as 0)."""
    v = np.nan_to_num(np.asarray(ious, dtype=np.float64).ravel(), nan=0.0)
    return _curve(v[:, None] > np.asarray(thresholds)[None, :])


def precision_curve(errors, thresholds: np.ndarray = PIXEL_THRESHOLDS) -> np.ndarray:
    """Fraction of frames whose centre error is at most each threshold (NaN counts as a miss)."""
    v = np.nan_to_num(np.asarray(errors, dtype=np.float64).ravel(), nan=np.inf)
    return _curve(v[:, None] <= np.asarray(thresholds)[None, :])


def normalized_precision_curve(errors, thresholds: np.ndarray = NORM_THRESHOLDS) -> np.ndarray:
    """:func:`precision_curve` over normalised centre errors (thresholds 0..0.5)."""
    return precision_curve(errors, thresholds)


def scoring_mask(gt, *, cover=None, absent=None) -> np.ndarray:
    """Frames that count: never frame 0 (given to the tracker), only finite ground truth,
    and the target visible - ``cover > 0`` where GOT-10k's cover label exists (what got10k
    does), otherwise not ``absent`` and of positive size."""
    b = _boxes(gt)
    ok = np.isfinite(b).all(1)
    if cover is not None:
        ok &= np.asarray(cover).reshape(-1) > 0
    else:
        ok &= (b[:, 2] > 0) & (b[:, 3] > 0)
        if absent is not None:
            ok &= ~np.asarray(absent, dtype=bool).reshape(-1)
    ok[:1] = False
    return ok


@dataclass(frozen=True, eq=False)
class FrameScores:
    """IoU and centre errors of the scored frames of one or more runs."""

    ious: np.ndarray
    center_errors: np.ndarray
    norm_errors: np.ndarray

    def __len__(self) -> int:
        return len(self.ious)

    @staticmethod
    def concat(parts: Iterable[FrameScores]) -> FrameScores:
        parts = list(parts)
        if not parts:
            return score_frames(np.zeros((0, 4)), np.zeros((0, 4)), mask=np.zeros(0, bool))
        return FrameScores(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("ious", "center_errors", "norm_errors")))


def score_frames(pred, gt, *, mask, bound: tuple[float, float] | None = None) -> FrameScores:
    """Scores of the frames in ``mask``. A prediction that is not finite scores IoU 0."""
    a, b = _boxes(pred), _boxes(gt)
    if a.shape != b.shape:
        raise ValueError(f"{len(a)} predicted boxes for {len(b)} ground-truth boxes")
    m = np.asarray(mask, dtype=bool)
    a, b = a[m], b[m]
    ious = np.nan_to_num(iou(a, b, bound=bound), nan=0.0)
    return FrameScores(ious, center_error(a, b), normalized_center_error(a, b))


@dataclass(frozen=True, eq=False)
class Metrics:
    """Scores of one sequence or of a whole split (fractions in [0, 1]; NaN when nothing was scored)."""

    frames: int
    ao: float
    sr50: float
    sr75: float
    auc: float
    precision: float
    norm_precision: float
    fps: float = float("nan")
    success_curve: np.ndarray = field(default_factory=lambda: np.full(len(IOU_THRESHOLDS), np.nan), repr=False)
    precision_curve: np.ndarray = field(default_factory=lambda: np.full(len(PIXEL_THRESHOLDS), np.nan), repr=False)
    norm_precision_curve: np.ndarray = field(default_factory=lambda: np.full(len(NORM_THRESHOLDS), np.nan), repr=False)

    def as_dict(self) -> dict[str, float]:
        """The scalar scores (JSON-friendly)."""
        keys = ("frames", "ao", "sr50", "sr75", "auc", "precision", "norm_precision", "fps")
        return {k: (int(v) if k == "frames" else float(v)) for k, v in ((k, getattr(self, k)) for k in keys)}


def _mean(v: np.ndarray) -> float:
    return float(v.mean()) if len(v) else float("nan")


def _at(curve: np.ndarray, thresholds: np.ndarray, value: float) -> float:
    return float(curve[int(np.argmin(np.abs(thresholds - value)))])


def _from_curves(frames: int, ao: float, sr50: float, sr75: float, succ, prec, norm) -> Metrics:
    return Metrics(
        frames=frames, ao=ao, sr50=sr50, sr75=sr75, auc=float(np.mean(succ)),
        precision=_at(prec, PIXEL_THRESHOLDS, PRECISION_AT_PX), norm_precision=_at(norm, NORM_THRESHOLDS, NORM_PRECISION_AT),
        success_curve=succ, precision_curve=prec, norm_precision_curve=norm,
    )


def sequence_metrics(scores: FrameScores) -> Metrics:
    """Scores of one sequence (its repetitions pooled)."""
    return _from_curves(
        len(scores), _mean(scores.ious), _mean(scores.ious > 0.5), _mean(scores.ious > 0.75),
        success_curve(scores.ious), precision_curve(scores.center_errors), normalized_precision_curve(scores.norm_errors),
    )


def split_metrics(per_sequence: Iterable[FrameScores]) -> Metrics:
    """Scores of a split: GOT-10k scores pool frames, OTB / LaSOT curves average the sequences
    that have scored frames."""
    parts = [p for p in per_sequence if len(p)]
    pooled = FrameScores.concat(parts)
    if parts:
        succ = np.mean([success_curve(p.ious) for p in parts], axis=0)
        prec = np.mean([precision_curve(p.center_errors) for p in parts], axis=0)
        norm = np.mean([normalized_precision_curve(p.norm_errors) for p in parts], axis=0)
    else:
        succ, prec, norm = (np.full(len(t), np.nan) for t in (IOU_THRESHOLDS, PIXEL_THRESHOLDS, NORM_THRESHOLDS))
    ious = pooled.ious
    return _from_curves(len(pooled), _mean(ious), _mean(ious > 0.5), _mean(ious > 0.75), succ, prec, norm)
