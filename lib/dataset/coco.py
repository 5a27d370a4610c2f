"""COCO person keypoints (17 joints): records, detection boxes and keypoint AP.

Layout under ``DATASET.ROOT`` (the original's)::

    annotations/person_keypoints_<set>.json      (image_info_<set>.json for test sets)
    images/<set>/000000000139.jpg                (images/<set>.zip@/... with DATA_FORMAT zip;
                                                   test sets read images/test2017)
    person_detection_results/*.json              (TEST.COCO_BBOX_FILE)

An export of an annotation tool is read where it lies: ``DATASET.TRAIN_ANN_FILE`` / ``TEST_ANN_FILE``
name its JSON files and ``DATASET.TRAIN_IMAGE_DIR`` / ``TEST_IMAGE_DIR`` the folders (or, with
``DATA_FORMAT zip``, the archives) that its ``file_name`` entries are relative to; empty keys keep
the layout above. An image is always found by its ``file_name`` (sub-folders and any extension
OpenCV reads), and every record keeps the id of its image and its category (:attr:`db_image_ids`,
:attr:`db_category_ids`), which the results files and OKS-NMS use; COCO's own file names are the
12-digit ids, so for COCO nothing changes.

Files as annotation tools write them are completed in memory, never rewritten: a missing
``iscrowd`` is 0, a missing ``num_keypoints`` is counted from the visibility flags, a missing
``area`` is the box area x 0.53 (the CrowdPose / xtcocotools convention, logged once). The keypoint
categories whose joint names equal the first keypoint category's form the dataset (an AP-10K-style
file of many species; ``DATASET.CATEGORY_IDS`` picks them explicitly); their evaluation pools the
categories (pycocotools ``useCats = 0``). A file that names no joints gets K from its annotations
and names from ``DATASET.KEYPOINT_NAMES`` (else ``'0'`` .. ``'K-1'``).

Records are GT boxes when training or with ``TEST.USE_GT_BBOX``, else detector boxes. Boxes are
``[x, y, w, h]`` in pixels; a record's ``center`` is the box centre and ``scale`` the box size / 200,
padded to the ``IMAGE_SIZE`` aspect ratio and enlarged by 1.25.

``DATASET.FIX_BOX_CLEANING`` (default False = original): the original cleaning shrinks every GT box
by one pixel and *shifts* a box that starts left of / above the image instead of cutting it
(the original's ``_load_coco_keypoint_annotation_kernal``). With the switch on, a GT box is treated as
the continuous rectangle ``[x, x + w] x [y, y + h]`` and cut to the image rectangle ``[0, W] x [0, H]``:
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

from core.config import ConfigError
from core.detections import is_wanted, read_coco_bbox_file
from core.keypoint_metrics import evaluate_without_sigmas, keep_all
from core.results import write_coco_keypoint_results
from utils.atomic_io import write_pickle
from utils.cli import InputFileError

from .JointsDataset import JointsDataset
from .keypoints import (
    COCO_KEYPOINTS,
    KeypointInfo,
    category_joint_names,
    clean_skeleton,
    keypoints_of_category,
    resolve_for_config,
    with_upper_body_ids,
)

logger = logging.getLogger(__name__)

__all__ = ["COCODataset", "COCO_STATS_NAMES", "box_to_center_scale", "rescore"]

PIXEL_STD = 200  # box sizes are stored in units of 200 px
# A person without 'area' is evaluated with its box area times this (CrowdPose's / xtcocotools' rule).
AREA_PER_BOX_AREA = 0.53


def box_to_center_scale(x: float, y: float, w: float, h: float, aspect_ratio: float,
                        pixel_std: float = PIXEL_STD) -> tuple[np.ndarray, np.ndarray]:
    """Box ``[x, y, w, h]`` -> ``center`` (2,) float32, ``scale`` (2,) float32 (the original's ``_xywh2cs``).

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
    # The -1 guard comes from MPII conventions and is always true here.
    if center[0] != -1:
        scale = scale * 1.25
    return center, scale


def rescore(preds: np.ndarray, box_scores: np.ndarray, in_vis_thre: float) -> np.ndarray:
    """Box score x mean of the keypoint maxima above ``in_vis_thre`` (0 when none is), (N,).

    ``preds`` (N, J, 3+), column 2 the joint score. The sum runs joint by joint in the dtype of
    ``preds``, as the original's Python loop.
    """
    conf = preds[:, :, 2]
    above = conf > in_vis_thre
    total = np.zeros(conf.shape[0], dtype=conf.dtype)
    for j in range(conf.shape[1]):
        total += np.where(above[:, j], conf[:, j], 0)
    count = above.sum(axis=1)
    kpt_score = np.where(count > 0, total / np.maximum(count, 1).astype(conf.dtype), 0)
    return kpt_score * box_scores

# Names paired with COCOeval.stats[0..9]; 'Ap .5' (sic) as in the original logs.
COCO_STATS_NAMES = ["AP", "Ap .5", "AP .75", "AP (M)", "AP (L)", "AR", "AR .5", "AR .75", "AR (M)", "AR (L)"]


def _shown(values: list) -> str:
    return ", ".join(str(v) for v in values[:5]) + (", ..." if len(values) > 5 else "")


def _check_and_complete(ann_file: str, coco: Any) -> int:
    """Check a loaded COCO object and fill the optional fields that annotation tools leave out.

    Errors (one line each, naming ``ann_file``): two images with one id, an image without
    ``file_name`` / ``width`` / ``height``, an annotation of an image that ``images`` does not list,
    an annotation without ``bbox``, non-finite keypoints or boxes (JSON readers accept NaN /
    Infinity; they would move the AP silently). Filled in the loaded object only: ``iscrowd`` 0,
    ``num_keypoints`` (labelled joints, flag > 0), ``area`` (box area x 0.53). Returns how many
    annotations had no ``area``.
    """
    images = coco.dataset["images"]
    if len(coco.imgs) != len(images):
        seen: dict = {}
        for img in images:
            if img.get("id") in seen:
                raise InputFileError(f"COCO annotation file {ann_file}: two images have id {img.get('id')} "
                                     f"(file_name {seen[img.get('id')]!r} and {img.get('file_name')!r}); image ids "
                                     "must be unique")
            seen[img.get("id")] = img.get("file_name")
    for img in images:
        if "file_name" not in img or "width" not in img or "height" not in img:
            missing = [k for k in ("file_name", "width", "height") if k not in img]
            raise InputFileError(f"COCO annotation file {ann_file}: image {img.get('id')} has no "
                                 f"{' / '.join(missing)}; every image needs 'file_name', 'width' and 'height'")
    unknown = [i for i in coco.imgToAnns if i not in coco.imgs]
    if unknown:
        first = coco.imgToAnns[unknown[0]][0]
        raise InputFileError(f"COCO annotation file {ann_file}: annotation {first.get('id')} refers to image_id "
                             f"{unknown[0]!r}, which is not in 'images' ({len(unknown)} unknown image id(s): "
                             f"{_shown(unknown)})")
    annotations = coco.dataset.get("annotations", [])
    bad = []
    no_area = 0
    isfinite = math.isfinite
    for ann in annotations:
        box = ann.get("bbox")
        if box is None:
            raise InputFileError(f"COCO annotation file {ann_file}: annotation {ann.get('id')} has no 'bbox' "
                                 "[x, y, w, h]")
        keypoints = ann.get("keypoints", ())
        if not all(map(isfinite, keypoints)) or not all(map(isfinite, box)):
            bad.append(ann.get("id"))
        if "iscrowd" not in ann:
            ann["iscrowd"] = 0
        if "area" not in ann:
            ann["area"] = float(box[2]) * float(box[3]) * AREA_PER_BOX_AREA if len(box) == 4 else 0.0
            no_area += 1
        if "num_keypoints" not in ann and keypoints:
            ann["num_keypoints"] = sum(1 for v in keypoints[2::3] if v > 0)
    if bad:
        raise InputFileError(f"COCO annotation file {ann_file}: {len(bad)} annotation(s) have non-finite "
                             f"(NaN/Infinity) keypoints or bbox; annotation id(s) {_shown(bad)}")
    return no_area


class COCODataset(JointsDataset):
    """COCO keypoints; ``db`` records from GT boxes or from a detection file.

    Joint order: 0 nose, 1-2 eyes (l, r), 3-4 ears, 5-6 shoulders, 7-8 elbows, 9-10 wrists,
    11-12 hips, 13-14 knees, 15-16 ankles (left before right).
    """

    # Left/right joint pairs of COCO-17; the joint set in use is ``self.keypoints``.
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

        self.ann_file = cfg.DATASET.get("TRAIN_ANN_FILE" if is_train else "TEST_ANN_FILE", "") or \
            self._get_ann_file_keypoint()
        self.image_dir = self._image_folder(cfg.DATASET.get("TRAIN_IMAGE_DIR" if is_train else "TEST_IMAGE_DIR", ""),
                                            "DATASET.TRAIN_IMAGE_DIR" if is_train else "DATASET.TEST_IMAGE_DIR")
        self.coco = self._load_coco(self.ann_file)
        # Also sets category_ids (the dataset's categories), category_id / category_name (the first one's).
        self.keypoints = self._read_keypoint_info(cfg)

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

        self.db = self._get_db()  # also sets db_image_ids and db_category_ids, one per record

        if is_train and cfg.DATASET.SELECT_DATA:
            kept = self.select_data(self.db)
            keep = {id(rec) for rec in kept}
            mask = np.fromiter((id(rec) in keep for rec in self.db), dtype=bool, count=len(self.db))
            self.db, self.db_image_ids, self.db_category_ids = kept, self.db_image_ids[mask], self.db_category_ids[mask]

        logger.info("=> load %d samples", len(self.db))
        if not self.db:
            source = self.bbox_file if not (self.use_gt_bbox or is_train) else self.ann_file
            raise InputFileError(f"{source}: 0 samples for DATASET {'TRAIN_SET' if is_train else 'TEST_SET'} "
                                 f"{image_set!r}: no person with at least one labelled keypoint")

    # ---------------------------------------------------------------------------------------------
    # files

    def _read_keypoint_info(self, cfg: Any) -> KeypointInfo:
        """The joint set of the dataset's keypoint categories (:meth:`_select_categories`).

        Sets :attr:`category_ids` (the annotations, detection boxes and results of this dataset are
        those of these categories; ``[1]``, ``person``, in COCO) and :attr:`category_id` /
        :attr:`category_name`, the first one's. Every annotation of these categories must have
        3 x K keypoint values; one without ``keypoints`` gets K unlabelled joints (in memory).
        """
        ann_file = self.ann_file
        chosen = self._select_categories(cfg)
        self.category_ids = [int(cat["id"]) for cat in chosen]
        self._category_set = frozenset(self.category_ids)
        self.category_id = self.category_ids[0]
        self.category_name = str(chosen[0].get("name", self.category_id))
        names = category_joint_names(chosen[0])
        given = list(cfg.DATASET.get("KEYPOINT_NAMES", []) or [])
        if names is not None:
            if given:
                logger.warning("=> DATASET.KEYPOINT_NAMES is not used: %s names the joints of category %r", ann_file,
                               self.category_name)
            info = keypoints_of_category(cfg, chosen[0], ann_file)
        else:
            k = self._joint_count_from_annotations()
            if given and len(given) != k:
                raise ConfigError(f"DATASET.KEYPOINT_NAMES has {len(given)} names but the annotations of {ann_file} "
                                  f"have {k} keypoints each (its categories name no joints); expected {k} names")
            if not given:
                given = [str(j) for j in range(k)]
                logger.info("=> %s: category %r names no joints; the %d joints are called '0' .. '%d' (set "
                            "DATASET.KEYPOINT_NAMES to name them)", ann_file, self.category_name, k, k - 1)
            if int(cfg.MODEL.NUM_JOINTS) != k:
                raise ConfigError(f"MODEL.NUM_JOINTS={int(cfg.MODEL.NUM_JOINTS)} but the annotations of {ann_file} "
                                  f"have {k} keypoints each; set MODEL.NUM_JOINTS {k}")
            skeleton = clean_skeleton(chosen[0].get("skeleton") or [], k, ann_file)
            info = resolve_for_config(cfg, given, skeleton, ann_file, derive_pairs=False)
        info = with_upper_body_ids(info, cfg, ann_file)
        self._check_keypoint_counts(info.num_joints)
        if self.prob_half_body > 0 and not info.upper_body_ids:
            raise ConfigError(
                f"DATASET.PROB_HALF_BODY={self.prob_half_body}: half-body augmentation needs the upper-body joints, "
                f"which only the COCO-17 and MPII-16 sets define ({ann_file} has {info.num_joints} joints); "
                "list them in DATASET.UPPER_BODY_IDS (0-based joint ids) or set DATASET.PROB_HALF_BODY 0")
        return info

    def _select_categories(self, cfg: Any) -> list[dict]:
        """The categories that form the dataset, in file order (see the module text).

        ``DATASET.CATEGORY_IDS`` lists them explicitly (they must exist and share one joint list).
        Otherwise: the first category that names joints and every category with the same names;
        in a file that names none, the categories whose annotations have keypoints. Each other
        category is left out with one log line.
        """
        ann_file = self.ann_file
        cats = [cat for cat in self.coco.dataset["categories"] if isinstance(cat, dict) and "id" in cat]
        if not cats:
            raise InputFileError(f"{ann_file}: no categories; a COCO keypoint file needs one with 'keypoints'")
        explicit = list(dict.fromkeys(cfg.DATASET.get("CATEGORY_IDS", []) or []))
        if explicit:
            by_id = {cat["id"]: cat for cat in cats}
            missing = [i for i in explicit if i not in by_id]
            if missing:
                raise ConfigError(f"DATASET.CATEGORY_IDS = {explicit}: category id {missing[0]} is not in {ann_file} "
                                  f"(its category ids: {_shown([cat['id'] for cat in cats])})")
            chosen = [by_id[i] for i in explicit]
            first = category_joint_names(chosen[0])
            for cat in chosen[1:]:
                if category_joint_names(cat) != first:
                    raise ConfigError(f"DATASET.CATEGORY_IDS = {explicit}: categories {chosen[0].get('name')!r} "
                                      f"(id {chosen[0]['id']}) and {cat.get('name')!r} (id {cat['id']}) of {ann_file} "
                                      "have different joint lists; a dataset has one")
            left = [cat for cat in cats if cat["id"] not in set(explicit)]
            if left:
                logger.info("=> %s: categories not in DATASET.CATEGORY_IDS are left out: %s", ann_file,
                            ", ".join(f"{cat.get('name')!r} (id {cat['id']})" for cat in left))
        else:
            named = [cat for cat in cats if category_joint_names(cat) is not None]
            if named:
                first = category_joint_names(named[0])
                chosen = [cat for cat in cats if category_joint_names(cat) == first]
            else:
                first = None
                with_keypoints = {ann.get("category_id") for ann in self.coco.dataset.get("annotations", [])
                                  if ann.get("keypoints")}
                chosen = [cat for cat in cats if cat["id"] in with_keypoints]
                if not chosen:
                    raise ConfigError(f"{ann_file}: no category has a 'keypoints' list of joint names and no "
                                      "annotation has keypoints; a COCO keypoint file needs one of them")
            for cat in cats:
                if cat not in chosen:
                    logger.warning("=> %s: category %r (id %s) is left out: its joint list is not that of %r",
                                   ann_file, cat.get("name"), cat["id"], chosen[0].get("name"))
        if len(chosen) > 1:
            logger.info("=> %s: %d categories share one joint list and form the dataset: %s", ann_file, len(chosen),
                        ", ".join(f"{cat.get('name')!r} (id {cat['id']})" for cat in chosen))
        return chosen

    def _joint_count_from_annotations(self) -> int:
        """K of a file that names no joints: the keypoint count of its annotations, which must agree."""
        cat_ids = set(self.category_ids)
        first = None
        for ann in self.coco.dataset.get("annotations", []):
            kpts = ann.get("keypoints")
            if ann.get("category_id") not in cat_ids or not kpts:
                continue
            if len(kpts) % 3:
                raise InputFileError(f"{self.ann_file}: annotation {ann.get('id')} has {len(kpts)} keypoint values; "
                                     "expected x, y, v triples (a multiple of 3)")
            if first is None:
                first = ann
            elif len(kpts) != len(first["keypoints"]):
                raise InputFileError(f"{self.ann_file}: annotation {ann.get('id')} has {len(kpts) // 3} keypoints but "
                                     f"annotation {first.get('id')} has {len(first['keypoints']) // 3}; the file is "
                                     "inconsistent (its categories name no joints, so every annotation must have "
                                     "the same number)")
        if first is None:
            raise InputFileError(f"{self.ann_file}: no annotation of category {self.category_name!r} has keypoints")
        return len(first["keypoints"]) // 3

    def _check_keypoint_counts(self, k: int) -> None:
        """Every annotation of the dataset's categories has 3 x ``k`` keypoint values (one without
        ``keypoints`` gets ``k`` unlabelled joints in memory, so pycocotools can score the file)."""
        cat_ids = set(self.category_ids)
        expected = 3 * k
        for ann in self.coco.dataset.get("annotations", []):
            if ann.get("category_id") not in cat_ids:
                continue
            kpts = ann.get("keypoints")
            if kpts is None or (not kpts and expected):
                ann["keypoints"] = [0] * expected
                ann["num_keypoints"] = 0
            elif len(kpts) != expected:
                cat = self.coco.cats.get(ann.get("category_id"), {}).get("name")
                has = f"{len(kpts) // 3} keypoints ({len(kpts)} values)" if len(kpts) % 3 == 0 else \
                    f"{len(kpts)} keypoint values (not x, y, v triples)"
                raise InputFileError(f"{self.ann_file}: annotation {ann.get('id')} has {has} but its category {cat!r} "
                                     f"names {k} joints; the file is inconsistent")

    def _get_ann_file_keypoint(self) -> str:
        """``<root>/annotations/person_keypoints_<set>.json`` (``image_info_`` for test sets)."""
        prefix = "person_keypoints" if "test" not in self.image_set else "image_info"
        return os.path.join(self.root, "annotations", prefix + "_" + self.image_set + ".json")

    def _image_folder(self, folder: str, key: str) -> str:
        """The folder that the file's ``file_name`` entries are relative to (``<archive>.zip@`` for zip)."""
        zip_format = self.data_format == "zip"
        if folder:
            if zip_format:
                archive = folder[:-1] if folder.endswith("@") else folder
                if not os.path.isfile(archive):
                    raise FileNotFoundError(f"{key} = {folder}: zip archive not found (DATA_FORMAT is zip)")
                return archive + "@"
            if not os.path.isdir(folder):
                raise FileNotFoundError(f"{key} = {folder}: folder not found")
            return folder
        prefix = "test2017" if "test" in self.image_set else self.image_set
        return os.path.join(self.root, "images", prefix + ".zip@" if zip_format else prefix)

    @staticmethod
    def _load_coco(ann_file: str):
        from pycocotools.coco import COCO

        if not os.path.isfile(ann_file):
            raise FileNotFoundError(f"COCO annotation file not found: {ann_file}")
        try:
            coco = COCO(ann_file)
        except KeyError as e:  # pycocotools indexes 'id', 'image_id' and 'category_id'
            raise InputFileError(f"COCO annotation file {ann_file}: an image, annotation or category has no {e} "
                                 "field, which the COCO format requires") from None
        except TypeError as e:
            raise InputFileError(f"COCO annotation file {ann_file}: 'images', 'annotations' and 'categories' must be "
                                 f"lists of objects ({e})") from None
        except json.JSONDecodeError as e:
            raise InputFileError(f"COCO annotation file is not valid JSON: {ann_file} ({e})") from e
        except AssertionError as e:  # pycocotools asserts a dict top level
            raise InputFileError(f"COCO annotation file {ann_file}: the top level must be a JSON object with "
                                 "'images', 'annotations' and 'categories'; got another JSON value") from e
        missing = [key for key in ("images", "categories") if key not in coco.dataset]
        if missing:
            raise InputFileError(f"COCO annotation file {ann_file}: no {' or '.join(repr(k) for k in missing)} "
                                 "list; expected a COCO keypoints file with 'images', 'annotations' and 'categories'")
        no_area = _check_and_complete(ann_file, coco)
        if no_area:
            logger.info("=> %s: %d annotation(s) have no 'area'; evaluation uses their box area x %g (the CrowdPose "
                        "convention)", ann_file, no_area, AREA_PER_BOX_AREA)
        return coco

    def _load_image_set_index(self) -> list[int]:
        return self.coco.getImgIds()

    def image_path_from_index(self, index: int) -> str:
        """Image path of an image id: ``<image folder>/<file_name>`` of the annotation file.

        e.g. ``<root>/images/val2017/000000000139.jpg``. An id the file does not list (a detection
        file's) gets COCO's name for it, ``%012d.jpg`` (``COCO_<set>_%012d.jpg`` for 2014 sets).
        """
        image = self.coco.imgs.get(index) if getattr(self, "coco", None) is not None else None
        if image is not None:
            return os.path.join(self.image_dir, image["file_name"])
        file_name = "%012d.jpg" % index
        if "2014" in self.image_set:
            file_name = "COCO_%s_" % self.image_set + file_name
        prefix = "test2017" if "test" in self.image_set else self.image_set
        data_name = prefix + ".zip@" if self.data_format == "zip" else prefix
        return os.path.join(self.root, "images", data_name, file_name)

    def _read_image(self, image_file: str) -> np.ndarray:
        """The image of a record; a missing one names its ``file_name`` and the folder searched."""
        try:
            return super()._read_image(image_file)
        except FileNotFoundError:
            raise FileNotFoundError(self._missing_image_message(image_file)) from None

    def _missing_image_message(self, image_file: str) -> str:
        folder = self.image_dir
        prefix = os.path.join(folder, "")
        file_name = image_file[len(prefix):] if image_file.startswith(prefix) else image_file
        image_id = next((i for i, img in self.coco.imgs.items() if img.get("file_name") == file_name), None)
        which = f"file_name {file_name!r}" + (f" (image {image_id})" if image_id is not None else "")
        if self.data_format == "zip":
            return f"image not found: {which} of {self.ann_file} is not in the zip archive {folder.rstrip('@')}"
        return f"image not found: {which} of {self.ann_file} is not in the folder {folder}"

    # ---------------------------------------------------------------------------------------------
    # records

    def _get_db(self) -> list[dict]:
        if self.is_train or self.use_gt_bbox:
            return self._load_coco_keypoint_annotations()
        return self._load_coco_person_detection_results()

    def _load_coco_keypoint_annotations(self) -> list[dict]:
        gt_db: list[dict] = []
        image_ids: list[int] = []
        category_ids: list[int] = []
        for index in self.image_set_index:
            records, categories = self._load_coco_keypoint_annotation_kernal(index)
            gt_db.extend(records)
            image_ids.extend([index] * len(records))
            category_ids.extend(categories)
        self.db_image_ids = np.asarray(image_ids, dtype=np.int64)
        self.db_category_ids = np.asarray(category_ids, dtype=np.int64)
        cat_ids = set(self.category_ids)
        others = sum(1 for ann in self.coco.dataset.get("annotations", []) if ann.get("category_id") not in cat_ids)
        if others and len(self.category_ids) == 1:
            logger.warning("=> %s: %d annotation(s) of categories other than %r (category_id %d) are not used: "
                           "a dataset has one joint list, that of the file's first keypoint category",
                           self.ann_file, others, self.category_name, self.category_id)
        elif others:
            logger.warning("=> %s: %d annotation(s) of categories other than the dataset's (ids %s) are not used",
                           self.ann_file, others, _shown(self.category_ids))
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
        # Inclusive-pixel shrink and shift-not-cut on the left/top, as the original. Python's
        # max/min give the values of the original's np.max/np.min of these pairs (the boxes are finite,
        # checked at loading), at a tenth of the cost.
        x1 = max(0, x)
        y1 = max(0, y)
        x2 = min(width - 1, x1 + max(0, w - 1))
        y2 = min(height - 1, y1 + max(0, h - 1))
        if x2 >= x1 and y2 >= y1:
            return [x1, y1, x2 - x1, y2 - y1]
        return None

    def _load_coco_keypoint_annotation_kernal(self, index: int) -> tuple[list[dict], list[int]]:
        """GT records of one image and their category ids: crowd excluded, boxes cleaned, people of
        other categories or with no keypoint skipped."""
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
        categories = []
        image_path = None
        cat_ids = self._category_set
        for obj, clean_bbox in valid_objs:
            if obj["category_id"] not in cat_ids:
                continue
            keypoints = obj["keypoints"]  # 3 x K values of every annotation: checked at loading
            if max(keypoints) == 0:
                continue
            if image_path is None:
                image_path = self.image_path_from_index(index)
            kpts = np.asarray(keypoints, dtype=np.float64).reshape(self.num_joints, 3)
            joints_3d = np.zeros((self.num_joints, 3), dtype=np.float64)
            joints_3d[:, 0:2] = kpts[:, 0:2]
            # COCO v=1 (labelled, occluded) and v=2 (visible) both count as visible (as in the original).
            t_vis = np.minimum(kpts[:, 2], 1)
            joints_3d_vis = np.zeros((self.num_joints, 3), dtype=np.float64)
            joints_3d_vis[:, 0] = t_vis
            joints_3d_vis[:, 1] = t_vis

            center, scale = self._box2cs(clean_bbox[:4])
            rec.append({
                "image": image_path,
                "center": center,
                "scale": scale,
                "joints_3d": joints_3d,
                "joints_3d_vis": joints_3d_vis,
                "ann_bbox": [float(v) for v in obj["bbox"][:4]],  # as in the file: PCK/NME normalisation
                "filename": "",
                "imgnum": 0,
            })
            categories.append(obj["category_id"])
        return rec, categories

    def _box2cs(self, box: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        x, y, w, h = box[:4]
        return self._xywh2cs(x, y, w, h)

    def _xywh2cs(self, x: float, y: float, w: float, h: float) -> tuple[np.ndarray, np.ndarray]:
        """Box ``[x, y, w, h]`` -> ``center``, ``scale``: :func:`box_to_center_scale`."""
        return box_to_center_scale(x, y, w, h, self.aspect_ratio, self.pixel_std)

    def _load_coco_person_detection_results(self) -> list[dict]:
        all_boxes = read_coco_bbox_file(self.bbox_file)
        logger.info("=> Total boxes: %d", len(all_boxes))
        # The dataset's categories, score >= TEST.IMAGE_THRE (strictly below is dropped; 0.0 keeps all).
        wanted = [det for det in all_boxes
                  if is_wanted(det["category_id"], det["score"], self._category_set, self.image_thre)]
        num_boxes = len(wanted)
        kpt_db = []
        for det_res in wanted:
            center, scale = self._box2cs(det_res["bbox"])
            kpt_db.append({
                "image": self.image_path_from_index(det_res["image_id"]),
                "center": center,
                "scale": scale,
                "score": det_res["score"],
                "joints_3d": np.zeros((self.num_joints, 3), dtype=np.float64),
                "joints_3d_vis": np.ones((self.num_joints, 3), dtype=np.float64),
            })
        image_ids = [det["image_id"] for det in wanted]
        category_ids = [det["category_id"] for det in wanted]

        unknown = sorted({image_id for image_id in image_ids if image_id not in self.coco.imgs})
        if unknown:
            raise InputFileError(f"COCO detection file {self.bbox_file}: {len(unknown)} image_id(s) are not in "
                                 f"{self.ann_file}: {_shown(unknown)}")
        logger.info("=> Total boxes after filter low score@%s: %d", self.image_thre, num_boxes)
        if num_boxes == 0:
            if len(self.category_ids) == 1:
                which = (f"no {self.category_name} box (category_id {self.category_id}, the keypoint category of "
                         f"{self.ann_file})")
            else:
                which = f"no box of the categories of {self.ann_file} (category_id {_shown(self.category_ids)})"
            raise InputFileError(
                f"COCO detection file {self.bbox_file}: {which} with score >= "
                f"TEST.IMAGE_THRE={self.image_thre} among its {len(all_boxes)} entries")
        self.db_image_ids = np.asarray(image_ids, dtype=np.int64)
        self.db_category_ids = np.asarray(category_ids, dtype=np.int64)
        return kpt_db

    # ---------------------------------------------------------------------------------------------
    # evaluation

    def evaluate(self, cfg: Any, preds: np.ndarray, output_dir: str, all_boxes: np.ndarray,
                 img_path: Sequence[str], *args: Any, **kwargs: Any):
        """Rescore, OKS-NMS per image, write the results json and run COCOeval.

        Args:
            cfg: the config (unused; thresholds were read at construction, as in the original).
            preds: (N, J, 3) keypoints ``x, y, heat-map max`` in original-image pixels.
            output_dir: results go to ``<output_dir>/results/keypoints_<set>_results.json``.
            all_boxes: (N, 6) ``center x, y, scale w, h, area, score`` per sample.
            img_path: N image paths, ``meta['image']`` of the samples; in dataset order (what
                ``validate`` passes) each sample's image and category ids are those of its record,
                otherwise they are looked up by path (an error when a path is not one of the dataset's
                or has records of several images or categories).

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

        image_ids, category_ids = self._sample_ids(img_path, num)
        scores = self._rescore(preds, all_boxes[:num, 5])
        keep = self._oks_nms_per_image(preds, all_boxes[:num, 4], scores, image_ids)

        write_coco_keypoint_results(res_file, preds, all_boxes, scores, image_ids, category_ids, keep)
        if "test" not in self.image_set and self.keypoints.sigmas is None:
            return evaluate_without_sigmas(cfg, self, preds, res_folder)  # PCK / EPE / NME
        if "test" not in self.image_set:
            self._write_per_joint(preds, image_ids, keep, res_folder)
            info_str = self._do_python_keypoint_eval(res_file, res_folder)
            name_value = OrderedDict(info_str)
            return name_value, name_value["AP"]
        return {"Null": 0}, 0

    def _sample_ids(self, img_path: Sequence[str], num: int) -> tuple[np.ndarray, np.ndarray]:
        """Image id and category id of each of the first ``num`` samples, (num,) int64 each."""
        paths = img_path[:num]
        db = self.db
        if num == len(db) and all(p == rec["image"] for p, rec in zip(paths, db)):
            return self.db_image_ids.copy(), self.db_category_ids.copy()
        by_path: dict[str, set] = {}
        for rec, image_id, cat in zip(db, self.db_image_ids.tolist(), self.db_category_ids.tolist()):
            by_path.setdefault(rec["image"], set()).add((image_id, cat))
        image_ids = np.empty(num, dtype=np.int64)
        category_ids = np.empty(num, dtype=np.int64)
        for i, path in enumerate(paths):
            found = by_path.get(path)
            if not found:
                raise ValueError(f"image path {path!r} is not an image of this dataset ({self.ann_file}); "
                                 "the predictions must come from its samples")
            if len(found) > 1:
                raise ValueError(f"image path {path!r} has records of several images or categories in "
                                 f"{self.ann_file}; pass the predictions of every sample in dataset order")
            image_ids[i], category_ids[i] = next(iter(found))
        return image_ids, category_ids

    def _rescore(self, preds: np.ndarray, box_scores: np.ndarray) -> np.ndarray:
        """:func:`rescore` with ``TEST.IN_VIS_THRE``."""
        return rescore(preds, box_scores, self.in_vis_thre)

    def _oks_nms_per_image(self, preds: np.ndarray, areas: np.ndarray, scores: np.ndarray,
                           image_ids: np.ndarray) -> list[np.ndarray]:
        """Kept sample indices per image: images in order of first appearance, people in keep order."""
        from nms.nms import oks_nms, soft_oks_nms

        if image_ids.size == 0:
            return []
        if self.keypoints.sigmas is None:  # no OKS without sigmas: every person is kept
            logger.info("=> %s: no DATASET.OKS_SIGMAS, so no OKS-NMS; scored with PCK/EPE/NME", self.keypoints.source)
            return keep_all(image_ids)
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
        coco_gt = self._evaluation_gt()
        values, counts = coco_per_joint_oks(coco_gt, image_ids[sel], preds[sel], self.keypoints.oks_sigmas(),
                                            coco_gt.getCatIds() if len(self.category_ids) > 1 else self.category_ids)
        write_per_joint(os.path.join(res_folder, "per_joint_%s.json" % self.image_set), "OKS term",
                        self.keypoints.names, values, counts)

    def _evaluation_gt(self):
        """The GT that evaluation scores against: the loaded file, or an evaluation copy when
        pycocotools could not score the file as it is:

        * several categories pooled: the dataset's annotations only, all under the first category
          (see :meth:`_do_python_keypoint_eval`);
        * annotation ids <= 0 (Label Studio counts from 0): pycocotools takes a match with id 0
          for no match, so the copy numbers the annotations 1, 2, ...
        """
        cached = getattr(self, "_eval_gt", None)
        if cached is not None:
            return cached
        anns = self.coco.dataset.get("annotations", [])
        pooled = len(self.category_ids) > 1
        if not pooled and all(ann["id"] > 0 for ann in anns):
            gt = self.coco
        else:
            from pycocotools.coco import COCO

            cat_ids = self._category_set
            first = self.category_id
            if pooled:
                anns = [dict(ann, category_id=first) for ann in anns if ann["category_id"] in cat_ids]
            else:
                anns = [dict(ann) for ann in anns]
            if not all(ann["id"] > 0 for ann in anns):
                for i, ann in enumerate(anns):
                    ann["id"] = i + 1
            cats = [cat for cat in self.coco.dataset["categories"] if not pooled or cat.get("id") == first]
            gt = COCO()
            gt.dataset = dict(self.coco.dataset, annotations=anns, categories=cats)
            gt.createIndex()
        self._eval_gt = gt
        return gt

    def _do_python_keypoint_eval(self, res_file: str, res_folder: str) -> list[tuple[str, float]]:
        from pycocotools.cocoeval import COCOeval

        coco_gt = self._evaluation_gt()
        coco_dt = coco_gt.loadRes(res_file)
        if len(self.category_ids) > 1:
            # One joint list, many categories (species): people are matched and scored regardless of their
            # category, what pycocotools' useCats = 0 means; its keypoint OKS ignores that flag (it looks people
            # up by category), so the evaluation copies file all of them under the first category instead.
            for ann in coco_dt.dataset["annotations"]:
                ann["category_id"] = self.category_id
            coco_dt.createIndex()
            logger.info("=> evaluation pools the %d categories of %s (useCats = 0: scored as one category)",
                        len(self.category_ids), self.ann_file)
        coco_eval = COCOeval(coco_gt, coco_dt, "keypoints")
        coco_eval.params.useSegm = None  # legacy attribute, harmless
        coco_eval.params.catIds = [self.category_id]  # COCO's default too: its only category, person (1)
        if self.keypoints is not COCO_KEYPOINTS:
            coco_eval.params.kpt_oks_sigmas = self.keypoints.oks_sigmas()
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()

        info_str = [(name, float(coco_eval.stats[ind])) for ind, name in enumerate(COCO_STATS_NAMES)]

        eval_file = os.path.join(res_folder, "keypoints_%s_results.pkl" % self.image_set)
        write_pickle(eval_file, coco_eval, pickle.HIGHEST_PROTOCOL)
        logger.info("=> coco eval results saved to %s", eval_file)
        return info_str
