"""COCO person keypoints (17 joints): records, detection boxes and keypoint AP (spec/pipeline.md §3).

Layout under ``DATASET.ROOT`` (the original's)::

    annotations/person_keypoints_<set>.json      (image_info_<set>.json for test sets)
    images/<set>/000000000139.jpg                (images/<set>.zip@/... with DATA_FORMAT zip;
                                                   test sets read images/test2017)
    person_detection_results/*.json              (TEST.COCO_BBOX_FILE)

Records are GT boxes when training or with ``TEST.USE_GT_BBOX``, else detector boxes. Boxes are
``[x, y, w, h]`` in pixels; a record's ``center`` is the box centre and ``scale`` the box size / 200,
padded to the ``IMAGE_SIZE`` aspect ratio and enlarged by 1.25.

``DATASET.FIX_BOX_CLEANING`` (default False = original): the original cleaning shrinks every GT box
by one pixel and *shifts* a box that starts left of / above the image instead of cutting it
(spec/pipeline.md §3.2, §12.4). With the switch on, a GT box is treated as the continuous rectangle
``[x, x + w] x [y, y + h]`` and cut to the image rectangle ``[0, W] x [0, H]``:
``x1 = max(0, x)``, ``x2 = min(W, x + w)`` (same for y), kept if ``area > 0`` and ``x2 > x1`` and
``y2 > y1``, giving ``[x1, y1, x2 - x1, y2 - y1]``: no 1-px shrink, no shift, and a box fully inside
the image is left as it is, like detector boxes (which are never cleaned).
"""
from __future__ import annotations

import json
import logging
import math
import os
import pickle
from collections import OrderedDict
from typing import Any, Optional, Sequence

import numpy as np

from .JointsDataset import JointsDataset
from .keypoints import COCO_KEYPOINTS, KeypointInfo, keypoints_of_category, with_upper_body_ids

logger = logging.getLogger(__name__)

__all__ = ["COCODataset", "COCO_STATS_NAMES", "box_to_center_scale", "rescore"]

PIXEL_STD = 200  # box sizes are stored in units of 200 px (spec §3.3)


def box_to_center_scale(x: float, y: float, w: float, h: float, aspect_ratio: float,
                        pixel_std: float = PIXEL_STD) -> tuple[np.ndarray, np.ndarray]:
    """Box ``[x, y, w, h]`` -> ``center`` (2,) float32, ``scale`` (2,) float32 (spec §3.3).

    The box is padded to ``aspect_ratio`` (IMAGE_SIZE width / height), divided by 200 and enlarged
    by 1.25. Used by the dataset and by ``core.api``.
    """
    center = np.zeros((2), dtype=np.float32)
    center[0] = x + w * 0.5
    center[1] = y + h * 0.5

    if w > aspect_ratio * h:
        h = w * 1.0 / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w * 1.0 / pixel_std, h * 1.0 / pixel_std], dtype=np.float32)
    # The -1 guard comes from MPII conventions and is always true here (spec §3.3).
    if center[0] != -1:
        scale = scale * 1.25
    return center, scale


def rescore(preds: np.ndarray, box_scores: np.ndarray, in_vis_thre: float) -> np.ndarray:
    """Box score x mean of the keypoint maxima above ``in_vis_thre`` (0 when none is), (N,).

    ``preds`` (N, J, 3+), column 2 the joint score. The sum runs joint by joint in the dtype of
    ``preds``, as the original's Python loop (spec §3.5 step 4).
    """
    conf = preds[:, :, 2]
    above = conf > in_vis_thre
    total = np.zeros(conf.shape[0], dtype=conf.dtype)
    for j in range(conf.shape[1]):
        total += np.where(above[:, j], conf[:, j], 0)
    count = above.sum(axis=1)
    kpt_score = np.where(count > 0, total / np.maximum(count, 1).astype(conf.dtype), 0)
    return kpt_score * box_scores

# Names paired with COCOeval.stats[0..9]; 'Ap .5' (sic) as in the original logs (spec §12.14).
COCO_STATS_NAMES = ["AP", "Ap .5", "AP .75", "AP (M)", "AP (L)", "AR", "AR .5", "AR .75", "AR (M)", "AR (L)"]


def _atomic_write_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _results_json_text(ids: list, cat_id: int, keypoints: list, scores: list, centers: list, scales: list) -> str:
    """The text of ``json.dumps(results, sort_keys=True, indent=4)`` for finite values, built directly.

    ``json`` falls back to its pure-Python encoder when indenting, which takes ~10 s for 100k people;
    formatting each number with ``float.__repr__`` (what json uses) gives the same bytes ~5x faster.
    """
    sep = ",\n            "

    def array(values: list) -> str:
        return "[\n            " + sep.join(map(float.__repr__, values)) + "\n        ]"

    people = [
        '{\n        "category_id": %d,\n        "center": %s,\n        "image_id": %d,\n        "keypoints": %s,'
        '\n        "scale": %s,\n        "score": %s\n    }'
        % (cat_id, array(c), i, array(k), array(sc), float.__repr__(s))
        for i, k, s, c, sc in zip(ids, keypoints, scores, centers, scales)
    ]
    if not people:
        return "[]"
    return "[\n    " + ",\n    ".join(people) + "\n]"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_finite_keypoints(ann_file: str, annotations: list) -> None:
    """NaN / Infinity in annotation keypoints or boxes (JSON readers accept them) would move the AP silently."""
    bad = [ann.get("id") for ann in annotations
           if not all(map(math.isfinite, ann.get("keypoints", ()))) or not all(map(math.isfinite, ann.get("bbox", ())))]
    if bad:
        shown = ", ".join(str(i) for i in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise ValueError(f"COCO annotation file {ann_file}: {len(bad)} annotation(s) have non-finite (NaN/Infinity) "
                         f"keypoints or bbox; annotation id(s) {shown}")


class COCODataset(JointsDataset):
    """COCO keypoints; ``db`` records as in spec/pipeline.md §2.1 and §3.2 / §3.4.

    Joint order: 0 nose, 1-2 eyes (l, r), 3-4 ears, 5-6 shoulders, 7-8 elbows, 9-10 wrists,
    11-12 hips, 13-14 knees, 15-16 ankles (left before right).
    """

    # Left/right joint pairs of COCO-17 (spec/pipeline.md §3.1); the joint set in use is ``self.keypoints``.
    FLIP_PAIRS = COCO_KEYPOINTS.flip_pairs

    def __init__(self, cfg: Any, root: str, image_set: str, is_train: bool, transform: Any = None) -> None:
        super().__init__(cfg, root, image_set, is_train, transform)
        self.nms_thre = cfg.TEST.NMS_THRE
        self.image_thre = cfg.TEST.IMAGE_THRE
        self.oks_thre = cfg.TEST.OKS_THRE
        self.soft_nms = cfg.TEST.SOFT_NMS
        self.in_vis_thre = cfg.TEST.IN_VIS_THRE
        self.bbox_file = cfg.TEST.COCO_BBOX_FILE
        self.use_gt_bbox = cfg.TEST.USE_GT_BBOX
        self.fix_box_cleaning = bool(cfg.DATASET.get("FIX_BOX_CLEANING", False))
        self.image_width = self.image_size[0]
        self.image_height = self.image_size[1]
        self.aspect_ratio = self.image_width * 1.0 / self.image_height
        self.pixel_std = PIXEL_STD

        self.coco = self._load_coco(self._get_ann_file_keypoint())
        self.keypoints = self._read_keypoint_info(cfg)  # also sets category_id / category_name

        cats = [cat["name"] for cat in self.coco.loadCats(self.coco.getCatIds())]
        self.classes = ["__background__"] + cats
        logger.info("=> classes: %s", self.classes)
        self.num_classes = len(self.classes)

        self.image_set_index = self._load_image_set_index()
        self.num_images = len(self.image_set_index)
        logger.info("=> num_images: %d", self.num_images)

        self.num_joints = self.keypoints.num_joints
        self.flip_pairs = [list(pair) for pair in self.keypoints.flip_pairs]
        self.parent_ids = None
        self.upper_body_ids = self.keypoints.upper_body_ids
        self.lower_body_ids = self.keypoints.lower_body_ids

        self.db = self._get_db()

        if is_train and cfg.DATASET.SELECT_DATA:
            self.db = self.select_data(self.db)

        logger.info("=> load %d samples", len(self.db))
        if not self.db:
            source = self.bbox_file if not (self.use_gt_bbox or is_train) else self._get_ann_file_keypoint()
            raise ValueError(f"{source}: 0 samples for DATASET {'TRAIN_SET' if is_train else 'TEST_SET'} "
                             f"{image_set!r}: no person with at least one labelled keypoint")

    # ---------------------------------------------------------------------------------------------
    # files

    def _read_keypoint_info(self, cfg: Any) -> KeypointInfo:
        """The joint set of the annotation file's keypoint category (the first one; its name is free).

        Sets :attr:`category_id`, that category's id: the annotations, the detection boxes and the
        results of this dataset are those of that category (1, ``person``, in COCO).
        """
        ann_file = self._get_ann_file_keypoint()
        cats = self.coco.loadCats(self.coco.getCatIds())
        if not cats:
            raise ValueError(f"{ann_file}: no categories; a COCO keypoint file needs one with 'keypoints'")
        info = with_upper_body_ids(keypoints_of_category(cfg, cats[0], ann_file), cfg, ann_file)
        self.category_id = int(cats[0]["id"])
        self.category_name = str(cats[0].get("name", self.category_id))
        if self.prob_half_body > 0 and not info.upper_body_ids:
            raise ValueError(
                f"DATASET.PROB_HALF_BODY={self.prob_half_body}: half-body augmentation needs the upper-body joints, "
                f"which only the COCO-17 and MPII-16 sets define ({ann_file} has {info.num_joints} joints); "
                "list them in DATASET.UPPER_BODY_IDS (0-based joint ids) or set DATASET.PROB_HALF_BODY 0")
        return info

    def _get_ann_file_keypoint(self) -> str:
        """``<root>/annotations/person_keypoints_<set>.json`` (``image_info_`` for test sets)."""
        prefix = "person_keypoints" if "test" not in self.image_set else "image_info"
        return os.path.join(self.root, "annotations", prefix + "_" + self.image_set + ".json")

    @staticmethod
    def _load_coco(ann_file: str):
        from pycocotools.coco import COCO

        if not os.path.isfile(ann_file):
            raise FileNotFoundError(f"COCO annotation file not found: {ann_file}")
        try:
            coco = COCO(ann_file)
        except json.JSONDecodeError as e:
            raise ValueError(f"COCO annotation file is not valid JSON: {ann_file} ({e})") from e
        except AssertionError as e:  # pycocotools asserts a dict top level
            raise ValueError(f"COCO annotation file {ann_file}: the top level must be a JSON object with "
                             "'images', 'annotations' and 'categories'; got another JSON value") from e
        missing = [key for key in ("images", "categories") if key not in coco.dataset]
        if missing:
            raise ValueError(f"COCO annotation file {ann_file}: no {' or '.join(repr(k) for k in missing)} "
                             "list; expected a COCO keypoints file with 'images', 'annotations' and 'categories'")
        _check_finite_keypoints(ann_file, coco.dataset.get("annotations", []))
        return coco

    def _load_image_set_index(self) -> list[int]:
        return self.coco.getImgIds()

    def image_path_from_index(self, index: int) -> str:
        """Image path of a COCO image id, e.g. ``<root>/images/val2017/000000000139.jpg``."""
        file_name = "%012d.jpg" % index
        if "2014" in self.image_set:
            file_name = "COCO_%s_" % self.image_set + file_name
        prefix = "test2017" if "test" in self.image_set else self.image_set
        data_name = prefix + ".zip@" if self.data_format == "zip" else prefix
        return os.path.join(self.root, "images", data_name, file_name)

    # ---------------------------------------------------------------------------------------------
    # records

    def _get_db(self) -> list[dict]:
        if self.is_train or self.use_gt_bbox:
            return self._load_coco_keypoint_annotations()
        return self._load_coco_person_detection_results()

    def _load_coco_keypoint_annotations(self) -> list[dict]:
        gt_db: list[dict] = []
        for index in self.image_set_index:
            gt_db.extend(self._load_coco_keypoint_annotation_kernal(index))
        others = sum(1 for ann in self.coco.dataset.get("annotations", [])
                     if ann.get("category_id") != self.category_id)
        if others:
            logger.warning("=> %s: %d annotation(s) of categories other than %r (category_id %d) are not used: "
                           "a dataset has one keypoint category, the file's first",
                           self._get_ann_file_keypoint(), others, self.category_name, self.category_id)
        return gt_db

    def _clean_bbox(self, bbox: Sequence[float], width: int, height: int) -> Optional[list]:
        """The cleaned ``[x, y, w, h]`` of a GT box, or None when the box is dropped."""
        x, y, w, h = bbox[:4]
        if self.fix_box_cleaning:
            x1 = max(0, x)
            y1 = max(0, y)
            x2 = min(width, x + w)
            y2 = min(height, y + h)
            if x2 > x1 and y2 > y1:
                return [x1, y1, x2 - x1, y2 - y1]
            return None
        # Inclusive-pixel shrink and shift-not-cut on the left/top: spec/pipeline.md §3.2, §12.4.
        x1 = np.max((0, x))
        y1 = np.max((0, y))
        x2 = np.min((width - 1, x1 + np.max((0, w - 1))))
        y2 = np.min((height - 1, y1 + np.max((0, h - 1))))
        if x2 >= x1 and y2 >= y1:
            return [x1, y1, x2 - x1, y2 - y1]
        return None

    def _load_coco_keypoint_annotation_kernal(self, index: int) -> list[dict]:
        """GT records of one image: crowd excluded, boxes cleaned, people with no keypoint skipped."""
        im_ann = self.coco.loadImgs(index)[0]
        width = im_ann["width"]
        height = im_ann["height"]

        ann_ids = self.coco.getAnnIds(imgIds=index, iscrowd=False)
        objs = self.coco.loadAnns(ann_ids)

        valid_objs = []
        for obj in objs:
            clean = self._clean_bbox(obj["bbox"], width, height)
            if obj["area"] > 0 and clean is not None:
                valid_objs.append((obj, clean))

        rec = []
        for obj, clean_bbox in valid_objs:
            if obj["category_id"] != self.category_id:
                continue
            keypoints = obj["keypoints"]
            if max(keypoints) == 0:
                continue
            kpts = np.asarray(keypoints, dtype=np.float64)
            if kpts.size != self.num_joints * 3:
                raise ValueError(
                    f"{self._get_ann_file_keypoint()}: annotation {obj.get('id')} has {kpts.size} keypoint "
                    f"values; expected {self.num_joints * 3}")
            kpts = kpts.reshape(self.num_joints, 3)
            joints_3d = np.zeros((self.num_joints, 3), dtype=np.float64)
            joints_3d[:, 0:2] = kpts[:, 0:2]
            # COCO v=1 (labelled, occluded) and v=2 (visible) both count as visible (spec §12.5).
            t_vis = np.minimum(kpts[:, 2], 1)
            joints_3d_vis = np.zeros((self.num_joints, 3), dtype=np.float64)
            joints_3d_vis[:, 0] = t_vis
            joints_3d_vis[:, 1] = t_vis

            center, scale = self._box2cs(clean_bbox[:4])
            rec.append({
                "image": self.image_path_from_index(index),
                "center": center,
                "scale": scale,
                "joints_3d": joints_3d,
                "joints_3d_vis": joints_3d_vis,
                "filename": "",
                "imgnum": 0,
            })
        return rec

    def _box2cs(self, box: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        x, y, w, h = box[:4]
        return self._xywh2cs(x, y, w, h)

    def _xywh2cs(self, x: float, y: float, w: float, h: float) -> tuple[np.ndarray, np.ndarray]:
        """Box ``[x, y, w, h]`` -> ``center``, ``scale``: :func:`box_to_center_scale`."""
        return box_to_center_scale(x, y, w, h, self.aspect_ratio, self.pixel_std)

    def _read_detections(self) -> list:
        """The detection list of ``TEST.COCO_BBOX_FILE``, checked entry by entry."""
        path = self.bbox_file
        if not path:
            raise FileNotFoundError(
                "TEST.COCO_BBOX_FILE is empty: set it to a person detection json, or set TEST.USE_GT_BBOX True")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"COCO detection file (TEST.COCO_BBOX_FILE) not found: {path}")
        with open(path, "r", encoding="utf-8") as f:
            try:
                all_boxes = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"COCO detection file is not valid JSON: {path} ({e})") from e
        if not isinstance(all_boxes, list):
            raise ValueError(
                f"COCO detection file {path} must hold a JSON list of "
                f"{{image_id, category_id, bbox [x, y, w, h], score}}; got a {type(all_boxes).__name__}")
        if not all_boxes:
            logger.error("=> Load %s fail!", path)
            raise ValueError(f"COCO detection file {path} holds an empty list: no person boxes to evaluate")
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
                raise ValueError(
                    f"COCO detection file {path}: entry {i} is not "
                    f"{{image_id, category_id, bbox: [x, y, w, h], score}} with numbers: {shown}")
        finite = [det for det in all_boxes if math.isfinite(det["score"]) and all(map(math.isfinite, det["bbox"]))]
        if len(finite) < len(all_boxes):
            logger.warning("=> COCO detection file %s: dropped %d of %d entries whose score or bbox is NaN/Infinity",
                           path, len(all_boxes) - len(finite), len(all_boxes))
        from core.detections import drop_degenerate_boxes  # zero-size / 1e9-px boxes: skipped, one warning

        return drop_degenerate_boxes(finite, f"COCO detection file {path}")

    def _load_coco_person_detection_results(self) -> list[dict]:
        all_boxes = self._read_detections()
        logger.info("=> Total boxes: %d", len(all_boxes))

        kpt_db = []
        num_boxes = 0
        for det_res in all_boxes:
            if det_res["category_id"] != self.category_id:
                continue
            score = det_res["score"]
            # Strictly below the threshold is dropped (0.0 keeps everything).
            if score < self.image_thre:
                continue
            num_boxes = num_boxes + 1

            center, scale = self._box2cs(det_res["bbox"])
            kpt_db.append({
                "image": self.image_path_from_index(det_res["image_id"]),
                "center": center,
                "scale": scale,
                "score": score,
                "joints_3d": np.zeros((self.num_joints, 3), dtype=np.float64),
                "joints_3d_vis": np.ones((self.num_joints, 3), dtype=np.float64),
            })

        unknown = sorted({det["image_id"] for det in all_boxes if det["category_id"] == self.category_id
                          and det["score"] >= self.image_thre and det["image_id"] not in self.coco.imgs})
        if unknown:
            shown = ", ".join(str(i) for i in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
            raise ValueError(f"COCO detection file {self.bbox_file}: {len(unknown)} image_id(s) are not in "
                             f"{self._get_ann_file_keypoint()}: {shown}")
        logger.info("=> Total boxes after filter low score@%s: %d", self.image_thre, num_boxes)
        if num_boxes == 0:
            raise ValueError(
                f"COCO detection file {self.bbox_file}: no {self.category_name} box (category_id "
                f"{self.category_id}, the keypoint category of {self._get_ann_file_keypoint()}) with score >= "
                f"TEST.IMAGE_THRE={self.image_thre} among its {len(all_boxes)} entries")
        return kpt_db

    # ---------------------------------------------------------------------------------------------
    # evaluation

    def evaluate(self, cfg: Any, preds: np.ndarray, output_dir: str, all_boxes: np.ndarray,
                 img_path: Sequence[str], *args: Any, **kwargs: Any):
        """Rescore, OKS-NMS per image, write the results json and run COCOeval (spec §3.5).

        Args:
            cfg: the config (unused; thresholds were read at construction, as in the original).
            preds: (N, J, 3) keypoints ``x, y, heat-map max`` in original-image pixels.
            output_dir: results go to ``<output_dir>/results/keypoints_<set>_results.json``.
            all_boxes: (N, 6) ``center x, y, scale w, h, area, score`` per sample.
            img_path: N image paths; the image id is the 12 digits before ``.jpg``.

        Returns:
            ``(OrderedDict(stat name -> value), AP)`` with values in [0, 1]; for test sets
            (``'test'`` in the set name) only the json is written and ``({'Null': 0}, 0)`` returned.
        """
        preds = np.asarray(preds)
        all_boxes = np.asarray(all_boxes)
        num = preds.shape[0]
        if preds.ndim != 3 or preds.shape[1:] != (self.num_joints, 3):
            raise ValueError(f"preds must have shape (N, {self.num_joints}, 3); got {preds.shape}")
        if all_boxes.ndim != 2 or all_boxes.shape[0] < num or all_boxes.shape[1] < 6:
            raise ValueError(f"all_boxes must have shape ({num}, 6); got {all_boxes.shape}")
        if len(img_path) < num:
            raise ValueError(f"img_path has {len(img_path)} entries for {num} predictions")
        if num == 0:
            raise ValueError("COCO evaluate got no predictions (preds has 0 rows)")

        res_folder = os.path.join(output_dir, "results")
        os.makedirs(res_folder, exist_ok=True)
        res_file = os.path.join(res_folder, "keypoints_%s_results.json" % self.image_set)

        try:
            # The 12 digits before '.jpg' (also right for 2014 names and zip paths).
            image_ids = np.array([int(p[-16:-4]) for p in img_path[:num]], dtype=np.int64)
        except ValueError:
            bad = next(p for p in img_path[:num] if not p[-16:-4].isdigit())
            raise ValueError(f"cannot read a COCO image id (12 digits before '.jpg') from image path {bad!r}") from None
        scores = self._rescore(preds, all_boxes[:num, 5])
        keep = self._oks_nms_per_image(preds, all_boxes[:num, 4], scores, image_ids)

        self._write_coco_keypoint_results(preds, all_boxes, scores, image_ids, keep, res_file)
        if "test" not in self.image_set:
            self._write_per_joint(preds, image_ids, keep, res_folder)
            info_str = self._do_python_keypoint_eval(res_file, res_folder)
            name_value = OrderedDict(info_str)
            return name_value, name_value["AP"]
        return {"Null": 0}, 0

    def _rescore(self, preds: np.ndarray, box_scores: np.ndarray) -> np.ndarray:
        """:func:`rescore` with ``TEST.IN_VIS_THRE``."""
        return rescore(preds, box_scores, self.in_vis_thre)

    def _oks_nms_per_image(self, preds: np.ndarray, areas: np.ndarray, scores: np.ndarray,
                           image_ids: np.ndarray) -> list[np.ndarray]:
        """Kept sample indices per image: images in order of first appearance, people in keep order."""
        from nms.nms import oks_nms, soft_oks_nms

        if image_ids.size == 0:
            return []
        # COCO-17 keeps nms.nms's own default (the original call); other sets pass theirs.
        sigmas = None if self.keypoints is COCO_KEYPOINTS else self.keypoints.oks_sigmas()
        _, first, inverse = np.unique(image_ids, return_index=True, return_inverse=True)
        by_image = np.argsort(inverse, kind="stable")  # sample indices grouped by image, in order
        counts = np.bincount(inverse)
        groups = np.split(by_image, np.cumsum(counts)[:-1])
        kept = []
        for g in np.argsort(first, kind="stable"):
            members = groups[g]
            kpts_db = [
                {"score": scores[i], "keypoints": preds[i], "area": areas[i]} for i in members.tolist()
            ]
            if self.soft_nms:
                keep = soft_oks_nms(kpts_db, self.oks_thre, sigmas)
            else:
                keep = oks_nms(kpts_db, self.oks_thre, sigmas)
            # An empty keep list keeps every person, as the original.
            kept.append(members[np.asarray(keep, dtype=np.int64)] if len(keep) else members)
        return kept

    def _write_per_joint(self, preds: np.ndarray, image_ids: np.ndarray, keep: list[np.ndarray],
                         res_folder: str) -> None:
        """``per_joint_<set>.json``: the per-joint OKS term of the kept people (dataset.per_joint)."""
        from .per_joint import coco_per_joint_oks, write_per_joint

        sel = np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
        values, counts = coco_per_joint_oks(self.coco, image_ids[sel], preds[sel], self.keypoints.oks_sigmas())
        write_per_joint(os.path.join(res_folder, "per_joint_%s.json" % self.image_set), "OKS term",
                        self.keypoints.names, values, counts)

    def _write_coco_keypoint_results(self, preds: np.ndarray, all_boxes: np.ndarray, scores: np.ndarray,
                                     image_ids: np.ndarray, keep: list[np.ndarray], res_file: str) -> None:
        """One dict per kept person: image_id, category_id, keypoints (3J flat), score, center, scale.

        Written with sorted keys and indent 4 like the original, to a temporary file then renamed,
        so a partial file can never be read (no "repair" step needed).
        """
        sel = np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
        keypoints = preds[sel].reshape(len(sel), -1).astype(np.float64).tolist()
        score_list = scores[sel].astype(np.float64).tolist()
        centers = all_boxes[sel, 0:2].astype(np.float64).tolist()
        scales = all_boxes[sel, 2:4].astype(np.float64).tolist()
        ids = image_ids[sel].tolist()
        logger.info("=> Writing results json to %s", res_file)
        finite = (np.isfinite(preds[sel]).reshape(len(sel), -1).all(axis=1) & np.isfinite(scores[sel])
                  & np.isfinite(all_boxes[sel, 0:4]).all(axis=1))
        if not finite.all():
            # A results file is always standard JSON: people whose joints, score or box are NaN/inf
            # (a diverged network) are left out, and said so, instead of writing NaN tokens.
            logger.warning("=> %s: %d of %d people have non-finite joints, score or box and are left out",
                           res_file, int((~finite).sum()), len(sel))
            pick = np.flatnonzero(finite).tolist()
            ids, keypoints, score_list, centers, scales = (
                [v[k] for k in pick] for v in (ids, keypoints, score_list, centers, scales))
        text = _results_json_text(ids, self.category_id, keypoints, score_list, centers, scales)
        _atomic_write_text(res_file, text)

    def _do_python_keypoint_eval(self, res_file: str, res_folder: str) -> list[tuple[str, float]]:
        from pycocotools.cocoeval import COCOeval

        coco_dt = self.coco.loadRes(res_file)
        coco_eval = COCOeval(self.coco, coco_dt, "keypoints")
        coco_eval.params.useSegm = None  # legacy attribute, harmless (spec §12.33)
        coco_eval.params.catIds = [self.category_id]  # COCO's default too: its only category, person (1)
        if self.keypoints is not COCO_KEYPOINTS:
            coco_eval.params.kpt_oks_sigmas = self.keypoints.oks_sigmas()
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()

        info_str = [(name, float(coco_eval.stats[ind])) for ind, name in enumerate(COCO_STATS_NAMES)]

        eval_file = os.path.join(res_folder, "keypoints_%s_results.pkl" % self.image_set)
        tmp = f"{eval_file}.tmp.{os.getpid()}"
        with open(tmp, "wb") as f:
            pickle.dump(coco_eval, f, pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, eval_file)
        logger.info("=> coco eval results saved to %s", eval_file)
        return info_str
