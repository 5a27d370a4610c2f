"""Training-time accuracy: the fraction of joints whose heat-map arg-max is near the target's.

Heat-maps are ``(N, J, H, W)``; locations are ``(x, y)`` heat-map pixels (the original's training-time accuracy).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from core.inference import _to_numpy, get_max_preds

__all__ = ["accuracy", "calc_dists", "dist_acc"]


def calc_dists(preds: np.ndarray, target: np.ndarray, normalize: np.ndarray) -> np.ndarray:
    """Normalised distances between predicted and target locations.

    Args:
        preds: (N, J, 2) predicted ``(x, y)``.
        target: (N, J, 2) target ``(x, y)``.
        normalize: (N, 2) divisors for x and y of each sample.

    Returns:
        (J, N) float64 distances ``||preds / norm - target / norm||``; -1 where the target is not
        strictly inside (``x > 1`` and ``y > 1``), which also drops all-zero targets.
    """
    preds = np.asarray(preds).astype(np.float32)
    target = np.asarray(target).astype(np.float32)
    normalize = np.asarray(normalize)[:, None, :]
    diff = preds / normalize - target / normalize
    dists = np.sqrt(diff[..., 0] ** 2 + diff[..., 1] ** 2)
    # GT peaks in the first two rows/columns are ignored as well (original behaviour).
    valid = (target[..., 0] > 1) & (target[..., 1] > 1)
    return np.where(valid, dists, -1.0).T


def dist_acc(dists: np.ndarray, thr: float = 0.5) -> float:
    """Fraction of the valid (non -1) distances below ``thr``; -1 if there is none."""
    dists = np.asarray(dists)
    valid = dists != -1
    num_valid = int(valid.sum())
    if num_valid == 0:
        return -1
    return float(np.less(dists[valid], thr).sum()) / num_valid


def accuracy(
    output: Any,
    target: Any,
    hm_type: str = "gaussian",
    thr: float = 0.5,
    fix_norm: bool = False,
) -> tuple[np.ndarray, float, int, np.ndarray]:
    """PCK-style accuracy of predicted heat-maps against target heat-maps.

    Args:
        output: (N, J, H, W) predicted heat-maps (NumPy or torch).
        target: (N, J, H, W) target heat-maps (NumPy or torch).
        hm_type: only ``'gaussian'`` exists.
        thr: distance threshold in units of a tenth of the heat-map size.
        fix_norm: False (original) divides x by H/10 and y by W/10; True divides x by W/10 and y
            by H/10 (``TEST.FIX_ACCURACY_NORM``).

    Returns:
        ``(acc, avg_acc, cnt, pred)``: ``acc`` (J + 1,) with ``acc[1 + j]`` the accuracy of joint j
        (-1 if it has no valid target) and ``acc[0] = avg_acc``; ``avg_acc`` the mean over the
        ``cnt`` joints with a valid target (0 if none); ``pred`` (N, J, 2) arg-max locations.
    """
    if hm_type != "gaussian":
        raise ValueError(f"accuracy: hm_type={hm_type!r} is not supported; expected 'gaussian'")
    output = _to_numpy(output)
    target = _to_numpy(target)
    pred, _ = get_max_preds(output)
    gt, _ = get_max_preds(target)
    h, w = output.shape[2], output.shape[3]
    if fix_norm:
        norm_xy = np.array([w, h]) / 10
    else:
        # (H/10, W/10) applied to (x, y): swapped on purpose: the original does so.
        norm_xy = np.array([h, w]) / 10
    norm = np.ones((pred.shape[0], 2)) * norm_xy
    dists = calc_dists(pred, gt, norm)

    num_joints = output.shape[1]
    acc = np.zeros(num_joints + 1)
    for j in range(num_joints):
        acc[j + 1] = dist_acc(dists[j], thr)
    valid = acc[1:] >= 0
    cnt = int(valid.sum())
    avg_acc = float(acc[1:][valid].mean()) if cnt else 0.0
    if cnt:
        acc[0] = avg_acc
    return acc, avg_acc, cnt, pred
