#!/usr/bin/env python
"""Generate a synthetic human-keypoint dataset in the COCO and/or MPII layouts that SimMRPose reads.

Why this exists: the real COCO / MPII data cannot be downloaded on every machine, yet the README's
quick-start has to train and evaluate a network end to end (real pycocotools AP) in a few CPU
minutes.  This script draws simple but human-like figures ("mannequins") on cluttered backgrounds and
writes exactly the files the dataset classes expect:

COCO layout (``<out>/coco/``)::

    annotations/person_keypoints_train2017.json    annotations/person_keypoints_val2017.json
    images/train2017/%012d.jpg                     images/val2017/%012d.jpg
    person_detection_results/COCO_val2017_detections_AP_H_56_person.json

MPII layout (``<out>/mpii/``)::

    annot/train.json   annot/valid.json   annot/gt_valid.mat   images/%09d.jpg

Figures: a torso polygon (the hull of a small 3-D box, so it narrows in profile), a head (a shaded
sphere with hair on the back and a face on the front), a neck, tapered capsule limbs with dark
mannequin "ball joints" at elbows, wrists, knees and ankles, hands and feet.
Each figure has a yaw (front, back or profile view), a lean, a global in-plane rotation and randomly
sampled joint angles.  The person's LEFT limbs always use a warm colour family (red/orange/yellow)
and the RIGHT limbs a cool one (blue/cyan), with random hue/brightness jitter and a lighter lower
segment, so that the left/right assignment is learnable from appearance.  Consequence: horizontal
flip augmentation (which swaps the labels but not the colours) contradicts that cue; train on this
data with ``DATASET.FLIP: false`` (the quick-start YAMLs do).

Labels: COCO ``v=2`` visible, ``v=1`` labelled but hidden (by another figure, an occluding box, the
figure's own torso/limbs, or the back of its own head), ``v=0`` not labelled (outside the image,
written as (0, 0), or a face point on a head that is turned away).  Visibility is decided from a
per-pixel part-label map drawn alongside the image.  The person box is the tight box of the figure's
silhouette inside the image (occluded parts included), grown by a small margin and clipped to the
image; ``area`` is the silhouette's pixel count and ``segmentation`` its RLE.

Determinism: every image is drawn from its own ``numpy.random.Generator`` seeded with
``(seed, split, index)``, JPEGs are written with a fixed quality and the JSON without timestamps, so
the same arguments give the same bytes (with the same OpenCV/libjpeg build), whatever the number of
worker processes.

Tool-export layout (``--format face|hand --layout export``, ``<out>/<format>_export/``): the same
figures written the way annotation tools (CVAT, Label Studio, ...) export COCO keypoints, for the
``DATASET.TRAIN_ANN_FILE`` / ``TEST_ANN_FILE`` / ``TRAIN_IMAGE_DIR`` / ``TEST_IMAGE_DIR`` keys::

    train.json   val.json   oks_sigmas.json
    images/train/scene_2/frame_0003.png   images/train/3f9a0c1d2e4b5a69.png   images/val/frame_0001.png ...

PNG images with ordinary names (frames, hashed names, sub-folders), 13-digit image ids unrelated
to the names, no ``num_keypoints`` / ``iscrowd`` / ``area``, and the figures spread over two
categories that share one joint list (e.g. ``left_hand`` and ``right_hand``).

Usage::

    python tools/gen_synthetic_data.py [--out data/synthetic] [--seed 0] [--num-train N]
        [--num-val M] [--image-size 256] [--format coco|mpii|both] [--workers 2]
    python tools/gen_synthetic_data.py --format face|hand [--layout coco|export] ...
"""
from __future__ import annotations

import argparse
import colorsys
import hashlib
import json
import math
import multiprocessing as mp
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import _init_paths  # noqa: F401  (puts lib/ on sys.path)
import cv2
import numpy as np

from dataset.keypoints import COCO_KEYPOINTS, MPII_KEYPOINTS

__all__ = [
    "COCO_KEYPOINT_NAMES",
    "COCO_SKELETON",
    "MPII_JOINT_NAMES",
    "MPII_MAT_NAMES",
    "SceneOptions",
    "FigureAnnotation",
    "render_scene",
    "generate_coco",
    "generate_mpii",
    "generate_keypoint_set",
    "generate_keypoint_set_export",
    "KEYPOINT_SETS",
    "main",
]

GENERATOR_VERSION = "1.0"

# ------------------------------------------------------------------------------------------------
# joint sets

# The COCO-17 and MPII-16 joint sets (names, skeleton) are dataset.keypoints' COCO_KEYPOINTS and
# MPII_KEYPOINTS; the generator writes them into the files in the forms those files use.
COCO_KEYPOINT_NAMES = list(COCO_KEYPOINTS.names)
# 1-based joint pairs, as the official COCO person category writes its skeleton.
COCO_SKELETON = [[a + 1, b + 1] for a, b in COCO_KEYPOINTS.skeleton]
MPII_JOINT_NAMES = list(MPII_KEYPOINTS.names)


def _long_side_name(mpii_name: str) -> str:
    """The COCO spelling of an MPII joint name: ``r_ankle`` -> ``right_ankle``, ``l_hip`` -> ``left_hip``."""
    side, _, rest = mpii_name.partition("_")
    return {"r": "right_", "l": "left_"}[side] + rest if side in ("r", "l") else mpii_name


# Internal joint order: the 17 COCO joints, then the MPII joints COCO lacks (pelvis, thorax,
# upper_neck, head_top) in MPII order. A figure is drawn and annotated with all of them.
INTERNAL_JOINTS = COCO_KEYPOINTS.names + tuple(
    name for name in map(_long_side_name, MPII_KEYPOINTS.names) if name not in COCO_KEYPOINTS.names)
J = {name: i for i, name in enumerate(INTERNAL_JOINTS)}
# MPII joint k is internal joint MPII_FROM_INTERNAL[k].
MPII_FROM_INTERNAL = [J[_long_side_name(name)] for name in MPII_KEYPOINTS.names]
# Names stored in gt_valid.mat's ``dataset_joints`` (the MPII evaluation looks joints up by these).
MPII_MAT_NAMES = [
    "rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thor",
    "neck", "head", "rwri", "relb", "rsho", "lsho", "lelb", "lwri",
]  # fmt: skip

# Part ids in the label map (per figure; the map stores 16 * (figure slot) + part).
HEAD, NECK, TORSO = 1, 2, 3
L_UPPER_ARM, L_FOREARM, L_HAND, R_UPPER_ARM, R_FOREARM, R_HAND = 4, 5, 6, 7, 8, 9
L_THIGH, L_SHIN, L_FOOT, R_THIGH, R_SHIN, R_FOOT = 10, 11, 12, 13, 14, 15
OCCLUDER_LABEL = 1  # label-map value of occluding boxes (figure labels start at 16)
MAX_FIGURES = 15  # labels are uint8: 16 * 15 + 15 = 255

# Split codes mixed into the per-image seed, so that train/val and COCO/MPII never share scenes.
SPLIT_CODES = {"coco_train": 11, "coco_val": 12, "mpii_train": 21, "mpii_valid": 22}

# Colour families (hue in degrees).  Left = warm, right = cool; torso and clutter avoid both.
LEFT_HUES = (-12.0, 40.0)  # red .. orange .. yellow
RIGHT_HUES = (185.0, 235.0)  # cyan .. blue
TORSO_HUES = ((75.0, 160.0), (265.0, 320.0))  # greens, purples (or a desaturated shirt)
SKIN_TONES = ((0.07, 0.35, 0.95), (0.07, 0.45, 0.85), (0.06, 0.55, 0.70), (0.06, 0.60, 0.52), (0.05, 0.55, 0.36))
HAIR_TONES = ((0.07, 0.60, 0.12), (0.07, 0.70, 0.30), (0.10, 0.55, 0.55), (0.12, 0.45, 0.85), (0.0, 0.0, 0.65))


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


# ------------------------------------------------------------------------------------------------
# small helpers


def _clip01(x: float) -> float:
    return 0.0 if x < 0.0 else (1.0 if x > 1.0 else float(x))


def _bgr(h_deg: float, s: float, v: float) -> tuple[int, int, int]:
    """HSV (hue in degrees, s and v in [0, 1]) -> BGR ints for OpenCV."""
    r, g, b = colorsys.hsv_to_rgb((h_deg / 360.0) % 1.0, _clip01(s), _clip01(v))
    return int(round(b * 255)), int(round(g * 255)), int(round(r * 255))


def _scale_bgr(c: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    b, g, r = (min(255, max(0, int(round(x * f)))) for x in c)
    return b, g, r


def _rot(v: np.ndarray, ang: float) -> np.ndarray:
    """Rotate 2-D vector(s) counter-clockwise by ``ang`` radians (in a y-up frame)."""
    c, s = math.cos(ang), math.sin(ang)
    return np.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1]], axis=-1)


_SHIFT = 4  # sub-pixel bits for OpenCV drawing
_ONE = 1 << _SHIFT


def _fx(p: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(p, dtype=np.float64) * _ONE).astype(np.int32)


@dataclass
class _Prim:
    """A drawing primitive in image coordinates (before placement offset)."""

    kind: str  # 'capsule' | 'poly' | 'circle' | 'head'
    pts: np.ndarray  # capsule: (2,2); poly: (n,2); circle/head: (1,2)
    widths: tuple[float, ...]  # capsule: half widths (a0, a1); circle/head: (radius,)
    colour: tuple[int, int, int]
    part: int
    depth: float
    outline: bool = True


@dataclass
class _Figure:
    """A posed figure before placement: primitives and joints relative to an anchor at (0, 0)."""

    prims: list[_Prim]
    joints: np.ndarray  # (21, 2) image coordinates relative to anchor
    prior_vis: np.ndarray  # (21,) 2 visible / 1 self-hidden but labelled / 0 not labelled
    own_parts: list[frozenset[int]]  # per joint, the parts that may cover it without occluding it
    head_c: np.ndarray
    head_r: float
    head_axes: tuple[np.ndarray, np.ndarray]  # image-space unit vectors (right, up) of the head
    yaw: float
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    hair_line: float
    height_px: float

    def extent(self) -> np.ndarray:
        """[x0, y0, x1, y1] of everything drawn, relative to the anchor."""
        lo = np.full(2, np.inf)
        hi = np.full(2, -np.inf)
        for p in self.prims:
            r = max(p.widths) if p.kind != "poly" else 0.0
            lo = np.minimum(lo, p.pts.min(0) - r - 1)
            hi = np.maximum(hi, p.pts.max(0) + r + 1)
        return np.concatenate([lo, hi])

    def translate(self, d: np.ndarray) -> None:
        for p in self.prims:
            p.pts = p.pts + d
        self.joints = self.joints + d
        self.head_c = self.head_c + d


# ------------------------------------------------------------------------------------------------
# figure model


def _sample_yaw(rng: np.random.Generator) -> float:
    """Front (0), back (pi) or profile (+-pi/2) with some spread."""
    u = rng.random()
    if u < 0.45:
        return math.radians(rng.normal(0.0, 20.0))
    if u < 0.7:
        return math.radians(180.0 + rng.normal(0.0, 20.0))
    return math.radians(rng.choice([-90.0, 90.0]) + rng.normal(0.0, 15.0))


def _limb_colours(rng: np.random.Generator, hues: tuple[float, float]) -> tuple[tuple[int, int, int], ...]:
    """(upper arm, forearm, thigh, shin) colours of one side from its colour family."""
    out = []
    for _ in range(2):  # arm, leg: independent hues within the family
        h = rng.uniform(*hues)
        s = rng.uniform(0.65, 1.0)
        v = rng.uniform(0.6, 0.95)
        upper = _bgr(h, s, v)
        # lower segment: clearly lighter or darker so that the elbow/knee is a visible boundary
        lower = _bgr(h + rng.uniform(-6, 6), s * rng.uniform(0.55, 0.8), min(1.0, v * 1.25)) if rng.random() < 0.5 \
            else _bgr(h + rng.uniform(-6, 6), s, v * 0.62)
        out += [upper, lower]
    return out[0], out[1], out[2], out[3]


def _build_figure(rng: np.random.Generator, height_px: float, rotation: float) -> _Figure:
    """Sample proportions, view and pose; return primitives and joints in image pixels (anchor 0)."""
    H = height_px
    yaw = _sample_yaw(rng)
    cy, sy = math.cos(yaw), math.sin(yaw)
    profile = abs(cy) < 0.35
    fwd_sign = 1.0 if sy >= 0 else -1.0
    # depth (towards the viewer) of the person's left and right sides
    side_depth = {"L": -sy, "R": sy}

    # proportions in units of H (jittered per person)
    j = lambda a, b=0.07: a * rng.uniform(1 - b, 1 + b)  # noqa: E731
    torso_len, neck_len, head_r = j(0.29), j(0.05, 0.15), j(0.062, 0.1)
    sw, hw = j(0.11), j(0.06)  # shoulder / hip joint half spacing (frontal)
    upper_arm, forearm, thigh, shin = j(0.17), j(0.155), j(0.245), j(0.24)
    w_ua, w_fa, w_th, w_sh = j(0.06, 0.15), j(0.048, 0.15), j(0.09, 0.15), j(0.065, 0.15)
    td = j(0.06)  # torso half depth (what is seen in profile)

    # body frame: origin at the pelvis, x right in the image, y up, units of H
    lean = math.radians(rng.normal(0.0, 7.0))
    t = np.array([math.sin(lean), math.cos(lean)])  # torso axis (up)
    n = np.array([math.cos(lean), -math.sin(lean)])  # torso right (+x)
    P = np.zeros(2)
    T = P + torso_len * t
    head_tilt = lean + math.radians(rng.normal(0.0, 9.0))
    th = np.array([math.sin(head_tilt), math.cos(head_tilt)])
    nh = np.array([math.cos(head_tilt), -math.sin(head_tilt)])
    N = T + neck_len * t
    C = N + 0.92 * head_r * th
    head_top = C + head_r * th

    lat = {"L": cy, "R": -cy}  # image-x factor of each side's lateral offset
    joints = np.zeros((21, 2))
    joints[J["pelvis"]] = P
    joints[J["thorax"]] = T
    joints[J["upper_neck"]] = N
    joints[J["head_top"]] = head_top

    def fshort() -> float:  # occasional foreshortening (limb pointing towards/away from the camera)
        return rng.uniform(0.7, 1.0) if rng.random() < 0.25 else 1.0

    def dir_from(down: np.ndarray, side: np.ndarray, ang: float) -> np.ndarray:
        return math.cos(ang) * down + math.sin(ang) * side

    limbs: dict[str, dict[str, np.ndarray]] = {}
    for s, name in (("L", "left"), ("R", "right")):
        sh = T - 0.012 * t + lat[s] * sw * n
        hip = P + lat[s] * hw * n
        # "outward" side direction: away from the body in front/back views, forward in profile
        out_sign = (1.0 if lat[s] >= 0 else -1.0) if not profile else fwd_sign
        # arms (angles from "down along the torso", positive = towards out_sign side)
        if rng.random() < 0.6:
            a = math.radians(rng.uniform(3, 55))
        else:
            a = math.radians(rng.uniform(-25, 170))
        if profile:
            a = math.radians(rng.uniform(-60, 150))
        bend = math.radians(rng.uniform(0, 30) if rng.random() < 0.5 else rng.uniform(30, 145))
        bend_sign = fwd_sign * out_sign if profile else (1.0 if rng.random() < 0.5 else -1.0)
        d_ua = dir_from(-t, out_sign * n, a)
        d_fa = dir_from(-t, out_sign * n, a + bend_sign * bend)
        el = sh + upper_arm * fshort() * d_ua
        wr = el + forearm * fshort() * d_fa
        # legs (from straight down in the body frame)
        down, side = np.array([0.0, -1.0]), np.array([out_sign, 0.0])
        if profile:
            if rng.random() < 0.15:  # sitting / kneeling
                a_th, knee = rng.uniform(60, 95), rng.uniform(60, 100)
            else:  # standing / walking
                a_th, knee = rng.uniform(-30, 40), rng.uniform(0, 60)
            a_sh = a_th - knee
        else:
            a_th = rng.uniform(-8, 32) if rng.random() < 0.85 else rng.uniform(30, 70)
            a_sh = a_th + rng.uniform(-25, 25)
        d_th = dir_from(down, side, math.radians(a_th))
        d_sh = dir_from(down, side, math.radians(a_sh))
        kn = hip + thigh * fshort() * d_th
        an = kn + shin * fshort() * d_sh
        limbs[s] = dict(sh=sh, el=el, wr=wr, hip=hip, kn=kn, an=an, d_fa=d_fa, d_sh=d_sh)
        joints[J[f"{name}_shoulder"]] = sh
        joints[J[f"{name}_elbow"]] = el
        joints[J[f"{name}_wrist"]] = wr
        joints[J[f"{name}_hip"]] = hip
        joints[J[f"{name}_knee"]] = kn
        joints[J[f"{name}_ankle"]] = an

    # head points on a sphere (left = towards the person's left, f = forward, u = up) -> image x and depth
    def head_point(left: float, f: float, u: float) -> tuple[np.ndarray, float]:
        x = left * cy + f * sy
        d = -left * sy + f * cy
        return C + head_r * (x * nh + u * th), d

    prior = np.full(21, 2, dtype=np.int64)
    for name, (left, f, u), hide_lim, unl_lim in (
        ("nose", (0.0, 1.0, -0.15), -0.05, -0.4),
        ("left_eye", (0.36, 0.86, 0.2), 0.05, -0.4),
        ("right_eye", (-0.36, 0.86, 0.2), 0.05, -0.4),
        ("left_ear", (0.92, -0.05, 0.0), -0.15, -0.6),
        ("right_ear", (-0.92, -0.05, 0.0), -0.15, -0.6),
    ):
        p, d = head_point(left, f, u)
        joints[J[name]] = p
        # hidden behind the own head: still labelled when the annotator could guess it, else not
        prior[J[name]] = 2 if d >= hide_lim else (1 if d >= unl_lim else 0)

    # ---- appearance
    left_cols = _limb_colours(rng, LEFT_HUES)
    right_cols = _limb_colours(rng, RIGHT_HUES)
    if rng.random() < 0.3:
        torso_col = _bgr(rng.uniform(0, 360), rng.uniform(0.0, 0.15), rng.uniform(0.15, 0.95))
    else:
        lo, hi = TORSO_HUES[int(rng.integers(2))]
        torso_col = _bgr(rng.uniform(lo, hi), rng.uniform(0.35, 0.85), rng.uniform(0.35, 0.9))
    sk = SKIN_TONES[int(rng.integers(len(SKIN_TONES)))]
    skin = _bgr(sk[0] * 360 + rng.uniform(-4, 4), sk[1] * rng.uniform(0.85, 1.1), sk[2] * rng.uniform(0.9, 1.05))
    hr = HAIR_TONES[int(rng.integers(len(HAIR_TONES)))]
    hair = _bgr(hr[0] * 360, hr[1], hr[2] * rng.uniform(0.85, 1.1))
    shoe = _bgr(rng.uniform(0, 360), rng.uniform(0, 0.3), rng.uniform(0.08, 0.3))

    prims: list[_Prim] = []

    def cap(a: np.ndarray, b: np.ndarray, w0: float, w1: float, col, part: int, depth: float) -> None:
        prims.append(_Prim("capsule", np.stack([a, b]), (w0 / 2, w1 / 2), col, part, depth))

    # torso: convex hull of a box (shoulder and hip levels, +-lateral, +-depth) seen under the yaw
    corners = []
    for centre, half_l in ((T + 0.025 * t, sw + 0.02), (P - 0.03 * t, hw + 0.035)):
        for left in (-half_l, half_l):
            for f in (-td, td):
                corners.append(centre + (left * cy + f * sy) * n)
    hull = cv2.convexHull(np.array(corners, dtype=np.float32)).reshape(-1, 2).astype(np.float64)
    prims.append(_Prim("poly", hull, (0.0,), torso_col, TORSO, 0.0))
    cap(T - 0.01 * t, N + 0.3 * head_r * th, 0.05, 0.045, _scale_bgr(skin, 0.9), NECK, 0.01)
    prims.append(_Prim("head", C[None], (head_r,), skin, HEAD, 0.05, outline=False))

    for s, cols in (("L", left_cols), ("R", right_cols)):
        lb = limbs[s]
        dz = side_depth[s]
        ua, fa, th_, sh_ = cols
        parts = (L_UPPER_ARM, L_FOREARM, L_HAND, L_THIGH, L_SHIN, L_FOOT) if s == "L" else (
            R_UPPER_ARM, R_FOREARM, R_HAND, R_THIGH, R_SHIN, R_FOOT)
        arm_d, leg_d = dz + 0.1, dz - 0.05
        cap(lb["sh"], lb["el"], w_ua, 0.85 * w_ua, ua, parts[0], arm_d)
        cap(lb["el"], lb["wr"], w_fa, 0.8 * w_fa, fa, parts[1], arm_d + 0.001)
        hand = lb["wr"] + 0.03 * lb["d_fa"]
        prims.append(_Prim("circle", hand[None], (0.03,), skin, parts[2], arm_d + 0.002))
        cap(lb["hip"], lb["kn"], w_th, 0.8 * w_th, th_, parts[3], leg_d)
        cap(lb["kn"], lb["an"], w_sh, 0.75 * w_sh, sh_, parts[4], leg_d + 0.001)
        # foot: points forward (visible length grows in profile) and a little down the shin
        toe = lb["an"] + 0.02 * lb["d_sh"] + 0.09 * sy * np.array([1.0, 0.0]) + 0.015 * np.array([0.0, -1.0])
        cap(lb["an"], toe, 0.045, 0.04, shoe, parts[5], leg_d + 0.002)
        # mannequin "ball joints": small dark discs in the limb's own colour at elbow, wrist, knee and
        # ankle.  They make the keypoints local, well-defined features, which is what lets a small
        # network learn this data in a few CPU minutes; the colour keeps the left/right cue.
        for centre, radius, col, part, depth in (
            (lb["el"], 0.3 * w_fa, ua, parts[1], arm_d + 0.0015),
            (lb["wr"], 0.26 * w_fa, fa, parts[1], arm_d + 0.003),
            (lb["kn"], 0.3 * w_sh, th_, parts[4], leg_d + 0.0015),
            (lb["an"], 0.26 * w_sh, sh_, parts[4], leg_d + 0.003),
        ):
            prims.append(_Prim("circle", centre[None], (radius,), _scale_bgr(col, 0.5), part, depth))

    # far-side shoulders/hips sit behind the torso: the torso then hides them
    own: list[frozenset[int]] = [frozenset({HEAD})] * 5 + [frozenset()] * 16
    for s, name in (("L", "left"), ("R", "right")):
        p = (L_UPPER_ARM, L_FOREARM, L_HAND, L_THIGH, L_SHIN, L_FOOT) if s == "L" else (
            R_UPPER_ARM, R_FOREARM, R_HAND, R_THIGH, R_SHIN, R_FOOT)
        far = side_depth[s] < -0.5
        own[J[f"{name}_shoulder"]] = frozenset({p[0]} | (set() if far else {TORSO}))
        own[J[f"{name}_elbow"]] = frozenset({p[0], p[1]})
        own[J[f"{name}_wrist"]] = frozenset({p[1], p[2]})
        own[J[f"{name}_hip"]] = frozenset({p[3]} | (set() if far else {TORSO}))
        own[J[f"{name}_knee"]] = frozenset({p[3], p[4]})
        own[J[f"{name}_ankle"]] = frozenset({p[4], p[5]})
    own[J["pelvis"]] = frozenset({TORSO, L_THIGH, R_THIGH})
    own[J["thorax"]] = frozenset({TORSO, NECK})
    own[J["upper_neck"]] = frozenset({NECK, HEAD})
    own[J["head_top"]] = frozenset({HEAD})

    # body frame (units of H, y up) -> image pixels (y down), rotated about the pelvis
    def to_img(p: np.ndarray) -> np.ndarray:
        q = _rot(np.asarray(p, dtype=np.float64), rotation) * H
        return q * np.array([1.0, -1.0])

    for p in prims:
        p.pts = to_img(p.pts)
        p.widths = tuple(w * H for w in p.widths)
    prims.sort(key=lambda p: p.depth)  # painter's order: far side, torso, head, near side
    up = _rot(th, rotation) * np.array([1.0, -1.0])
    right = _rot(nh, rotation) * np.array([1.0, -1.0])
    return _Figure(
        prims=prims, joints=to_img(joints), prior_vis=prior, own_parts=own, head_c=to_img(C),
        head_r=head_r * H, head_axes=(right, up), yaw=yaw, skin=skin, hair=hair,
        hair_line=rng.uniform(0.25, 0.6), height_px=H,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------
# drawing


def _draw_capsule(img: np.ndarray, lab: np.ndarray, p: _Prim, label: int) -> None:
    a, b = p.pts
    a0, a1 = p.widths
    d = b - a
    length = float(np.hypot(*d))
    layers: list[tuple[np.ndarray, float, tuple[int, int, int], bool]] = []
    if p.outline:
        layers.append((img, 0.9, _scale_bgr(p.colour, 0.55), True))  # thin dark rim, drawn first
    layers.append((img, 0.0, p.colour, True))
    layers.append((lab, 0.0, (label,), False))
    for canvas, grow, col, aa in layers:
        lt = cv2.LINE_AA if aa else cv2.LINE_8
        r0, r1 = a0 + grow, a1 + grow
        if length > 1e-6:
            w = np.array([-d[1], d[0]]) / length
            quad = np.stack([a + r0 * w, b + r1 * w, b - r1 * w, a - r0 * w])
            cv2.fillConvexPoly(canvas, _fx(quad), col, lt, _SHIFT)
        for c, r in ((a, r0), (b, r1)):
            cv2.circle(canvas, tuple(int(v) for v in _fx(c)), int(round(r * _ONE)), col, -1, lt, _SHIFT)


def _draw_poly(img: np.ndarray, lab: np.ndarray, p: _Prim, label: int) -> None:
    pts = _fx(p.pts)
    cv2.fillConvexPoly(img, pts, p.colour, cv2.LINE_AA, _SHIFT)
    cv2.polylines(img, [pts], True, _scale_bgr(p.colour, 0.55), 1, cv2.LINE_AA, _SHIFT)
    cv2.fillConvexPoly(lab, pts, (label,), cv2.LINE_8, _SHIFT)


def _draw_circle(img: np.ndarray, lab: np.ndarray, p: _Prim, label: int) -> None:
    c = tuple(int(v) for v in _fx(p.pts[0]))
    r = int(round(p.widths[0] * _ONE))
    cv2.circle(img, c, r, p.colour, -1, cv2.LINE_AA, _SHIFT)
    cv2.circle(lab, c, r, (label,), -1, cv2.LINE_8, _SHIFT)


def _draw_head(img: np.ndarray, lab: np.ndarray, fig: _Figure, label: int) -> None:
    """Skin sphere, hair where the surface faces backwards or up, and a face where it faces us."""
    c, r = fig.head_c, fig.head_r
    right, up = fig.head_axes
    h, w = lab.shape
    x0, y0 = max(0, int(math.floor(c[0] - r - 1))), max(0, int(math.floor(c[1] - r - 1)))
    x1, y1 = min(w, int(math.ceil(c[0] + r + 2))), min(h, int(math.ceil(c[1] + r + 2)))
    cy, sy = math.cos(fig.yaw), math.sin(fig.yaw)
    # ears first (they stick out a little behind the head outline)
    for left in (0.92, -0.92):
        d = -left * sy - 0.05 * cy
        if d > -0.15:
            e = c + r * (left * cy - 0.05 * sy) * right
            cv2.circle(img, tuple(int(v) for v in _fx(e)), int(round(0.22 * r * _ONE)), _scale_bgr(fig.skin, 0.85), -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(lab, tuple(int(v) for v in _fx(e)), int(round(0.22 * r * _ONE)), (label,), -1, cv2.LINE_8, _SHIFT)
    ci = tuple(int(v) for v in _fx(c))
    cv2.circle(img, ci, int(round(r * _ONE)), fig.skin, -1, cv2.LINE_AA, _SHIFT)
    cv2.circle(lab, ci, int(round(r * _ONE)), (label,), -1, cv2.LINE_8, _SHIFT)
    if x1 <= x0 or y1 <= y0:
        return
    # per-pixel hair mask on the head patch: invert the sphere projection
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    dx, dy = xs - c[0], ys - c[1]
    hx = (dx * right[0] + dy * right[1]) / r  # head-local, units of r
    hy = (dx * up[0] + dy * up[1]) / r
    rr = hx * hx + hy * hy
    inside = rr <= 0.97
    hd = np.sqrt(np.clip(1.0 - rr, 0.0, None))
    f = hx * sy + hd * cy  # forward coordinate of the visible surface point
    hair = inside & ((f < 0.15) | (hy > fig.hair_line + 0.35 * f))
    patch = img[y0:y1, x0:x1]
    patch[hair] = fig.hair
    # gentle shading so the head reads as a sphere
    shade = (0.8 + 0.2 * hd)[..., None]
    patch[inside] = np.clip(patch[inside] * shade[inside], 0, 255).astype(np.uint8)

    def head_pt(left: float, ff: float, u: float) -> tuple[np.ndarray, float]:
        return c + r * ((left * cy + ff * sy) * right + u * up), -left * sy + ff * cy

    dark = (30, 30, 40)
    for left in (0.36, -0.36):  # eyes
        p, d = head_pt(left, 0.86, 0.2)
        if d > 0.05:
            cv2.circle(img, tuple(int(v) for v in _fx(p)), max(_ONE, int(round(0.13 * r * _ONE))), dark, -1, cv2.LINE_AA, _SHIFT)
    p, d = head_pt(0.0, 1.0, -0.15)  # nose
    if d > -0.05:
        cv2.circle(img, tuple(int(v) for v in _fx(p)), max(_ONE, int(round(0.14 * r * _ONE))), _scale_bgr(fig.skin, 0.7), -1,
                   cv2.LINE_AA, _SHIFT)
    a, da = head_pt(0.2, 0.88, -0.48)  # mouth
    b, db = head_pt(-0.2, 0.88, -0.48)
    if da > 0.05 or db > 0.05:
        cv2.line(img, tuple(int(v) for v in _fx(a)), tuple(int(v) for v in _fx(b)), (40, 40, 120), 1, cv2.LINE_AA, _SHIFT)


def _draw_figure(img: np.ndarray, lab: np.ndarray, fig: _Figure, slot: int) -> None:
    base = 16 * slot
    for p in fig.prims:
        if p.kind == "capsule":
            _draw_capsule(img, lab, p, base + p.part)
        elif p.kind == "poly":
            _draw_poly(img, lab, p, base + p.part)
        elif p.kind == "circle":
            _draw_circle(img, lab, p, base + p.part)
        else:
            _draw_head(img, lab, fig, base + p.part)


def _background(rng: np.random.Generator, opt: SceneOptions) -> np.ndarray:
    """A smooth colour field (gradient + low-frequency blobs) with a few clutter shapes."""
    h, w = opt.height, opt.width
    c0 = np.array(_bgr(rng.uniform(0, 360), rng.uniform(0, opt.clutter_max_sat), rng.uniform(0.2, 0.9)), np.float32)
    c1 = np.array(_bgr(rng.uniform(0, 360), rng.uniform(0, opt.clutter_max_sat), rng.uniform(0.2, 0.9)), np.float32)
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
        col = _bgr(rng.uniform(0, 360), rng.uniform(0, opt.clutter_max_sat), rng.uniform(0.1, 1.0))
        kind = rng.integers(4)
        cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
        size = rng.uniform(0.05, 0.35) * min(h, w)
        if kind == 0:  # rectangle
            bw, bh = size * rng.uniform(0.3, 1.5), size * rng.uniform(0.3, 1.5)
            box = cv2.boxPoints(((cx, cy), (bw, bh), rng.uniform(0, 90)))
            cv2.fillConvexPoly(img, _fx(box), col, cv2.LINE_AA, _SHIFT)
        elif kind == 1:  # ellipse
            cv2.ellipse(img, (int(cx), int(cy)), (int(size / 2), int(size * rng.uniform(0.2, 0.6))),
                        rng.uniform(0, 180), 0, 360, col, -1, cv2.LINE_AA)
        elif kind == 2:  # straight line / pole
            e = np.array([cx, cy]) + size * 1.5 * np.array([math.cos(ang := rng.uniform(0, math.pi)), math.sin(ang)])
            cv2.line(img, (int(cx), int(cy)), (int(e[0]), int(e[1])), col, int(rng.integers(1, 7)), cv2.LINE_AA)
        else:  # triangle
            tri = np.array([cx, cy]) + rng.uniform(-size, size, size=(3, 2))
            cv2.fillConvexPoly(img, _fx(tri), col, cv2.LINE_AA, _SHIFT)
    return img


# ------------------------------------------------------------------------------------------------
# scene


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _place(rng: np.random.Generator, fig: _Figure, opt: SceneOptions, truncate: bool) -> np.ndarray:
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


def _joint_visibility(lab: np.ndarray, fig: _Figure, slot: int) -> np.ndarray:
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


def render_scene(seed: int, split_code: int, index: int, opt: SceneOptions = SceneOptions()
                 ) -> tuple[np.ndarray, list[FigureAnnotation]]:
    """Draw image ``index`` of a split; returns the BGR image and one annotation per person.

    The result depends only on (seed, split_code, index, opt).
    """
    from pycocotools import mask as mask_utils  # imported lazily: only needed when generating

    rng = np.random.default_rng([seed, split_code, index])
    h, w = opt.height, opt.width
    img = _background(rng, opt)
    lab = np.zeros((h, w), np.uint8)

    probs = np.asarray(opt.people_probs, dtype=np.float64)
    n_people = int(rng.choice(len(probs), p=probs / probs.sum())) + 1
    n_people = min(n_people, MAX_FIGURES)
    short = min(h, w)
    hmax = opt.max_height_frac[min(n_people, len(opt.max_height_frac)) - 1]
    figs: list[_Figure] = []
    boxes: list[np.ndarray] = []
    for _ in range(n_people):
        for _attempt in range(12):
            height_px = rng.uniform(opt.min_height_frac, hmax) * short
            if rng.random() < opt.big_rotation_prob:
                rot = math.radians(rng.uniform(-90, 90))
            else:
                rot = math.radians(float(np.clip(rng.normal(0, 12), -35, 35)))
            fig = _build_figure(rng, height_px, rot)
            fig.translate(_place(rng, fig, opt, rng.random() < opt.truncation_prob))
            box = fig.extent()
            if all(_iou(box, b) <= opt.max_box_iou for b in boxes):
                figs.append(fig)
                boxes.append(box)
                break
    # smaller people are further away: draw them first
    order = sorted(range(len(figs)), key=lambda i: figs[i].height_px)
    figs = [figs[i] for i in order]

    masks: list[np.ndarray] = []
    for slot, fig in enumerate(figs, start=1):
        _draw_figure(img, lab, fig, slot)
        masks.append((lab >> 4) == slot)  # the whole silhouette, before anything drawn later

    # an occluding box (a "table", "sign" or "car") over part of one person
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
        col = _bgr(rng.uniform(0, 360), rng.uniform(0, opt.clutter_max_sat), rng.uniform(0.2, 0.9))
        quad = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        cv2.fillConvexPoly(img, _fx(quad), col, cv2.LINE_AA, _SHIFT)
        cv2.polylines(img, [_fx(quad)], True, _scale_bgr(col, 0.6), 2, cv2.LINE_AA, _SHIFT)
        cv2.fillConvexPoly(lab, _fx(quad), (OCCLUDER_LABEL,), cv2.LINE_8, _SHIFT)

    # sensor-like degradations
    if rng.random() < opt.blur_prob:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.0))
    sigma = rng.uniform(*opt.noise_sigma)
    noise = rng.standard_normal((h, w, 3), dtype=np.float32)
    noise *= sigma
    img = cv2.add(img, noise, dtype=cv2.CV_8U)  # saturating add

    annos: list[FigureAnnotation] = []
    for slot, (fig, m) in enumerate(zip(figs, masks), start=1):
        area = int(m.sum())
        if area == 0:
            continue
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
        annos.append(FigureAnnotation(
            joints=joints, vis=vis, bbox=[x0, y0, x1 - x0, y1 - y0], area=area, rle=rle,
            head_box=[c[0] - r, c[1] - r, c[0] + r, c[1] + r], height_px=fig.height_px,
        ))  # fmt: skip
    return img, annos


# ------------------------------------------------------------------------------------------------
# writers


def _r(x: float, nd: int = 2) -> float:
    """Round for JSON (keeps files small and byte-stable)."""
    return float(round(float(x), nd))


def _encode_jpeg(img: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


@dataclass(frozen=True)
class _Job:
    seed: int
    split_code: int
    index: int
    path: str
    opt: SceneOptions


def _run_job(job: _Job) -> list[FigureAnnotation]:
    img, annos = render_scene(job.seed, job.split_code, job.index, job.opt)
    with open(job.path, "wb") as f:
        f.write(_encode_jpeg(img, job.opt.jpeg_quality))
    return annos


def _render_all(jobs: list[_Job], workers: int) -> list[list[FigureAnnotation]]:
    """Render in order; with workers > 1 a process pool (results are identical either way)."""
    if workers <= 1 or len(jobs) < 8:
        return [_run_job(j) for j in jobs]
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with ctx.Pool(workers) as pool:
        return list(pool.imap(_run_job, jobs, chunksize=8))


def _dump_json(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, separators=(",", ":"))


def _default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _coco_split(out_root: Path, set_name: str, split_code: int, num: int, seed: int, opt: SceneOptions,
                workers: int, id_offset: int) -> tuple[dict[str, Any], list[list[FigureAnnotation]], list[int]]:
    img_dir = out_root / "images" / set_name
    img_dir.mkdir(parents=True, exist_ok=True)
    ids = [id_offset + i + 1 for i in range(num)]
    jobs = [_Job(seed, split_code, i, str(img_dir / f"{ids[i]:012d}.jpg"), opt) for i in range(num)]
    per_image = _render_all(jobs, workers)
    images, annotations = [], []
    ann_id = id_offset * 10
    for img_id, annos in zip(ids, per_image):
        images.append({"id": img_id, "file_name": f"{img_id:012d}.jpg", "width": opt.width,
                       "height": opt.height, "license": 1})
        for a in annos:
            ann_id += 1
            kps = np.zeros((17, 3))
            kps[:, :2] = a.joints[:17]
            kps[:, 2] = a.vis[:17]
            annotations.append({
                "id": ann_id, "image_id": img_id, "category_id": 1, "iscrowd": 0,
                "bbox": [_r(v) for v in a.bbox], "area": float(a.area), "segmentation": a.rle,
                "keypoints": [_r(v) if i % 3 != 2 else int(v) for i, v in enumerate(kps.ravel())],
                "num_keypoints": int(np.count_nonzero(a.vis[:17])),
            })  # fmt: skip
    data = {
        "info": {"description": "SimMRPose synthetic keypoint dataset (tools/gen_synthetic_data.py)",
                 "version": GENERATOR_VERSION, "year": 2024, "contributor": "SimMRPose",
                 "url": "", "date_created": "", "seed": seed, "set": set_name},
        "licenses": [{"id": 1, "name": "Synthetic images generated by SimMRPose; no third-party content",
                      "url": ""}],
        "images": images,
        "annotations": annotations,
        "categories": [{"supercategory": "person", "id": 1, "name": "person",
                        "keypoints": COCO_KEYPOINT_NAMES, "skeleton": COCO_SKELETON}],
    }  # fmt: skip
    _dump_json(data, out_root / "annotations" / f"person_keypoints_{set_name}.json")
    return data, per_image, ids


def _fake_detections(seed: int, ids: Sequence[int], per_image: Sequence[Sequence[FigureAnnotation]],
                     opt: SceneOptions) -> list[dict[str, Any]]:
    """Detector-style boxes: jittered GT boxes (score 0.5-1) plus a few low-score false positives."""
    dets = []
    for k, (img_id, annos) in enumerate(zip(ids, per_image)):
        rng = np.random.default_rng([seed, SPLIT_CODES["coco_val"], k, 7])
        cur = []
        for a in annos:
            x, y, bw, bh = a.bbox
            cx = x + bw / 2 + rng.normal(0, 0.04) * bw
            cy = y + bh / 2 + rng.normal(0, 0.04) * bh
            bw2, bh2 = bw * math.exp(rng.normal(0, 0.07)), bh * math.exp(rng.normal(0, 0.07))
            x0, y0 = max(0.0, cx - bw2 / 2), max(0.0, cy - bh2 / 2)
            x1, y1 = min(float(opt.width), cx + bw2 / 2), min(float(opt.height), cy + bh2 / 2)
            cur.append((float(rng.uniform(0.5, 1.0)), [x0, y0, x1 - x0, y1 - y0]))
        for _ in range(int(rng.integers(0, 3)) if rng.random() < 0.35 else 0):
            s = rng.uniform(0.12, 0.5) * min(opt.width, opt.height)
            bw, bh = s * rng.uniform(0.4, 0.8), s
            x0, y0 = rng.uniform(0, opt.width - bw), rng.uniform(0, opt.height - bh)
            cur.append((float(rng.uniform(0.02, 0.4)), [x0, y0, bw, bh]))
        cur.sort(key=lambda t: -t[0])
        dets += [{"image_id": img_id, "category_id": 1, "bbox": [_r(v) for v in b], "score": _r(s, 4)}
                 for s, b in cur]
    return dets


def _write_readme(out_root: Path, fmt: str, lines: Iterable[str], seed: int, opt: SceneOptions,
                  command: str | None = None) -> None:
    """Describe the data (what, how, seed, counts) beside it; no timestamps, so it is reproducible too."""
    if command is None:
        command = (f"python tools/gen_synthetic_data.py --seed {seed} --image-size {opt.width} {opt.height} "
                   f"--format {fmt.lower()} ...")
    text = f"""# Synthetic keypoint data (SimMRPose)

Generated by `tools/gen_synthetic_data.py` (generator version {GENERATOR_VERSION}) with seed {seed},
image size {opt.width}x{opt.height}, JPEG quality {opt.jpeg_quality}.  Format: {fmt}.

{chr(10).join(lines)}

What it is: procedurally drawn human-like figures ("mannequins": torso polygon, head with
face/hair, tapered limbs with small dark "ball joints" at elbows, wrists, knees and ankles,
hands, feet) on smooth backgrounds with clutter, 1-3 people per image,
front/back/profile views, random joint angles, rotations, truncation at the image border,
occluding boxes and sensor noise.  The person's LEFT limbs use warm colours (red/orange/yellow),
the RIGHT limbs cool colours (cyan/blue): the left/right assignment is learnable from colour, so
train with `DATASET.FLIP: false` (a flipped image would contradict the colours).

Labels follow COCO: v=2 visible, v=1 labelled but hidden (another person, an occluding box, the
figure's own torso/limbs, the back of its head), v=0 not labelled (outside the image -> (0, 0),
or a face point on a head turned away).  `bbox` is the tight box of the silhouette inside the
image (hidden parts included) plus a 2 % margin; `area` and `segmentation` (RLE) are that
silhouette.  MPII records use 1-based coordinates, `scale` = max(box w, h) / 200 and a `center`
15*scale above the box centre (the MPII loader moves it back down); `gt_valid.mat` holds head
boxes around the drawn head disc for PCKh.

The same command with the same arguments reproduces these files byte for byte (same OpenCV
build).  Regenerate with:

    {command}
"""
    (out_root / "README.md").write_text(text, encoding="utf-8")


def generate_coco(out_root: str | os.PathLike, num_train: int = 2000, num_val: int = 200, seed: int = 0,
                  image_size: int | Sequence[int] = 256, workers: int | None = None,
                  options: SceneOptions | None = None, log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Write the COCO layout under ``out_root`` (e.g. ``data/synthetic/coco``); returns a summary."""
    opt = _options(image_size, options)
    out = Path(out_root)
    workers = _default_workers() if workers is None else workers
    summary: dict[str, Any] = {"root": str(out)}
    val_ids: list[int] = []
    val_annos: list[list[FigureAnnotation]] = []
    for set_name, code, num, off in (("train2017", SPLIT_CODES["coco_train"], num_train, 0),
                                     ("val2017", SPLIT_CODES["coco_val"], num_val, 1_000_000)):
        t0 = time.time()
        data, per_image, ids = _coco_split(out, set_name, code, num, seed, opt, workers, off)
        n_ann = len(data["annotations"])
        summary[set_name] = {"images": num, "people": n_ann}
        if log:
            log(f"coco {set_name}: {num} images, {n_ann} people ({time.time() - t0:.1f}s)")
        if set_name == "val2017":
            val_ids, val_annos = ids, per_image
    dets = _fake_detections(seed, val_ids, val_annos, opt)
    det_path = out / "person_detection_results" / "COCO_val2017_detections_AP_H_56_person.json"
    _dump_json(dets, det_path)
    summary["detections"] = len(dets)
    _write_readme(out, "COCO", [
        f"* `annotations/person_keypoints_train2017.json`: {num_train} images, {summary['train2017']['people']} people",
        f"* `annotations/person_keypoints_val2017.json`: {num_val} images, {summary['val2017']['people']} people",
        "* `images/train2017/%012d.jpg`, `images/val2017/%012d.jpg` (file name = image id)",
        f"* `person_detection_results/COCO_val2017_detections_AP_H_56_person.json`: {len(dets)} boxes "
        "(jittered GT boxes with scores 0.5-1.0 plus low-score false positives)",
    ], seed, opt)
    return summary


def generate_mpii(out_root: str | os.PathLike, num_train: int = 2000, num_val: int = 200, seed: int = 0,
                  image_size: int | Sequence[int] = 256, workers: int | None = None,
                  options: SceneOptions | None = None, log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Write the MPII layout under ``out_root`` (e.g. ``data/synthetic/mpii``); returns a summary."""
    import scipy.io

    opt = _options(image_size, options)
    out = Path(out_root)
    workers = _default_workers() if workers is None else workers
    img_dir = out / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"root": str(out)}
    for set_name, code, num, off in (("train", SPLIT_CODES["mpii_train"], num_train, 0),
                                     ("valid", SPLIT_CODES["mpii_valid"], num_val, 500_000_000)):
        t0 = time.time()
        names = [f"{off + i + 1:09d}.jpg" for i in range(num)]
        jobs = [_Job(seed, code, i, str(img_dir / names[i]), opt) for i in range(num)]
        per_image = _render_all(jobs, workers)
        records, gt_pos, gt_missing, gt_head = [], [], [], []
        for name, annos in zip(names, per_image):
            for a in annos:
                jv = (a.vis[MPII_FROM_INTERNAL] > 0).astype(np.int64)
                if jv.sum() < 4:  # MPII only annotates reasonably visible people
                    continue
                pts = a.joints[MPII_FROM_INTERNAL] + 1.0  # 1-based, MATLAB style
                x, y, bw, bh = a.bbox
                s = max(bw, bh) / 200.0
                records.append({
                    "image": name,
                    "center": [_r(x + bw / 2 + 1.0), _r(y + bh / 2 + 1.0 - 15.0 * s)],
                    "scale": _r(s, 6),
                    "joints": [[_r(p[0]), _r(p[1])] if v else [-1.0, -1.0] for p, v in zip(pts, jv)],
                    "joints_vis": [int(v) for v in jv],
                })  # fmt: skip
                gt_pos.append(np.where(jv[:, None] > 0, np.round(pts, 2), 0.0))
                gt_missing.append(1 - jv)
                hb = np.round(np.array(a.head_box) + 1.0, 2)
                gt_head.append(hb.reshape(2, 2))
        _dump_json(records, out / "annot" / f"{set_name}.json")
        if set_name == "valid":
            cell = np.empty((1, 16), dtype=object)
            for k, nm in enumerate(MPII_MAT_NAMES):
                cell[0, k] = np.array([nm])
            mat = {
                "dataset_joints": cell,
                "jnt_missing": np.array(gt_missing, dtype=np.uint8).reshape(-1, 16).T,
                "pos_gt_src": np.array(gt_pos, dtype=np.float64).reshape(-1, 16, 2).transpose(1, 2, 0),
                "headboxes_src": np.array(gt_head, dtype=np.float64).reshape(-1, 2, 2).transpose(1, 2, 0),
            }
            scipy.io.savemat(str(out / "annot" / "gt_valid.mat"), mat, do_compression=True)
            _strip_mat_timestamp(out / "annot" / "gt_valid.mat")
        summary[set_name] = {"images": num, "people": len(records)}
        if log:
            log(f"mpii {set_name}: {num} images, {len(records)} people ({time.time() - t0:.1f}s)")
    _write_readme(out, "MPII", [
        f"* `annot/train.json`: {summary['train']['people']} people on {num_train} images",
        f"* `annot/valid.json` + `annot/gt_valid.mat`: {summary['valid']['people']} people on {num_val} images",
        "* `images/%09d.jpg` (train and valid images share the folder, as in MPII)",
    ], seed, opt)
    return summary


def _strip_mat_timestamp(path: Path) -> None:
    """scipy writes the creation time into the 116-byte MAT header text: blank it for byte-stable output."""
    with open(path, "r+b") as f:
        header = bytearray(f.read(116))
        text = b"MATLAB 5.0 MAT-file, written by SimMRPose tools/gen_synthetic_data.py"
        header[:] = text.ljust(116, b" ")
        f.seek(0)
        f.write(header)


def _options(image_size: int | Sequence[int], options: SceneOptions | None) -> SceneOptions:
    if isinstance(image_size, (int, np.integer)):
        w = h = int(image_size)
    else:
        size = list(image_size)
        w, h = (int(size[0]), int(size[0])) if len(size) == 1 else (int(size[0]), int(size[1]))
    return replace(options or SceneOptions(), width=w, height=h)


# ------------------------------------------------------------------------------------------------
# CLI


# ------------------------------------------------------------------------------------------------
# non-human keypoint sets ("Train on your own keypoints", README): a 5-joint face, a 21-joint hand

# Each set: joint names, 1-based skeleton (as COCO files write it), OKS sigmas, and a template of
# joint positions in a unit box (x right, y down) that every figure is a jittered similarity copy of.
_FACE_TEMPLATE = [(0.5, 0.55), (0.32, 0.38), (0.68, 0.38), (0.34, 0.75), (0.66, 0.75)]
_HAND_TEMPLATE = [(0.5, 0.95)] + [
    (0.5 + dx * t, 0.78 - dy * t)
    for dx, dy in ((-0.42, 0.28), (-0.20, 0.72), (0.0, 0.80), (0.18, 0.74), (0.34, 0.60))
    for t in (0.35, 0.6, 0.8, 1.0)
]
KEYPOINT_SETS: dict[str, dict[str, Any]] = {
    "face": {
        "export_categories": ["face", "sketch_face"],  # --layout export: two categories, one joint list
        # left_/right_ and _left/_right tokens: both derive a flip pair (DATASET.FLIP_PAIRS left unset).
        "names": ["nose", "left_eye", "right_eye", "mouth_left", "mouth_right"],
        "skeleton": [[2, 3], [1, 2], [1, 3], [1, 4], [1, 5], [4, 5]],
        "sigmas": [0.026, 0.025, 0.025, 0.035, 0.035],
        "template": _FACE_TEMPLATE,
    },
    "hand": {
        "export_categories": ["left_hand", "right_hand"],
        "names": ["wrist"] + [f"{f}_{i}" for f in ("thumb", "index", "middle", "ring", "pinky") for i in range(1, 5)],
        "skeleton": [[1, 2 + 4 * f] for f in range(5)] + [[2 + 4 * f + i, 3 + 4 * f + i] for f in range(5) for i in range(3)],
        "sigmas": [0.035] + [0.03, 0.028, 0.025, 0.022] * 5,
        "template": _HAND_TEMPLATE,
    },
}


def _keypoint_set_colours(k: int) -> list[tuple[int, int, int]]:
    """One saturated BGR colour per joint, evenly spread in hue, so every joint is told by colour."""
    return [_bgr(360.0 * j / k, 0.9, 0.95) for j in range(k)]


def render_keypoint_set_image(kind: str, seed: int, split_code: int, index: int, width: int, height: int
                              ) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """One image of ``kind`` ('face' or 'hand') figures and their COCO annotations (without ids).

    One or two figures, each a random rotation (±40°), size and position of the set's template with
    small per-joint jitter; the shape is drawn under limbs and joints; every joint is inside the
    image and labelled visible (v=2). Box: the figure's drawn extent, clipped to the image.
    """
    spec = KEYPOINT_SETS[kind]
    rng = np.random.default_rng([seed, split_code, index, 7])
    img = np.empty((height, width, 3), np.uint8)
    img[:] = np.array([rng.integers(40, 200) for _ in range(3)], np.uint8)
    noise = rng.normal(0.0, 12.0, (height, width, 3))
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 6))):  # clutter
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        p = rng.uniform(0, 1, 2) * (width, height)
        cv2.circle(img, (int(p[0]), int(p[1])), int(rng.integers(4, max(5, min(width, height) // 6))), c, -1)
    template = np.asarray(spec["template"], np.float64) - 0.5
    colours = _keypoint_set_colours(len(template))
    annos = []
    num = int(rng.integers(1, 3))
    for f in range(num):
        size = rng.uniform(0.35, 0.6) * min(width, height) / (1.0 if num == 1 else 1.4)
        ang = math.radians(rng.uniform(-40, 40))
        rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
        pts = (template + rng.normal(0, 0.025, template.shape)) @ rot.T * size
        lo, hi = pts.min(0) - 0.12 * size, pts.max(0) + 0.12 * size
        span_x = (width / num) if num > 1 else width
        x0 = f * span_x
        cx = rng.uniform(x0 - lo[0] + 1, max(x0 - lo[0] + 2, x0 + span_x - hi[0] - 2))
        cy = rng.uniform(-lo[1] + 1, max(-lo[1] + 2, height - hi[1] - 2))
        pts = pts + (cx, cy)
        skin = _bgr(rng.uniform(15, 35), rng.uniform(0.3, 0.6), rng.uniform(0.6, 0.9))
        centre = pts.mean(0)
        if kind == "face":
            axes = (int(size * 0.5), int(size * 0.62))
            cv2.ellipse(img, (int(centre[0]), int(centre[1])), axes, math.degrees(ang), 0, 360, skin, -1, cv2.LINE_AA)
        else:
            palm = np.array([pts[0], pts[1], pts[5], pts[17]], np.int32)
            cv2.fillConvexPoly(img, cv2.convexHull(palm), skin, cv2.LINE_AA)
        thick = max(2, int(size * 0.06))
        for a, b in spec["skeleton"]:
            pa, pb = pts[a - 1], pts[b - 1]
            cv2.line(img, (int(pa[0]), int(pa[1])), (int(pb[0]), int(pb[1])), _scale_bgr(skin, 0.7), thick, cv2.LINE_AA)
        for j, p in enumerate(pts):
            cv2.circle(img, (int(round(p[0])), int(round(p[1]))), max(2, int(size * 0.045)), colours[j], -1, cv2.LINE_AA)
        ext_lo = np.maximum(np.minimum(lo + (cx, cy), pts.min(0)), 0)
        ext_hi = np.minimum(hi + (cx, cy), (width - 1, height - 1))
        box = [float(ext_lo[0]), float(ext_lo[1]), float(ext_hi[0] - ext_lo[0]), float(ext_hi[1] - ext_lo[1])]
        inside = (pts[:, 0] >= 0) & (pts[:, 0] <= width - 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= height - 1)
        kps = []
        for (x, y), ok in zip(pts, inside):
            kps += [_r(x), _r(y), 2] if ok else [0, 0, 0]
        annos.append({"bbox": [_r(v) for v in box], "area": _r(box[2] * box[3] * 0.6), "keypoints": kps,
                      "num_keypoints": int(inside.sum())})
    return img, annos


def _export_file_names(seed: int, split: str, num: int) -> list[str]:
    """Image names as annotation tools keep them: frames in scene sub-folders, hashed names, plain frames."""
    names = []
    for i in range(num):
        if i % 3 == 0:
            names.append(f"scene_{i % 4}/frame_{i:04d}.png")
        elif i % 3 == 1:
            names.append(hashlib.sha1(f"{seed}/{split}/{i}".encode()).hexdigest()[:16] + ".png")
        else:
            names.append(f"frame_{i:04d}.png")
    return names


def _export_ids(seed: int, split_code: int, num: int) -> list[int]:
    """13-digit image ids in a random order, unrelated to the file names."""
    rng = np.random.default_rng([seed, split_code, 99])
    return [1_000_000_000_000 + split_code * 10_000_000 + int(k) * 7919 for k in rng.permutation(num)]


def generate_keypoint_set_export(out_root: str | os.PathLike, kind: str, num_train: int = 200, num_val: int = 40,
                                 seed: int = 0, image_size: int | Sequence[int] = 128) -> dict[str, dict[str, int]]:
    """Write ``kind`` figures as an annotation tool's COCO-keypoints export under ``out_root``.

    ``train.json`` / ``val.json`` (one file per split) and ``images/train`` / ``images/val``: the
    figures of :func:`generate_keypoint_set` (same seed, same drawings and joints), as PNG files with
    ordinary names (:func:`_export_file_names`), 13-digit ids unrelated to the names, no
    ``num_keypoints`` / ``iscrowd`` / ``area``, each figure in one of two categories that share the
    joint list (``KEYPOINT_SETS[kind]['export_categories']``). ``oks_sigmas.json``: the sigmas.
    """
    if kind not in KEYPOINT_SETS:
        raise ValueError(f"unknown keypoint set {kind!r}; expected one of {sorted(KEYPOINT_SETS)}")
    spec = KEYPOINT_SETS[kind]
    width, height = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size) * (2 // len(image_size))
    out_root = Path(out_root)
    categories = [{"id": 1 + c, "name": name, "supercategory": kind, "keypoints": spec["names"],
                   "skeleton": spec["skeleton"]} for c, name in enumerate(spec["export_categories"])]
    stats = {}
    ann_id = 0
    for split_code, (split, num) in enumerate((("train", num_train), ("val", num_val))):
        names = _export_file_names(seed, split, num)
        ids = _export_ids(seed, split_code, num)
        pick = np.random.default_rng([seed, split_code, 98])
        images, annotations = [], []
        for i in range(num):
            img, annos = render_keypoint_set_image(kind, seed, split_code, i, width, height)
            path = out_root / "images" / split / names[i]
            path.parent.mkdir(parents=True, exist_ok=True)
            ok, buf = cv2.imencode(".png", img)
            if not ok:
                raise RuntimeError("PNG encoding failed")
            path.write_bytes(buf.tobytes())
            images.append({"id": ids[i], "width": width, "height": height, "file_name": names[i], "license": 0,
                           "flickr_url": "", "coco_url": "", "date_captured": 0})
            for a in annos:
                ann_id += 1
                annotations.append({"id": ann_id, "image_id": ids[i],
                                    "category_id": int(pick.integers(1, len(categories) + 1)),
                                    "segmentation": [], "bbox": a["bbox"], "keypoints": a["keypoints"],
                                    "attributes": {"occluded": False}})
        data = {"licenses": [{"name": "", "id": 0, "url": ""}],
                "info": {"contributor": "", "date_created": "", "url": "", "version": "", "year": "",
                         "description": f"SimMRPose synthetic {kind} keypoints, tool-export layout (seed {seed})"},
                "categories": categories, "images": images, "annotations": annotations}
        _dump_json(data, out_root / f"{split}.json")
        stats[split] = {"images": num, "people": len(annotations)}
    _dump_json(spec["sigmas"], out_root / "oks_sigmas.json")
    return stats


def generate_keypoint_set(out_root: str | os.PathLike, kind: str, num_train: int = 200, num_val: int = 40,
                          seed: int = 0, image_size: int | Sequence[int] = 128, jpeg_quality: int = 95
                          ) -> dict[str, dict[str, int]]:
    """Write a COCO-format dataset of ``kind`` figures (``KEYPOINT_SETS``) under ``out_root``.

    Layout as for COCO (``annotations/person_keypoints_<set>.json``, ``images/<set>/%012d.jpg`` for
    train2017 and val2017); the category is named after the set and carries its ``keypoints`` and
    1-based ``skeleton``; ``<out_root>/oks_sigmas.json`` holds the sigmas for ``DATASET.OKS_SIGMAS``;
    ``person_detection_results/<set>_gt_boxes.json`` the GT boxes as detections (score 1).
    """
    if kind not in KEYPOINT_SETS:
        raise ValueError(f"unknown keypoint set {kind!r}; expected one of {sorted(KEYPOINT_SETS)}")
    spec = KEYPOINT_SETS[kind]
    width, height = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size) * (2 // len(image_size))
    out_root = Path(out_root)
    stats = {}
    for split_code, (set_name, num) in enumerate((("train2017", num_train), ("val2017", num_val))):
        img_dir = out_root / "images" / set_name
        img_dir.mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for i in range(num):
            img_id = split_code * 1_000_000 + i + 1
            img, annos = render_keypoint_set_image(kind, seed, split_code, i, width, height)
            (img_dir / f"{img_id:012d}.jpg").write_bytes(_encode_jpeg(img, jpeg_quality))
            images.append({"id": img_id, "file_name": f"{img_id:012d}.jpg", "width": width, "height": height})
            for a in annos:
                annotations.append({"id": len(annotations) + 1 + split_code * 10_000_000, "image_id": img_id,
                                    "category_id": 1, "iscrowd": 0, **a})
        data = {
            "info": {"description": f"SimMRPose synthetic {kind} keypoints (tools/gen_synthetic_data.py)",
                     "version": GENERATOR_VERSION, "seed": seed, "set": set_name},
            "images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": kind, "supercategory": kind, "keypoints": spec["names"],
                            "skeleton": spec["skeleton"]}],
        }
        _dump_json(data, out_root / "annotations" / f"person_keypoints_{set_name}.json")
        # The GT boxes as a detection file (score 1): for the demo's --det-file or TEST.COCO_BBOX_FILE.
        _dump_json([{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 1.0} for a in annotations],
                   out_root / "person_detection_results" / f"{set_name}_gt_boxes.json")
        stats[set_name] = {"images": num, "people": len(annotations)}
    _dump_json(spec["sigmas"], out_root / "oks_sigmas.json")
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/synthetic", help="output folder (coco/ and mpii/ go inside)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--num-train", type=int, default=2000, help="training images per format")
    ap.add_argument("--num-val", type=int, default=200, help="validation images per format")
    ap.add_argument("--image-size", type=int, nargs="+", default=[256], metavar="PX",
                    help="image size: one value (square) or W H")
    ap.add_argument("--format", choices=("coco", "mpii", "both", "face", "hand"), default="both",
                    help="human figures (coco, mpii, both) or a non-human COCO-format set: face (5 joints), "
                         "hand (21 joints), written to <out>/<format>/")
    ap.add_argument("--layout", choices=("coco", "export"), default="coco",
                    help="face/hand only: 'export' writes <out>/<format>_export/ as annotation tools export COCO "
                         "keypoints (train.json, val.json, images/<split>/ with ordinary PNG names, 13-digit ids, "
                         "no num_keypoints/iscrowd/area, two categories sharing the joints)")
    ap.add_argument("--workers", type=int, default=None, help="processes (default: min(4, CPUs))")
    ap.add_argument("--jpeg-quality", type=int, default=SceneOptions.jpeg_quality)
    args = ap.parse_args(argv)
    if args.layout == "export" and args.format not in KEYPOINT_SETS:
        ap.error(f"--layout export is for the keypoint sets ({', '.join(sorted(KEYPOINT_SETS))}), not --format {args.format}")
    if args.num_train < 0 or args.num_val < 0:
        ap.error("image counts must be >= 0")
    if len(args.image_size) > 2 or min(args.image_size) < 32:
        ap.error("--image-size takes one or two values >= 32")
    opt = replace(SceneOptions(), jpeg_quality=args.jpeg_quality)
    out = Path(args.out)
    t0 = time.time()
    if args.format in KEYPOINT_SETS and args.layout == "export":
        size = args.image_size[0] if len(args.image_size) == 1 else args.image_size
        root = out / f"{args.format}_export"
        s = generate_keypoint_set_export(root, args.format, args.num_train, args.num_val, args.seed, size)
        print(f"done in {time.time() - t0:.1f}s -> {root} ({s['train']['people']} train / {s['val']['people']} val "
              f"figures): DATASET.TRAIN_ANN_FILE {root / 'train.json'} DATASET.TRAIN_IMAGE_DIR {root / 'images/train'} "
              f"DATASET.TEST_ANN_FILE {root / 'val.json'} DATASET.TEST_IMAGE_DIR {root / 'images/val'}; "
              f"sigmas in {root / 'oks_sigmas.json'}")
        return 0
    if args.format in KEYPOINT_SETS:
        size = args.image_size[0] if len(args.image_size) == 1 else args.image_size
        s = generate_keypoint_set(out / args.format, args.format, args.num_train, args.num_val, args.seed, size,
                                  args.jpeg_quality)
        print(f"done in {time.time() - t0:.1f}s -> {out / args.format} ({s['train2017']['people']} train / "
              f"{s['val2017']['people']} val figures; sigmas in {out / args.format / 'oks_sigmas.json'})")
        return 0
    parts = []
    if args.format in ("coco", "both"):
        s = generate_coco(out / "coco", args.num_train, args.num_val, args.seed, args.image_size, args.workers, opt)
        parts.append(f"* `coco/`: COCO layout (set `DATASET.ROOT: {out}/coco/`), {s['train2017']['people']} train "
                     f"/ {s['val2017']['people']} val people; see `coco/README.md`")
    if args.format in ("mpii", "both"):
        s = generate_mpii(out / "mpii", args.num_train, args.num_val, args.seed, args.image_size, args.workers, opt)
        parts.append(f"* `mpii/`: MPII layout (set `DATASET.ROOT: {out}/mpii/`), {s['train']['people']} train "
                     f"/ {s['valid']['people']} valid people; see `mpii/README.md`")
    size = " ".join(str(v) for v in args.image_size)
    cmd = (f"python tools/gen_synthetic_data.py --out {out} --seed {args.seed} --num-train {args.num_train} "
           f"--num-val {args.num_val} --image-size {size} --format {args.format}"
           + (f" --jpeg-quality {args.jpeg_quality}" if args.jpeg_quality != SceneOptions.jpeg_quality else ""))
    _write_readme(out, args.format, parts, args.seed, opt, cmd)
    print(f"done in {time.time() - t0:.1f}s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
