"""Person boxes for top-down pose estimation: a COCO-format detection file or a torchvision detector.

This module is the one reader of detection files (a JSON list of ``{image_id, category_id,
bbox [x, y, w, h], score}``), in two forms that differ as their users need:

* :func:`read_coco_bbox_file`: validation's ``TEST.COCO_BBOX_FILE`` (``dataset.coco``). Every entry
  must hold all four fields as numbers; entries with a NaN / infinite score or box are dropped with
  one warning; degenerate boxes are skipped over the whole file, before any filtering; the entries
  come back as they are in the file, in file order.
* :class:`DetectionFile`: the demo's ``--det-file`` and the Python API. An entry may name its image
  by ``file_name`` instead of ``image_id``; a missing ``score`` is 1 and a missing ``category_id`` is
  person; a NaN / infinite value is an error; degenerate boxes are skipped among the wanted ones.

Both read the file with :func:`read_json_list`, keep an entry by :func:`is_wanted` and skip boxes by
:func:`is_degenerate_box`. Used by ``pose_estimation/demo.py`` and with :class:`core.api.PoseEstimator`::

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from utils.checkpoint import CheckpointMismatchError, load_model_weights
from utils.cli import InputFileError, UsageError

__all__ = ["PERSON", "COCO_BBOX_FILE_TEXTS", "DETECTION_FILE_TEXTS", "DetectionFile", "FileTexts", "PersonDetector",
           "drop_degenerate_boxes", "is_degenerate_box", "is_wanted", "read_coco_bbox_file", "read_json_list"]

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


def is_wanted(category_id: Any, score: float, category_ids: Any, score_thr: float) -> bool:
    """Whether a detection is used: one of ``category_ids`` and a score of at least ``score_thr``
    (a score strictly below it is dropped, so a threshold of 0 keeps every box)."""
    return category_id in category_ids and not score < score_thr


@dataclass(frozen=True)
class FileTexts:
    """How a reader words the errors about the file as a whole (``{path}``, ``{error}``, ``{kind}`` are
    filled in). ``chain``: the JSON error is the cause of the raised one; ``empty_log``: an error
    logged (``%s``: the path) before the empty list is refused."""

    not_found: str
    not_json: str
    not_list: str
    empty: str
    chain: bool
    empty_log: str = ""


# The demo's --det-file and the API (DetectionFile).
DETECTION_FILE_TEXTS = FileTexts(
    not_found="detection file not found: {path}",
    not_json="detection file {path} is not valid JSON: {error}",
    not_list="detection file {path}: expected a JSON list of detections, got {kind}",
    empty="detection file {path} is empty: it holds no detections",
    chain=False)

# Validation's TEST.COCO_BBOX_FILE (read_coco_bbox_file).
COCO_BBOX_FILE_TEXTS = FileTexts(
    not_found="COCO detection file (TEST.COCO_BBOX_FILE) not found: {path}",
    not_json="COCO detection file is not valid JSON: {path} ({error})",
    not_list="COCO detection file {path} must hold a JSON list of "
             "{{image_id, category_id, bbox [x, y, w, h], score}}; got a {kind}",
    empty="COCO detection file {path} holds an empty list: no person boxes to evaluate",
    chain=True, empty_log="=> Load %s fail!")  # the original's log line


def read_json_list(path: str | os.PathLike, texts: FileTexts) -> list:
    """The non-empty JSON list in the file ``path``; a missing file is a ``FileNotFoundError``, a file
    that is not JSON (or not UTF-8), not a list or an empty list an ``InputFileError``, worded by ``texts``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(texts.not_found.format(path=path))
    with open(path, "r", encoding="utf-8") as f:
        try:
            entries = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            error = InputFileError(texts.not_json.format(path=path, error=e))
            raise error from (e if texts.chain else None)
    if not isinstance(entries, list):
        raise InputFileError(texts.not_list.format(path=path, kind=type(entries).__name__))
    if not entries:
        if texts.empty_log:
            logger.error(texts.empty_log, path)
        raise InputFileError(texts.empty.format(path=path))
    return entries


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_coco_bbox_file(path: str) -> list[dict]:
    """The detections of ``TEST.COCO_BBOX_FILE``, checked entry by entry: the file's own dicts, in file
    order, less those with a NaN / infinite score or box (dropped with one warning) and the
    degenerate boxes (:func:`drop_degenerate_boxes`); the category and score filters are the caller's
    (:func:`is_wanted`)."""
    if not path:
        raise FileNotFoundError(
            "TEST.COCO_BBOX_FILE is empty: set it to a person detection json, or set TEST.USE_GT_BBOX True")
    all_boxes = read_json_list(path, COCO_BBOX_FILE_TEXTS)
    for i, det in enumerate(all_boxes):
        bbox = det.get("bbox") if isinstance(det, dict) else None
        if not (
            isinstance(det, dict)
            and _is_number(det.get("image_id"))
            and _is_number(det.get("category_id"))
            and _is_number(det.get("score"))
            and isinstance(bbox, list)
            and len(bbox) == 4
            and all(_is_number(v) for v in bbox)
        ):
            shown = json.dumps(det)[:200]
            raise InputFileError(
                f"COCO detection file {path}: entry {i} is not "
                f"{{image_id, category_id, bbox: [x, y, w, h], score}} with numbers: {shown}")
    finite = [det for det in all_boxes if math.isfinite(det["score"]) and all(map(math.isfinite, det["bbox"]))]
    if len(finite) < len(all_boxes):
        logger.warning("=> COCO detection file %s: dropped %d of %d entries whose score or bbox is NaN/Infinity",
                       path, len(all_boxes) - len(finite), len(all_boxes))
    return drop_degenerate_boxes(finite, f"COCO detection file {path}")  # zero-size / 1e9-px boxes


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
        entries = read_json_list(self.path, DETECTION_FILE_TEXTS)
        self.by_name: dict[str, list[tuple[list[float], float]]] = defaultdict(list)
        self.by_id: dict[int, list[tuple[list[float], float]]] = defaultdict(list)
        kept = 0
        degenerate: list[int] = []
        for i, entry in enumerate(entries):
            box, score, name, image_id, category = self._parse(entry, i)
            if not is_wanted(category, score, wanted, score_thr):
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
        if isinstance(category, (list, dict)):  # unhashable: it could not even be compared with the wanted ids
            raise InputFileError(f"{where}: 'category_id' must be a number, got {category!r}")
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
