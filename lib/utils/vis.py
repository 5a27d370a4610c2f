"""Debug images: joints on input crops, heat-map panels, and a skeleton drawer for demos.

Inputs are the *normalised* network input batches ``(N, 3, H, W)`` in BGR channel order (the
pipeline never converts to RGB), so ``cv2.imwrite`` shows natural colours.
Joints are ``(x, y)`` in input-crop pixels (x right, y down, integer = pixel centre); heat-maps are
``(N, J, H_hm, W_hm)``. Colours are BGR. None of these functions modifies its arguments.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch
import torchvision

from core.inference import get_max_preds
from dataset.keypoints import COCO_KEYPOINTS, MPII_KEYPOINTS, KeypointInfo
from utils.atomic_io import write_bytes

__all__ = [
    "CENTER_COLOR",
    "LEFT_COLOR",
    "RIGHT_COLOR",
    "draw_skeleton",
    "save_batch_heatmaps",
    "save_batch_image_with_joints",
    "save_batch_image_with_joints_test",
    "save_debug_images",
    "save_debug_images_test",
]

LEFT_COLOR = (0, 255, 0)  # green
RIGHT_COLOR = (0, 128, 255)  # orange
CENTER_COLOR = (255, 153, 51)  # blue

_JOINT_COLOR = (255, 0, 0)  # blue circles of the original debug images
_GT_LIMB_COLOR = (0, 255, 0)  # green skeleton lines of save_batch_image_with_joints_test
_PEAK_COLOR = (0, 0, 255)  # red arg-max dots of the heat-map panels


def _joint_set_by_count(num_joints: int) -> KeypointInfo:
    """The joint set drawn when none is given: COCO's for 17 joints, MPII's for anything else (as the
    original); skeletons and sides come from ``dataset.keypoints``."""
    return COCO_KEYPOINTS if num_joints == COCO_KEYPOINTS.num_joints else MPII_KEYPOINTS


def _skeleton_for(num_joints: int) -> list[tuple[int, int]]:
    """Limbs (0-based) of :func:`_joint_set_by_count`; none where MPII's indices do not fit (fewer
    than 16 joints) or mean nothing (more than 17)."""
    if num_joints not in (COCO_KEYPOINTS.num_joints, MPII_KEYPOINTS.num_joints):
        return []
    return list(_joint_set_by_count(num_joints).skeleton)


def _as_array(joints: Any) -> np.ndarray:
    """A float64 copy of joints given as a tensor or an array, so callers' data stays untouched."""
    if isinstance(joints, torch.Tensor):
        joints = joints.detach().cpu().numpy()
    return np.array(joints, dtype=np.float64, copy=True)


def _write(file_name: str | os.PathLike, image: np.ndarray) -> None:
    """Write ``image`` to ``file_name`` in the format its suffix names, atomically.

    The picture is encoded in memory (the same encoder and settings as ``cv2.imwrite``, so the same
    bytes) and written through :func:`utils.atomic_io.write_bytes`: a reader never sees half a
    picture, and a failed write leaves the previous one. A picture that cannot be encoded or written
    is an ``OSError`` naming the file.
    """
    path = Path(file_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        ok, encoded = cv2.imencode(path.suffix, image)
    except cv2.error as e:
        raise OSError(f"cannot write debug image {path}: OpenCV could not encode it ({e.err})") from None
    if not ok:
        raise OSError(f"cannot write debug image {path}: OpenCV could not encode it")
    try:
        write_bytes(path, encoded.tobytes())
    except OSError as e:
        if str(path) in str(e):
            raise
        raise OSError(e.errno, f"cannot write debug image {path}: {e.strerror or e}") from e


def _batch_grid(batch_image: torch.Tensor, nrow: int, padding: int) -> np.ndarray:
    """(H', W', 3) uint8 grid of the batch, min/max normalised over the whole batch."""
    grid = torchvision.utils.make_grid(
        batch_image.detach().float(), nrow=nrow, padding=padding, normalize=True
    )
    ndarr = grid.mul(255).clamp(0, 255).byte().permute(1, 2, 0).cpu().numpy()
    return np.ascontiguousarray(ndarr)


def _grid_offsets(batch_image: torch.Tensor, nrow: int, padding: int) -> list[tuple[int, int]]:
    """Top-left corner ``(x0, y0)`` of each sample's tile in the make_grid layout."""
    nmaps = batch_image.size(0)
    xmaps = min(nrow, nmaps)
    ymaps = int(math.ceil(float(nmaps) / xmaps))
    height = int(batch_image.size(2) + padding)
    width = int(batch_image.size(3) + padding)
    offsets = []
    for y in range(ymaps):
        for x in range(xmaps):
            if len(offsets) < nmaps:
                offsets.append((x * width + padding, y * height + padding))
    return offsets


def save_batch_image_with_joints(
    batch_image: torch.Tensor,
    batch_joints: Any,
    batch_joints_vis: Any,
    file_name: str,
    nrow: int = 8,
    padding: int = 2,
) -> None:
    """Save a grid of the batch with a blue circle on every visible joint.

    Args:
        batch_image: (N, 3, H, W) normalised input tensor.
        batch_joints: (N, J, 2+) joints in input pixels.
        batch_joints_vis: (N, J, 1+) visibility; a joint is drawn if column 0 is non-zero.
        file_name: output image path.
    """
    ndarr = _batch_grid(batch_image, nrow, padding)
    joints_all = _as_array(batch_joints)
    vis_all = _as_array(batch_joints_vis)
    for k, (x0, y0) in enumerate(_grid_offsets(batch_image, nrow, padding)):
        for joint, joint_vis in zip(joints_all[k], vis_all[k]):
            if joint_vis[0]:
                center = (int(x0 + joint[0]), int(y0 + joint[1]))
                cv2.circle(ndarr, center, 2, _JOINT_COLOR, 2)
    _write(file_name, ndarr)


def save_batch_image_with_joints_test(
    batch_image: torch.Tensor,
    batch_joints: Any,
    file_name: str,
    nrow: int = 8,
    padding: int = 2,
) -> None:
    """Save a grid of the batch with a green skeleton and blue circles on every joint.

    Args:
        batch_image: (N, 3, H, W) normalised input tensor.
        batch_joints: (N, J, 2+) joints in input pixels; the COCO skeleton is used when J = 17,
            the MPII one otherwise. Every joint is drawn, whatever its score.
        file_name: output image path.
    """
    ndarr = _batch_grid(batch_image, nrow, padding)
    joints_all = _as_array(batch_joints)
    skeleton = _skeleton_for(joints_all.shape[1])
    for k, (x0, y0) in enumerate(_grid_offsets(batch_image, nrow, padding)):
        points = [(int(x0 + j[0]), int(y0 + j[1])) for j in joints_all[k]]
        for a, b in skeleton:
            cv2.line(ndarr, points[a], points[b], _GT_LIMB_COLOR, 3)
        for p in points:
            cv2.circle(ndarr, p, 2, _JOINT_COLOR, 2)
    _write(file_name, ndarr)


def save_batch_heatmaps(
    batch_image: torch.Tensor, batch_heatmaps: torch.Tensor, file_name: str, normalize: bool = True
) -> None:
    """Save one row per sample: the input thumbnail, then each joint's heat-map over it.

    Args:
        batch_image: (N, 3, H, W) normalised input tensor.
        batch_heatmaps: (N, J, H_hm, W_hm) heat-maps (values in [0, 1] are shown in full).
        file_name: output image path; the image is (N * H_hm) x ((J + 1) * W_hm) pixels.
        normalize: min/max normalise the batch to [0, 1] first.
    """
    batch_image = batch_image.detach().float()
    if normalize:
        lo = float(batch_image.min())
        hi = float(batch_image.max())
        batch_image = (batch_image - lo) / (hi - lo + 1e-5)
    batch_heatmaps = batch_heatmaps.detach().float()

    batch_size, num_joints, hm_height, hm_width = batch_heatmaps.shape
    grid_image = np.zeros((batch_size * hm_height, (num_joints + 1) * hm_width, 3), dtype=np.uint8)
    preds, _ = get_max_preds(batch_heatmaps.cpu().numpy())
    images = batch_image.mul(255).clamp(0, 255).byte().permute(0, 2, 3, 1).cpu().numpy()
    heatmaps_u8 = batch_heatmaps.mul(255).clamp(0, 255).byte().cpu().numpy()

    for i in range(batch_size):
        resized_image = cv2.resize(np.ascontiguousarray(images[i]), (hm_width, hm_height))
        rows = slice(hm_height * i, hm_height * (i + 1))
        for j in range(num_joints):
            peak = (int(preds[i, j, 0]), int(preds[i, j, 1]))
            # The dots accumulate on the thumbnail, so later panels show earlier peaks too (as before).
            cv2.circle(resized_image, peak, 1, _PEAK_COLOR, 1)
            colored = cv2.applyColorMap(heatmaps_u8[i, j], cv2.COLORMAP_JET)
            masked_image = colored * 0.7 + resized_image * 0.3
            cv2.circle(masked_image, peak, 1, _PEAK_COLOR, 1)
            # Truncating float -> uint8 cast, as the original's slice assignment did.
            grid_image[rows, hm_width * (j + 1):hm_width * (j + 2), :] = masked_image.astype(np.uint8)
        grid_image[rows, 0:hm_width, :] = resized_image
    _write(file_name, grid_image)


def save_debug_images(
    config: Any,
    input: torch.Tensor,
    meta: dict,
    target: torch.Tensor,
    joints_pred: Any,
    output: torch.Tensor,
    prefix: str,
) -> None:
    """Write ``<prefix>_gt.jpg``, ``_pred.jpg``, ``_hm_gt.jpg``, ``_hm_pred.jpg`` per DEBUG flags.

    Args:
        config: experiment config (``DEBUG.*``).
        input: (N, 3, H, W) normalised input batch.
        meta: collated meta with ``joints`` (N, J, 3) and ``joints_vis`` (N, J, 3).
        target: (N, J, H_hm, W_hm) target heat-maps.
        joints_pred: (N, J, 2+) predicted joints in input pixels (heat-map arg-max x 4).
        output: (N, J, H_hm, W_hm) predicted heat-maps.
        prefix: path prefix.
    """
    if not config.DEBUG.DEBUG:
        return
    if config.DEBUG.SAVE_BATCH_IMAGES_GT:
        save_batch_image_with_joints(input, meta["joints"], meta["joints_vis"], f"{prefix}_gt.jpg")
    if config.DEBUG.SAVE_BATCH_IMAGES_PRED:
        # Predictions are masked with the ground-truth visibility, as in the original.
        save_batch_image_with_joints(input, joints_pred, meta["joints_vis"], f"{prefix}_pred.jpg")
    if config.DEBUG.SAVE_HEATMAPS_GT:
        save_batch_heatmaps(input, target, f"{prefix}_hm_gt.jpg")
    if config.DEBUG.SAVE_HEATMAPS_PRED:
        save_batch_heatmaps(input, output, f"{prefix}_hm_pred.jpg")


def save_debug_images_test(
    config: Any, input: torch.Tensor, joints_pred: Any, output: torch.Tensor, prefix: str
) -> None:
    """Write ``<prefix>_pred.jpg`` (skeletons) and ``<prefix>_hm_pred.jpg`` per DEBUG flags.

    Args:
        config: experiment config (``DEBUG.*``).
        input: (N, 3, H, W) normalised input batch.
        joints_pred: (N, J, 2+) predicted joints in input pixels.
        output: (N, J, H_hm, W_hm) predicted heat-maps.
        prefix: path prefix.
    """
    if not config.DEBUG.DEBUG:
        return
    if config.DEBUG.SAVE_BATCH_IMAGES_PRED:
        save_batch_image_with_joints_test(input, joints_pred, f"{prefix}_pred.jpg")
    if config.DEBUG.SAVE_HEATMAPS_PRED:
        save_batch_heatmaps(input, output, f"{prefix}_hm_pred.jpg")


def _sides(num_joints: int) -> tuple[frozenset, frozenset]:
    """Left and right joints of :func:`_joint_set_by_count`; the others are drawn as centre."""
    joint_set = _joint_set_by_count(num_joints)
    return frozenset(joint_set.left_ids), frozenset(joint_set.right_ids)


def _side_color(joints: Sequence[int], left: frozenset, right: frozenset) -> tuple[int, int, int]:
    """Left if every joint is left or centre (at least one left); likewise right; else centre."""
    has_left = any(j in left for j in joints)
    has_right = any(j in right for j in joints)
    if has_left and not has_right:
        return LEFT_COLOR
    if has_right and not has_left:
        return RIGHT_COLOR
    return CENTER_COLOR


def draw_skeleton(
    image_bgr: np.ndarray,
    keypoints: Any,
    score_thr: float = 0.3,
    radius: int = 4,
    thickness: int = 2,
    skeleton: Sequence[tuple[int, int]] | None = None,
    keypoint_info: Any = None,
) -> np.ndarray:
    """Draw one person's limbs and joints on a copy of a BGR image.

    Args:
        image_bgr: (H, W, 3) uint8 BGR image (not modified).
        keypoints: (K, 3) rows ``(x, y, score)`` in image pixels; K = 17 (COCO) or 16 (MPII).
        score_thr: joints with ``score < score_thr`` (or non-finite values) are hidden, and so is
            every limb touching them.
        radius: joint circle radius in pixels.
        thickness: limb line thickness in pixels.
        skeleton: 0-based limb pairs; default the metadata's, else the COCO skeleton for K = 17,
            the MPII one for K = 16 (``dataset.keypoints``).
        keypoint_info: a ``dataset.keypoints.KeypointInfo`` of K joints: skeleton and left/right
            sides from it (any K); None: the COCO / MPII ones by K.

    Returns:
        The drawn (H, W, 3) uint8 image. Left-side limbs/joints use LEFT_COLOR, right-side
        RIGHT_COLOR, the rest CENTER_COLOR (a limb from a side joint to a centre joint takes the
        side's colour; shoulder-to-shoulder and hip-to-hip limbs are centre).
    """
    image = np.array(image_bgr, copy=True)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"draw_skeleton expects an (H, W, 3) BGR image; got shape {image.shape}")
    kpts = _as_array(keypoints)
    if kpts.ndim != 2 or kpts.shape[1] < 3:
        raise ValueError(f"draw_skeleton expects keypoints of shape (K, 3); got {kpts.shape}")
    num_joints = kpts.shape[0]
    if keypoint_info is not None:
        if keypoint_info.num_joints != num_joints:
            raise ValueError(f"draw_skeleton got {num_joints} keypoints for a {keypoint_info.num_joints}-joint set")
        if skeleton is None:
            skeleton = keypoint_info.skeleton
        left, right = frozenset(keypoint_info.left_ids), frozenset(keypoint_info.right_ids)
    elif skeleton is None:
        if num_joints not in (16, 17):
            raise ValueError(
                f"draw_skeleton knows the COCO (17) and MPII (16) skeletons; got {num_joints} "
                "keypoints, pass skeleton= explicitly"
            )
        skeleton = _skeleton_for(num_joints)
    if keypoint_info is None:
        left, right = _sides(num_joints)

    shown = np.isfinite(kpts[:, :3]).all(axis=1) & (kpts[:, 2] >= score_thr)
    points = [(int(round(x)), int(round(y))) if ok else None for (x, y), ok in zip(kpts[:, :2], shown)]
    for a, b in skeleton:
        if points[a] is not None and points[b] is not None:
            color = _side_color((a, b), left, right)
            cv2.line(image, points[a], points[b], color, thickness, cv2.LINE_AA)
    for j, p in enumerate(points):
        if p is not None:
            cv2.circle(image, p, radius, _side_color((j,), left, right), -1, cv2.LINE_AA)
    return image
