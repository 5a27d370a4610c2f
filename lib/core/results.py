"""Keypoint results files: the COCO keypoint results format, built and written here only.

A results file is a JSON list with one entry per person: ``image_id``, ``category_id``, ``keypoints``
(``x1, y1, s1, ..., xK, yK, sK``, s the joint score) and ``score`` (the person score), plus where the
person was found. It comes in two forms:

* validation (``dataset.coco``, ``<output dir>/results/keypoints_<set>_results.json``): plus the crop's
  ``center`` and ``scale``, written with sorted keys and an indent of 4, as the original wrote it (and
  pycocotools' ``loadRes`` reads it). :func:`write_coco_keypoint_results`; :func:`results_json_text`
  builds that text ~5x faster than ``json.dumps`` and byte for byte the same.
* the demo (``pose_estimation/demo.py``, ``keypoints_<input name>_results.json``): plus ``bbox``
  ``[x, y, w, h]`` and, for images, ``file_name``, written compactly in that key order.
  :func:`results_of_people` builds its entries from :meth:`core.api.PoseEstimator.predict`'s output,
  :func:`write_results` writes them.

Every file is written whole or not at all (``utils.atomic_io``) and is standard JSON: people with a
NaN or infinite value are left out of the validation file, with one warning.

Both forms are read back with :func:`read_keypoint_results` (``tools/draw_results.py``, the benchmarks).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from utils.atomic_io import write_json, write_text
from utils.cli import InputFileError, read_json

__all__ = ["read_keypoint_results", "results_json_text", "results_of_people", "write_coco_keypoint_results",
           "write_results"]

logger = logging.getLogger(__name__)


def results_json_text(ids: list, cat_id: Any, keypoints: list, scores: list, centers: list, scales: list) -> str:
    """The text of ``json.dumps(results, sort_keys=True, indent=4)`` for finite values, built directly.

    ``cat_id``: one category id for every person, or a list with each person's own.

    ``json`` falls back to its pure-Python encoder when indenting, which takes ~10 s for 100k people;
    formatting each number with ``float.__repr__`` (what json uses) gives the same bytes ~5x faster.
    """
    sep = ",\n            "
    cat_ids = [cat_id] * len(ids) if isinstance(cat_id, (int, np.integer)) else cat_id

    def array(values: list) -> str:
        return "[\n            " + sep.join(map(float.__repr__, values)) + "\n        ]"

    people = [
        '{\n        "category_id": %d,\n        "center": %s,\n        "image_id": %d,\n        "keypoints": %s,'
        '\n        "scale": %s,\n        "score": %s\n    }'
        % (cat, array(c), i, array(k), array(sc), float.__repr__(s))
        for cat, i, k, s, c, sc in zip(cat_ids, ids, keypoints, scores, centers, scales)
    ]
    if not people:
        return "[]"
    return "[\n    " + ",\n    ".join(people) + "\n]"


def write_coco_keypoint_results(res_file: str, preds: np.ndarray, all_boxes: np.ndarray, scores: np.ndarray,
                                image_ids: np.ndarray, category_ids: np.ndarray, keep: list[np.ndarray]) -> None:
    """Validation's results file: one entry per kept person with image_id, category_id, keypoints (3J
    flat), score, center, scale.

    ``preds`` (N, J, 3); ``all_boxes`` (N, 4+), columns 0-1 the centre and 2-3 the scale; ``scores``,
    ``image_ids``, ``category_ids`` (N,); ``keep``: the sample indices to write, in groups (OKS-NMS
    per image), written in that order. Sorted keys and indent 4, as the original; people with a
    non-finite joint, score or box are left out with one warning.
    """
    sel = np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
    keypoints = preds[sel].reshape(len(sel), -1).astype(np.float64).tolist()
    score_list = scores[sel].astype(np.float64).tolist()
    centers = all_boxes[sel, 0:2].astype(np.float64).tolist()
    scales = all_boxes[sel, 2:4].astype(np.float64).tolist()
    ids = image_ids[sel].tolist()
    cats = np.asarray(category_ids)[sel].tolist()
    logger.info("=> Writing results json to %s", res_file)
    finite = (np.isfinite(preds[sel]).reshape(len(sel), -1).all(axis=1) & np.isfinite(scores[sel])
              & np.isfinite(all_boxes[sel, 0:4]).all(axis=1))
    if not finite.all():
        # A results file is always standard JSON: people whose joints, score or box are NaN/inf
        # (a diverged network) are left out, and said so, instead of writing NaN tokens.
        logger.warning("=> %s: %d of %d people have non-finite joints, score or box and are left out",
                       res_file, int((~finite).sum()), len(sel))
        pick = np.flatnonzero(finite).tolist()
        ids, cats, keypoints, score_list, centers, scales = (
            [v[k] for k in pick] for v in (ids, cats, keypoints, score_list, centers, scales))
    write_text(res_file, results_json_text(ids, cats, keypoints, score_list, centers, scales))


def results_of_people(people: list[dict[str, Any]], image_id: int, file_name: str | None,
                      category_id: int) -> list[dict[str, Any]]:
    """The demo's entries for the people of one image or frame (:meth:`core.api.PoseEstimator.predict`'s
    dicts): image_id, category_id, keypoints, score, bbox and, when ``file_name`` is given, file_name."""
    entries = []
    for person in people:
        entry = {
            "image_id": int(image_id),
            "category_id": category_id,
            "keypoints": [float(v) for v in person["keypoints"].reshape(-1)],
            "score": float(person["score"]),
            "bbox": [float(v) for v in person["bbox"]],
        }
        if file_name is not None:
            entry["file_name"] = file_name
        entries.append(entry)
    return entries


def write_results(path: str | os.PathLike, entries: list[dict[str, Any]]) -> None:
    """The demo's results file: ``entries`` as compact JSON."""
    write_json(path, entries)


def _is_result(entry: Any) -> bool:
    """Whether ``entry`` holds what every reader needs: an int image_id, a number score and a
    non-empty keypoints list of ``x, y, score`` triples."""
    return (isinstance(entry, dict) and isinstance(entry.get("image_id"), int)
            and isinstance(entry.get("score"), (int, float))
            and isinstance(entry.get("keypoints"), list) and len(entry["keypoints"]) > 0
            and len(entry["keypoints"]) % 3 == 0)


def read_keypoint_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The entries of a keypoint results file (either form above), as they are in the file.

    A missing file is a ``FileNotFoundError``; a file that is not JSON, not a list of results
    (``image_id`` int, ``score`` number, ``keypoints`` ``[x, y, score, ...]``) or whose people have
    different numbers of joints is an ``InputFileError``; each names the file. An empty list is
    returned as it is: what "no results" means is the caller's to say.
    """
    results = read_json(path, "COCO keypoint results file")
    if not isinstance(results, list) or not all(_is_result(r) for r in results):
        raise InputFileError(f"{Path(path)}: expected a list of COCO keypoint results "
                             "{'image_id': int, 'keypoints': [x, y, score, ...], 'score': number}")
    if len({len(r["keypoints"]) for r in results}) > 1:
        raise InputFileError(f"{Path(path)}: the results have different numbers of joints per person")
    return results
