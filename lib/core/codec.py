"""The heat-map codec: target encoding, decoding and the flip test's flip-back + shift, in one place.

Two target types (``MODEL.EXTRA.TARGET_TYPE``):

* ``gaussian`` (default, the original): crop with
  ``utils.transforms.get_affine_transform`` (box width -> ``W``, centre -> ``(W/2, H/2)``), targets
  centred on ``int(x / stride + 0.5)`` with ``stride = image_size / heatmap_size``, decoded by arg-max
  plus the quarter offset and mapped back with ``x * s * 200 / W_hm``;
* ``udp`` (unbiased data processing, Huang et al., CVPR 2020): pixel-centre aligned everywhere.
  The crop maps the box of size ``s * 200`` onto ``size - 1`` pixels with the box centre on the
  crop's centre pixel ``((W - 1) / 2, (H - 1) / 2)``; targets use ``stride = (image_size - 1) /
  (heatmap_size - 1)`` and a gaussian centred at the exact sub-pixel location; decoding maps back
  with ``(heatmap_size - 1)``. Flipping is exact under UDP, so the flip test needs no shift.

Decoding refinements (test time): the quarter offset (``TEST.POST_PROCESS``) or DARK
(``TEST.DARK``, Zhang et al., CVPR 2020): one Newton step on the log of the blurred heat-map.
Coordinates are ``(x, y)``, x = column, integer = pixel centre. All decoding is vectorised over
people and joints.
"""
from __future__ import annotations

import functools
from typing import Sequence

import cv2
import numpy as np
import torch

from utils.transforms import flip_back_torch, get_affine_transform

__all__ = [
    "TARGET_TYPES",
    "dark_refine",
    "decode_heatmaps",
    "encode_target",
    "flip_back_and_shift",
    "gaussian_patch",
    "heatmap_stride",
    "heatmap_to_input",
    "quarter_offset",
    "crop_transform",
    "udp_affine_transform",
    "udp_affine_transform_batch",
]

TARGET_TYPES = ("gaussian", "udp")

_FAR = float(2 ** 40)


# --------------------------------------------------------------------------------------------------
# crop transform (UDP; the original's lives in utils.transforms)


def udp_affine_transform_batch(centers: np.ndarray, scales: np.ndarray, rot: np.ndarray | float,
                               output_size: Sequence[int], inv: bool = False) -> np.ndarray:
    """(N, 2, 3) float64 UDP crop matrices: box ``s * 200`` -> ``size - 1`` px, centre -> centre pixel.

    ``x' = k_x * (cos r * (x - c_x) - sin r * (y - c_y)) + (W - 1) / 2`` and
    ``y' = k_y * (sin r * (x - c_x) + cos r * (y - c_y)) + (H - 1) / 2`` with
    ``k = (size - 1) / (s * 200)``; ``inv`` gives the crop -> image matrix.
    """
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    scales = np.asarray(scales, dtype=np.float64).reshape(-1, 2)
    n = centers.shape[0]
    r = np.deg2rad(np.broadcast_to(np.asarray(rot, dtype=np.float64), (n,)))
    cos, sin = np.cos(r), np.sin(r)
    dst = (np.asarray(output_size, dtype=np.float64) - 1.0)  # [W-1, H-1]
    k = dst[None, :] / (scales * 200.0)  # (N, 2)
    t = np.zeros((n, 2, 3), dtype=np.float64)
    if not inv:
        t[:, 0, 0], t[:, 0, 1] = k[:, 0] * cos, -k[:, 0] * sin
        t[:, 1, 0], t[:, 1, 1] = k[:, 1] * sin, k[:, 1] * cos
        t[:, :, 2] = dst[None, :] / 2.0 - np.einsum("nij,nj->ni", t[:, :, :2], centers)
        return t
    # Inverse: x = R^T (K^-1 (x' - dst/2)) + c.
    t[:, 0, 0], t[:, 0, 1] = cos / k[:, 0], sin / k[:, 1]
    t[:, 1, 0], t[:, 1, 1] = -sin / k[:, 0], cos / k[:, 1]
    t[:, :, 2] = centers - np.einsum("nij,j->ni", t[:, :, :2], dst / 2.0)
    return t


def udp_affine_transform(center: np.ndarray, scale: np.ndarray, rot: float,
                         output_size: Sequence[int], inv: bool = False) -> np.ndarray:
    """(2, 3) UDP crop matrix of one box; see :func:`udp_affine_transform_batch`."""
    scale = np.asarray(scale, dtype=np.float64)
    if scale.ndim == 0:
        scale = np.array([scale, scale])
    return udp_affine_transform_batch(center, scale, rot, output_size, inv)[0]


def crop_transform(center: np.ndarray, scale: np.ndarray, rot: float, output_size: Sequence[int],
                   target_type: str = "gaussian") -> np.ndarray:
    """(2, 3) crop matrix for ``MODEL.EXTRA.TARGET_TYPE``: UDP's for ``udp``, else the original's."""
    if target_type == "udp":
        return udp_affine_transform(center, scale, rot, output_size)
    return get_affine_transform(center, scale, rot, output_size)


# --------------------------------------------------------------------------------------------------
# heat-map <-> input-crop coordinates


def heatmap_stride(image_size: Sequence[int] | np.ndarray, heatmap_size: Sequence[int] | np.ndarray,
                   target_type: str = "gaussian") -> np.ndarray:
    """Input-crop pixels per heat-map pixel, ``[x, y]``: ``image / heatmap`` (the original: 4 for
    256x192 -> 64x48), or UDP's ``(image - 1) / (heatmap - 1)``."""
    if target_type == "udp":
        return (np.asarray(image_size) - 1.0) / (np.asarray(heatmap_size) - 1.0)
    return np.asarray(image_size) / np.asarray(heatmap_size)


def heatmap_to_input(coords: np.ndarray, image_size: Sequence[int] | np.ndarray,
                     heatmap_size: Sequence[int] | np.ndarray, target_type: str = "gaussian") -> np.ndarray:
    """Heat-map coordinates (..., 2+) as input-crop pixels: the inverse of :func:`encode_target`'s
    mapping (a target drawn for input point ``p`` peaks at ``p / stride``). Columns after x, y are kept."""
    out = np.array(coords, dtype=np.float64, copy=True)
    out[..., 0:2] *= heatmap_stride(image_size, heatmap_size, target_type)
    return out


# --------------------------------------------------------------------------------------------------
# encoding


@functools.lru_cache(maxsize=8)
def _gaussian_patch_cached(sigma: float) -> np.ndarray:
    tmp_size = sigma * 3
    size = 2 * tmp_size + 1
    x = np.arange(0, size, 1, np.float32)
    y = x[:, np.newaxis]
    x0 = y0 = size // 2
    g = np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma ** 2))
    g.setflags(write=False)
    return g


def gaussian_patch(sigma: float) -> np.ndarray:
    """The (n, n) float32 gaussian of the original, n = 2*3*sigma + 1, peak 1 at the centre (read-only)."""
    return _gaussian_patch_cached(sigma)


def encode_target(joints: np.ndarray, joints_vis: np.ndarray, image_size: np.ndarray,
                  heatmap_size: np.ndarray, sigma: float,
                  target_type: str = "gaussian") -> tuple[np.ndarray, np.ndarray]:
    """Heat-map targets of one person's joints (the original's ``generate_target`` for ``gaussian``).

    Args:
        joints: (J, 2+) joint coordinates in input-crop pixels.
        joints_vis: (J, 1+) visibility; column 0 is the initial weight.
        image_size, heatmap_size: ``[W, H]`` integer arrays.
        sigma: gaussian sigma in heat-map pixels.
        target_type: ``gaussian`` (the original, bit for bit) or ``udp``.

    Returns:
        target (J, H_hm, W_hm) float32 and target_weight (J, 1) float32. Each patch is cut at
        3 sigma around ``int(x / stride + 0.5)`` (truncation toward zero) and clipped at the border
        (for a non-integer 3 sigma the corners are floored, see below, so the peak stays there);
        a joint whose patch misses the map gets weight 0 (a patch ending exactly at the border,
        ``br = 0``, keeps weight 1 and draws nothing, as in the original). Patches are drawn
        only for weight > 0.5. Under ``udp`` the stride is ``(image - 1) / (heatmap - 1)`` and the
        gaussian is centred on the exact sub-pixel point ``x / stride``.
    """
    if target_type not in TARGET_TYPES:
        raise ValueError(f"MODEL.EXTRA.TARGET_TYPE={target_type!r}; expected one of {list(TARGET_TYPES)}")
    num_joints = joints.shape[0]
    target_weight = np.ones((num_joints, 1), dtype=np.float32)
    target_weight[:, 0] = joints_vis[:, 0]

    hm_w, hm_h = int(heatmap_size[0]), int(heatmap_size[1])
    target = np.zeros((num_joints, hm_h, hm_w), dtype=np.float32)

    # Patch bounds of all joints at once, (J, 2) as (x, y), with the original's arithmetic.
    tmp_size = sigma * 3
    feat_stride = heatmap_stride(image_size, heatmap_size, target_type)
    mu_f = joints[:, 0:2] / feat_stride + 0.5
    if not (np.abs(mu_f) < _FAR).all():
        if not np.isfinite(mu_f).all():
            raise ValueError(f"joint coordinates must be finite to draw targets; got {joints[:, 0:2].tolist()}")
        # Keeps the int64 cast defined; anything that far out is off the map either way.
        mu_f = np.clip(mu_f, -_FAR, _FAR)
    mu = mu_f.astype(np.int64)
    # Patch corners. The original writes int(mu - 3 sigma) and int(mu + 3 sigma + 1); where 3 sigma is
    # not an integer (SIGMA 2.5), int's truncation toward zero put the peak of every joint closer than
    # 3 sigma cells to the top or left border one cell too far down or right. The floor keeps each
    # peak on mu, and gives the very same corners whenever 3 sigma is an integer (the shipped 2 and 3).
    ul = np.floor(mu - tmp_size).astype(np.int64)
    br = np.floor(mu + tmp_size + 1).astype(np.int64)

    outside = (ul[:, 0] >= hm_w) | (ul[:, 1] >= hm_h) | (br[:, 0] < 0) | (br[:, 1] < 0)
    target_weight[outside] = 0

    drawn = np.flatnonzero(target_weight[:, 0] > 0.5)
    if not drawn.size:
        return target, target_weight
    if target_type == "udp":
        size = 2 * tmp_size + 1
        grid = np.arange(0, size, 1, np.float32)
        # Sub-pixel centre inside the patch: size//2 + (x/stride - mu).
        frac = (joints[:, 0:2] / feat_stride - mu).astype(np.float32)
    else:
        g = gaussian_patch(sigma)
    # One slice copy per drawn joint (measured faster than one fancy-indexed write of all patches).
    for j, (ux, uy), (bx, by) in zip(drawn.tolist(), ul[drawn].tolist(), br[drawn].tolist()):
        if target_type == "udp":
            x0 = size // 2 + frac[j, 0]
            y0 = size // 2 + frac[j, 1]
            g = np.exp(-((grid[None, :] - x0) ** 2 + (grid[:, None] - y0) ** 2) / (2 * sigma ** 2))
        target[j, max(0, uy):min(by, hm_h), max(0, ux):min(bx, hm_w)] = \
            g[max(0, -uy):min(by, hm_h) - uy, max(0, -ux):min(bx, hm_w) - ux]
    return target, target_weight


# --------------------------------------------------------------------------------------------------
# flip test


def flip_back_and_shift(flipped: torch.Tensor, flip_pairs: Sequence[Sequence[int]] | None,
                        shift: bool) -> torch.Tensor:
    """Heat-maps of the mirrored input mapped back to the plain input's frame (the flip test).

    Mirror the maps, swap left/right joints and, when ``shift``, move everything one column right
    (column 0 keeps its old value instead of becoming 0, as in the original).
    """
    flipped = flip_back_torch(flipped, flip_pairs or [])
    if shift:
        shifted = flipped.clone()
        shifted[:, :, :, 1:] = flipped[:, :, :, :-1]
        flipped = shifted
    return flipped


# --------------------------------------------------------------------------------------------------
# decoding


def quarter_offset(heatmaps: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Move each arg-max a quarter pixel towards its higher neighbour, in place; returns coords."""
    _, _, h, w = heatmaps.shape
    px = np.floor(coords[..., 0] + 0.5).astype(np.int64)
    py = np.floor(coords[..., 1] + 0.5).astype(np.int64)
    # Two border cells are skipped at the low side but one at the high side (the original's ``1 < p < size - 1``).
    inside = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
    n_i, j_i = np.nonzero(inside)
    x, y = px[n_i, j_i], py[n_i, j_i]
    dx = heatmaps[n_i, j_i, y, x + 1] - heatmaps[n_i, j_i, y, x - 1]
    dy = heatmaps[n_i, j_i, y + 1, x] - heatmaps[n_i, j_i, y - 1, x]
    coords[n_i, j_i, 0] += np.sign(dx) * 0.25
    coords[n_i, j_i, 1] += np.sign(dy) * 0.25
    return coords


@functools.lru_cache(maxsize=8)
def _blur_kernel_1d(kernel: int) -> np.ndarray:
    # The separable kernel cv2.GaussianBlur((k, k), 0) uses (fixed tables for k <= 7).
    return cv2.getGaussianKernel(kernel, 0, cv2.CV_64F).ravel()


def _blur(heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """DarkPose's blur: each map zero-padded by (k-1)/2, Gaussian-blurred, rescaled to its old maximum."""
    border = (kernel - 1) // 2
    n, j, h, w = heatmaps.shape
    g = _blur_kernel_1d(kernel)
    padded = np.zeros((n, j, h + 2 * border, w + 2 * border), dtype=np.float64)
    padded[:, :, border:border + h, border:border + w] = heatmaps
    # Separable: rows then columns; only the interior is needed, which never reads past the padding.
    rows = np.zeros((n, j, h + 2 * border, w), dtype=np.float64)
    for t in range(kernel):
        rows += g[t] * padded[:, :, :, t:t + w]
    out = np.zeros((n, j, h, w), dtype=np.float64)
    for t in range(kernel):
        out += g[t] * rows[:, :, t:t + h, :]
    old_max = heatmaps.reshape(n, j, -1).max(axis=2).astype(np.float64)
    new_max = out.reshape(n, j, -1).max(axis=2)
    ratio = np.divide(old_max, new_max, out=np.zeros_like(old_max), where=new_max > 0)
    return out * ratio[:, :, None, None]


def dark_refine(heatmaps: np.ndarray, coords: np.ndarray, kernel: int) -> np.ndarray:
    """DARK: one Newton step ``-H^-1 grad`` on log(blurred heat-map) at each arg-max; returns new coords.

    Finite differences at the integer arg-max ``(x, y)``: central first differences, second
    differences over two pixels; applied only where ``1 < x < W-2`` and ``1 < y < H-2`` and the
    Hessian is invertible (DarkPose's ``taylor``).
    """
    _, _, h, w = heatmaps.shape
    hm = np.log(np.maximum(_blur(heatmaps, kernel), 1e-10))
    coords = coords.astype(np.float64)
    px = coords[..., 0].astype(np.int64)
    py = coords[..., 1].astype(np.int64)
    inside = (px > 1) & (px < w - 2) & (py > 1) & (py < h - 2)
    n_i, j_i = np.nonzero(inside)
    x, y = px[n_i, j_i], py[n_i, j_i]

    def at(dy: int, dx: int) -> np.ndarray:
        return hm[n_i, j_i, y + dy, x + dx]

    c = at(0, 0)
    dx = 0.5 * (at(0, 1) - at(0, -1))
    dy = 0.5 * (at(1, 0) - at(-1, 0))
    dxx = 0.25 * (at(0, 2) - 2 * c + at(0, -2))
    dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    dyy = 0.25 * (at(2, 0) - 2 * c + at(-2, 0))
    det = dxx * dyy - dxy ** 2
    ok = det != 0
    safe = np.where(ok, det, 1.0)
    # -H^-1 g with H^-1 = [[dyy, -dxy], [-dxy, dxx]] / det.
    off_x = -(dyy * dx - dxy * dy) / safe
    off_y = -(-dxy * dx + dxx * dy) / safe
    coords[n_i[ok], j_i[ok], 0] += off_x[ok]
    coords[n_i[ok], j_i[ok], 1] += off_y[ok]
    return coords


def decode_heatmaps(heatmaps: np.ndarray, coords: np.ndarray, post_process: bool, dark: bool = False,
                    blur_kernel: int = 11) -> np.ndarray:
    """Sub-pixel refinement of the arg-max ``coords`` (N, J, 2): DARK if ``dark``, else the quarter
    offset if ``post_process``, else none. Returns the refined coordinates in heat-map pixels."""
    if dark:
        return dark_refine(heatmaps, coords, blur_kernel)
    if post_process:
        return quarter_offset(heatmaps, coords)
    return coords
