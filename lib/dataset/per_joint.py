"""Per-joint validation metrics: a logged table and a JSON file beside the results.

* COCO-format sets: the **per-joint OKS term**. For every non-crowd GT person with labelled joints,
  the kept prediction of the same image with the highest OKS against it is taken (none: 0 for every
  joint); for each labelled joint ``j`` the term is ``exp(-d² / (2 · area · (2σ_j)²))``, pycocotools'
  per-joint OKS summand (d: pixel distance, area: the GT area, σ_j: the set's OKS sigma). The table
  gives its mean over the labelled joints of all GT people, in [0, 1].
* COCO-format sets without OKS sigmas: PCK@``TEST.PCK_THRESHOLD`` per joint (``core.keypoint_metrics``).
* MPII: PCKh@0.5 per joint (percent), the per-joint values ``MPIIDataset.evaluate`` already computes,
  all 16 joints (pelvis and thorax too, which the summary table leaves out).

File: ``{"metric": ..., "joints": [{"name", "value", "count"}, ...]}``; ``tools/plot_per_joint.py``
draws it.
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from utils.atomic_io import write_json

logger = logging.getLogger(__name__)

__all__ = ["coco_per_joint_oks", "write_per_joint"]


def coco_per_joint_oks(coco_gt: Any, image_ids: np.ndarray, keypoints: np.ndarray, sigmas: np.ndarray,
                       category_ids: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Mean per-joint OKS term and the labelled-joint counts, each (K,), see the module text.

    Args:
        coco_gt: the pycocotools ``COCO`` of the GT file.
        image_ids: (N,) image id of each kept prediction (the dataset's record ids, never parsed from a path).
        keypoints: (N, K, 3) kept predictions in image pixels.
        sigmas: (K,) OKS sigmas.
        category_ids: the GT people's categories (the dataset's); empty: every category.
    """
    k = len(sigmas)
    variances = (np.asarray(sigmas, np.float64) * 2) ** 2
    sums = np.zeros(k)
    counts = np.zeros(k, dtype=np.int64)
    by_image: dict[int, list[int]] = {}
    for i, img in enumerate(np.asarray(image_ids).tolist()):
        by_image.setdefault(int(img), []).append(i)
    kpts = np.asarray(keypoints, np.float64)
    for img in coco_gt.getImgIds():
        for ann in coco_gt.loadAnns(coco_gt.getAnnIds(imgIds=img, catIds=list(category_ids), iscrowd=False)):
            gt = np.asarray(ann.get("keypoints", []), np.float64).reshape(-1, 3)
            if gt.shape[0] != k:
                continue
            labelled = gt[:, 2] > 0
            if not labelled.any():
                continue
            counts += labelled
            dets = by_image.get(int(img))
            if not dets:
                continue
            d2 = ((kpts[dets, :, :2] - gt[None, :, :2]) ** 2).sum(-1)  # (D, K)
            terms = np.exp(-d2 / variances / (ann["area"] + np.spacing(1)) / 2)
            best = int(np.argmax(terms[:, labelled].mean(axis=1)))
            sums += np.where(labelled, terms[best], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan), counts


def write_per_joint(path: str, metric: str, names: Sequence[str], values: Sequence[float],
                    counts: Sequence[int]) -> None:
    """Log the per-joint table and write it atomically as JSON to ``path``."""
    width = max(len(n) for n in names)
    logger.info("=> per-joint %s:", metric)
    for name, value, count in zip(names, values, counts):
        logger.info("   %s  %8.4f  (%d joints)", name.ljust(width), float(value), int(count))
    rows = [{"name": n, "value": None if not np.isfinite(v) else float(v), "count": int(c)}
            for n, v, c in zip(names, values, counts)]
    write_json(path, {"metric": metric, "joints": rows}, indent=1)
    logger.info("=> per-joint table saved to %s", path)
