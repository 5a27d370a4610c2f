# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled NMS kernels used by ``lib/nms/nms.py`` (build with ``make -C lib``).

* ``cpu_nms``: greedy box NMS of the original Cython kernel (float32 maths, suppress IoU >= thresh).
* ``oks_nms_core`` / ``oks_iou_core``: the OKS-NMS of ``nms.oks_nms_numpy`` with the per-pair OKS
  evaluated in C, in the same floating-point operation order as the NumPy code.

Conventions: boxes are ``[x1, y1, x2, y2, score]`` with the "+1 pixel" area
``(x2 - x1 + 1) * (y2 - y1 + 1)``; keypoints are ``(N, J, 3)`` rows ``(x, y, confidence)``.
The sort order is always computed by the caller with NumPy (``scores.argsort()[::-1]``) so that ties
are broken exactly as in the original code.
"""
import numpy as np

cimport numpy as cnp
from libc.math cimport exp, fabs

cnp.import_array()

ctypedef fused kpt_t:
    float
    double

ctypedef fused area_t:
    float
    double

# The original adds np.spacing(1) (float64 machine epsilon) to the mean area.
cdef double _EPS = np.spacing(1)


def cpu_nms(dets, double thresh):
    """Greedy box NMS, semantics of the original ``cpu_nms.pyx``.

    dets: array-like ``(N, >=5)``, cast to float32 (the precision the original kernel computed in).
    Boxes are visited in ``dets[:, 4].argsort()[::-1]`` order; a remaining box is suppressed when its
    float32 IoU with the kept box is ``>= thresh`` (compared in double precision).
    Returns the kept row indices, in keep order, as a list of ints.
    """
    arr = np.ascontiguousarray(dets, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] < 5:
        raise ValueError(f"cpu_nms expects dets of shape (N, 5) [x1, y1, x2, y2, score], got {arr.shape}")
    cdef Py_ssize_t n = arr.shape[0]
    if n == 0:
        return []
    cdef const cnp.float32_t[:, ::1] d = arr
    cdef const cnp.intp_t[::1] order = np.ascontiguousarray(arr[:, 4].argsort()[::-1], dtype=np.intp)
    cdef cnp.float32_t[::1] areas = np.empty(n, dtype=np.float32)
    cdef unsigned char[::1] suppressed = np.zeros(n, dtype=np.uint8)
    cdef Py_ssize_t p, q, i, j
    cdef cnp.float32_t ix1, iy1, ix2, iy2, iarea, xx1, yy1, xx2, yy2, w, h, inter, ovr

    for i in range(n):
        areas[i] = (d[i, 2] - d[i, 0] + 1) * (d[i, 3] - d[i, 1] + 1)

    keep = []
    for p in range(n):
        i = order[p]
        if suppressed[i]:
            continue
        keep.append(i)
        ix1 = d[i, 0]
        iy1 = d[i, 1]
        ix2 = d[i, 2]
        iy2 = d[i, 3]
        iarea = areas[i]
        for q in range(p + 1, n):
            j = order[q]
            if suppressed[j]:
                continue
            xx1 = ix1 if ix1 > d[j, 0] else d[j, 0]
            yy1 = iy1 if iy1 > d[j, 1] else d[j, 1]
            xx2 = ix2 if ix2 < d[j, 2] else d[j, 2]
            yy2 = iy2 if iy2 < d[j, 3] else d[j, 3]
            w = xx2 - xx1 + 1
            if w < 0:
                w = 0
            h = yy2 - yy1 + 1
            if h < 0:
                h = 0
            inter = w * h
            ovr = inter / (iarea + areas[j] - inter)
            if ovr >= thresh:
                suppressed[j] = 1
    return keep


cdef double _pairwise_sum(const double* a, Py_ssize_t n) noexcept nogil:
    """Sum in the order NumPy's float64 ``add.reduce`` uses (pairwise, 8 accumulators, blocks of 128)."""
    cdef Py_ssize_t i, n2
    cdef double res, r0, r1, r2, r3, r4, r5, r6, r7
    if n < 8:
        res = -0.0
        for i in range(n):
            res += a[i]
        return res
    if n <= 128:
        r0 = a[0]
        r1 = a[1]
        r2 = a[2]
        r3 = a[3]
        r4 = a[4]
        r5 = a[5]
        r6 = a[6]
        r7 = a[7]
        i = 8
        while i < n - (n % 8):
            r0 += a[i]
            r1 += a[i + 1]
            r2 += a[i + 2]
            r3 += a[i + 3]
            r4 += a[i + 4]
            r5 += a[i + 5]
            r6 += a[i + 6]
            r7 += a[i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise_sum(a, n2) + _pairwise_sum(a + n2, n - n2)


cdef double _oks_pair(const kpt_t[:, :, ::1] k, const area_t[::1] areas, const double[::1] variances,
                      const unsigned char[:, ::1] vis, bint use_vis, Py_ssize_t g, Py_ssize_t d,
                      double* buf) noexcept nogil:
    """OKS of candidate ``d`` against kept instance ``g``, same operation order as ``oks_iou``.

    ``e = (dx*dx + dy*dy) / var / ((a_g + a_d) / 2 + eps) / 2``; the squared distance and the area
    mean are formed in the input precision (float32 inputs stay float32 there, as in NumPy), the rest
    in double. With ``use_vis`` only the joints flagged in the candidate's row of ``vis`` count.
    """
    cdef Py_ssize_t j, m = 0
    cdef Py_ssize_t num_joints = k.shape[1]
    cdef kpt_t dx, dy, sq
    cdef area_t half = (areas[g] + areas[d]) / 2
    cdef double den = <double>half + _EPS
    cdef double e
    for j in range(num_joints):
        if use_vis and not vis[d, j]:
            continue
        dx = k[d, j, 0] - k[g, j, 0]
        dy = k[d, j, 1] - k[g, j, 1]
        sq = dx * dx + dy * dy
        e = <double>sq / variances[j] / den / 2
        buf[m] = exp(-e)
        m += 1
    if m == 0:
        return 0.0
    return _pairwise_sum(buf, m) / m


cdef _check_inputs(Py_ssize_t n, Py_ssize_t kn, Py_ssize_t num_joints, Py_ssize_t kc,
                   Py_ssize_t an, Py_ssize_t vn, vis, Py_ssize_t vis_n, Py_ssize_t vis_j):
    if kc != 3:
        raise ValueError(f"kpts must have shape (N, J, 3), got last dimension {kc}")
    if kn != n or an != n:
        raise ValueError(f"kpts ({kn}) and areas ({an}) must have one row per instance ({n})")
    if vn != num_joints:
        raise ValueError(f"variances has {vn} entries but the keypoints have {num_joints} joints")
    if vis is not None and (vis_n != n or vis_j != num_joints):
        raise ValueError(f"vis must have shape ({n}, {num_joints}), got ({vis_n}, {vis_j})")


def oks_nms_core(const cnp.intp_t[::1] order, const kpt_t[:, :, ::1] kpts, const area_t[::1] areas,
                 const double[::1] variances, const unsigned char[:, ::1] vis, double thresh,
                 exact=None, double guard=1e-9):
    """Greedy OKS-NMS over a precomputed visiting order.

    order: intp[N], a permutation of range(N) (``scores.argsort()[::-1]``).
    kpts: float32/float64 [N, J, 3]; areas: float32/float64 [N]; variances: float64 [J] = (2 sigma)^2.
    vis: uint8 [N, J] candidate-joint mask (``kpts[:, :, 2] > in_vis_thre``) or None for all joints.
    A candidate is dropped when its OKS with a kept instance is not ``<= thresh`` (NaN drops, as in
    NumPy). When ``exact`` is given and ``|oks - thresh| <= guard``, the decision uses
    ``exact(kept_index, candidate_index)`` instead, so that a last-bit difference between C ``exp``
    and NumPy's vectorised ``exp`` can never change the result.
    Returns the kept indices (ints) in keep order.
    """
    cdef Py_ssize_t n = order.shape[0]
    cdef Py_ssize_t num_joints = kpts.shape[1]
    _check_inputs(n, kpts.shape[0], num_joints, kpts.shape[2], areas.shape[0], variances.shape[0],
                  vis, vis.shape[0] if vis is not None else 0, vis.shape[1] if vis is not None else 0)
    cdef Py_ssize_t p, q, gi, di
    for p in range(n):
        if order[p] < 0 or order[p] >= n:
            raise ValueError(f"order[{p}] = {order[p]} is not an index into {n} instances")
    cdef bint use_vis = vis is not None
    cdef bint use_exact = exact is not None
    cdef double[::1] buf = np.empty(max(num_joints, 1), dtype=np.float64)
    cdef unsigned char[::1] suppressed = np.zeros(n, dtype=np.uint8)  # indexed by position in order
    cdef double oks

    keep = []
    for p in range(n):
        if suppressed[p]:
            continue
        gi = order[p]
        keep.append(gi)
        for q in range(p + 1, n):
            if suppressed[q]:
                continue
            di = order[q]
            oks = _oks_pair(kpts, areas, variances, vis, use_vis, gi, di, &buf[0])
            if use_exact and fabs(oks - thresh) <= guard:
                oks = exact(gi, di)
            if not (oks <= thresh):
                suppressed[q] = 1
    return keep


def oks_iou_core(Py_ssize_t g, const cnp.intp_t[::1] cands, const kpt_t[:, :, ::1] kpts,
                 const area_t[::1] areas, const double[::1] variances, const unsigned char[:, ::1] vis):
    """OKS of instance ``g`` against each instance in ``cands`` (float64 [len(cands)]).

    Same arrays and conventions as ``oks_nms_core``; used to check agreement with ``oks_iou``.
    """
    cdef Py_ssize_t n = kpts.shape[0]
    cdef Py_ssize_t num_joints = kpts.shape[1]
    _check_inputs(n, n, num_joints, kpts.shape[2], areas.shape[0], variances.shape[0],
                  vis, vis.shape[0] if vis is not None else 0, vis.shape[1] if vis is not None else 0)
    cdef Py_ssize_t m = cands.shape[0]
    cdef Py_ssize_t t
    if g < 0 or g >= n:
        raise ValueError(f"g = {g} is not an index into {n} instances")
    for t in range(m):
        if cands[t] < 0 or cands[t] >= n:
            raise ValueError(f"cands[{t}] = {cands[t]} is not an index into {n} instances")
    cdef double[::1] buf = np.empty(max(num_joints, 1), dtype=np.float64)
    out = np.empty(m, dtype=np.float64)
    cdef double[::1] o = out
    for t in range(m):
        o[t] = _oks_pair(kpts, areas, variances, vis, vis is not None, g, cands[t], &buf[0])
    return out
