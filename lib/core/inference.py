"""Heat-map decoding: arg-max, quarter-pixel refinement and back-projection to image pixels.

Heat-maps are ``(N, J, H, W)``; coordinates are ``(x, y)`` with x = column, y = row, in heat-map
pixels (integer = pixel centre) until :func:`get_final_preds` maps them to original-image pixels
(the original's ``get_max_preds`` / ``get_final_preds``). Everything is vectorised over people and
joints so that validation on ~100k detections costs a few array operations.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from core.codec import decode_heatmaps, udp_affine_transform_batch
from utils.transforms import get_affine_transform_batch

__all__ = ["get_final_preds", "get_max_preds"]


def _to_numpy(array: Any) -> np.ndarray:
    """A NumPy view/copy of a NumPy array or a torch tensor on any device."""
    if isinstance(array, torch.Tensor):
        array = array.detach()
        if array.dtype == torch.bfloat16:  # NumPy has no bfloat16
            array = array.float()
        return array.cpu().numpy()
    return np.asarray(array)


def get_max_preds(batch_heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arg-max location and value of every heat-map.

    Args:
        batch_heatmaps: (N, J, H, W) NumPy array (a torch tensor is converted).

    Returns:
        ``coords`` (N, J, 2) float32 integer-valued ``(x, y)`` of the first maximum in row-major
        order, set to (0, 0) where the maximum is not positive; ``maxvals`` (N, J, 1) in the
        heat-maps' dtype.
    """
    if isinstance(batch_heatmaps, torch.Tensor):
        batch_heatmaps = _to_numpy(batch_heatmaps)
    if not isinstance(batch_heatmaps, np.ndarray):
        raise ValueError(
            "get_max_preds expects a NumPy array of shape (N, J, H, W); "
            f"got {type(batch_heatmaps).__name__}"
        )
    if batch_heatmaps.ndim != 4:
        raise ValueError(
            f"get_max_preds expects heat-maps of shape (N, J, H, W); got shape {batch_heatmaps.shape}"
        )
    n, j, _, w = batch_heatmaps.shape
    flat = batch_heatmaps.reshape(n, j, -1)
    idx = np.argmax(flat, axis=2)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=2)

    coords = np.empty((n, j, 2), dtype=np.float32)
    coords[..., 0] = idx % w
    coords[..., 1] = idx // w
    coords *= (maxvals > 0.0).astype(np.float32)
    return coords, maxvals


def get_final_preds(
    config: Any, batch_heatmaps: np.ndarray, center: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Joint locations in original-image pixels from heat-maps of crops.

    Args:
        config: experiment config; ``TEST.POST_PROCESS`` switches the quarter-pixel refinement,
            ``TEST.DARK`` (with ``TEST.BLUR_KERNEL``) replaces it by DARK's, and
            ``MODEL.EXTRA.TARGET_TYPE: udp`` maps back with UDP's matrix (see ``core.codec``).
        batch_heatmaps: (N, J, H, W) NumPy array or torch tensor.
        center: (N, 2) crop centres in image pixels.
        scale: (N, 2) crop sizes / 200.

    Returns:
        ``preds`` (N, J, 2) float32 image coordinates and ``maxvals`` (N, J, 1). The heat-map
        point ``(x, y)`` is mapped with the inverse of the crop affine built for the heat-map size
        (rotation 0), i.e. ``X = c_x + (x - W/2) * s_x * 200 / W`` and likewise for Y with the same
        zoom.
    """
    heatmaps = _to_numpy(batch_heatmaps)
    coords, maxvals = get_max_preds(heatmaps)
    n, _, h, w = heatmaps.shape

    test = config.TEST
    coords = decode_heatmaps(heatmaps, coords, test.POST_PROCESS, test.DARK, test.BLUR_KERNEL)

    center = _to_numpy(center).reshape(n, 2)
    scale = _to_numpy(scale).reshape(n, 2)
    if config.MODEL.EXTRA.TARGET_TYPE == "udp":
        trans = udp_affine_transform_batch(center, scale, 0, [w, h], inv=True)
    else:
        trans = get_affine_transform_batch(center, scale, 0, [w, h], inv=1)  # (N, 2, 3)

    x = coords[..., 0].astype(np.float64)
    y = coords[..., 1].astype(np.float64)
    preds = np.empty(coords.shape, dtype=np.float32)
    # Same summation order as utils.transforms.affine_transform.
    preds[..., 0] = trans[:, 0, 0, None] * x + trans[:, 0, 1, None] * y + trans[:, 0, 2, None]
    preds[..., 1] = trans[:, 1, 0, None] * x + trans[:, 1, 1, None] * y + trans[:, 1, 2, None]
    return preds, maxvals
