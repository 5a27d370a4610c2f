"""Geometry helpers: the crop affine, its inverse, flips of joints and heat-maps.

Conventions used throughout: points are ``(x, y)`` with x to the right
and y downwards, in pixels, integer coordinates being pixel centres (no half-pixel correction is
applied anywhere, on purpose). ``scale`` is the box size in units of 200 px (``pixel_std``) and
``output_size`` is ``[W, H]``, width first. Heat-map batches are ``(N, J, H, W)``.

The affine matrices are built exactly as in the original: three point pairs stored as float32 and
OpenCV's three-point solver, so values agree with it to float precision. The batched variant
:func:`get_affine_transform_batch` repeats the same float32 construction for many boxes at once.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch

__all__ = [
    "affine_transform",
    "affine_transform_points",
    "crop",
    "flip_back",
    "flip_back_torch",
    "fliplr_joints",
    "get_3rd_point",
    "get_affine_transform",
    "get_affine_transform_batch",
    "get_dir",
    "transform_preds",
]

# The default shift of the original signature (it is never mutated).
_NO_SHIFT = np.array([0, 0], dtype=np.float32)


def _pair_permutation(num_joints: int, matched_parts: Sequence[Sequence[int]]) -> list[int]:
    """Source index for every output channel after swapping each pair in turn.

    Applying the swaps one after the other to an index list gives the same result as the original's
    sequential in-place swaps of the maps, even for (unusual) overlapping pairs.
    """
    order = list(range(num_joints))
    for a, b in matched_parts:
        order[a], order[b] = order[b], order[a]
    return order


def flip_back(output_flipped: np.ndarray, matched_parts: Sequence[Sequence[int]]) -> np.ndarray:
    """Undo a horizontal flip of heat-maps predicted on a flipped image.

    Args:
        output_flipped: (N, J, H, W) heat-maps of the mirrored input.
        matched_parts: left/right joint index pairs (dataset ``flip_pairs``).

    Returns:
        A new (N, J, H, W) array: every map reversed along W, then the maps of each pair swapped.
        The caller's array is left unchanged (the original wrote the swaps through a view).
        The 1-column ``SHIFT_HEATMAP`` correction is not part of this function (see ``core.codec.flip_back_and_shift``).
    """
    output_flipped = np.asarray(output_flipped)
    if output_flipped.ndim != 4:
        raise ValueError(
            f"flip_back expects heat-maps of shape (N, J, H, W); got shape {output_flipped.shape}"
        )
    order = _pair_permutation(output_flipped.shape[1], matched_parts)
    # Fancy indexing on the joint axis copies, so the result never aliases the input.
    return np.ascontiguousarray(output_flipped[:, order, :, ::-1])


def flip_back_torch(tensor: torch.Tensor, matched_parts: Sequence[Sequence[int]]) -> torch.Tensor:
    """Torch version of :func:`flip_back` that stays on the tensor's device.

    Args:
        tensor: (N, J, H, W) heat-maps of the mirrored input, any device and dtype.
        matched_parts: left/right joint index pairs.

    Returns:
        A new (N, J, H, W) tensor equal to ``flip_back(tensor.cpu().numpy(), matched_parts)``.
    """
    if tensor.dim() != 4:
        raise ValueError(
            f"flip_back_torch expects heat-maps of shape (N, J, H, W); got shape {tuple(tensor.shape)}"
        )
    order = _pair_permutation(tensor.shape[1], matched_parts)
    index = torch.as_tensor(order, dtype=torch.long, device=tensor.device)
    return torch.flip(tensor, dims=(3,)).index_select(1, index)


def fliplr_joints(
    joints: np.ndarray,
    joints_vis: np.ndarray,
    width: int,
    matched_parts: Sequence[Sequence[int]],
) -> tuple[np.ndarray, np.ndarray]:
    """Mirror joint coordinates for an image flipped left-right.

    Args:
        joints: (J, 2+) joint coordinates; column 0 is x.
        joints_vis: (J, 2+) visibility flags, same shape as ``joints``.
        width: width of the image in pixels.
        matched_parts: left/right joint index pairs.

    Returns:
        ``(joints * joints_vis, joints_vis)``: ``x -> width - 1 - x`` (pixel centres at integers),
        rows of each pair swapped in both arrays, then invisible joints zeroed. New arrays are
        returned; unlike the original the inputs are not modified in place.
    """
    joints = np.array(joints, copy=True)
    joints_vis = np.array(joints_vis, copy=True)
    # `width - 1 - x` mirrors pixel centres (the original's half-pixel convention, kept).
    joints[:, 0] = width - joints[:, 0] - 1
    order = _pair_permutation(joints.shape[0], matched_parts)
    joints = joints[order]
    joints_vis = joints_vis[order]
    return joints * joints_vis, joints_vis


def transform_preds(
    coords: np.ndarray, center: np.ndarray, scale: np.ndarray, output_size: Sequence[int]
) -> np.ndarray:
    """Map points from an ``output_size`` crop back to the original image.

    Args:
        coords: (K, 2+) points in crop coordinates (only columns 0 and 1 are used).
        center: (2,) box centre in image pixels.
        scale: (2,) box size in units of 200 px.
        output_size: crop size ``[W, H]``.

    Returns:
        A float64 array shaped like ``coords`` with columns 0-1 in image pixels and any further
        columns 0, as in the original.
    """
    coords = np.asarray(coords)
    target_coords = np.zeros(coords.shape)
    trans = get_affine_transform(center, scale, 0, output_size, inv=1)
    target_coords[:, 0:2] = affine_transform_points(coords[:, 0:2], trans)
    return target_coords


def _three_points(
    center: np.ndarray,
    scale: np.ndarray,
    rot: np.ndarray | float,
    output_size: Sequence[int],
    shift: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The float32 source/destination point triples of the original construction.

    Works on a leading batch axis: ``center``/``scale`` are (..., 2), ``rot`` broadcasts against
    (...,). Every dtype promotion follows the original's scalar code, so the float32 points are
    bit-identical to it.
    """
    scale_tmp = scale * 200.0
    src_w = scale_tmp[..., 0]
    dst_w = output_size[0]
    dst_h = output_size[1]

    rot_rad = np.pi * rot / 180
    # get_dir([0, -src_w / 2], rot_rad), written out so that it broadcasts.
    sn, cs = np.sin(rot_rad), np.cos(rot_rad)
    half = src_w * -0.5
    src_dir = np.stack(np.broadcast_arrays(0 * cs - half * sn, 0 * sn + half * cs), axis=-1)
    dst_dir = np.array([0, dst_w * -0.5], np.float32)

    batch = np.broadcast_shapes(center.shape[:-1], scale.shape[:-1], np.shape(rot))
    src = np.zeros(batch + (3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[..., 0, :] = center + scale_tmp * shift
    src[..., 1, :] = center + src_dir + scale_tmp * shift
    dst[0, :] = [dst_w * 0.5, dst_h * 0.5]
    dst[1, :] = np.array([dst_w * 0.5, dst_h * 0.5]) + dst_dir
    src[..., 2, :] = get_3rd_point(src[..., 0, :], src[..., 1, :])
    dst[2, :] = get_3rd_point(dst[0, :], dst[1, :])
    return src, dst


def _as_scale_pair(scale: np.ndarray | Sequence[float] | float) -> np.ndarray:
    """One box scale as (2,); a scalar means a square box (the original printed it, then did this)."""
    scale = np.asarray(scale)
    if scale.ndim == 0:
        return np.array([scale, scale])
    if scale.shape != (2,):
        raise ValueError(f"scale must be a scalar or a (2,) array (w, h) / 200; got shape {scale.shape}")
    return scale


def get_affine_transform(
    center: np.ndarray,
    scale: np.ndarray,
    rot: float,
    output_size: Sequence[int],
    shift: np.ndarray = _NO_SHIFT,
    inv: int | bool = 0,
) -> np.ndarray:
    """The 2x3 matrix that crops the box (``center``, ``scale``) to ``output_size``.

    The box centre (moved by ``shift * scale * 200``) lands on ``(W/2, H/2)``, the box width
    ``scale[0] * 200`` becomes ``W`` (the scale's height is ignored, as in the original), and the content is
    rotated by ``rot`` degrees counter-clockwise on screen.

    Args:
        center: (2,) box centre ``(x, y)`` in image pixels.
        scale: (2,) box size / 200, or a scalar for a square box.
        rot: rotation in degrees.
        output_size: ``[W, H]`` of the crop.
        shift: (2,) centre offset in units of the box size.
        inv: if true, return the crop -> image matrix instead of image -> crop.

    Returns:
        (2, 3) float64 matrix ``t`` such that ``t @ (x, y, 1)`` maps a point.
    """
    src, dst = _three_points(
        np.asarray(center), _as_scale_pair(scale), rot, output_size, np.asarray(shift)
    )
    if inv:
        return cv2.getAffineTransform(np.float32(dst), np.float32(src))
    return cv2.getAffineTransform(np.float32(src), np.float32(dst))


def get_affine_transform_batch(
    centers: np.ndarray,
    scales: np.ndarray,
    rot: np.ndarray | float,
    output_size: Sequence[int],
    shift: np.ndarray = _NO_SHIFT,
    inv: int | bool = 0,
) -> np.ndarray:
    """:func:`get_affine_transform` for many boxes at once, without a Python loop.

    Args:
        centers: (N, 2) box centres.
        scales: (N, 2) box sizes / 200 (or (N,) for square boxes).
        rot: a scalar or (N,) rotations in degrees.
        output_size: ``[W, H]`` shared by all boxes.
        shift: (2,) or (N, 2) centre offsets.
        inv: if true, crop -> image matrices.

    Returns:
        (N, 2, 3) float64 matrices. They come from the same float32 point triples as the scalar
        function and a float64 LU solve, so they match OpenCV's solver to ~1e-12.
    """
    centers = np.asarray(centers)
    scales = np.asarray(scales)
    if scales.ndim == 1:
        scales = np.stack([scales, scales], axis=-1)
    if centers.ndim != 2 or centers.shape[1] != 2 or scales.shape != centers.shape:
        raise ValueError(
            "get_affine_transform_batch expects centers (N, 2) and scales (N, 2) or (N,); "
            f"got {centers.shape} and {np.shape(scales)}"
        )
    src, dst = _three_points(centers, scales, np.asarray(rot), output_size, np.asarray(shift))
    dst = np.broadcast_to(dst, src.shape)
    a, b = (dst, src) if inv else (src, dst)
    # Rows (x_i, y_i, 1) of the three source points; solve P @ M.T = targets for M.
    ones = np.ones(a.shape[:-1] + (1,))
    p = np.concatenate([a.astype(np.float64), ones], axis=-1)
    m_t = np.linalg.solve(p, b.astype(np.float64))
    return np.swapaxes(m_t, -1, -2)


def affine_transform(pt: Sequence[float], t: np.ndarray) -> np.ndarray:
    """Apply a 2x3 matrix to one point ``(x, y)``; returns a (2,) float64 array."""
    new_pt = np.array([pt[0], pt[1], 1.0])
    return np.dot(t, new_pt)[:2]


def affine_transform_points(pts: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Apply a 2x3 matrix to (K, 2) points at once; returns (K, 2) float64.

    The sum is written in the order of :func:`affine_transform` (``t0*x + t1*y + t2``) so that the
    values agree with the per-point version.
    """
    pts = np.asarray(pts, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"affine_transform_points expects points of shape (K, 2); got {pts.shape}")
    t = np.asarray(t, dtype=np.float64)
    return pts[:, 0:1] * t[:, 0] + pts[:, 1:2] * t[:, 1] + t[:, 2]


def get_3rd_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``b`` plus the vector ``a - b`` turned by 90 degrees (float32; works on (..., 2) arrays)."""
    direct = a - b
    turned = np.stack([-direct[..., 1], direct[..., 0]], axis=-1).astype(np.float32)
    return b + turned


def get_dir(src_point: Sequence[float], rot_rad: float) -> list[float]:
    """Rotate ``src_point`` by ``rot_rad`` radians with the standard 2-D rotation formula."""
    sn, cs = np.sin(rot_rad), np.cos(rot_rad)
    return [
        src_point[0] * cs - src_point[1] * sn,
        src_point[0] * sn + src_point[1] * cs,
    ]


def crop(
    img: np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
    output_size: Sequence[int],
    rot: float = 0,
) -> np.ndarray:
    """Warp the box (``center``, ``scale``) of ``img`` (H, W[, C]) to an ``output_size`` image.

    Bilinear interpolation, black border (OpenCV defaults). Not used by the training pipeline.
    """
    trans = get_affine_transform(center, scale, rot, output_size)
    return cv2.warpAffine(
        img, trans, (int(output_size[0]), int(output_size[1])), flags=cv2.INTER_LINEAR
    )
