"""Boxes and square crops shared by the data pipeline and every tracker.

Conventions: images are HxWx3 uint8 RGB numpy arrays; boxes are ``xywh`` with (x, y) the
top-left corner in pixels, as GOT-10k, LaSOT and OTB store them.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np


def xywh_to_xyxy(box: Sequence[float]) -> np.ndarray:
    x, y, w, h = (float(v) for v in box)
    return np.array([x, y, x + w, y + h], dtype=np.float64)


def xyxy_to_xywh(box: Sequence[float]) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float64)


def box_center(box_xywh: Sequence[float]) -> tuple[float, float]:
    x, y, w, h = (float(v) for v in box_xywh)
    return x + w / 2.0, y + h / 2.0


def context_side(w: float, h: float, context: str) -> float:
    """Base side of a square crop around a w x h target before the family's factor.

    ``siamfc``: sqrt((w+p)(h+p)) with p = (w+h)/2 (pysot's context 0.5);
    ``area``: sqrt(w*h) (OSTrack / STARK).
    """
    if context == "siamfc":
        p = 0.5 * (w + h)
        return math.sqrt((w + p) * (h + p))
    if context == "area":
        return math.sqrt(w * h)
    raise ValueError(f"unknown crop context {context!r}; expected 'siamfc' or 'area'")


def crop_square(
    image: np.ndarray,
    center: Sequence[float],
    side: float,
    out_size: int,
    pad: str | Sequence[float] = "mean",
) -> np.ndarray:
    """Crop a ``side`` x ``side`` square centred at ``center`` and resize it to ``out_size``.

    Parts outside the image are filled with the per-channel image mean (``pad='mean'``,
    pysot), zeros (``pad='zero'``, OSTrack/STARK) or an explicit colour.
    """
    if pad == "mean":
        fill = tuple(float(v) for v in image.reshape(-1, image.shape[2]).mean(axis=0))
    elif pad == "zero":
        fill = (0.0, 0.0, 0.0)
    else:
        fill = tuple(float(v) for v in pad)
    side = max(float(side), 1.0)
    scale = out_size / side
    cx, cy = float(center[0]), float(center[1])
    # Pixel centres: crop pixel (u+0.5) maps to image (cx - side/2 + (u+0.5)/scale).
    tx = -(cx - side / 2.0) * scale - 0.5 + 0.5 * scale
    ty = -(cy - side / 2.0) * scale - 0.5 + 0.5 * scale
    matrix = np.array([[scale, 0.0, tx], [0.0, scale, ty]], dtype=np.float64)
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    return cv2.warpAffine(
        image, matrix, (out_size, out_size), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=fill
    )


def box_in_crop(box_xywh: Sequence[float], center: Sequence[float], side: float, out_size: int) -> np.ndarray:
    """Map an image box into the coordinates of a crop made by :func:`crop_square` (xyxy)."""
    scale = out_size / max(float(side), 1.0)
    x1, y1, x2, y2 = xywh_to_xyxy(box_xywh)
    ox = float(center[0]) - side / 2.0
    oy = float(center[1]) - side / 2.0
    return np.array([(x1 - ox) * scale, (y1 - oy) * scale, (x2 - ox) * scale, (y2 - oy) * scale])


def clip_box(box_xywh: Sequence[float], width: int, height: int, min_size: float = 1.0) -> np.ndarray:
    """Clip a box to the image, keeping at least ``min_size`` pixels per side."""
    x, y, w, h = (float(v) for v in box_xywh)
    x1 = min(max(x, 0.0), width - min_size)
    y1 = min(max(y, 0.0), height - min_size)
    x2 = min(max(x + w, x1 + min_size), float(width))
    y2 = min(max(y + h, y1 + min_size), float(height))
    return np.array([x1, y1, x2 - x1, y2 - y1])
