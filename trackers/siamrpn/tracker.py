"""pysot's SiamRPN tracking loop over our model: template cached at init, one track() per frame.

Coordinates are continuous pixels (a box's centre is x + w/2), as in
``autoprune.geometry``; pysot's (w-1)/2 pixel-index convention differs by half a pixel.
Crop sides are not rounded to whole pixels as pysot does (``crop_square`` resamples with
sub-pixel accuracy), so the crop scale and the decoding scale are the same number.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
import numpy as np
import torch

from autoprune.geometry import context_side
from trackers.common.crops import crop_tensor
from trackers.common.settings import Setting
from trackers.common.tracking import ModelTracker
from trackers.siamrpn.anchors import anchor_grid, decode
from trackers.siamrpn.arch import anchor_num, score_size


def cosine_window(rec: Mapping[str, Any]) -> np.ndarray:
    """[H, W] Hann window over the score map.

    Its extent is pysot's ``(search - template) // stride + 1 + 8`` cells, which equals
    the map for the official 127/255 crops (a plain ``np.hanning(25)`` outer product).
    Smaller crops give a smaller map than that formula; keeping the formula's extent keeps
    the window's reach in search-crop pixels, instead of squeezing the whole window onto
    a few cells, which would punish every move of one cell too hard.
    """
    size = score_size(rec)
    span = max(size, (rec["search_size"] - rec["template_size"]) // rec["anchor"]["stride"] + 1 + 8)
    offsets = np.arange(size) - size // 2
    profile = np.cos(np.pi * offsets / (span - 1)) ** 2
    return np.outer(profile, profile)


def _change(r: np.ndarray) -> np.ndarray:
    return np.maximum(r, 1.0 / r)


def _context_size(w: np.ndarray | float, h: np.ndarray | float) -> np.ndarray:
    pad = (w + h) * 0.5
    return np.sqrt((w + pad) * (h + pad))


class SiamRPNTracker(ModelTracker):
    """``init(image, box)`` then ``update(image) -> box``; images HxWx3 uint8 RGB, boxes xywh."""

    name = "SiamRPN++"
    SETTINGS = {"penalty_k": Setting(float), "window_influence": Setting(float), "lr": Setting(float)}

    def configure(self, rec: Mapping[str, Any]) -> None:
        self.template_size = rec["template_size"]
        self.search_size = rec["search_size"]
        self.window = np.tile(cosine_window(rec).reshape(-1), anchor_num(rec))
        self.anchors = anchor_grid(rec).astype(np.float64)
        self.best_score = 0.0

    def _crop(self, image: np.ndarray, side: float, out_size: int) -> torch.Tensor:
        return self.preprocess(crop_tensor(image, self.center, side, out_size, pad=self.pad, device=self.device))

    @torch.inference_mode()
    def init(self, image: np.ndarray, box: Sequence[float]) -> None:
        x, y, w, h = (float(v) for v in box)
        self.center = np.array([x + w / 2.0, y + h / 2.0])
        self.size = np.array([max(w, 1.0), max(h, 1.0)])
        # pysot pads every crop with the first frame's channel mean.
        self.pad = tuple(float(v) for v in image.reshape(-1, image.shape[2]).mean(axis=0))
        s_z = context_side(self.size[0], self.size[1], "siamfc")
        self.cache = self.model.template(self._crop(image, s_z, self.template_size))

    @torch.inference_mode()
    def update(self, image: np.ndarray) -> np.ndarray:
        self._require_init()
        s_z = context_side(self.size[0], self.size[1], "siamfc")
        s_x = s_z * self.search_size / self.template_size
        out = self.model.track(self.cache, self._crop(image, s_x, self.search_size))
        return self.locate(out, image.shape[1], image.shape[0])

    def locate(self, out: Mapping[str, torch.Tensor], width: int, height: int) -> np.ndarray:
        """Pick the best anchor of one frame's raw outputs, update the state, return the box (xywh).

        ``out`` is ``model.track``'s output for a search crop centred on the current state;
        ``width`` / ``height`` are the image's, for clipping.
        """
        s_z = context_side(self.size[0], self.size[1], "siamfc")
        scale_z = self.template_size / s_z
        cls = out["cls"][0].float().reshape(2, -1)
        score = torch.softmax(cls, dim=0)[1].cpu().numpy().astype(np.float64)
        boxes = decode(out["loc"][0].float().reshape(4, -1).cpu().numpy().astype(np.float64), self.anchors)

        # Penalise changes of scale and aspect ratio against the current target.
        target = self.size * scale_z
        s_c = _change(_context_size(boxes[2], boxes[3]) / _context_size(target[0], target[1]))
        r_c = _change((target[0] / target[1]) / (boxes[2] / boxes[3]))
        penalty = np.exp(-(r_c * s_c - 1.0) * self.hp["penalty_k"])
        pscore = penalty * score
        wi = self.hp["window_influence"]
        pscore = pscore * (1.0 - wi) + self.window * wi
        best = int(np.argmax(pscore))

        box = boxes[:, best] / scale_z
        lr = penalty[best] * score[best] * self.hp["lr"]
        cx = self.center[0] + box[0]
        cy = self.center[1] + box[1]
        w = self.size[0] * (1.0 - lr) + box[2] * lr
        h = self.size[1] * (1.0 - lr) + box[3] * lr

        cx = min(max(cx, 0.0), float(width))
        cy = min(max(cy, 0.0), float(height))
        w = min(max(w, 10.0), float(width))
        h = min(max(h, 10.0), float(height))
        self.center = np.array([cx, cy])
        self.size = np.array([w, h])
        self.best_score = float(score[best])
        return np.array([cx - w / 2.0, cy - h / 2.0, w, h])
