"""The mannequin: a human-like figure, its joints and how it is drawn.

:func:`build_figure` samples the proportions, view (front, back, profile), lean and joint angles of one
person and returns its drawing primitives and joints (all 21 internal joints: the 17 COCO joints and
the four MPII joints COCO lacks); :func:`draw_figure` paints it into the image and into a per-pixel
part-label map (16 * slot + part), from which the scene decides which joints are hidden.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from dataset.keypoints import COCO_KEYPOINTS, MPII_KEYPOINTS

from .paint import ONE, SHIFT, bgr, fx, rotate, scale_bgr


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


# Part ids in the label map (per figure; the map stores 16 * (figure slot) + part).
HEAD, NECK, TORSO = 1, 2, 3
L_UPPER_ARM, L_FOREARM, L_HAND, R_UPPER_ARM, R_FOREARM, R_HAND = 4, 5, 6, 7, 8, 9
L_THIGH, L_SHIN, L_FOOT, R_THIGH, R_SHIN, R_FOOT = 10, 11, 12, 13, 14, 15


# Colour families (hue in degrees).  Left = warm, right = cool; torso and clutter avoid both.
LEFT_HUES = (-12.0, 40.0)  # red .. orange .. yellow
RIGHT_HUES = (185.0, 235.0)  # cyan .. blue
TORSO_HUES = ((75.0, 160.0), (265.0, 320.0))  # greens, purples (or a desaturated shirt)
SKIN_TONES = ((0.07, 0.35, 0.95), (0.07, 0.45, 0.85), (0.06, 0.55, 0.70), (0.06, 0.60, 0.52), (0.05, 0.55, 0.36))
HAIR_TONES = ((0.07, 0.60, 0.12), (0.07, 0.70, 0.30), (0.10, 0.55, 0.55), (0.12, 0.45, 0.85), (0.0, 0.0, 0.65))


@dataclass
class Prim:
    """A drawing primitive in image coordinates (before placement offset)."""

    kind: str  # 'capsule' | 'poly' | 'circle' | 'head'
    pts: np.ndarray  # capsule: (2,2); poly: (n,2); circle/head: (1,2)
    widths: tuple[float, ...]  # capsule: half widths (a0, a1); circle/head: (radius,)
    colour: tuple[int, int, int]
    part: int
    depth: float
    outline: bool = True


@dataclass
class Figure:
    """A posed figure before placement: primitives and joints relative to an anchor at (0, 0)."""

    prims: list[Prim]
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
        upper = bgr(h, s, v)
        # lower segment: clearly lighter or darker so that the elbow/knee is a visible boundary
        lower = bgr(h + rng.uniform(-6, 6), s * rng.uniform(0.55, 0.8), min(1.0, v * 1.25)) if rng.random() < 0.5 \
            else bgr(h + rng.uniform(-6, 6), s, v * 0.62)
        out += [upper, lower]
    return out[0], out[1], out[2], out[3]


@dataclass
class _Body:
    """A person's sampled view, proportions and body frame (units of the figure height, y up, origin at
    the pelvis)."""

    yaw: float
    cy: float  # cos(yaw)
    sy: float  # sin(yaw)
    profile: bool
    fwd_sign: float
    side_depth: dict[str, float]  # depth (towards the viewer) of the person's left and right sides
    lat: dict[str, float]  # image-x factor of each side's lateral offset
    sw: float  # shoulder joint half spacing (frontal)
    hw: float  # hip joint half spacing (frontal)
    upper_arm: float
    forearm: float
    thigh: float
    shin: float
    w_ua: float  # limb widths: upper arm, forearm, thigh, shin
    w_fa: float
    w_th: float
    w_sh: float
    td: float  # torso half depth (what is seen in profile)
    head_r: float
    t: np.ndarray  # torso axis (up)
    n: np.ndarray  # torso right (+x)
    th: np.ndarray  # head axis (up)
    nh: np.ndarray  # head right
    P: np.ndarray  # pelvis
    T: np.ndarray  # thorax
    N: np.ndarray  # upper neck
    C: np.ndarray  # head centre
    head_top: np.ndarray


def _sample_body(rng: np.random.Generator) -> _Body:
    """View (front, back or profile), jittered proportions, lean and head tilt of one person."""
    yaw = _sample_yaw(rng)
    cy, sy = math.cos(yaw), math.sin(yaw)

    # proportions in units of H (jittered per person)
    j = lambda a, b=0.07: a * rng.uniform(1 - b, 1 + b)  # noqa: E731
    torso_len, neck_len, head_r = j(0.29), j(0.05, 0.15), j(0.062, 0.1)
    sw, hw = j(0.11), j(0.06)
    upper_arm, forearm, thigh, shin = j(0.17), j(0.155), j(0.245), j(0.24)
    w_ua, w_fa, w_th, w_sh = j(0.06, 0.15), j(0.048, 0.15), j(0.09, 0.15), j(0.065, 0.15)
    td = j(0.06)

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
    return _Body(
        yaw=yaw, cy=cy, sy=sy, profile=abs(cy) < 0.35, fwd_sign=1.0 if sy >= 0 else -1.0,
        side_depth={"L": -sy, "R": sy}, lat={"L": cy, "R": -cy}, sw=sw, hw=hw, upper_arm=upper_arm,
        forearm=forearm, thigh=thigh, shin=shin, w_ua=w_ua, w_fa=w_fa, w_th=w_th, w_sh=w_sh, td=td,
        head_r=head_r, t=t, n=n, th=th, nh=nh, P=P, T=T, N=N, C=C, head_top=C + head_r * th,
    )  # fmt: skip


def _pose_limbs(rng: np.random.Generator, b: _Body, joints: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Sample arm and leg angles of both sides; write their joints into ``joints`` and return, per side
    ('L', 'R'), the limb points (``sh``, ``el``, ``wr``, ``hip``, ``kn``, ``an``) and the forearm and
    shin directions (``d_fa``, ``d_sh``)."""
    t, n, profile, fwd_sign = b.t, b.n, b.profile, b.fwd_sign

    def fshort() -> float:  # occasional foreshortening (limb pointing towards/away from the camera)
        return rng.uniform(0.7, 1.0) if rng.random() < 0.25 else 1.0

    def dir_from(down: np.ndarray, side: np.ndarray, ang: float) -> np.ndarray:
        return math.cos(ang) * down + math.sin(ang) * side

    limbs: dict[str, dict[str, np.ndarray]] = {}
    for s, name in (("L", "left"), ("R", "right")):
        sh = b.T - 0.012 * t + b.lat[s] * b.sw * n
        hip = b.P + b.lat[s] * b.hw * n
        # "outward" side direction: away from the body in front/back views, forward in profile
        out_sign = (1.0 if b.lat[s] >= 0 else -1.0) if not profile else fwd_sign
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
        el = sh + b.upper_arm * fshort() * d_ua
        wr = el + b.forearm * fshort() * d_fa
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
        kn = hip + b.thigh * fshort() * d_th
        an = kn + b.shin * fshort() * d_sh
        limbs[s] = dict(sh=sh, el=el, wr=wr, hip=hip, kn=kn, an=an, d_fa=d_fa, d_sh=d_sh)
        joints[J[f"{name}_shoulder"]] = sh
        joints[J[f"{name}_elbow"]] = el
        joints[J[f"{name}_wrist"]] = wr
        joints[J[f"{name}_hip"]] = hip
        joints[J[f"{name}_knee"]] = kn
        joints[J[f"{name}_ankle"]] = an
    return limbs


def _face_joints(b: _Body, joints: np.ndarray) -> np.ndarray:
    """Write the nose, eyes and ears into ``joints``; return the prior visibility of all 21 joints
    (a face point hidden behind the own head is still labelled (1) when an annotator could guess it,
    else not labelled (0))."""
    cy, sy = b.cy, b.sy

    # head points on a sphere (left = towards the person's left, f = forward, u = up) -> image x and depth
    def head_point(left: float, f: float, u: float) -> tuple[np.ndarray, float]:
        x = left * cy + f * sy
        d = -left * sy + f * cy
        return b.C + b.head_r * (x * b.nh + u * b.th), d

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
    return prior


@dataclass
class _Look:
    """A person's colours (BGR): per side (upper arm, forearm, thigh, shin), torso, skin, hair, shoes."""

    left_cols: tuple[tuple[int, int, int], ...]
    right_cols: tuple[tuple[int, int, int], ...]
    torso: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shoe: tuple[int, int, int]


def _sample_look(rng: np.random.Generator) -> _Look:
    left_cols = _limb_colours(rng, LEFT_HUES)
    right_cols = _limb_colours(rng, RIGHT_HUES)
    if rng.random() < 0.3:
        torso_col = bgr(rng.uniform(0, 360), rng.uniform(0.0, 0.15), rng.uniform(0.15, 0.95))
    else:
        lo, hi = TORSO_HUES[int(rng.integers(2))]
        torso_col = bgr(rng.uniform(lo, hi), rng.uniform(0.35, 0.85), rng.uniform(0.35, 0.9))
    sk = SKIN_TONES[int(rng.integers(len(SKIN_TONES)))]
    skin = bgr(sk[0] * 360 + rng.uniform(-4, 4), sk[1] * rng.uniform(0.85, 1.1), sk[2] * rng.uniform(0.9, 1.05))
    hr = HAIR_TONES[int(rng.integers(len(HAIR_TONES)))]
    hair = bgr(hr[0] * 360, hr[1], hr[2] * rng.uniform(0.85, 1.1))
    shoe = bgr(rng.uniform(0, 360), rng.uniform(0, 0.3), rng.uniform(0.08, 0.3))
    return _Look(left_cols, right_cols, torso_col, skin, hair, shoe)


_SIDE_PARTS = {
    "L": (L_UPPER_ARM, L_FOREARM, L_HAND, L_THIGH, L_SHIN, L_FOOT),
    "R": (R_UPPER_ARM, R_FOREARM, R_HAND, R_THIGH, R_SHIN, R_FOOT),
}


def _body_prims(body: _Body, limbs: dict[str, dict[str, np.ndarray]], look: _Look) -> list[Prim]:
    """The drawing primitives in the body frame: torso, neck, head, and per side the limbs, hand, foot
    and the mannequin's ball joints."""
    t, n, cy, sy, th = body.t, body.n, body.cy, body.sy, body.th
    prims: list[Prim] = []

    def cap(a: np.ndarray, b: np.ndarray, w0: float, w1: float, col, part: int, depth: float) -> None:
        prims.append(Prim("capsule", np.stack([a, b]), (w0 / 2, w1 / 2), col, part, depth))

    # torso: convex hull of a box (shoulder and hip levels, +-lateral, +-depth) seen under the yaw
    corners = []
    for centre, half_l in ((body.T + 0.025 * t, body.sw + 0.02), (body.P - 0.03 * t, body.hw + 0.035)):
        for left in (-half_l, half_l):
            for f in (-body.td, body.td):
                corners.append(centre + (left * cy + f * sy) * n)
    hull = cv2.convexHull(np.array(corners, dtype=np.float32)).reshape(-1, 2).astype(np.float64)
    prims.append(Prim("poly", hull, (0.0,), look.torso, TORSO, 0.0))
    cap(body.T - 0.01 * t, body.N + 0.3 * body.head_r * th, 0.05, 0.045, scale_bgr(look.skin, 0.9), NECK, 0.01)
    prims.append(Prim("head", body.C[None], (body.head_r,), look.skin, HEAD, 0.05, outline=False))

    w_ua, w_fa, w_th, w_sh = body.w_ua, body.w_fa, body.w_th, body.w_sh
    for s, cols in (("L", look.left_cols), ("R", look.right_cols)):
        lb = limbs[s]
        dz = body.side_depth[s]
        ua, fa, th_, sh_ = cols
        parts = _SIDE_PARTS[s]
        arm_d, leg_d = dz + 0.1, dz - 0.05
        cap(lb["sh"], lb["el"], w_ua, 0.85 * w_ua, ua, parts[0], arm_d)
        cap(lb["el"], lb["wr"], w_fa, 0.8 * w_fa, fa, parts[1], arm_d + 0.001)
        hand = lb["wr"] + 0.03 * lb["d_fa"]
        prims.append(Prim("circle", hand[None], (0.03,), look.skin, parts[2], arm_d + 0.002))
        cap(lb["hip"], lb["kn"], w_th, 0.8 * w_th, th_, parts[3], leg_d)
        cap(lb["kn"], lb["an"], w_sh, 0.75 * w_sh, sh_, parts[4], leg_d + 0.001)
        # foot: points forward (visible length grows in profile) and a little down the shin
        toe = lb["an"] + 0.02 * lb["d_sh"] + 0.09 * sy * np.array([1.0, 0.0]) + 0.015 * np.array([0.0, -1.0])
        cap(lb["an"], toe, 0.045, 0.04, look.shoe, parts[5], leg_d + 0.002)
        # mannequin "ball joints": small dark discs in the limb's own colour at elbow, wrist, knee and
        # ankle.  They make the keypoints local, well-defined features, which is what lets a small
        # network learn this data in a few CPU minutes; the colour keeps the left/right cue.
        for centre, radius, col, part, depth in (
            (lb["el"], 0.3 * w_fa, ua, parts[1], arm_d + 0.0015),
            (lb["wr"], 0.26 * w_fa, fa, parts[1], arm_d + 0.003),
            (lb["kn"], 0.3 * w_sh, th_, parts[4], leg_d + 0.0015),
            (lb["an"], 0.26 * w_sh, sh_, parts[4], leg_d + 0.003),
        ):
            prims.append(Prim("circle", centre[None], (radius,), scale_bgr(col, 0.5), part, depth))
    return prims


def _own_parts(side_depth: dict[str, float]) -> list[frozenset[int]]:
    """Per joint, the body parts that may cover it without hiding it (its own limbs; the torso too for
    the near-side shoulders and hips: the far-side ones sit behind the torso, which then hides them)."""
    own: list[frozenset[int]] = [frozenset({HEAD})] * 5 + [frozenset()] * 16
    for s, name in (("L", "left"), ("R", "right")):
        p = _SIDE_PARTS[s]
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
    return own


def build_figure(rng: np.random.Generator, height_px: float, rotation: float) -> Figure:
    """Sample proportions, view and pose; return primitives and joints in image pixels (anchor 0)."""
    H = height_px
    b = _sample_body(rng)
    joints = np.zeros((21, 2))
    joints[J["pelvis"]] = b.P
    joints[J["thorax"]] = b.T
    joints[J["upper_neck"]] = b.N
    joints[J["head_top"]] = b.head_top
    limbs = _pose_limbs(rng, b, joints)
    prior = _face_joints(b, joints)
    look = _sample_look(rng)
    prims = _body_prims(b, limbs, look)
    own = _own_parts(b.side_depth)

    # body frame (units of H, y up) -> image pixels (y down), rotated about the pelvis
    def to_img(p: np.ndarray) -> np.ndarray:
        q = rotate(np.asarray(p, dtype=np.float64), rotation) * H
        return q * np.array([1.0, -1.0])

    for p in prims:
        p.pts = to_img(p.pts)
        p.widths = tuple(w * H for w in p.widths)
    prims.sort(key=lambda p: p.depth)  # painter's order: far side, torso, head, near side
    up = rotate(b.th, rotation) * np.array([1.0, -1.0])
    right = rotate(b.nh, rotation) * np.array([1.0, -1.0])
    return Figure(
        prims=prims, joints=to_img(joints), prior_vis=prior, own_parts=own, head_c=to_img(b.C),
        head_r=b.head_r * H, head_axes=(right, up), yaw=b.yaw, skin=look.skin, hair=look.hair,
        hair_line=rng.uniform(0.25, 0.6), height_px=H,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------
# drawing


def _draw_capsule(img: np.ndarray, lab: np.ndarray, p: Prim, label: int) -> None:
    a, b = p.pts
    a0, a1 = p.widths
    d = b - a
    length = float(np.hypot(*d))
    layers: list[tuple[np.ndarray, float, tuple[int, int, int], bool]] = []
    if p.outline:
        layers.append((img, 0.9, scale_bgr(p.colour, 0.55), True))  # thin dark rim, drawn first
    layers.append((img, 0.0, p.colour, True))
    layers.append((lab, 0.0, (label,), False))
    for canvas, grow, col, aa in layers:
        lt = cv2.LINE_AA if aa else cv2.LINE_8
        r0, r1 = a0 + grow, a1 + grow
        if length > 1e-6:
            w = np.array([-d[1], d[0]]) / length
            quad = np.stack([a + r0 * w, b + r1 * w, b - r1 * w, a - r0 * w])
            cv2.fillConvexPoly(canvas, fx(quad), col, lt, SHIFT)
        for c, r in ((a, r0), (b, r1)):
            cv2.circle(canvas, tuple(int(v) for v in fx(c)), int(round(r * ONE)), col, -1, lt, SHIFT)


def _draw_poly(img: np.ndarray, lab: np.ndarray, p: Prim, label: int) -> None:
    pts = fx(p.pts)
    cv2.fillConvexPoly(img, pts, p.colour, cv2.LINE_AA, SHIFT)
    cv2.polylines(img, [pts], True, scale_bgr(p.colour, 0.55), 1, cv2.LINE_AA, SHIFT)
    cv2.fillConvexPoly(lab, pts, (label,), cv2.LINE_8, SHIFT)


def _draw_circle(img: np.ndarray, lab: np.ndarray, p: Prim, label: int) -> None:
    c = tuple(int(v) for v in fx(p.pts[0]))
    r = int(round(p.widths[0] * ONE))
    cv2.circle(img, c, r, p.colour, -1, cv2.LINE_AA, SHIFT)
    cv2.circle(lab, c, r, (label,), -1, cv2.LINE_8, SHIFT)


def _draw_head(img: np.ndarray, lab: np.ndarray, fig: Figure, label: int) -> None:
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
            cv2.circle(img, tuple(int(v) for v in fx(e)), int(round(0.22 * r * ONE)), scale_bgr(fig.skin, 0.85), -1, cv2.LINE_AA, SHIFT)
            cv2.circle(lab, tuple(int(v) for v in fx(e)), int(round(0.22 * r * ONE)), (label,), -1, cv2.LINE_8, SHIFT)
    ci = tuple(int(v) for v in fx(c))
    cv2.circle(img, ci, int(round(r * ONE)), fig.skin, -1, cv2.LINE_AA, SHIFT)
    cv2.circle(lab, ci, int(round(r * ONE)), (label,), -1, cv2.LINE_8, SHIFT)
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
            cv2.circle(img, tuple(int(v) for v in fx(p)), max(ONE, int(round(0.13 * r * ONE))), dark, -1, cv2.LINE_AA, SHIFT)
    p, d = head_pt(0.0, 1.0, -0.15)  # nose
    if d > -0.05:
        cv2.circle(img, tuple(int(v) for v in fx(p)), max(ONE, int(round(0.14 * r * ONE))), scale_bgr(fig.skin, 0.7), -1,
                   cv2.LINE_AA, SHIFT)
    a, da = head_pt(0.2, 0.88, -0.48)  # mouth
    b, db = head_pt(-0.2, 0.88, -0.48)
    if da > 0.05 or db > 0.05:
        cv2.line(img, tuple(int(v) for v in fx(a)), tuple(int(v) for v in fx(b)), (40, 40, 120), 1, cv2.LINE_AA, SHIFT)


def draw_figure(img: np.ndarray, lab: np.ndarray, fig: Figure, slot: int) -> None:
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
