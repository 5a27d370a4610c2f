"""Person boxes for top-down pose estimation: a COCO-format detection file or a torchvision detector.

Used by ``pose_estimation/demo.py`` and usable with :class:`core.api.PoseEstimator`::

    dets = DetectionFile("dets.json", score_thr=0.5)
    boxes, scores = dets.boxes("000000000785.jpg", 785)
    people = estimator.predict("000000000785.jpg", boxes, scores)
"""
from __future__ import annotations

import json
import logging
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from utils.checkpoint import CheckpointMismatchError, load_model_weights
from utils.cli import InputFileError, UsageError

__all__ = ["PERSON", "DetectionFile", "PersonDetector", "drop_degenerate_boxes", "is_degenerate_box"]

logger = logging.getLogger(__name__)

MAX_BOX_COORD = 1e5  # px; a detection box beyond this is a broken file, not a photo
PERSON = 1  # COCO category id of 'person', also the person label of torchvision's COCO detectors


def is_degenerate_box(bbox: Sequence[float]) -> bool:
    """Whether a finite ``[x, y, w, h]`` cannot be a person: no width or height (<= 0), or a
    coordinate or size beyond ``MAX_BOX_COORD`` px (a broken entry, not a photo)."""
    x, y, w, h = (float(v) for v in bbox[:4])
    return not (w > 0 and h > 0) or max(abs(x), abs(y), w, h) > MAX_BOX_COORD


def drop_degenerate_boxes(entries: list[dict], source: str) -> list[dict]:
    """``entries`` (COCO detection dicts with a finite ``bbox``) without the degenerate boxes.

    A real detector's file may hold a few zero-size boxes; they are skipped with ONE warning that
    names ``source``, counts them and shows the first, rather than refusing the whole file (a crop
    of size zero would otherwise give a meaningless pose). NaN or infinite values are the caller's
    to refuse or drop before this."""
    bad = [i for i, entry in enumerate(entries) if is_degenerate_box(entry["bbox"])]
    if not bad:
        return entries
    logger.warning("=> %s: skipped %d of %d boxes with no width or height or beyond %g px (e.g. entry %d: %s)",
                   source, len(bad), len(entries), MAX_BOX_COORD, bad[0], entries[bad[0]]["bbox"])
    skip = set(bad)
    return [entry for i, entry in enumerate(entries) if i not in skip]


class DetectionFile:
    """Boxes of one category (COCO's person by default) or of several (a dataset whose categories share
    one joint list, e.g. species) from a COCO-format detection JSON, looked up by file name or image id.

    ``category_id``: an id or a sequence of ids; :attr:`category_id` is the first one.
    """

    def __init__(self, path: str | os.PathLike, score_thr: float, category_id: int | Sequence[int] = PERSON) -> None:
        self.path = Path(path)
        self.category_ids = [int(category_id)] if isinstance(category_id, (int, np.integer)) else [int(c) for c in category_id]
        if not self.category_ids:
            raise ValueError("DetectionFile: no category id given")
        self.category_id = self.category_ids[0]
        wanted = set(self.category_ids)
        if not self.path.is_file():
            raise FileNotFoundError(f"detection file not found: {self.path}")
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputFileError(f"detection file {self.path} is not valid JSON: {e}") from None
        if not isinstance(entries, list):
            raise InputFileError(f"detection file {self.path}: expected a JSON list of detections, got {type(entries).__name__}")
        if not entries:
            raise InputFileError(f"detection file {self.path} is empty: it holds no detections")
        self.by_name: dict[str, list[tuple[list[float], float]]] = defaultdict(list)
        self.by_id: dict[int, list[tuple[list[float], float]]] = defaultdict(list)
        kept = 0
        degenerate: list[int] = []
        for i, entry in enumerate(entries):
            box, score, name, image_id, category = self._parse(entry, i)
            if category not in wanted or score < score_thr:
                continue
            if is_degenerate_box(box):  # zero-size or absurd: skipped, counted in one warning below
                degenerate.append(i)
                continue
            kept += 1
            if name is not None:
                self.by_name[name].append((box, score))
            else:
                self.by_id[image_id].append((box, score))
        if self.category_ids == [PERSON]:
            what = "a person (category_id 1)"
        elif len(self.category_ids) == 1:
            what = f"of category_id {self.category_id}"
        else:
            what = f"of category_id {', '.join(map(str, self.category_ids))}"
        skipped = ""
        if degenerate:
            skipped = (f"{len(degenerate)} box(es) with no width or height or beyond {MAX_BOX_COORD:g} px "
                       f"skipped (e.g. entry {degenerate[0]}: {entries[degenerate[0]]['bbox']})")
            logger.warning("=> detection file %s: %s", self.path, skipped)
        if not self.by_name and not self.by_id:
            raise InputFileError(
                f"detection file {self.path}: none of its {len(entries)} detections is {what} "
                f"with score >= --det-thr {score_thr:g}" + (f"; {skipped}" if skipped else "")
            )
        logger.info("=> %s: %d of %d detections are %s with score >= %g", self.path, kept, len(entries), what, score_thr)

    def _parse(self, entry: Any, i: int) -> tuple[list[float], float, str | None, int | None, int]:
        where = f"detection file {self.path}, entry {i}"
        if not isinstance(entry, dict):
            raise InputFileError(f"{where}: expected an object with 'bbox' and 'image_id' or 'file_name', got {entry!r}")
        bbox = entry.get("bbox")
        if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
            raise InputFileError(f"{where}: 'bbox' must be [x, y, w, h] (4 numbers), got {bbox!r}")
        if not all(math.isfinite(v) for v in bbox):
            raise InputFileError(f"{where}: 'bbox' must hold finite numbers, got {bbox!r}")
        score = entry.get("score", 1.0)
        if not (isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score)):
            raise InputFileError(f"{where}: 'score' must be a finite number, got {score!r}")
        category = entry.get("category_id", PERSON)
        name = entry.get("file_name")
        image_id = entry.get("image_id")
        if name is not None:
            name = Path(str(name)).name
        elif isinstance(image_id, int) or (isinstance(image_id, str) and image_id.isdigit()):
            image_id = int(image_id)
        else:
            raise InputFileError(f"{where}: needs 'file_name' or an integer 'image_id', got image_id={image_id!r}")
        return [float(v) for v in bbox], float(score), name, image_id, category

    def boxes(self, file_name: str | None, image_id: int | None) -> tuple[np.ndarray, np.ndarray]:
        """(N, 4) boxes and (N,) scores for an image (by name, then by id) or a frame (by id)."""
        found: list[tuple[list[float], float]] = []
        if file_name is not None:
            found = self.by_name.get(file_name) or self.by_name.get(Path(file_name).stem) or []
        if not found and image_id is not None:
            found = self.by_id.get(image_id, [])
        if not found:
            return np.zeros((0, 4)), np.zeros(0)
        return np.array([b for b, _ in found]), np.array([s for _, s in found])

    def matches_any(self, names: Sequence[str | None], ids: Sequence[int | None]) -> bool:
        for name, image_id in zip(names, ids):
            if len(self.boxes(name, image_id)[0]):
                return True
        return False


class PersonDetector:
    """A torchvision COCO detector loaded from a local weights file; returns person boxes as xywh."""

    def __init__(self, name: str, weights: str | os.PathLike, device: torch.device, score_thr: float) -> None:
        import torchvision

        available = torchvision.models.list_models(module=torchvision.models.detection)
        if name not in available:
            raise UsageError(f"--detector {name!r}: not a torchvision detection model; expected one of {available}")
        if not weights:
            raise UsageError(f"--detector {name} needs --detector-weights FILE (nothing is downloaded)")
        # No download: weights=None, weights_backbone=None, then the user's file.
        model = torchvision.models.get_model(name, weights=None, weights_backbone=None)
        try:
            load_model_weights(model, weights)
        except CheckpointMismatchError as e:
            raise CheckpointMismatchError(f"{e}. Are these weights of torchvision's {name}?") from e
        self.model = model.to(device).eval()
        self.device = device
        self.score_thr = score_thr
        self.name = name

    @torch.no_grad()
    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 4) person boxes ``[x, y, w, h]`` and (N,) scores for an (H, W, 3) BGR image."""
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])  # torchvision detectors take RGB in [0, 1]
        tensor = torch.from_numpy(rgb).to(self.device).permute(2, 0, 1).float().div_(255.0)
        out = self.model([tensor])[0]
        keep = (out["labels"] == PERSON) & (out["scores"] >= self.score_thr)
        xyxy = out["boxes"][keep].cpu().numpy().astype(np.float64)
        scores = out["scores"][keep].cpu().numpy().astype(np.float64)
        xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1) if len(xyxy) else np.zeros((0, 4))
        # A degenerate box (zero width or height) cannot be cropped; the detector rarely makes one.
        ok = (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
        return xywh[ok], scores[ok]
