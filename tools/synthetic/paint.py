"""Colours and sub-pixel drawing with OpenCV: HSV to BGR, brightness scaling, 2-D rotation and the
fixed-point coordinates (``SHIFT`` fractional bits) that every shape of the generator is drawn with."""
from __future__ import annotations

import colorsys
import math

import numpy as np


def clip01(x: float) -> float:
    return 0.0 if x < 0.0 else (1.0 if x > 1.0 else float(x))


def bgr(h_deg: float, s: float, v: float) -> tuple[int, int, int]:
    """HSV (hue in degrees, s and v in [0, 1]) -> BGR ints for OpenCV."""
    r, g, b = colorsys.hsv_to_rgb((h_deg / 360.0) % 1.0, clip01(s), clip01(v))
    return int(round(b * 255)), int(round(g * 255)), int(round(r * 255))


def scale_bgr(c: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    b, g, r = (min(255, max(0, int(round(x * f)))) for x in c)
    return b, g, r


def rotate(v: np.ndarray, ang: float) -> np.ndarray:
    """Rotate 2-D vector(s) counter-clockwise by ``ang`` radians (in a y-up frame)."""
    c, s = math.cos(ang), math.sin(ang)
    return np.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1]], axis=-1)


SHIFT = 4  # sub-pixel bits for OpenCV drawing
ONE = 1 << SHIFT


def fx(p: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(p, dtype=np.float64) * ONE).astype(np.int32)
