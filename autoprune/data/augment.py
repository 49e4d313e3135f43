"""Photometric augmentation of training crops: what makes a camera's frames differ from clean ones.

Trackers are trained with colour jitter and blur (pysot, OSTrack, STARK all do); frames of
real video also carry sensor noise, JPEG blocking and low resolution that clean synthetic
frames lack. Each effect is applied to a crop independently with its own probability, drawn
from the sample's own random generator, so a sample stays a pure function of (seed, index).

Profiles (``--augment`` of ``autoprune train``):

- ``none``: the crops as cut;
- ``photometric``: brightness / contrast / saturation jitter, greyscale, motion-free blur;
- ``camera``: ``photometric`` plus sensor noise, JPEG re-encoding and down-up sampling.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Augment:
    """Probabilities and strengths of each effect (0 switches one off)."""

    color: float = 0.0  # max relative change of brightness, contrast and saturation
    gray: float = 0.0  # probability of a greyscale crop
    blur: float = 0.0  # probability of a Gaussian blur (sigma 0.3-1.5 px)
    noise: float = 0.0  # probability of Gaussian sensor noise (sigma 2-8 grey levels)
    jpeg: float = 0.0  # probability of JPEG re-encoding (quality 30-90)
    lowres: float = 0.0  # probability of down-sampling to 40-80 % and back

    def __call__(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """An augmented copy of an HxWx3 uint8 RGB crop."""
        out = crop
        if self.color > 0:
            out = _color(out, rng, self.color)
        if self.gray > 0 and rng.random() < self.gray:
            grey = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
            out = np.repeat(grey[:, :, None], 3, axis=2)
        if self.blur > 0 and rng.random() < self.blur:
            out = cv2.GaussianBlur(out, (0, 0), sigmaX=float(rng.uniform(0.3, 1.5)))
        if self.lowres > 0 and rng.random() < self.lowres:
            h, w = out.shape[:2]
            f = float(rng.uniform(0.4, 0.8))
            small = cv2.resize(out, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
            out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        if self.noise > 0 and rng.random() < self.noise:
            sigma = float(rng.uniform(2.0, 8.0))
            out = np.clip(out.astype(np.float32) + rng.normal(0.0, sigma, out.shape), 0, 255).astype(np.uint8)
        if self.jpeg > 0 and rng.random() < self.jpeg:
            ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 91))])
            if ok:
                out = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        return np.ascontiguousarray(out)

    @property
    def active(self) -> bool:
        return any(v > 0 for v in (self.color, self.gray, self.blur, self.noise, self.jpeg, self.lowres))


def _color(crop: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    img = crop.astype(np.float32)
    brightness, contrast, saturation = (1.0 + rng.uniform(-strength, strength, 3)).tolist()
    img = img * brightness
    mean = img.mean()
    img = (img - mean) * contrast + mean
    grey = img.mean(axis=2, keepdims=True)
    img = (img - grey) * saturation + grey
    return np.clip(img, 0, 255).astype(np.uint8)


PROFILES = {
    "none": Augment(),
    "photometric": Augment(color=0.3, gray=0.05, blur=0.2),
    "camera": Augment(color=0.3, gray=0.05, blur=0.2, noise=0.3, jpeg=0.3, lowres=0.2),
}


def profile(name: str) -> Augment:
    from autoprune.errors import ConfigError

    if name not in PROFILES:
        raise ConfigError(f"unknown augmentation {name!r}; choose one of: {', '.join(PROFILES)}")
    return PROFILES[name]
