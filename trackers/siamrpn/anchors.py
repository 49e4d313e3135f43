"""RPN anchors (pysot layout) and box decoding.

Anchors are (cx, cy, w, h) in search-crop pixels *relative to the crop centre*, in
anchor-major order: index ``a * H * W + y * W + x`` — the order in which the ``cls`` /
``loc`` channels ``[.. x A]`` flatten. Cell (x, y) sits at ``stride * (x - H // 2)``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from trackers.siamrpn.arch import score_size


def base_anchor_sizes(stride: int, ratios: list[float], scales: list[float]) -> np.ndarray:
    """[A, 2] (w, h); ratio = h / w, area about (stride * scale)^2, rounded as pysot does."""
    sizes = []
    for ratio in ratios:
        ws = int(math.sqrt(stride * stride / ratio))
        hs = int(ws * ratio)
        for scale in scales:
            sizes.append((ws * scale, hs * scale))
    return np.asarray(sizes, dtype=np.float32)


def anchor_grid(rec: Mapping[str, Any]) -> np.ndarray:
    """[A*H*W, 4] anchors (cx, cy, w, h) relative to the search-crop centre."""
    anchor = rec["anchor"]
    stride = anchor["stride"]
    size = score_size(rec)
    wh = base_anchor_sizes(stride, anchor["ratios"], anchor["scales"])
    offsets = (np.arange(size, dtype=np.float32) - size // 2) * stride
    yy, xx = np.meshgrid(offsets, offsets, indexing="ij")
    num = len(wh)
    cx = np.tile(xx.reshape(-1), num)
    cy = np.tile(yy.reshape(-1), num)
    w = np.repeat(wh[:, 0], size * size)
    h = np.repeat(wh[:, 1], size * size)
    return np.stack([cx, cy, w, h], axis=1)


# Largest log size change decoded: keeps an untrained or diverged head from overflowing exp.
MAX_LOG_SCALE = math.log(1000.0 / 16.0)


def decode(deltas: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """[4, N] (dx, dy, dw, dh) + [N, 4] anchors -> [4, N] boxes (cx, cy, w, h)."""
    cx = deltas[0] * anchors[:, 2] + anchors[:, 0]
    cy = deltas[1] * anchors[:, 3] + anchors[:, 1]
    w = np.exp(np.clip(deltas[2], -MAX_LOG_SCALE, MAX_LOG_SCALE)) * anchors[:, 2]
    h = np.exp(np.clip(deltas[3], -MAX_LOG_SCALE, MAX_LOG_SCALE)) * anchors[:, 3]
    return np.stack([cx, cy, w, h])
