"""A scene: background, 1-3 mannequins placed without much overlap, an occluding box, noise, and one
:class:`FigureAnnotation` per person (joints with COCO visibility, box, silhouette).

:func:`render_scene` depends only on its arguments: every image draws from its own random generator
seeded with ``(seed, split code, index)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .mannequin import Figure, build_figure, draw_figure
from .paint import SHIFT, bgr, fx, scale_bgr

OCCLUDER_LABEL = 1  # label-map value of occluding boxes (figure labels start at 16)
MAX_FIGURES = 15  # labels are uint8: 16 * 15 + 15 = 255


@dataclass(frozen=True)
class SceneOptions:
    """Knobs of the scene sampler.  The defaults are tuned for a quick, learnable CPU demo."""

    width: int = 256
    height: int = 256
    people_probs: tuple[float, ...] = (0.5, 0.33, 0.17)  # P(1 person), P(2), P(3)
    min_height_frac: float = 0.24  # person height as a fraction of min(width, height) ...
    max_height_frac: tuple[float, ...] = (0.86, 0.72, 0.6)  # ... upper bound for 1, 2, 3 people
    max_box_iou: float = 0.25  # reject placements that overlap an earlier person more than this
    truncation_prob: float = 0.12  # chance that a person may stick out of the image (up to ~30 %)
    occluder_prob: float = 0.25  # chance of one occluding box over some person
    clutter: tuple[int, int] = (2, 7)  # number of background shapes (inclusive range)
    clutter_max_sat: float = 0.5  # clutter/background saturation cap: figures stay the vivid objects
    big_rotation_prob: float = 0.08  # chance of a rotation in +-90 deg instead of ~N(0, 12 deg)
    noise_sigma: tuple[float, float] = (1.5, 6.0)
    blur_prob: float = 0.3
    jpeg_quality: int = 92


@dataclass
class FigureAnnotation:
    """One drawn person: all 21 internal joints in 0-based image pixels, COCO visibility and boxes."""

    joints: np.ndarray  # (21, 2) float64, (0, 0) where vis == 0
    vis: np.ndarray  # (21,) int in {0, 1, 2}
    bbox: list[float]  # [x, y, w, h] tight silhouette box + margin, clipped to the image
    area: int  # silhouette pixels inside the image
    rle: dict[str, Any]  # COCO RLE of the silhouette (counts as str)
    head_box: list[float]  # [x1, y1, x2, y2] 0-based, axis-aligned box around the head
    height_px: float  # nominal figure height (for MPII scale)


def _background(rng: np.random.Generator, opt: SceneOptions) -> np.ndarray:
    """A smooth colour field (gradient + low-frequency blobs) with a few clutter shapes."""
    h, w = opt.height, opt.width
    c0 = np.array(bgr(rng.uniform(0, 360), rng.uniform(0, opt.clutter_max_sat), rng.uniform(0.2, 0.9)), np.float32)
    c1 = np.array(bgr(rng.uniform(0, 360), rng.uniform(0, opt.clutter_max_sat), rng.uniform(0.2, 0.9)), np.float32)
    # everything here is smooth: build it on a coarse grid and let cv2.resize interpolate (fast)
    ang = rng.uniform(0, 2 * math.pi)
    gy, gx = np.mgrid[0:17, 0:17].astype(np.float32) / 16.0
    g = gx * math.cos(ang) + gy * math.sin(ang)
    g = (g - g.min()) / max(1e-6, float(g.max() - g.min()))
    small = c0 + (c1 - c0) * g[..., None]
    blobs = rng.uniform(-40, 40, size=(4, 4, 3)).astype(np.float32)
    small += cv2.resize(blobs, (17, 17), interpolation=cv2.INTER_CUBIC)
    img = cv2.resize(np.clip(small, 0, 255), (w, h), interpolation=cv2.INTER_LINEAR)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(opt.clutter[0], opt.clutter[1] + 1))):
        col = bgr(rng.uniform(0, 360), rng.uniform(0, opt.clutter_max_sat), rng.uniform(0.1, 1.0))
        kind = rng.integers(4)
        cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
        size = rng.uniform(0.05, 0.35) * min(h, w)
        if kind == 0:  # rectangle
            bw, bh = size * rng.uniform(0.3, 1.5), size * rng.uniform(0.3, 1.5)
            box = cv2.boxPoints(((cx, cy), (bw, bh), rng.uniform(0, 90)))
            cv2.fillConvexPoly(img, fx(box), col, cv2.LINE_AA, SHIFT)
        elif kind == 1:  # ellipse
            cv2.ellipse(img, (int(cx), int(cy)), (int(size / 2), int(size * rng.uniform(0.2, 0.6))),
                        rng.uniform(0, 180), 0, 360, col, -1, cv2.LINE_AA)
        elif kind == 2:  # straight line / pole
            e = np.array([cx, cy]) + size * 1.5 * np.array([math.cos(ang := rng.uniform(0, math.pi)), math.sin(ang)])
            cv2.line(img, (int(cx), int(cy)), (int(e[0]), int(e[1])), col, int(rng.integers(1, 7)), cv2.LINE_AA)
        else:  # triangle
            tri = np.array([cx, cy]) + rng.uniform(-size, size, size=(3, 2))
            cv2.fillConvexPoly(img, fx(tri), col, cv2.LINE_AA, SHIFT)
    return img


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _place(rng: np.random.Generator, fig: Figure, opt: SceneOptions, truncate: bool) -> np.ndarray:
    """Pick an anchor so the figure lies inside the image (or up to ~30 % outside when truncating)."""
    ext = fig.extent()
    ew, eh = ext[2] - ext[0], ext[3] - ext[1]
    slack_x = 0.3 * ew if truncate else 0.0
    slack_y = 0.3 * eh if truncate else 0.0
    lo_x, hi_x = -ext[0] - slack_x, opt.width - ext[2] + slack_x
    lo_y, hi_y = -ext[1] - slack_y, opt.height - ext[3] + slack_y
    ax = rng.uniform(lo_x, hi_x) if hi_x > lo_x else (lo_x + hi_x) / 2
    ay = rng.uniform(lo_y, hi_y) if hi_y > lo_y else (lo_y + hi_y) / 2
    return np.array([ax, ay])


def _joint_visibility(lab: np.ndarray, fig: Figure, slot: int) -> np.ndarray:
    """2 visible / 1 covered by something that is not the joint's own part / 0 outside or unlabelled."""
    h, w = lab.shape
    vis = fig.prior_vis.copy()
    rad = 1 if fig.height_px < 150 else 2
    for k in range(21):
        x, y = fig.joints[k]
        if not (0.0 <= x <= w - 1 and 0.0 <= y <= h - 1):
            vis[k] = 0
            continue
        if vis[k] == 0:
            continue
        xi, yi = int(round(x)), int(round(y))
        win = lab[max(0, yi - rad): yi + rad + 1, max(0, xi - rad): xi + rad + 1].ravel()
        foreign_lut = np.ones(256, dtype=bool)
        foreign_lut[0] = False  # background never hides anything
        foreign_lut[[16 * slot + p for p in fig.own_parts[k]]] = False
        foreign = int(np.count_nonzero(foreign_lut[win]))
        if foreign * 2 >= win.size:
            vis[k] = 1
    return vis


def _sample_figures(rng: np.random.Generator, opt: SceneOptions) -> list[Figure]:
    """1-3 posed and placed figures (``opt.people_probs``), each overlapping the earlier ones by at most
    ``opt.max_box_iou`` (a figure is tried 12 times, then left out); smaller (further) ones first."""
    probs = np.asarray(opt.people_probs, dtype=np.float64)
    n_people = int(rng.choice(len(probs), p=probs / probs.sum())) + 1
    n_people = min(n_people, MAX_FIGURES)
    short = min(opt.height, opt.width)
    hmax = opt.max_height_frac[min(n_people, len(opt.max_height_frac)) - 1]
    figs: list[Figure] = []
    boxes: list[np.ndarray] = []
    for _ in range(n_people):
        for _attempt in range(12):
            height_px = rng.uniform(opt.min_height_frac, hmax) * short
            if rng.random() < opt.big_rotation_prob:
                rot = math.radians(rng.uniform(-90, 90))
            else:
                rot = math.radians(float(np.clip(rng.normal(0, 12), -35, 35)))
            fig = build_figure(rng, height_px, rot)
            fig.translate(_place(rng, fig, opt, rng.random() < opt.truncation_prob))
            box = fig.extent()
            if all(_iou(box, b) <= opt.max_box_iou for b in boxes):
                figs.append(fig)
                boxes.append(box)
                break
    # smaller people are further away: draw them first
    order = sorted(range(len(figs)), key=lambda i: figs[i].height_px)
    return [figs[i] for i in order]


def _draw_occluder(rng: np.random.Generator, img: np.ndarray, lab: np.ndarray, figs: list[Figure],
                   opt: SceneOptions) -> None:
    """Sometimes (``opt.occluder_prob``) an occluding box (a "table", "sign" or "car") over part of one person."""
    if figs and rng.random() < opt.occluder_prob:
        b = figs[int(rng.integers(len(figs)))].extent()
        bw, bh = b[2] - b[0], b[3] - b[1]
        if rng.random() < 0.6:  # lower part
            x0 = b[0] + rng.uniform(-0.4, 0.3) * bw
            x1 = x0 + rng.uniform(0.6, 1.3) * bw
            y0 = b[1] + rng.uniform(0.55, 0.8) * bh
            y1 = b[3] + rng.uniform(0.0, 0.4) * bh
        else:  # one side
            left = rng.random() < 0.5
            x0 = b[0] - rng.uniform(0, 0.3) * bw if left else b[0] + rng.uniform(0.6, 0.8) * bw
            x1 = b[0] + rng.uniform(0.2, 0.4) * bw if left else b[2] + rng.uniform(0, 0.3) * bw
            y0 = b[1] + rng.uniform(-0.1, 0.4) * bh
            y1 = y0 + rng.uniform(0.3, 0.7) * bh
        col = bgr(rng.uniform(0, 360), rng.uniform(0, opt.clutter_max_sat), rng.uniform(0.2, 0.9))
        quad = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        cv2.fillConvexPoly(img, fx(quad), col, cv2.LINE_AA, SHIFT)
        cv2.polylines(img, [fx(quad)], True, scale_bgr(col, 0.6), 2, cv2.LINE_AA, SHIFT)
        cv2.fillConvexPoly(lab, fx(quad), (OCCLUDER_LABEL,), cv2.LINE_8, SHIFT)


def _degrade(rng: np.random.Generator, img: np.ndarray, opt: SceneOptions) -> np.ndarray:
    """Sensor-like degradations: sometimes a slight blur, always Gaussian noise (saturating add)."""
    if rng.random() < opt.blur_prob:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.0))
    sigma = rng.uniform(*opt.noise_sigma)
    noise = rng.standard_normal((opt.height, opt.width, 3), dtype=np.float32)
    noise *= sigma
    return cv2.add(img, noise, dtype=cv2.CV_8U)  # saturating add


def _annotate(lab: np.ndarray, fig: Figure, slot: int, m: np.ndarray) -> FigureAnnotation | None:
    """The annotation of the figure in ``slot`` with silhouette ``m``; None when none of it is in the image."""
    from pycocotools import mask as mask_utils  # imported lazily: only needed when generating

    h, w = lab.shape
    area = int(m.sum())
    if area == 0:
        return None
    vis = _joint_visibility(lab, fig, slot)
    joints = np.where(vis[:, None] > 0, fig.joints, 0.0)
    rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
    x0, x1, y0, y1 = float(cols[0]), float(cols[-1]) + 1, float(rows[0]), float(rows[-1]) + 1
    lbl = joints[vis > 0]
    if len(lbl):  # guarantee: every labelled joint lies inside its box
        x0, y0 = min(x0, float(lbl[:, 0].min())), min(y0, float(lbl[:, 1].min()))
        x1, y1 = max(x1, float(lbl[:, 0].max()) + 1), max(y1, float(lbl[:, 1].max()) + 1)
    margin = max(1.0, round(0.02 * fig.height_px))
    x0, y0 = max(0.0, x0 - margin), max(0.0, y0 - margin)
    x1, y1 = min(float(w), x1 + margin), min(float(h), y1 + margin)
    rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    c, r = fig.head_c, fig.head_r
    return FigureAnnotation(
        joints=joints, vis=vis, bbox=[x0, y0, x1 - x0, y1 - y0], area=area, rle=rle,
        head_box=[c[0] - r, c[1] - r, c[0] + r, c[1] + r], height_px=fig.height_px,
    )  # fmt: skip


def render_scene(seed: int, split_code: int, index: int, opt: SceneOptions = SceneOptions()
                 ) -> tuple[np.ndarray, list[FigureAnnotation]]:
    """Draw image ``index`` of a split; returns the BGR image and one annotation per person.

    The result depends only on (seed, split_code, index, opt).
    """
    rng = np.random.default_rng([seed, split_code, index])
    img = _background(rng, opt)
    lab = np.zeros((opt.height, opt.width), np.uint8)
    figs = _sample_figures(rng, opt)
    masks: list[np.ndarray] = []
    for slot, fig in enumerate(figs, start=1):
        draw_figure(img, lab, fig, slot)
        masks.append((lab >> 4) == slot)  # the whole silhouette, before anything drawn later
    _draw_occluder(rng, img, lab, figs, opt)
    img = _degrade(rng, img, opt)
    annos = [_annotate(lab, fig, slot, m) for slot, (fig, m) in enumerate(zip(figs, masks), start=1)]
    return img, [a for a in annos if a is not None]
