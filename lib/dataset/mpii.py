"""MPII Human Pose (16 joints): records and PCKh evaluation.

Layout under ``DATASET.ROOT`` (the original's)::

    annot/<set>.json       one record per person: image, center, scale, joints (16 x [x, y]),
                           joints_vis; MATLAB 1-based pixel coordinates
    annot/gt_<set>.mat     evaluation GT: dataset_joints, jnt_missing, pos_gt_src, headboxes_src
    images/<file>.jpg      (images.zip@/<file> with DATA_FORMAT zip)

Records are converted to 0-based pixels; ``scale`` is the person height / 200 (square box).
"""
from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from typing import Any

import numpy as np
from scipy.io import loadmat, savemat

from utils.atomic_io import atomic_open
from utils.cli import InputFileError

from .JointsDataset import JointsDataset
from .keypoints import MPII_KEYPOINTS, with_upper_body_ids

logger = logging.getLogger(__name__)

__all__ = ["MPIIDataset", "MPII_JOINT_NAMES", "joint_index", "load_evaluation_gt", "pckh_per_joint", "pckh_table"]

# Joint order of the records and predictions.
MPII_JOINT_NAMES = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
)


class MPIIDataset(JointsDataset):
    """MPII single-person records and the PCKh table."""

    # Left/right joint pairs, also used by the flip test in core.api.
    FLIP_PAIRS = MPII_KEYPOINTS.flip_pairs

    def __init__(self, cfg: Any, root: str, image_set: str, is_train: bool, transform: Any = None) -> None:
        super().__init__(cfg, root, image_set, is_train, transform)

        self.keypoints = with_upper_body_ids(MPII_KEYPOINTS, cfg, "MPII-16 keypoints")
        self.num_joints = self.keypoints.num_joints
        self.flip_pairs = [list(pair) for pair in self.keypoints.flip_pairs]
        self.parent_ids = [1, 2, 6, 6, 3, 4, 6, 6, 7, 8, 11, 12, 7, 7, 13, 14]
        self.upper_body_ids = self.keypoints.upper_body_ids
        self.lower_body_ids = self.keypoints.lower_body_ids

        self.db = self._get_db()

        if is_train and cfg.DATASET.SELECT_DATA:
            self.db = self.select_data(self.db)

        logger.info("=> load %d samples", len(self.db))

    def _get_db(self) -> list[dict]:
        file_name = os.path.join(self.root, "annot", self.image_set + ".json")
        if not os.path.isfile(file_name):
            raise FileNotFoundError(f"MPII annotation file not found: {file_name}")
        with open(file_name, encoding="utf-8") as anno_file:
            try:
                anno = json.load(anno_file)
            except json.JSONDecodeError as e:
                raise InputFileError(f"MPII annotation file is not valid JSON: {file_name} ({e})") from e
        if not isinstance(anno, list):
            raise InputFileError(f"MPII annotation file {file_name} must hold a JSON list of person records")

        image_dir = "images.zip@" if self.data_format == "zip" else "images"
        gt_db = []
        for k, a in enumerate(anno):
            try:
                image_name = a["image"]
                c = np.array(a["center"], dtype=np.float64)
                s = np.array([a["scale"], a["scale"]], dtype=np.float64)
            except (KeyError, TypeError, ValueError) as e:
                raise InputFileError(
                    f"{file_name}: record {k} needs 'image', 'center' [x, y] and 'scale'; got {str(a)[:200]}") from e
            if c.shape != (2,):
                raise InputFileError(f"{file_name}: record {k} has center {a['center']!r}; expected [x, y]")
            # the original marks a person without a position by centre x = -1 (kept as it is)
            if not (np.isfinite(c).all() and np.isfinite(s).all() and (s[0] > 0 or c[0] == -1)):
                raise InputFileError(f"{file_name}: record {k} has center {a['center']!r} and scale {a['scale']!r}; "
                                     "expected finite numbers and a scale > 0 (the person height / 200)")

            # Move the centre down and enlarge the box so limbs are not cut (as the original).
            if c[0] != -1:
                c[1] = c[1] + 15 * s[1]
                s = s * 1.25

            # MATLAB 1-based pixels -> 0-based.
            c = c - 1

            joints_3d = np.zeros((self.num_joints, 3), dtype=np.float64)
            joints_3d_vis = np.zeros((self.num_joints, 3), dtype=np.float64)
            if self.image_set != "test":
                try:
                    joints = np.array(a["joints"], dtype=np.float64)
                    joints_vis = np.array(a["joints_vis"], dtype=np.float64)
                except (KeyError, ValueError, TypeError) as e:
                    raise InputFileError(f"{file_name}: record {k} needs 'joints' and 'joints_vis'") from e
                if joints.shape != (self.num_joints, 2) or joints_vis.shape != (self.num_joints,):
                    raise InputFileError(
                        f"{file_name}: record {k} has joints {joints.shape} / joints_vis {joints_vis.shape}; "
                        f"expected ({self.num_joints}, 2) / ({self.num_joints},)")
                joints_3d[:, 0:2] = joints - 1
                joints_3d_vis[:, 0] = joints_vis
                joints_3d_vis[:, 1] = joints_vis

            gt_db.append({
                "image": os.path.join(self.root, image_dir, image_name),
                "center": c,
                "scale": s,
                "joints_3d": joints_3d,
                "joints_3d_vis": joints_3d_vis,
                "filename": "",
                "imgnum": 0,
            })
        return gt_db

    def evaluate(self, cfg: Any, preds: np.ndarray, output_dir: str, *args: Any, **kwargs: Any):
        """PCKh@0.5 per body part.

        Args:
            cfg: the config; the GT is ``<cfg.DATASET.ROOT>/annot/gt_<cfg.DATASET.TEST_SET>.mat``.
            preds: (N, 16, 2+) predictions in 0-based image pixels, in record order.
            output_dir: if truthy, ``<output_dir>/pred.mat`` gets ``preds`` (N, 16, 2), 1-based.

        Returns:
            ``(OrderedDict, Mean)`` in percent with keys Head, Shoulder, Elbow, Wrist, Hip, Knee,
            Ankle, Mean (visible-count weighted over the 14 joints other than pelvis and thorax) and
            ``Mean@0.11``; for test sets only pred.mat is written and ``({'Null': 0.0}, 0.0)``
            returned. The original called the last entry 'Mean@0.1', but it reads row 11 of a
            0.00, 0.01, ..., 0.50 threshold grid, i.e. PCKh@0.11; the value is kept and the name
            says what it is (index 11 of a 0.00..0.50 grid).
        """
        preds = np.asarray(preds)
        if preds.ndim != 3 or preds.shape[1] != self.num_joints or preds.shape[2] < 2:
            raise ValueError(f"preds must have shape (N, {self.num_joints}, 2 or 3); got {preds.shape}")
        # 0-based -> MATLAB 1-based.
        preds = preds[:, :, 0:2] + 1.0

        if output_dir:
            pred_file = os.path.join(output_dir, "pred.mat")
            with atomic_open(pred_file, "wb") as f:  # whole or not at all, no temporary left on failure
                savemat(f, mdict={"preds": preds})

        if "test" in cfg.DATASET.TEST_SET:
            return {"Null": 0.0}, 0.0

        gt_file = os.path.join(cfg.DATASET.ROOT, "annot", "gt_{}.mat".format(cfg.DATASET.TEST_SET))
        gt = load_evaluation_gt(gt_file, preds.shape[0])
        idx = joint_index(gt["dataset_joints"])
        PCKh, pckAll, jnt_count = pckh_per_joint(preds, gt)

        if output_dir:
            from .per_joint import write_per_joint

            write_per_joint(os.path.join(output_dir, "per_joint_%s.json" % cfg.DATASET.TEST_SET), "PCKh@0.5 (%)",
                            self.keypoints.names, PCKh, jnt_count)

        name_value = pckh_table(PCKh, pckAll, jnt_count, idx)
        return name_value, name_value["Mean"]


GT_FIELDS = ("dataset_joints", "jnt_missing", "pos_gt_src", "headboxes_src")


def load_evaluation_gt(gt_file: str, num_preds: int) -> dict[str, np.ndarray]:
    """The evaluation GT of ``gt_file`` (``annot/gt_<set>.mat``): its :data:`GT_FIELDS` arrays, checked to
    hold ``num_preds`` people."""
    if not os.path.isfile(gt_file):
        raise FileNotFoundError(f"MPII evaluation GT not found: {gt_file}")
    try:
        gt_dict = loadmat(gt_file)
    except Exception as e:  # scipy's errors of a damaged file: MatReadError, OSError, IndexError, ...
        raise InputFileError(f"{gt_file}: cannot read this MATLAB file (truncated or not a .mat?): "
                             f"{type(e).__name__}: {e}") from e
    missing = [k for k in GT_FIELDS if k not in gt_dict]
    if missing:
        raise InputFileError(f"{gt_file} lacks the field(s) {missing}")
    pos_gt_src = gt_dict["pos_gt_src"]
    if pos_gt_src.shape[2] != num_preds:
        raise InputFileError(
            f"{gt_file} holds {pos_gt_src.shape[2]} people but {num_preds} predictions were given")
    return {k: gt_dict[k] for k in GT_FIELDS}


def joint_index(dataset_joints: np.ndarray) -> dict[str, int]:
    """Row of each joint of the table in the GT file's ``dataset_joints`` names (``head``, ``lsho``, ...)."""
    names = [str(np.asarray(n).ravel()[0]) for n in dataset_joints.ravel()]
    return {name: names.index(name) for name in
            ("head", "lsho", "lelb", "lwri", "lhip", "lkne", "lank",
             "rsho", "relb", "rwri", "rkne", "rank", "rhip")}


def pckh_per_joint(preds: np.ndarray, gt: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCKh per joint, the original's computation.

    ``preds`` (N, 16, 2) in MATLAB 1-based pixels; ``gt``: :func:`load_evaluation_gt`. Returns
    ``PCKh`` (16,) in percent at threshold 0.5, ``pckAll`` (51, 16) in percent at thresholds 0, 0.01,
    ..., 0.50, and ``jnt_count`` (16,) the visible joints; a joint never visible gives NaN.
    """
    SC_BIAS = 0.6
    threshold = 0.5

    jnt_missing = gt["jnt_missing"]
    pos_gt_src = gt["pos_gt_src"]
    headboxes_src = gt["headboxes_src"]
    pos_pred_src = np.transpose(preds, [1, 2, 0])

    jnt_visible = 1 - jnt_missing
    uv_error = pos_pred_src - pos_gt_src
    uv_err = np.linalg.norm(uv_error, axis=1)
    headsizes = headboxes_src[1, :, :] - headboxes_src[0, :, :]
    headsizes = np.linalg.norm(headsizes, axis=0)
    headsizes *= SC_BIAS
    scale = np.multiply(headsizes, np.ones((len(uv_err), 1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled_uv_err = np.divide(uv_err, scale)
        scaled_uv_err = np.multiply(scaled_uv_err, jnt_visible)
        jnt_count = np.sum(jnt_visible, axis=1)
        less_than_threshold = np.multiply((scaled_uv_err <= threshold), jnt_visible)
        PCKh = np.divide(100. * np.sum(less_than_threshold, axis=1), jnt_count)

        # PCKh for thresholds 0, 0.01, ..., 0.50.
        rng = np.arange(0, 0.5 + 0.01, 0.01)
        pckAll = np.zeros((len(rng), 16))
        for r in range(len(rng)):
            less_than_threshold = np.multiply(scaled_uv_err <= rng[r], jnt_visible)
            pckAll[r, :] = np.divide(100. * np.sum(less_than_threshold, axis=1), jnt_count)
    return PCKh, pckAll, jnt_count


def pckh_table(PCKh: np.ndarray, pckAll: np.ndarray, jnt_count: np.ndarray, idx: dict[str, int]) -> OrderedDict:
    """The original's table: Head, Shoulder, ..., Ankle (left and right averaged), Mean and Mean@0.11,
    the means weighted by the visible-joint counts; ``idx``: :func:`joint_index`."""
    # Pelvis (6) and thorax (7) are left out of the table and of the mean.
    PCKh = np.ma.array(PCKh, mask=False)
    PCKh.mask[6:8] = True
    jnt_count = np.ma.array(jnt_count, mask=False)
    jnt_count.mask[6:8] = True
    jnt_ratio = jnt_count / np.sum(jnt_count).astype(np.float64)

    def both(left: str, right: str) -> float:
        return float(0.5 * (PCKh[idx[left]] + PCKh[idx[right]]))

    return OrderedDict([
        ("Head", float(PCKh[idx["head"]])),
        ("Shoulder", both("lsho", "rsho")),
        ("Elbow", both("lelb", "relb")),
        ("Wrist", both("lwri", "rwri")),
        ("Hip", both("lhip", "rhip")),
        ("Knee", both("lkne", "rkne")),
        ("Ankle", both("lank", "rank")),
        ("Mean", float(np.sum(PCKh * jnt_ratio))),
        # Row 11 is threshold 0.11 (MATLAB index carried into NumPy), kept as the original.
        ("Mean@0.11", float(np.sum(pckAll[11, :] * jnt_ratio))),
    ])
