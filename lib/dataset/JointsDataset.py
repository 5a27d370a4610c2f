"""Base class of the COCO and MPII datasets: image crop, augmentation and heat-map targets.

Behaviour is that of the original ``lib/dataset/JointsDataset.py``: for the
same records, settings and random-number state, ``__getitem__`` returns the same input tensor,
target, target weight and meta values as the original code, bit for bit
(``tests/dataset/test_joints_dataset.py`` checks this against a straight port of the original,
``bench/reference_joints_dataset.py``). It is faster because it

* copies only the record's arrays instead of ``copy.deepcopy`` of the record;
* flips the image with ``cv2.flip`` (a contiguous copy) rather than handing a negative-stride view
  to ``warpAffine``, which made OpenCV's binding copy it element by element;
* transforms all joints with one stacked ``np.matmul`` (the same BLAS ``gemv`` kernel as the
  original's per-joint ``np.dot``, checked once per process, with the per-joint loop as fallback);
* computes the patch bounds and weights of all joints at once and copies a gaussian patch that is
  computed once per sigma, both in ``core.codec.encode_target`` (the original rebuilt it with ``np.arange`` / ``np.exp`` for every joint);
* replaces torchvision's ``ToTensor`` + ``Normalize`` (when the transform is exactly that) by a
  per-channel 256-entry lookup table obtained by running the transform itself on every byte
  value, so the float32 values cannot differ.

Coordinates: points are ``(x, y)`` in pixels, x to the right, y down, integer values at pixel
centres; ``center`` is the box centre and ``scale`` the box size ``(w, h)`` in units of
``pixel_std = 200`` pixels. ``MODEL.IMAGE_SIZE`` and ``MODEL.EXTRA.HEATMAP_SIZE`` are ``[W, H]``.
"""
from __future__ import annotations

import copy
import logging
import os
import random
from typing import Any, Callable, Optional, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from core.codec import crop_transform, encode_target
from utils.transforms import affine_transform, fliplr_joints

logger = logging.getLogger(__name__)

# Files already reported as truncated JPEGs (one warning per file and process).
_TRUNCATED_SEEN: set = set()


def _warn_if_truncated_jpeg(image_file: str) -> None:
    """Warn, naming the file, when a JPEG lacks its end-of-image marker.

    libjpeg decodes such a file anyway (the missing rows come out grey) and prints only "Premature
    end of JPEG file" without a name. A warning, not an error: the original trains on whatever the
    decoder returns, so the default run does not change.
    """
    if image_file in _TRUNCATED_SEEN:
        return
    try:
        with open(image_file, "rb") as f:
            head = f.read(2)
            f.seek(0, os.SEEK_END)
            f.seek(max(f.tell() - 64, 0))
            tail = f.read()
    except OSError:
        return
    if head == b"\xff\xd8" and b"\xff\xd9" not in tail:
        _TRUNCATED_SEEN.add(image_file)
        logger.warning("=> %s: truncated JPEG (no end-of-image marker); the missing part is decoded as grey",
                       image_file)

__all__ = ["JointsDataset", "IMREAD_FLAGS", "is_standard_transform"]

# Colour, 8 bit, EXIF orientation not applied: the frame the annotations use.
IMREAD_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION

# The ImageNet statistics of the original train.py / valid.py, applied to BGR data: RGB statistics on BGR
# pixels, which the released weights expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------------------------------
# helpers


def _sized_pair(value: Any) -> np.ndarray:
    """``[W, H]`` as an integer NumPy array (an int ``n`` means ``[n, n]``), as the config stores it."""
    arr = np.array(value)
    if arr.ndim == 0:
        arr = np.array([arr, arr])
    return arr.astype(int)


def _copy_field(value: Any) -> Any:
    """A copy of one record field that augmentation may modify (arrays are the common case)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, dict)):
        return copy.deepcopy(value)
    return value


def is_standard_transform(transform: Any) -> bool:
    """True for a transform whose output depends on each pixel's byte value and channel alone.

    That is a torchvision ``Compose([ToTensor(), Normalize(mean, std)])`` - what the original entry
    points build and what ``dataset.build_transform`` returns - checked by
    structure, so a Compose extended later is not mistaken for it; or any other callable marked
    ``simmrpose_pixelwise = True`` by its author.
    """
    if transform is None:
        return False
    try:
        import torchvision.transforms as T
    except ImportError:  # pragma: no cover - torchvision is a dependency
        T = None
    if T is not None and type(transform) is T.Compose:
        steps = transform.transforms
        return (
            isinstance(steps, list)
            and len(steps) == 2
            and type(steps[0]) is T.ToTensor
            and type(steps[1]) is T.Normalize
        )
    return bool(getattr(transform, "simmrpose_pixelwise", False))


def _lookup_table(transform: Callable[[np.ndarray], torch.Tensor]) -> np.ndarray:
    """(3, 256) table ``lut[c, v]`` = output of ``transform`` for byte value ``v`` in channel ``c``.

    Built by running the transform on a 1x256 image holding every byte value in every channel, so
    the table holds exactly the values the transform computes.
    """
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)  # (1, 256, 3)
    out = transform(ramp)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (3, 1, 256):
        raise ValueError("the pixel-wise transform must map an (H, W, 3) uint8 array to a (3, H, W) tensor")
    return np.ascontiguousarray(out.numpy()[:, 0, :])


_MATMUL_IS_DOT: Optional[bool] = None


def _matmul_matches_dot() -> bool:
    """Whether a stacked ``np.matmul`` gives bit-identical points to per-point ``np.dot``.

    The original transforms each joint with ``np.dot(t, (x, y, 1))``, a BLAS ``gemv`` that may use
    fused multiply-adds, so a plain ``t0*x + t1*y + t2`` can differ in the last bit. A stacked
    matmul of (2, 3) by (K, 3, 1) runs the same ``gemv`` per point; checked once per process.
    """
    global _MATMUL_IS_DOT
    if _MATMUL_IS_DOT is None:
        rng = np.random.default_rng(12345)
        ok = True
        for _ in range(20):
            t = rng.normal(size=(2, 3)) * rng.choice([1e-2, 1.0, 1e2], size=(2, 3))
            pts = rng.normal(size=(17, 2)) * 300.0
            fast = _matmul_points(pts, t)
            slow = np.array([affine_transform(p, t) for p in pts])
            ok &= bool(np.array_equal(fast, slow))
        _MATMUL_IS_DOT = ok
        if not ok:
            logger.info("np.matmul and np.dot round differently here; using the per-joint loop")
    return _MATMUL_IS_DOT


def _matmul_points(pts: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(K, 2) points through the 2x3 matrix ``t`` -> (K, 2), one ``gemv`` per point."""
    homog = np.empty((pts.shape[0], 3, 1))
    homog[:, 0:2, 0] = pts
    homog[:, 2, 0] = 1.0
    return np.matmul(t, homog)[:, :, 0]


# --------------------------------------------------------------------------------------------------
# dataset


class JointsDataset(Dataset):
    """Top-down pose dataset: one person box per item, cropped to ``MODEL.IMAGE_SIZE``.

    Subclasses fill ``self.db`` (list of records) and set ``num_joints``,
    ``flip_pairs``, ``parent_ids`` and ``upper_body_ids``; they implement ``_get_db`` and
    ``evaluate``.

    ``__getitem__(idx)`` returns ``(input, target, target_weight, meta)``:

    * ``input``: ``transform(crop)``, normally a float32 tensor (3, H_in, W_in); the crop is BGR
      unless ``DATASET.COLOR_RGB`` (uint8 (H_in, W_in, 3) when there is no transform);
    * ``target``: float32 tensor (J, H_hm, W_hm), one un-normalised gaussian (peak 1) per joint;
    * ``target_weight``: float32 tensor (J, 1);
    * ``meta``: dict with ``image``, ``filename``, ``imgnum``, ``joints`` (J, 3) in crop pixels
      (invisible joints untransformed), ``joints_vis`` (J, 3), ``center``, ``scale``,
      ``rotation`` (degrees) and ``score``.
    """

    def __init__(self, cfg: Any, root: str, image_set: str, is_train: bool,
                 transform: Optional[Callable] = None) -> None:
        self.num_joints = 0
        self.pixel_std = 200
        self.flip_pairs: list = []
        self.parent_ids: Any = []
        self.upper_body_ids: Sequence[int] = ()

        self.is_train = is_train
        self.root = root
        self.image_set = image_set

        self.output_path = cfg.OUTPUT_DIR
        self.data_format = cfg.DATASET.DATA_FORMAT

        self.scale_factor = cfg.DATASET.SCALE_FACTOR
        self.rotation_factor = cfg.DATASET.ROT_FACTOR
        self.flip = cfg.DATASET.FLIP
        self.color_rgb = bool(cfg.DATASET.get("COLOR_RGB", False))
        self.prob_half_body = float(cfg.DATASET.get("PROB_HALF_BODY", 0.0))
        self.num_joints_half_body = cfg.DATASET.get("NUM_JOINTS_HALF_BODY", 8)

        self.image_size = _sized_pair(cfg.MODEL.IMAGE_SIZE)
        self.aspect_ratio = self.image_size[0] * 1.0 / self.image_size[1]
        self.target_type = cfg.MODEL.EXTRA.TARGET_TYPE
        self.heatmap_size = _sized_pair(cfg.MODEL.EXTRA.HEATMAP_SIZE)
        self.sigma = cfg.MODEL.EXTRA.SIGMA
        self.use_different_joints_weight = cfg.LOSS.USE_DIFFERENT_JOINTS_WEIGHT

        self.transform = transform
        self.db: list[dict] = []


    # ---------------------------------------------------------------------------------------------
    # abstract

    def _get_db(self) -> list[dict]:
        raise NotImplementedError

    def evaluate(self, cfg: Any, preds: np.ndarray, output_dir: str, *args: Any, **kwargs: Any):
        raise NotImplementedError

    # ---------------------------------------------------------------------------------------------
    # transform: recognise the standard one and use the fused lookup table

    @property
    def transform(self) -> Optional[Callable]:
        return self._transform

    @transform.setter
    def transform(self, value: Optional[Callable]) -> None:
        self._transform = value
        self._lut: Optional[np.ndarray] = None  # built lazily (per process) for a pixel-wise transform
        self._lut_ok = is_standard_transform(value)

    def _to_input(self, crop: np.ndarray) -> Any:
        """Apply the transform to the (H, W, 3) uint8 BGR crop; RGB conversion happens here."""
        transform = self._transform
        if self._lut_ok:
            if self._lut is None:
                self._lut = _lookup_table(transform)
            lut = self._lut
            channels = cv2.split(crop)
            if self.color_rgb:
                # Converting BGR->RGB commutes with the flip and the (per-channel) warp.
                channels = channels[::-1]
            out = np.empty((3,) + crop.shape[:2], dtype=lut.dtype)
            for c in range(3):
                cv2.LUT(channels[c], lut[c], dst=out[c])
            return torch.from_numpy(out)
        if self.color_rgb:
            crop = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        if transform:
            return transform(crop)
        return crop

    # ---------------------------------------------------------------------------------------------
    # items

    def __len__(self) -> int:
        return len(self.db)

    def _read_image(self, image_file: str) -> np.ndarray:
        """(H, W, 3) uint8 BGR image; clear errors for a missing or undecodable file."""
        if self.data_format == "zip":
            from utils import zipreader

            data_numpy = zipreader.imread(image_file, IMREAD_FLAGS)
        else:
            data_numpy = cv2.imread(image_file, IMREAD_FLAGS)
            if data_numpy is None and not os.path.isfile(image_file):
                raise FileNotFoundError(f"image not found: {image_file}")
        if data_numpy is None:
            logger.error("=> fail to read %s", image_file)
            raise ValueError(f"fail to read {image_file}: OpenCV cannot decode it as an image")
        if self.data_format != "zip":
            _warn_if_truncated_jpeg(image_file)
        return data_numpy

    def __getitem__(self, idx: int):
        rec = self.db[idx]

        image_file = rec["image"]
        filename = rec.get("filename", "")
        imgnum = rec.get("imgnum", "")

        data_numpy = self._read_image(image_file)

        # Copies of the fields that augmentation changes: the stored record must never change.
        joints = _copy_field(rec["joints_3d"])
        joints_vis = _copy_field(rec["joints_3d_vis"])
        c = _copy_field(rec["center"])
        s = _copy_field(rec["scale"])
        score = rec.get("score", 1)
        r = 0

        if self.is_train:
            # HRNet's half-body option; with PROB_HALF_BODY <= 0 no random number is drawn (= SM).
            if (self.prob_half_body > 0
                    and np.sum(joints_vis[:, 0]) > self.num_joints_half_body
                    and np.random.rand() < self.prob_half_body):
                c_half_body, s_half_body = self.half_body_transform(joints, joints_vis)
                if c_half_body is not None and s_half_body is not None:
                    c, s = c_half_body, s_half_body

            # Scale/rotation magnitudes from NumPy, decisions from Python's random, as the original.
            sf = self.scale_factor
            rf = self.rotation_factor
            s = s * np.clip(np.random.randn() * sf + 1, 1 - sf, 1 + sf)
            r = np.clip(np.random.randn() * rf, -rf * 2, rf * 2) if random.random() <= 0.6 else 0

            if self.flip and random.random() <= 0.5:
                width = data_numpy.shape[1]
                data_numpy = cv2.flip(data_numpy, 1)  # same pixels as img[:, ::-1, :]
                joints, joints_vis = fliplr_joints(joints, joints_vis, width, self.flip_pairs)
                # `W - x - 1` (pixel-centre mirror), in the original's order of operations.
                c[0] = width - c[0] - 1

        trans = crop_transform(c, s, r, self.image_size, self.target_type)
        crop = cv2.warpAffine(
            data_numpy, trans, (int(self.image_size[0]), int(self.image_size[1])),
            flags=cv2.INTER_LINEAR)
        model_input = self._to_input(crop)

        # Only visible joints are moved; visibility is not updated afterwards (as in the original).
        visible = np.flatnonzero(joints_vis[:, 0] > 0.0)
        if visible.size:
            if _matmul_matches_dot():
                joints[visible, 0:2] = _matmul_points(joints[visible, 0:2], trans)
            else:
                for i in visible:
                    joints[i, 0:2] = affine_transform(joints[i, 0:2], trans)

        target, target_weight = self.generate_target(joints, joints_vis)
        if self.use_different_joints_weight:  # HRNet's LOSS.USE_DIFFERENT_JOINTS_WEIGHT
            target_weight = np.multiply(target_weight, self.joints_weight_column())

        meta = {
            "image": image_file,
            "filename": filename,
            "imgnum": imgnum,
            "joints": joints,
            "joints_vis": joints_vis,
            "center": c,
            "scale": s,
            "rotation": r,
            "score": score,
        }
        return model_input, torch.from_numpy(target), torch.from_numpy(target_weight), meta

    # ---------------------------------------------------------------------------------------------
    # targets

    def joints_weight_column(self) -> np.ndarray:
        """(J, 1) float32 per-joint loss weights for ``LOSS.USE_DIFFERENT_JOINTS_WEIGHT``."""
        info = getattr(self, "keypoints", None)
        if info is None:
            return np.ones((self.num_joints, 1), dtype=np.float32)
        return np.asarray(info.joint_weights, dtype=np.float32).reshape(-1, 1)

    def generate_target(self, joints: np.ndarray, joints_vis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Heat-map targets and weights of the joints: :func:`core.codec.encode_target`."""
        return encode_target(joints, joints_vis, self.image_size, self.heatmap_size, self.sigma,
                             self.target_type)

    # ---------------------------------------------------------------------------------------------
    # options

    def half_body_transform(self, joints: np.ndarray, joints_vis: np.ndarray):
        """HRNet's half-body box: centre and scale of the upper or lower body.

        Returns ``(center (2,) float32, scale (2,) float32)`` or ``(None, None)`` when fewer than two
        joints of the chosen half are visible. Draws one ``np.random.randn()``.
        """
        upper_joints = []
        lower_joints = []
        for joint_id in range(self.num_joints):
            if joints_vis[joint_id][0] > 0:
                if joint_id in self.upper_body_ids:
                    upper_joints.append(joints[joint_id])
                else:
                    lower_joints.append(joints[joint_id])

        # A normal draw compared with 0.5 (so the upper body wins with P ~ 0.69), as in HRNet.
        if np.random.randn() < 0.5 and len(upper_joints) > 2:
            selected_joints = upper_joints
        else:
            selected_joints = lower_joints if len(lower_joints) > 2 else upper_joints

        if len(selected_joints) < 2:
            return None, None

        selected = np.array(selected_joints, dtype=np.float32)
        center = selected.mean(axis=0)[:2]
        left_top = np.amin(selected, axis=0)
        right_bottom = np.amax(selected, axis=0)

        w = right_bottom[0] - left_top[0]
        h = right_bottom[1] - left_top[1]
        if w > self.aspect_ratio * h:
            h = w * 1.0 / self.aspect_ratio
        elif w < self.aspect_ratio * h:
            w = h * self.aspect_ratio

        scale = np.array([w * 1.0 / self.pixel_std, h * 1.0 / self.pixel_std], dtype=np.float32)
        return center, scale * 1.5

    def select_data(self, db: list[dict]) -> list[dict]:
        """Keep records whose visible joints are centred in their box (``DATASET.SELECT_DATA``).

        ``ks = exp(-|jc - c|^2 / (0.2^2 * 2 * area))`` with ``jc`` the mean of the visible joints and
        ``area = s_x * s_y * 200^2``; kept if ``ks > 0.2/16 * num_vis + 0.45 - 0.2/16``. Records
        without visible joints are dropped.
        """
        if not db:
            return []
        joints = np.stack([np.asarray(rec["joints_3d"], dtype=np.float64) for rec in db])
        vis = np.stack([np.asarray(rec["joints_3d_vis"], dtype=np.float64) for rec in db])[:, :, 0] > 0
        num_vis = vis.sum(axis=1)
        # Sequential sums over the joints, as the original loop accumulates them.
        sum_x = np.zeros(len(db))
        sum_y = np.zeros(len(db))
        for j in range(joints.shape[1]):
            sum_x += np.where(vis[:, j], joints[:, j, 0], 0.0)
            sum_y += np.where(vis[:, j], joints[:, j, 1], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            jx = sum_x / num_vis
            jy = sum_y / num_vis
        # The records' own dtypes (float32 for COCO) so that `area` is rounded as in the original;
        # the distance itself may differ from the original's BLAS dot in the last bit.
        centers = np.stack([np.asarray(rec["center"]) for rec in db]).astype(np.float64)
        scales = np.stack([np.asarray(rec["scale"]) for rec in db])
        area = scales[:, 0] * scales[:, 1] * (self.pixel_std ** 2)
        diff_norm2 = np.sqrt((jx - centers[:, 0]) ** 2 + (jy - centers[:, 1]) ** 2)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            ks = np.exp(-1.0 * (diff_norm2 ** 2) / ((0.2) ** 2 * 2.0 * area))
        metric = (0.2 / 16) * num_vis + 0.45 - 0.2 / 16
        keep = (num_vis > 0) & (ks > metric)
        db_selected = [rec for rec, k in zip(db, keep) if k]
        logger.info("=> num db: %d", len(db))
        logger.info("=> num selected db: %d", len(db_selected))
        return db_selected
