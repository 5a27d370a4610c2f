"""PCK, EPE and NME: the scores of COCO-format joint sets that have no OKS sigmas.

Hand, face and animal sets rarely come with OKS sigmas, and their communities score them with
distances instead of OKS AP. The definitions are those mmpose uses (``keypoint_pck_accuracy``,
``keypoint_epe``, ``keypoint_nme``); only joints whose ground-truth visibility flag is > 0
("labelled") count:

* **PCK@t**: a labelled joint is correct when its pixel distance to the ground truth, divided by
  the longer side of the person's annotated ``bbox``, is *below* ``t`` (``TEST.PCK_THRESHOLD``,
  0.2). Per joint: the fraction of that joint's labelled instances that are correct; the reported
  PCK is the mean of the per-joint values over the joints that have at least one labelled instance.
* **EPE**: the mean pixel distance over all labelled joints of all people.
* **NME**: the mean over all labelled joints of the distance divided by the ``bbox``'s longer side,
  or, with ``TEST.NME_KEYPOINTS [i, j]``, by the distance between the person's ground-truth joints
  i and j (e.g. the outer eye corners). People whose normaliser is 0, or whose joints i and j are
  not both labelled, are left out of the NME (and counted in the JSON file).

Predictions are paired with ground-truth people by the record they came from: with GT boxes
(``TEST.USE_GT_BBOX``) every record is one annotated person and gives one prediction. With detector
boxes there is no such link; each image's predictions are then matched one-to-one to its GT
people, closest first (the cost of a pair is the mean normalised distance over the GT person's
labelled joints). A GT person without a prediction counts its labelled joints as wrong in the PCK
and is left out of EPE / NME; extra predictions (false positives) do not count, as in any PCK.

Everything is vectorised over people and joints (``bench/bench_keypoint_metrics.py``).
"""
from __future__ import annotations

import copy
import logging
import math
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from utils.atomic_io import write_json

logger = logging.getLogger(__name__)

__all__ = [
    "KeypointScores",
    "evaluate_without_sigmas",
    "keep_all",
    "keypoint_scores",
    "match_by_image",
    "metric_names",
]


@dataclass
class KeypointScores:
    """PCK / EPE / NME of one evaluation; NaN where nothing could be measured."""

    threshold: float
    pck: float
    epe: float
    nme: float
    per_joint_pck: np.ndarray  # (K,) NaN for a joint without labelled instances
    per_joint_count: np.ndarray  # (K,) labelled instances per joint
    num_people: int
    num_labelled: int
    nme_people: int  # people whose NME normaliser is valid
    extra: dict = field(default_factory=dict)


def metric_names(threshold: float) -> list[str]:
    """The table's column names, e.g. ``['PCK@0.2', 'EPE', 'NME']``."""
    return [f"PCK@{threshold:g}", "EPE", "NME"]


def _distances(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distance of the x, y columns, in float64."""
    pred, gt = np.asarray(pred), np.asarray(gt)
    dx = np.subtract(pred[..., 0], gt[..., 0], dtype=np.float64)
    dy = np.subtract(pred[..., 1], gt[..., 1], dtype=np.float64)
    dx *= dx
    dy *= dy
    dx += dy
    return np.sqrt(dx, out=dx)


def nme_normaliser(gt: np.ndarray, labelled: np.ndarray, box_size: np.ndarray,
                   nme_keypoints: Sequence[int] = ()) -> np.ndarray:
    """(N,) per-person NME normaliser: the box's longer side, or the GT distance of joints i, j.

    NaN where it cannot be used (0, not finite, or joints i / j not both labelled).
    """
    if len(nme_keypoints):
        i, j = int(nme_keypoints[0]), int(nme_keypoints[1])
        norm = _distances(gt[:, i], gt[:, j])
        norm = np.where(labelled[:, i] & labelled[:, j], norm, np.nan)
    else:
        norm = np.asarray(box_size, np.float64).copy()
    return np.where(np.isfinite(norm) & (norm > 0), norm, np.nan)


def keypoint_scores(pred: np.ndarray, gt: np.ndarray, labelled: np.ndarray, box_size: np.ndarray,
                    threshold: float = 0.2, nme_keypoints: Sequence[int] = (),
                    matched: Optional[np.ndarray] = None) -> KeypointScores:
    """PCK@threshold, EPE and NME of N people (see the module text).

    Args:
        pred: (N, K, 2+) predicted joints in image pixels (columns beyond x, y are ignored).
        gt: (N, K, 2+) ground-truth joints in image pixels.
        labelled: (N, K) True where the GT visibility flag is > 0.
        box_size: (N,) the longer side of each person's annotated bbox, in pixels.
        threshold: PCK threshold as a fraction of ``box_size``.
        nme_keypoints: ``()`` (normalise the NME by ``box_size``) or two joint indices ``(i, j)``.
        matched: (N,) False for a GT person without a prediction (detector boxes); None: all matched.
    """
    labelled = np.asarray(labelled, bool)
    n, k = labelled.shape
    box_size = np.asarray(box_size, np.float64).reshape(n)
    matched = np.ones(n, bool) if matched is None else np.asarray(matched, bool)
    dist = _distances(pred, gt) if n else np.zeros((0, k))
    # PCK: a person whose box has no positive size cannot be normalised (left out, as in mmpose)
    box_ok = np.isfinite(box_size) & (box_size > 0)
    pck_valid = labelled & box_ok[:, None]
    correct = pck_valid & matched[:, None] & (dist / np.where(box_ok, box_size, 1.0)[:, None] < threshold)
    counts = np.count_nonzero(pck_valid, axis=0)
    per_joint = np.full(k, np.nan)
    np.divide(np.count_nonzero(correct, axis=0), counts, out=per_joint, where=counts > 0)
    pck = float(per_joint[counts > 0].mean()) if (counts > 0).any() else math.nan

    measured = labelled & matched[:, None]
    num_measured = np.count_nonzero(measured)
    epe = float(np.where(measured, dist, 0.0).sum() / num_measured) if num_measured else math.nan
    norm = nme_normaliser(gt, labelled, box_size, nme_keypoints)
    nme_valid = measured & np.isfinite(norm)[:, None]
    num_nme = np.count_nonzero(nme_valid)
    ratio = dist / np.where(np.isfinite(norm), norm, 1.0)[:, None]
    nme = float(np.where(nme_valid, ratio, 0.0).sum() / num_nme) if num_nme else math.nan
    return KeypointScores(
        threshold=float(threshold), pck=pck, epe=epe, nme=nme, per_joint_pck=per_joint, per_joint_count=counts,
        num_people=int(n), num_labelled=int(labelled.sum()),
        nme_people=int((np.isfinite(norm) & matched & labelled.any(1)).sum()),
    )


def match_by_image(pred_groups: np.ndarray, pred: np.ndarray, gt_groups: np.ndarray, gt: np.ndarray,
                   labelled: np.ndarray, box_size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of predictions to GT people of the same image, closest pairs first.

    Args:
        pred_groups / gt_groups: (P,) / (G,) image keys (any comparable values: ids or paths).
        pred: (P, K, 2+), gt: (G, K, 2+) joints; labelled (G, K); box_size (G,).

    Returns:
        ``(index, matched)``: (G,) the prediction row of each GT person (0 where unmatched) and
        (G,) whether it has one. The cost of a pair is the mean over the GT person's labelled
        joints of distance / box size (box size 1 where it is not positive).
    """
    g_count = len(gt_groups)
    index = np.zeros(g_count, np.int64)
    matched = np.zeros(g_count, bool)
    if g_count == 0 or len(pred_groups) == 0:
        return index, matched
    keys, inverse = np.unique(np.concatenate([np.asarray(pred_groups), np.asarray(gt_groups)]), return_inverse=True)
    p_key, g_key = inverse[: len(pred_groups)], inverse[len(pred_groups):]
    p_order = np.argsort(p_key, kind="stable")
    g_order = np.argsort(g_key, kind="stable")
    p_start = np.searchsorted(p_key[p_order], np.arange(len(keys) + 1))
    g_start = np.searchsorted(g_key[g_order], np.arange(len(keys) + 1))
    size = np.where(np.asarray(box_size, np.float64) > 0, box_size, 1.0)
    lab = np.asarray(labelled, bool)
    p_num, g_num = np.diff(p_start), np.diff(g_start)
    single = np.flatnonzero((p_num == 1) & (g_num == 1))  # one box, one person: nothing to choose
    index[g_order[g_start[single]]] = p_order[p_start[single]]
    matched[g_order[g_start[single]]] = True
    for key in np.flatnonzero((p_num > 0) & (g_num > 0) & ~((p_num == 1) & (g_num == 1))):
        ps = p_order[p_start[key]:p_start[key + 1]]
        gs = g_order[g_start[key]:g_start[key + 1]]
        d = _distances(pred[ps][None, :, :, :2], gt[gs][:, None, :, :2]) / size[gs][:, None, None]  # (g, p, K)
        w = lab[gs][:, None, :]
        cost = (d * w).sum(-1) / np.maximum(w.sum(-1), 1)  # (g, p)
        taken_g, taken_p = set(), set()
        for flat in np.argsort(cost, axis=None, kind="stable"):
            a, b = divmod(int(flat), len(ps))
            if a in taken_g or b in taken_p:
                continue
            taken_g.add(a)
            taken_p.add(b)
            index[gs[a]], matched[gs[a]] = ps[b], True
            if len(taken_g) == len(gs) or len(taken_p) == len(ps):
                break
    return index, matched


def keep_all(image_ids: np.ndarray) -> list[np.ndarray]:
    """Every sample index grouped by image (images in order of first appearance): no OKS-NMS."""
    image_ids = np.asarray(image_ids)
    if image_ids.size == 0:
        return []
    _, first, inverse = np.unique(image_ids, return_index=True, return_inverse=True)
    by_image = np.argsort(inverse, kind="stable")
    groups = np.split(by_image, np.cumsum(np.bincount(inverse))[:-1])
    return [groups[g] for g in np.argsort(first, kind="stable")]


def _gt_arrays(records: Sequence[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GT joints (N, K, 3), labelled (N, K) and box longer side (N,) of dataset records."""
    joints = np.stack([r["joints_3d"] for r in records]).astype(np.float64)
    labelled = np.stack([r["joints_3d_vis"][:, 0] for r in records]) > 0
    boxes = np.asarray([r["ann_bbox"] for r in records], np.float64).reshape(len(records), 4)
    return joints, labelled, np.maximum(boxes[:, 2], boxes[:, 3])


def _json_number(value: float) -> Optional[float]:
    return float(value) if math.isfinite(value) else None


def evaluate_without_sigmas(cfg: Any, dataset: Any, preds: np.ndarray, res_folder: str
                            ) -> tuple["OrderedDict[str, float]", float]:
    """PCK / EPE / NME of a COCO-format validation set without OKS sigmas; ``(name_value, PCK)``.

    ``preds`` (N, K, 3) follow ``dataset.db`` (validation keeps the dataset order). With GT boxes
    record i is GT person i; with detector boxes the GT people are the dataset's annotation
    records, matched per image (see the module text). Writes ``keypoints_<set>_pck.json`` (the
    scores, the definitions used and the per-joint PCK) and ``per_joint_<set>.json`` (the per-joint
    PCK for ``tools/plot_per_joint.py``) to ``res_folder``, atomically.
    """
    from dataset.per_joint import write_per_joint

    if cfg is None:  # evaluate(cfg=None, ...): the defaults
        from core.config import get_default_config

        cfg = get_default_config()
    threshold = float(cfg.TEST.PCK_THRESHOLD)
    nme_keypoints = list(cfg.TEST.NME_KEYPOINTS or [])
    names = list(dataset.keypoints.names)
    preds = np.asarray(preds)
    if len(preds) != len(dataset.db):
        raise ValueError(f"PCK/EPE/NME: {len(preds)} predictions for {len(dataset.db)} records of "
                         f"{dataset.image_set}; validation must predict every record once, in dataset order")
    detector = not (dataset.is_train or dataset.use_gt_bbox)
    if detector:
        # The GT records as GT-box validation reads them, built on a shallow copy so that whatever the
        # loader stores on the dataset (its per-record tables) stays that of the detector records.
        twin = copy.copy(dataset)
        twin.use_gt_bbox = True
        gt_records = twin._load_coco_keypoint_annotations()
        gt, labelled, box_size = _gt_arrays(gt_records)
        index, matched = match_by_image(np.asarray([r["image"] for r in dataset.db]), preds,
                                        np.asarray([r["image"] for r in gt_records]), gt, labelled, box_size)
        scores = keypoint_scores(preds[index], gt, labelled, box_size, threshold, nme_keypoints, matched)
        scores.extra = {"gt_people_without_prediction": int((~matched).sum()),
                        "predictions_unmatched": int(len(preds) - matched.sum())}
        logger.info("=> PCK/EPE/NME with detector boxes: %d GT people matched to the closest prediction of "
                    "their image, %d without one (wrong in PCK, left out of EPE/NME)",
                    int(matched.sum()), int((~matched).sum()))
    else:
        gt, labelled, box_size = _gt_arrays(dataset.db)
        scores = keypoint_scores(preds, gt, labelled, box_size, threshold, nme_keypoints)
    if len(nme_keypoints) and scores.nme_people < scores.num_people:
        logger.info("=> NME: %d of %d people left out (TEST.NME_KEYPOINTS joints not both labelled, or at "
                    "the same place)", scores.num_people - scores.nme_people, scores.num_people)

    pck_name, epe_name, nme_name = metric_names(threshold)
    name_value = OrderedDict([(pck_name, scores.pck), (epe_name, scores.epe), (nme_name, scores.nme)])
    nme_by = ("bbox longer side" if not nme_keypoints else
              f"GT distance of joints {nme_keypoints[0]} ({names[nme_keypoints[0]]}) and "
              f"{nme_keypoints[1]} ({names[nme_keypoints[1]]})")
    path = os.path.join(res_folder, "keypoints_%s_pck.json" % dataset.image_set)
    write_json(path, {
        "metric": "PCK/EPE/NME (the set has no DATASET.OKS_SIGMAS)",
        pck_name: _json_number(scores.pck), epe_name: _json_number(scores.epe), nme_name: _json_number(scores.nme),
        "pck_threshold": threshold, "pck_normalised_by": "bbox longer side", "epe_unit": "pixels",
        "nme_normalised_by": nme_by,
        "boxes": "detector (TEST.COCO_BBOX_FILE)" if detector else "ground truth",
        "people": scores.num_people, "labelled_joints": scores.num_labelled, "nme_people": scores.nme_people,
        **scores.extra,
        "per_joint": [{"name": n, "pck": _json_number(v), "count": int(c)}
                      for n, v, c in zip(names, scores.per_joint_pck, scores.per_joint_count)],
    }, indent=1)
    logger.info("=> PCK/EPE/NME saved to %s", path)
    write_per_joint(os.path.join(res_folder, "per_joint_%s.json" % dataset.image_set), pck_name, names,
                    scores.per_joint_pck, scores.per_joint_count)
    return name_value, scores.pck
