"""Box NMS and OKS-NMS (rebuild of the original ``lib/nms/nms.py``).

Boxes are rows ``[x1, y1, x2, y2, score]`` in pixels with the "+1 pixel" convention: area
``(x2 - x1 + 1) * (y2 - y1 + 1)``, overlap width ``max(0, min(x2) - max(x1) + 1)``.

Threshold conventions are those of the original three implementations (they differ at equality):

* ``nms`` (NumPy): keeps remaining boxes with IoU ``<= thresh``;
* ``cpu_nms`` (compiled, ``cpu_nms_numpy`` fallback): suppresses IoU ``>= thresh``;
* ``gpu_nms`` (CUDA through ``torchvision.ops.nms``): suppresses IoU ``> thresh``.

``oks_nms`` is what the COCO evaluation uses: greedy by descending score, keeping the candidates whose
OKS with every kept instance is ``<= thresh``. It runs in the compiled kernel when ``make -C lib`` has
built it (``HAVE_CYTHON_NMS``) and otherwise in NumPy (``oks_nms_numpy``, the original algorithm);
both return the same indices. Every function returns a list of Python ints.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

try:  # the compiled kernels are optional: `make -C lib` builds them
    from .cpu_nms import cpu_nms as _cpu_nms_compiled
    from .cpu_nms import oks_nms_core as _oks_nms_core
    HAVE_CYTHON_NMS = True
except ImportError:
    _cpu_nms_compiled = None
    _oks_nms_core = None
    HAVE_CYTHON_NMS = False

__all__ = [
    "HAVE_CYTHON_NMS",
    "cpu_nms",
    "cpu_nms_numpy",
    "cpu_nms_wrapper",
    "gpu_nms",
    "gpu_nms_wrapper",
    "nms",
    "oks_iou",
    "oks_nms",
    "oks_nms_numpy",
    "py_nms_wrapper",
]


# Width of the band around `thresh` in which the compiled OKS-NMS re-decides with the NumPy formula.
# C `exp` and NumPy's SIMD `exp` may differ in the last bit; an OKS is a mean of values in [0, 1], so
# the two results differ by ~1e-15, far inside this band.
_OKS_GUARD = 1e-9

_WARNED = False


def _warn_fallback() -> None:
    """Warn, once per process, that the compiled kernels are missing."""
    global _WARNED
    if not _WARNED:
        _WARNED = True
        warnings.warn(
            "nms: the compiled extension lib/nms/cpu_nms is not built; using the slower pure-NumPy "
            "NMS instead. Run `make -C lib` (or `make -C lib PYTHON=/path/to/python`) to build it.",
            RuntimeWarning,
            stacklevel=3,
        )


# --------------------------------------------------------------------------------------------------
# Box NMS
# --------------------------------------------------------------------------------------------------

def _check_dets(dets: np.ndarray, name: str) -> None:
    if dets.ndim != 2 or dets.shape[1] < 5:
        raise ValueError(f"{name} expects dets of shape (N, 5) [x1, y1, x2, y2, score], got {dets.shape}")


def _iou_with(i: int, rest: np.ndarray, x1, y1, x2, y2, areas) -> np.ndarray:
    """IoU of box ``i`` with boxes ``rest`` ("+1 pixel" convention), in the boxes' own float dtype.

    The zero in ``np.maximum`` is a Python float, which NumPy 2 does not let widen float32 arrays.
    """
    xx1 = np.maximum(x1[i], x1[rest])
    yy1 = np.maximum(y1[i], y1[rest])
    xx2 = np.minimum(x2[i], x2[rest])
    yy2 = np.minimum(y2[i], y2[rest])
    w = np.maximum(0.0, xx2 - xx1 + 1)
    h = np.maximum(0.0, yy2 - yy1 + 1)
    inter = w * h
    return inter / (areas[i] + areas[rest] - inter)


def nms(dets: np.ndarray, thresh: float) -> List[int]:
    """Greedy box NMS in NumPy (the original ``nms``).

    dets: ``(N, 5)`` array, computed in its own dtype. Visits boxes in ``scores.argsort()[::-1]``
    order and, after keeping a box, keeps only the remaining boxes with IoU ``<= thresh``.
    Returns kept row indices in keep order; empty input gives ``[]``.
    """
    dets = np.asarray(dets)
    _check_dets(dets, "nms")
    if dets.shape[0] == 0:
        return []
    x1, y1, x2, y2, scores = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3], dets[:, 4]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        ovr = _iou_with(i, rest, x1, y1, x2, y2, areas)
        order = rest[ovr <= thresh]
    return keep


def cpu_nms_numpy(dets: np.ndarray, thresh: float) -> List[int]:
    """NumPy twin of the compiled ``cpu_nms``: float32 maths, suppress IoU ``>= thresh``.

    dets: array-like ``(N, 5)``, cast to float32 like the original kernel's input. The float32 IoU is
    compared with ``thresh`` in double precision (as the C comparison does).
    """
    dets = np.ascontiguousarray(dets, dtype=np.float32)
    _check_dets(dets, "cpu_nms")
    if dets.shape[0] == 0:
        return []
    x1, y1, x2, y2 = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = dets[:, 4].argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        ovr = _iou_with(i, rest, x1, y1, x2, y2, areas)
        # Cast before comparing: a Python float would otherwise be rounded to float32 by NumPy.
        order = rest[ovr.astype(np.float64) < float(thresh)]
    return keep


def cpu_nms(dets: np.ndarray, thresh: float) -> List[int]:
    """Box NMS suppressing IoU ``>= thresh`` (compiled kernel, else ``cpu_nms_numpy``)."""
    if HAVE_CYTHON_NMS:
        return _cpu_nms_compiled(dets, float(thresh))
    _warn_fallback()
    return cpu_nms_numpy(dets, thresh)


def _import_torch_ops() -> Tuple[Any, Any]:
    try:
        import torch
        import torchvision.ops
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("gpu_nms needs torch and torchvision (torchvision.ops.nms)") from exc
    return torch, torchvision.ops


def _torchvision_nms(dets: np.ndarray, thresh: float, device: Any) -> List[int]:
    """Box NMS through ``torchvision.ops.nms`` on ``device`` with the original ``gpu_nms`` semantics.

    Like the original, boxes are visited in ``scores.argsort()[::-1]`` order (computed here in NumPy
    and passed to torchvision as distinct rank scores, so ties break identically) and a box is
    suppressed when its float32 IoU is ``> thresh``. torchvision has no "+1 pixel" convention, so 1 is
    added to x2 and y2 first; results equal the original's for integer coordinates and agree up to
    float32 rounding otherwise.
    """
    torch, ops = _import_torch_ops()
    dets = np.asarray(dets)
    _check_dets(dets, "gpu_nms")
    if dets.shape[0] == 0:
        return []
    if dets.shape[0] > 2 ** 24:
        raise ValueError(f"gpu_nms: {dets.shape[0]} boxes exceed the 2**24 that float32 ranks can order")
    order = dets[:, 4].argsort()[::-1]
    boxes = np.array(dets[order, :4], dtype=np.float32)
    boxes[:, 2:4] += 1
    # Strictly decreasing stand-in scores (exact in float32) make torchvision visit boxes in `order`.
    ranks = np.arange(len(order), 0, -1).astype(np.float32)
    kept = ops.nms(torch.from_numpy(boxes).to(device), torch.from_numpy(ranks).to(device), float(thresh))
    return [int(order[k]) for k in kept.cpu().tolist()]


def gpu_nms(dets: np.ndarray, thresh: float, device_id: int = 0) -> List[int]:
    """Box NMS on CUDA device ``device_id`` suppressing IoU ``> thresh`` (see ``gpu_nms_wrapper``)."""
    return _torchvision_nms(dets, thresh, _cuda_device(device_id))


def _cuda_device(device_id: int) -> Any:
    torch, _ = _import_torch_ops()
    if not torch.cuda.is_available():
        raise RuntimeError("gpu_nms needs a CUDA GPU but torch.cuda.is_available() is False; "
                           "use cpu_nms_wrapper / py_nms_wrapper instead")
    count = torch.cuda.device_count()
    if not 0 <= int(device_id) < count:
        raise RuntimeError(f"gpu_nms: device_id {device_id} out of range ({count} CUDA device(s))")
    return torch.device("cuda", int(device_id))


def py_nms_wrapper(thresh: float) -> Callable[[np.ndarray], List[int]]:
    """Closure ``f(dets)`` running the NumPy ``nms`` with ``thresh``."""
    def _nms(dets: np.ndarray) -> List[int]:
        return nms(dets, thresh)
    return _nms


def cpu_nms_wrapper(thresh: float) -> Callable[[np.ndarray], List[int]]:
    """Closure ``f(dets)`` running ``cpu_nms`` with ``thresh``."""
    def _nms(dets: np.ndarray) -> List[int]:
        return cpu_nms(dets, thresh)
    return _nms


def gpu_nms_wrapper(thresh: float, device_id: int) -> Callable[[np.ndarray], List[int]]:
    """Closure ``f(dets)`` running box NMS on CUDA device ``device_id`` via ``torchvision.ops.nms``.

    Raises RuntimeError right away when CUDA (or that device) is not available.
    """
    device = _cuda_device(device_id)

    def _nms(dets: np.ndarray) -> List[int]:
        return _torchvision_nms(dets, thresh, device)
    return _nms


# --------------------------------------------------------------------------------------------------
# OKS-NMS
# --------------------------------------------------------------------------------------------------

_COCO_SIGMAS: Optional[np.ndarray] = None


def _coco_sigmas() -> np.ndarray:
    """The default sigmas: COCO-17's, float64, read from the joint-set object ``dataset.keypoints``.

    Imported on first use, because the dataset package imports this module.
    """
    global _COCO_SIGMAS
    if _COCO_SIGMAS is None:
        from dataset.keypoints import COCO_KEYPOINTS

        _COCO_SIGMAS = COCO_KEYPOINTS.oks_sigmas()
    return _COCO_SIGMAS


def _resolve_sigmas(sigmas: Optional[Sequence[float]], num_joints: int) -> np.ndarray:
    """Per-joint sigmas: the COCO ones for 17 joints when ``sigmas`` is None."""
    if sigmas is None:
        if num_joints != _coco_sigmas().size:
            raise ValueError(f"OKS needs per-joint sigmas for {num_joints} joints; the default COCO "
                             f"sigmas cover 17 joints only - pass sigmas=<array of {num_joints}>")
        return _coco_sigmas()
    sig = np.asarray(sigmas)
    if sig.shape != (num_joints,):
        raise ValueError(f"sigmas must have shape ({num_joints},) to match the keypoints, got {sig.shape}")
    return sig


def oks_iou(g: np.ndarray, d: np.ndarray, a_g: float, a_d: np.ndarray,
            sigmas: Optional[Sequence[float]] = None, in_vis_thre: Optional[float] = None) -> np.ndarray:
    """OKS between one instance and M candidates (the original NumPy formula).

    g: flat ``(3J,)`` keypoints ``x0, y0, c0, x1, ...``; d: ``(M, 3J)``; a_g: area of g; a_d: ``(M,)``.
    Per joint ``e = (dx**2 + dy**2) / var / ((a_g + a_d) / 2 + eps) / 2`` with ``var = (2 sigma)**2``
    and ``eps = np.spacing(1)``; OKS = mean of ``exp(-e)`` over the joints, 0 when none is used.
    sigmas defaults to COCO-17's sigmas (17 joints only; any array-like is accepted, where the
    original silently ignored non-ndarray sigmas).

    Quirk kept from the original: with ``in_vis_thre`` the intended "visible in both" mask was written
    ``list(g_vis > t) and list(d_vis > t)``, which evaluates to the candidate's list alone, so only the
    candidate's confidences select joints.
    Returns float64 ``(M,)``.
    """
    g = np.asarray(g)
    d = np.asarray(d)
    if d.ndim == 1:
        d = d[None, :]
    if g.ndim != 1 or g.size % 3 or d.shape[1] != g.size:
        raise ValueError(f"oks_iou expects g of shape (3J,) and d of shape (M, 3J), got {g.shape} and {d.shape}")
    variances = (_resolve_sigmas(sigmas, g.size // 3) * 2) ** 2
    xg = g[0::3]
    yg = g[1::3]
    ious = np.zeros(d.shape[0])
    for n_d in range(d.shape[0]):
        xd = d[n_d, 0::3]
        yd = d[n_d, 1::3]
        vd = d[n_d, 2::3]
        dx = xd - xg
        dy = yd - yg
        e = (dx ** 2 + dy ** 2) / variances / ((a_g + a_d[n_d]) / 2 + np.spacing(1)) / 2
        if in_vis_thre is not None:
            e = e[vd > in_vis_thre]  # the quirk: the kept instance's confidences are not consulted
        ious[n_d] = np.sum(np.exp(-e)) / e.shape[0] if e.shape[0] != 0 else 0.0
    return ious


def _collect(kpts_db: Sequence[Mapping[str, Any]]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scores (N,), flat keypoints (N, 3J), areas (N,), built with the original's np.array calls."""
    flat = [np.asarray(k["keypoints"]).flatten() for k in kpts_db]
    sizes = {f.size for f in flat}
    if len(sizes) != 1 or next(iter(sizes)) % 3:
        raise ValueError(f"every 'keypoints' entry must be a (J, 3) array with the same J; got sizes {sorted(sizes)}")
    scores = np.array([k["score"] for k in kpts_db])
    kpts = np.array(flat)
    areas = np.array([k["area"] for k in kpts_db])
    return scores, kpts, areas


def _greedy_numpy(scores: np.ndarray, kpts: np.ndarray, areas: np.ndarray, thresh: float,
                  sigmas: np.ndarray, in_vis_thre: Optional[float]) -> List[int]:
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        oks_ovr = oks_iou(kpts[i], kpts[order[1:]], areas[i], areas[order[1:]], sigmas, in_vis_thre)
        order = order[1:][oks_ovr <= thresh]
    return keep


def oks_nms_numpy(kpts_db: Sequence[Mapping[str, Any]], thresh: float,
                  sigmas: Optional[Sequence[float]] = None,
                  in_vis_thre: Optional[float] = None) -> List[int]:
    """OKS-NMS in pure NumPy: the original algorithm, the fallback and reference of ``oks_nms``."""
    if len(kpts_db) == 0:
        return []
    scores, kpts, areas = _collect(kpts_db)
    return _greedy_numpy(scores, kpts, areas, thresh, _resolve_sigmas(sigmas, kpts.shape[1] // 3),
                         in_vis_thre)


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _compiled_arrays(kpts: np.ndarray, areas: np.ndarray, sigmas: np.ndarray,
                     in_vis_thre: Optional[float]) -> Optional[Tuple[np.ndarray, ...]]:
    """Arrays for ``oks_nms_core`` whose C arithmetic rounds exactly like ``oks_iou``, or None.

    None sends unusual dtypes (integer keypoints, float32 sigmas with float32 keypoints, float16, ...)
    to the NumPy path, whose type promotion the kernel does not reproduce.
    """
    variances = (sigmas * 2) ** 2  # same NumPy expression as oks_iou
    if kpts.dtype not in _FLOATS or variances.dtype not in _FLOATS:
        return None
    if kpts.dtype == np.float32 and variances.dtype == np.float32:
        return None  # NumPy would divide in float32; the kernel divides in double
    if areas.dtype not in _FLOATS:
        # Integer areas: NumPy forms (a_g + a_d) / 2 exactly in integers then float64; in double the
        # sum is exact too while |a| < 2**30 (no int32 overflow either).
        if not (np.issubdtype(areas.dtype, np.integer) and areas.dtype.itemsize >= 4
                and np.abs(areas).max() < 2 ** 30):
            return None
        areas = areas.astype(np.float64)
    n = kpts.shape[0]
    kpts3 = np.ascontiguousarray(kpts).reshape(n, -1, 3)
    vis = None
    if in_vis_thre is not None:
        # Same comparison (dtype and scalar promotion) as `vd > in_vis_thre` in oks_iou.
        vis = np.ascontiguousarray(kpts[:, 2::3] > in_vis_thre, dtype=np.uint8)
    return kpts3, np.ascontiguousarray(areas), np.ascontiguousarray(variances, dtype=np.float64), vis


def oks_nms(kpts_db: Sequence[Mapping[str, Any]], thresh: float,
            sigmas: Optional[Sequence[float]] = None, in_vis_thre: Optional[float] = None) -> List[int]:
    """Greedy OKS-NMS over one image's person instances.

    kpts_db: list of dicts with ``'score'`` (float), ``'keypoints'`` ((J, 3) array ``x, y, conf``) and
    ``'area'`` (float). Instances are visited in ``scores.argsort()[::-1]`` order (NumPy's default
    sort, reversed, so ties resolve exactly as in the original); after keeping one, the remaining
    instances with OKS ``<= thresh`` against it stay candidates. sigmas / in_vis_thre: see ``oks_iou``
    (sigmas is required unless J == 17). Returns the kept indices in keep order; ``[]`` for no input.
    Uses the compiled kernel when built, else ``oks_nms_numpy``; the two give identical indices.
    """
    if len(kpts_db) == 0:
        return []
    if not HAVE_CYTHON_NMS:
        _warn_fallback()
        return oks_nms_numpy(kpts_db, thresh, sigmas, in_vis_thre)
    scores, kpts, areas = _collect(kpts_db)
    sig = _resolve_sigmas(sigmas, kpts.shape[1] // 3)
    arrays = _compiled_arrays(kpts, areas, sig, in_vis_thre)
    if arrays is None:
        return _greedy_numpy(scores, kpts, areas, thresh, sig, in_vis_thre)
    order = np.ascontiguousarray(scores.argsort()[::-1], dtype=np.intp)

    def exact(gi: int, di: int) -> float:
        # The original computation for one pair, on the original arrays (dtypes included).
        return float(oks_iou(kpts[gi], kpts[di:di + 1], areas[gi], areas[di:di + 1], sig, in_vis_thre)[0])

    return _oks_nms_core(order, *arrays, float(thresh), exact, _OKS_GUARD)


def soft_oks_nms(kpts_db: Sequence[Mapping[str, Any]], thresh: float,
                 sigmas: Optional[Sequence[float]] = None, in_vis_thre: Optional[float] = None,
                 max_dets: int = 20) -> List[int]:
    """Soft OKS-NMS with HRNet's semantics (``TEST.SOFT_NMS``).

    Repeatedly keep the highest-scoring remaining instance and rescore every other remaining one by
    ``score * exp(-oks**2 / thresh)`` (gaussian rescoring; nothing is dropped, only reordered),
    until ``max_dets`` (20) are kept or none remain. Returns the kept indices in the order they were
    kept (the rescored order). The scores in ``kpts_db`` are left unchanged. ``sigmas=None`` means
    COCO's 17 sigmas (other joint counts must pass theirs).
    """
    if len(kpts_db) == 0:
        return []
    scores, kpts, areas = _collect(kpts_db)
    num_joints = kpts.shape[1] // 3
    if sigmas is None:
        if num_joints != _coco_sigmas().size:
            raise ValueError(f"soft_oks_nms needs per-joint sigmas for {num_joints} joints; the default "
                             f"COCO sigmas cover {_coco_sigmas().size} joints only - "
                             f"pass sigmas=<array of {num_joints}>")
        sig = _coco_sigmas()
    else:
        sig = np.asarray(sigmas, dtype=np.float64)
        if sig.shape != (num_joints,):
            raise ValueError(f"sigmas must have shape ({num_joints},) to match the keypoints, got {sig.shape}")
    order = scores.argsort()[::-1]
    rescored = scores[order].astype(np.float64)
    keep: List[int] = []
    while order.size > 0 and len(keep) < max_dets:
        i = int(order[0])
        keep.append(i)
        order = order[1:]
        if order.size == 0:
            break
        oks = oks_iou(kpts[i], kpts[order], areas[i], areas[order], sig, in_vis_thre)
        rescored = rescored[1:] * np.exp(-(oks ** 2) / thresh)
        resort = rescored.argsort()[::-1]
        order = order[resort]
        rescored = rescored[resort]
    return keep
