"""Python API: top-down pose estimation on an image whose person boxes are known.

One object wraps a network, its config and its device, and turns ``(image, boxes)`` into keypoints
exactly the way validation does (``pose_estimation/valid.py`` → ``core.evaluation.validate``):

1. every box ``[x, y, w, h]`` becomes a centre and scale with the COCO dataset's rule
   (aspect ratio of ``MODEL.IMAGE_SIZE``, 200 px units, ×1.25), raw as for
   detector boxes (no GT cleaning);
2. the crop is the dataset's ``warpAffine`` with the same matrix, bilinear, black border,
   then ToTensor + ImageNet Normalize on the BGR pixels, or RGB with ``DATASET.COLOR_RGB``;
3. all people of the image go through the network in one batch, with the flip test and the
   one-column shift when ``TEST.FLIP_TEST`` / ``TEST.SHIFT_HEATMAP`` say so
   (:func:`core.inference_step.inference_step`, the step validation runs); ``TEST.AMP``,
   ``TEST.AMP_DTYPE`` and ``TEST.CHANNELS_LAST`` switch its speed as there;
4. :func:`core.inference.get_final_preds` decodes the heatmaps (arg-max, quarter offset with
   ``TEST.POST_PROCESS``, back-projection into the original image);
5. the person score is COCO evaluation's rescoring (:func:`dataset.coco.rescore`): the mean of the joint scores above
   ``TEST.IN_VIS_THRE`` (0 if none) times the box score.

The box rule is COCO's for every network, MPII-trained ones included (MPII records come with their
own centre and scale; :meth:`PoseEstimator.predict_center_scale` takes those directly).

Coordinates: ``(x, y)`` in pixels of the original image, x to the right, y down, integer values at
pixel centres (the pipeline's convention; no half-pixel shift). Boxes are ``[x, y, w, h]`` with
``(x, y)`` the top-left corner.

Example::

    from core.api import PoseEstimator
    est = PoseEstimator.from_config("experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml",
                                    "models/pose_coco/mrheat1_256x192.pth.tar",
                                    opts=["TEST.FLIP_TEST", "True"])
    for person in est.predict("photo.jpg", boxes=[[100, 50, 120, 300]], box_scores=[0.98]):
        print(person["keypoints"].shape, person["score"])   # (17, 3) x, y, joint score
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Iterable, Sequence, Union

import cv2
import numpy as np
import torch
from torch import nn

from core.codec import crop_transform
from core.config import AttrDict, load_config, validate_config
from core.detections import MAX_BOX_COORD
from core.inference import get_final_preds
from core.inference_step import inference_step, prepare_inference_model
from dataset import build_transform
from dataset.coco import box_to_center_scale as coco_box_to_center_scale
from dataset.coco import rescore
from dataset.JointsDataset import IMREAD_FLAGS
from dataset.keypoints import COCO_KEYPOINTS, KeypointInfo, keypoints_for_config, keypoints_of_categories
from models import build_pose_net
from utils.checkpoint import CheckpointMismatchError, load_model_weights
from utils.cli import InputFileError
from utils.device import resolve_device

__all__ = [
    "PoseEstimator",
    "box_to_center_scale",
    "crop_person",
    "estimate_poses",
    "keypoint_info",
    "person_scores",
    "read_image",
]

logger = logging.getLogger(__name__)

ImageInput = Union[str, os.PathLike, np.ndarray]

PIXEL_STD = 200  # box sizes are stored in units of 200 px


def keypoint_info(cfg: AttrDict) -> KeypointInfo:
    """The joint set of a config (flip pairs, skeleton, sides, sigmas), without building a dataset.

    MPII-16 and COCO-17 configs get the original metadata (17 joints with ``DATASET.TEST_ANN_FILE``
    set: that file's, as below). For another ``MODEL.NUM_JOINTS`` the
    names and skeleton come from the keypoint category of
    ``DATASET.TEST_ANN_FILE`` (default ``DATASET.ROOT/annotations/person_keypoints_<TEST_SET>.json``) when that file exists (as in
    validation), else from ``DATASET.FLIP_PAIRS`` alone; the flip test then needs that key set.
    """
    k = int(cfg.MODEL.NUM_JOINTS)
    explicit = cfg.DATASET.get("TEST_ANN_FILE", "")  # an export's file: read even for 17 joints (e.g. AP-10K's)
    if cfg.DATASET.DATASET == "mpii" or (k == COCO_KEYPOINTS.num_joints and not explicit):
        return keypoints_for_config(cfg)
    ann_file = Path(explicit or
                    Path(cfg.DATASET.ROOT or ".") / "annotations" / f"person_keypoints_{cfg.DATASET.TEST_SET}.json")
    if ann_file.is_file():
        import json

        with open(ann_file, encoding="utf-8") as f:
            cats = json.load(f).get("categories") or [{}]
        return keypoints_of_categories(cfg, cats, str(ann_file))
    if cfg.TEST.FLIP_TEST and cfg.DATASET.get("FLIP_PAIRS", None) is None:
        raise ValueError(
            f"MODEL.NUM_JOINTS={k}: the flip test needs the joint set's left/right pairs; set DATASET.FLIP_PAIRS "
            f"(or DATASET.ROOT to the data, whose {ann_file.name} names the joints), or TEST.FLIP_TEST False")
    return keypoints_for_config(cfg)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as (H, W, 3) uint8 BGR, read with the dataset's flags (``IMREAD_FLAGS``: colour,
    EXIF orientation not applied, the frame annotations use).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: OpenCV cannot decode it (not an image, truncated, unsupported format).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    image = cv2.imread(str(path), IMREAD_FLAGS)
    if image is None:
        raise InputFileError(f"cannot read image {path}: OpenCV could not decode it (not an image or corrupt?)")
    return image


def _as_bgr(image: np.ndarray, source: str) -> np.ndarray:
    """An (H, W, 3) uint8 BGR view of an array; grey (H, W) and BGRA (H, W, 4) are converted."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{source}: expected a path or a NumPy BGR image, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{source}: expected a uint8 image (as cv2.imread returns), got dtype {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{source}: expected an (H, W, 3) BGR image, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{source}: empty image of shape {image.shape}")
    return image


def box_to_center_scale(box: Sequence[float], image_size: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale of the crop for a box: the COCO dataset's ``_xywh2cs``.

    Args:
        box: ``[x, y, w, h]`` in image pixels, used raw (as detector boxes are; GT cleaning is a
            property of the annotation loader).
        image_size: network input ``[W, H]``; the box is padded to the aspect ratio W/H.

    Returns:
        ``center`` (2,) float32 ``(x + w/2, y + h/2)`` and ``scale`` (2,) float32, the padded box size
        in units of 200 px enlarged by 1.25.
    """
    x, y, w, h = (float(v) for v in box[:4])
    return coco_box_to_center_scale(x, y, w, h, image_size[0] * 1.0 / image_size[1])


def crop_person(image: np.ndarray, center: np.ndarray, scale: np.ndarray, image_size: Sequence[int],
                target_type: str = "gaussian") -> np.ndarray:
    """The network-input crop of one person, as the dataset makes it (affine warp, bilinear, black border).

    Args:
        image: (H, W, 3) uint8 image in the channel order the network expects.
        center: (2,) crop centre in image pixels; it lands on ``(W_in/2, H_in/2)``.
        scale: (2,) crop size / 200; only the width sets the zoom (the original ignores the height).
        image_size: ``[W_in, H_in]``.
        target_type: ``MODEL.EXTRA.TARGET_TYPE``; ``udp`` crops with UDP's pixel-centre aligned
            matrix (:func:`core.codec.crop_transform`), as the dataset then does.

    Returns:
        (H_in, W_in, 3) uint8 crop, bilinear, black outside the image.
    """
    trans = crop_transform(center, scale, 0, image_size, target_type)
    return cv2.warpAffine(image, trans, (int(image_size[0]), int(image_size[1])), flags=cv2.INTER_LINEAR)


def person_scores(maxvals: np.ndarray, box_scores: np.ndarray, in_vis_thre: float) -> np.ndarray:
    """COCO evaluation's person rescoring, :func:`dataset.coco.rescore`.

    Args:
        maxvals: (N, K) or (N, K, 1) joint scores (heatmap maxima).
        box_scores: (N,) detector scores (1 for boxes without one).
        in_vis_thre: ``TEST.IN_VIS_THRE``; only joints scoring strictly above it count.

    Returns:
        (N,): mean of the counted joint scores (0 when none counts) times the box score.
    """
    vals = np.asarray(maxvals)
    vals = vals.reshape(vals.shape[0], -1)
    preds = np.zeros(vals.shape + (3,), dtype=vals.dtype)  # rescore reads column 2 only
    preds[:, :, 2] = vals
    return rescore(preds, np.asarray(box_scores, dtype=np.float64), in_vis_thre)


def _as_float(values: Any) -> np.ndarray:
    """A float array of ``values``, float32/float64 kept as given, anything else as float64."""
    arr = np.asarray(values)
    return arr if arr.dtype in (np.float32, np.float64) else arr.astype(np.float64)


def _resolve(device: torch.device | str | None, cfg: AttrDict) -> torch.device:
    """``None``: from ``cfg.GPUS``; a ``torch.device`` or ``'cuda:1'``: as given; else GPUS syntax."""
    if device is None:
        return resolve_device(cfg.GPUS)
    if isinstance(device, torch.device):
        return device
    text = str(device)
    if text.startswith("cuda") and (":" in text or text == "cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={text!r}: CUDA is not available on this machine; use 'cpu'")
        return torch.device(text)
    return resolve_device(text)  # '0', '0,1', 'cpu'


class PoseEstimator:
    """A pose network ready for inference on whole images with person boxes.

    Attributes:
        cfg: the resolved (frozen) config; ``TEST.FLIP_TEST``, ``TEST.SHIFT_HEATMAP``,
            ``TEST.POST_PROCESS``, ``TEST.IN_VIS_THRE`` and ``DATASET.COLOR_RGB`` act as in validation.
        model: the network in eval mode on :attr:`device` (the model passed in, moved there; with
            ``TEST.AMP`` its BatchNorms are folded into its convolutions, so it is for inference only).
        device: where the network runs.
    """

    def __init__(self, cfg: AttrDict, model: nn.Module, device: torch.device | str | None = None) -> None:
        self.cfg = validate_config(cfg, source="the config passed to PoseEstimator")
        self.device = _resolve(device, cfg)
        # As valid.py does: channels-last with TEST/TRAIN.CHANNELS_LAST, TEST.AMP_DTYPE checked, BN folded under TEST.AMP.
        self.model = prepare_inference_model(cfg, model, self.device)
        self.image_size = [int(v) for v in cfg.MODEL.IMAGE_SIZE]  # [W, H]
        self.num_joints = int(cfg.MODEL.NUM_JOINTS)
        self.keypoints = keypoint_info(cfg)
        if self.keypoints.num_joints != self.num_joints:
            raise ValueError(f"MODEL.NUM_JOINTS={self.num_joints} but the joint set has {self.keypoints.num_joints}")
        self.flip_pairs = [list(p) for p in self.keypoints.flip_pairs] if cfg.TEST.FLIP_TEST else None
        self._transform = build_transform()  # ToTensor + ImageNet Normalize, as the datasets
        logger.info(
            "=> %s %dx%d (W x H) on %s; flip test %s, shift heatmap %s, post-process %s",
            cfg.MODEL.NAME, self.image_size[0], self.image_size[1], self.device,
            cfg.TEST.FLIP_TEST, cfg.TEST.SHIFT_HEATMAP, cfg.TEST.POST_PROCESS,
        )

    @classmethod
    def from_config(
        cls,
        cfg_path: str | os.PathLike,
        model_file: str | os.PathLike | None = None,
        opts: Iterable[str] = (),
        device: torch.device | str | None = None,
        flip_test: bool | None = None,
    ) -> "PoseEstimator":
        """Build the network of a YAML (plus ``KEY VALUE`` overrides) and load a checkpoint.

        Args:
            cfg_path: experiment YAML.
            model_file: weights with or without the ``module.`` prefix, bare or under ``'state_dict'``;
                ``None`` takes ``TEST.MODEL_FILE``.
            opts: overrides such as ``["TEST.FLIP_TEST", "True"]``.
            device: ``None`` picks from ``GPUS`` (CPU when CUDA is absent); or ``'cpu'``, ``'0'``,
                ``'cuda:1'``, a ``torch.device``.
            flip_test: shortcut for ``TEST.FLIP_TEST``; ``None`` keeps the YAML's value. The shipped
                YAMLs say False and the validation scripts switch it on, as the published numbers do.

        Raises:
            FileNotFoundError: the YAML or the checkpoint is missing.
            ConfigError: a bad YAML or override, or a value no network can run with (checked as the
                entry points check it, e.g. an input size that is not a multiple of 32).
            CheckpointMismatchError: the checkpoint was made for another network; the message names
                the file, the YAML and the first differing keys.
        """
        opts = list(opts)
        if flip_test is not None:
            opts += ["TEST.FLIP_TEST", str(bool(flip_test))]
        if not Path(cfg_path).is_file():
            raise FileNotFoundError(f"config file not found: {cfg_path}")
        cfg = load_config(cfg_path, opts, validate=True)
        model_file = model_file if model_file else cfg.TEST.MODEL_FILE
        if not model_file:
            raise ValueError(f"no checkpoint given: pass model_file or set TEST.MODEL_FILE ({cfg_path})")
        if not Path(model_file).is_file():
            raise FileNotFoundError(f"model file not found: {model_file}")
        cfg.TEST.MODEL_FILE = str(model_file)
        cfg.freeze()
        model = build_pose_net(cfg, is_train=False)
        try:
            load_model_weights(model, model_file)
        except CheckpointMismatchError as e:
            extra = cfg.MODEL.EXTRA
            raise CheckpointMismatchError(
                f"{e}. The network was built from {cfg_path} (MODEL.NAME={cfg.MODEL.NAME}, "
                f"MODEL.EXTRA.NUM_LAYERS={extra.NUM_LAYERS}, MODEL.NUM_JOINTS={cfg.MODEL.NUM_JOINTS}, "
                f"NUM_DECONV_FILTERS={list(extra.NUM_DECONV_FILTERS)}): is the checkpoint for this YAML?"
            ) from e
        return cls(cfg, model, device)

    # ------------------------------------------------------------------------------------------
    def _load(self, image: ImageInput) -> tuple[np.ndarray, str]:
        if isinstance(image, (str, os.PathLike)):
            return read_image(image), str(image)
        return _as_bgr(image, "image array"), "image array"

    def _boxes(self, boxes: Any, width: int, height: int, source: str) -> np.ndarray:
        """(N, 4) float64 boxes, checked: finite, positive size, overlapping the image."""
        if boxes is None:
            # The whole image as one box, corner to corner.
            return np.array([[0.0, 0.0, float(width), float(height)]])
        arr = np.asarray(boxes, dtype=np.float64)
        if arr.ndim == 1 and arr.size == 4:
            arr = arr[None]
        if arr.size == 0:
            return np.zeros((0, 4))
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise ValueError(
                f"{source}: boxes must be [x, y, w, h] rows, shape (N, 4) (scores go in box_scores); got shape {arr.shape}"
            )
        for i, (x, y, w, h) in enumerate(arr):
            if not np.all(np.isfinite([x, y, w, h])):
                raise ValueError(f"{source}: box {i} [x, y, w, h] = {arr[i].tolist()} has non-finite values")
            if w <= 0 or h <= 0:
                raise ValueError(f"{source}: box {i} [x, y, w, h] = {arr[i].tolist()} has no area (w, h must be > 0)")
            if max(abs(x), abs(y), w, h) > MAX_BOX_COORD:
                raise ValueError(f"{source}: box {i} [x, y, w, h] = {arr[i].tolist()} is beyond {MAX_BOX_COORD:g} px "
                                 "(a broken box, not a person)")
            if x >= width or y >= height or x + w <= 0 or y + h <= 0:
                raise ValueError(
                    f"{source}: box {i} [x, y, w, h] = {arr[i].tolist()} lies outside the {width}x{height} image"
                )
        return arr

    def predict(
        self,
        image: ImageInput,
        boxes: Any = None,
        box_scores: Any = None,
    ) -> list[dict[str, Any]]:
        """Keypoints of the people in ``boxes`` (or of the whole image as one box).

        Args:
            image: a path (read as the dataset reads, BGR) or an (H, W, 3) uint8 BGR array
                (grey (H, W) and BGRA (H, W, 4) arrays are converted).
            boxes: (N, 4) ``[x, y, w, h]`` in image pixels, or one box as (4,); ``None`` uses
                ``[0, 0, W, H]``. Boxes may stick out of the image but must overlap it.
            box_scores: (N,) detector scores; ``None`` means 1 for every box.

        Returns:
            One dict per box, in box order: ``keypoints`` (K, 3) float32 rows ``(x, y, score)`` in
            image pixels with K = ``MODEL.NUM_JOINTS`` and score the heatmap maximum; ``bbox`` the
            box ``[x, y, w, h]``; ``score`` the person score (COCO rescoring × box score);
            ``center`` (2,) and ``scale`` (2,) of the crop.

        Raises:
            FileNotFoundError / ValueError: unreadable image, malformed or out-of-image box,
                mismatched number of scores. Messages name the image and the box.
        """
        img, source = self._load(image)
        height, width = img.shape[:2]
        boxes_arr = self._boxes(boxes, width, height, source)
        if len(boxes_arr) == 0:
            return []
        centers, scales = zip(*(box_to_center_scale(b, self.image_size) for b in boxes_arr))
        results = self._run(img, source, np.stack(centers), np.stack(scales), box_scores)
        for result, box in zip(results, boxes_arr):
            result["bbox"] = [float(v) for v in box]
        return results

    def predict_center_scale(
        self,
        image: ImageInput,
        centers: np.ndarray,
        scales: np.ndarray,
        box_scores: Any = None,
    ) -> list[dict[str, Any]]:
        """Like :meth:`predict` with crops given directly as dataset-style centre/scale pairs.

        Args:
            image: path or BGR array, as in :meth:`predict`.
            centers: (N, 2) crop centres in image pixels.
            scales: (N, 2) crop sizes / 200 (already enlarged by 1.25, as the dataset stores them).
                float32 or float64 values are used as given (the datasets store COCO boxes as float32,
                MPII ones as float64, and validation computes with those).
            box_scores: (N,) scores; ``None`` means 1.

        Returns:
            As :meth:`predict`; ``bbox`` is the crop window without the 1.25 enlargement,
            ``[cx - w/2, cy - h/2, w, h]`` with ``(w, h) = scale * 200 / 1.25``.
        """
        img, source = self._load(image)
        return self._run(img, source, centers, scales, box_scores)

    @torch.no_grad()
    def _run(
        self, img: np.ndarray, source: str, centers: np.ndarray, scales: np.ndarray, box_scores: Any
    ) -> list[dict[str, Any]]:
        """Crop, batch, infer and decode; ``source`` names the image in error messages."""
        # Keep the caller's float type: validation uses the records' own (float32 COCO, float64 MPII).
        centers = _as_float(centers).reshape(-1, 2)
        scales = _as_float(scales).reshape(-1, 2)
        n = len(centers)
        if len(scales) != n:
            raise ValueError(f"{source}: {n} centres but {len(scales)} scales")
        scores = np.ones(n) if box_scores is None else np.asarray(box_scores, dtype=np.float64).reshape(-1)
        if len(scores) != n:
            raise ValueError(f"{source}: {n} boxes but {len(scores)} box scores")
        if n == 0:
            return []
        if not (np.isfinite(scales).all() and (scales > 0).all()):
            raise ValueError(f"{source}: crop scales must be finite and > 0; got {scales.tolist()}")
        for what, values in (("centre", centers), ("box score", scores)):
            bad = np.flatnonzero(~np.isfinite(values.reshape(n, -1)).all(axis=1))
            if len(bad):
                raise ValueError(f"{source}: {what} {int(bad[0])} is {values[bad[0]].tolist()}; expected finite numbers "
                                 f"({len(bad)} of {n} are NaN or infinite)")

        if self.cfg.DATASET.COLOR_RGB:  # the dataset converts right after reading (HRNet's switch)
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        crops = [crop_person(img, c, s, self.image_size, self.cfg.MODEL.EXTRA.TARGET_TYPE) for c, s in zip(centers, scales)]
        inputs = torch.stack([self._transform(crop) for crop in crops])
        heatmaps = inference_step(self.cfg, self.model, inputs, self.flip_pairs)
        preds, maxvals = get_final_preds(self.cfg, heatmaps.cpu().numpy(), centers, scales)

        keypoints = np.concatenate([preds[:, :, 0:2], maxvals], axis=2).astype(np.float32)
        person = person_scores(maxvals, scores, self.cfg.TEST.IN_VIS_THRE)
        results = []
        for i in range(n):
            w, h = (scales[i] * PIXEL_STD / 1.25).tolist()
            cx, cy = centers[i].tolist()
            results.append(
                {
                    "keypoints": keypoints[i],
                    "bbox": [cx - w / 2, cy - h / 2, w, h],
                    "score": float(person[i]),
                    "center": centers[i].copy(),
                    "scale": scales[i].copy(),
                }
            )
        return results


def estimate_poses(
    cfg_path: str | os.PathLike,
    model_file: str | os.PathLike,
    image: ImageInput,
    boxes: Any = None,
    box_scores: Any = None,
    opts: Iterable[str] = (),
    device: torch.device | str | None = None,
) -> list[dict[str, Any]]:
    """One-call form: build a :class:`PoseEstimator` and run :meth:`PoseEstimator.predict` once.

    Builds the network every call; keep a :class:`PoseEstimator` for more than one image.
    """
    return PoseEstimator.from_config(cfg_path, model_file, opts=opts, device=device).predict(image, boxes, box_scores)
