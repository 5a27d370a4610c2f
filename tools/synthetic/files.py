"""What every layout writes with: the generator version, rounding for JSON, JPEG bytes, compact JSON.

Every file is written through ``utils.atomic_io``: a generator stopped part-way leaves whole files only.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from utils.atomic_io import write_text

GENERATOR_VERSION = "1.0"


def rnd(x: float, nd: int = 2) -> float:
    """Round for JSON (keeps files small and byte-stable)."""
    return float(round(float(x), nd))


def encode_jpeg(img: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def dump_json(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(obj, separators=(",", ":")))
