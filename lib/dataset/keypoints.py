"""Keypoint metadata: everything that depends on the joint set, in one object per dataset.

A :class:`KeypointInfo` holds the joint names, the left/right flip pairs (flip augmentation and the
flip test), the OKS sigmas (OKS-NMS, rescoring, COCO evaluation), the skeleton and the left/right
sides (drawing), the upper/lower body joints (half-body augmentation) and per-joint loss weights.

``COCO_KEYPOINTS`` and ``MPII_KEYPOINTS`` carry exactly the original's values (flip pairs, COCO
sigmas, the drawing skeleton, HRNet's body halves and joint weights); ``utils.vis``, ``nms.nms``,
``core.api`` and the datasets read them from here. Any other COCO-format joint set is read with
:func:`from_coco_category` and finished by :func:`resolve_for_config`, which applies
``DATASET.FLIP_PAIRS`` and ``DATASET.OKS_SIGMAS``.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from core.config import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "COCO_KEYPOINTS",
    "COCO_SIGMAS",
    "MPII_KEYPOINTS",
    "KeypointInfo",
    "category_joint_names",
    "clean_skeleton",
    "derive_flip_pairs",
    "from_coco_category",
    "keypoints_for_config",
    "keypoints_of_categories",
    "keypoints_of_category",
    "resolve_for_config",
    "with_upper_body_ids",
]

# Per-keypoint OKS sigmas of the 17 COCO keypoints (COCO order), the same float64 values as
# pycocotools' default kpt_oks_sigmas (nose 0.026, ..., ankles 0.089); nms.nms's default.
COCO_SIGMAS = tuple((np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62,
                               1.07, 1.07, .87, .87, .89, .89]) / 10.0).tolist())


def _pairs(values: Any) -> tuple[tuple[int, int], ...]:
    return tuple((int(a), int(b)) for a, b in values)


@dataclass(frozen=True)
class KeypointInfo:
    """One joint set. Indices are 0-based; ``source`` names where the values came from (errors).

    Attributes:
        names: K joint names.
        flip_pairs: ``(left, right)`` index pairs swapped by a horizontal flip.
        skeleton: limbs as index pairs (drawing only).
        sigmas: K OKS sigmas, or None when the set has none (OKS then raises, see :meth:`oks_sigmas`).
        left_ids / right_ids: sides for colours; every other joint is centre (:attr:`centre_ids`).
        upper_body_ids / lower_body_ids: half-body augmentation groups.
        joint_weights: K per-joint loss weights (1.0 unless the set defines others, as HRNet's COCO set).
    """

    names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...] = ()
    skeleton: tuple[tuple[int, int], ...] = ()
    sigmas: Optional[tuple[float, ...]] = None
    left_ids: tuple[int, ...] = ()
    right_ids: tuple[int, ...] = ()
    upper_body_ids: tuple[int, ...] = ()
    lower_body_ids: tuple[int, ...] = ()
    joint_weights: Optional[tuple[float, ...]] = None
    source: str = "keypoint metadata"
    sigmas_key: str = field(default="DATASET.OKS_SIGMAS", repr=False)

    def __post_init__(self) -> None:
        k = len(self.names)
        set_ = object.__setattr__
        set_(self, "names", tuple(str(n) for n in self.names))
        set_(self, "flip_pairs", _pairs(self.flip_pairs))
        set_(self, "skeleton", _pairs(self.skeleton))
        for attr in ("left_ids", "right_ids", "upper_body_ids", "lower_body_ids"):
            set_(self, attr, tuple(int(i) for i in getattr(self, attr)))
        if k == 0:
            raise ConfigError(f"{self.source}: the joint set has no joint names")
        seen: dict[int, tuple[int, int]] = {}
        for pair in self.flip_pairs:
            a, b = pair
            if not (0 <= a < k and 0 <= b < k):
                raise ConfigError(f"{self.source}: DATASET.FLIP_PAIRS pair {list(pair)} is out of range "
                                  f"for {k} joints (0-based indices 0..{k - 1})")
            if a == b:
                raise ConfigError(f"{self.source}: DATASET.FLIP_PAIRS pair {list(pair)} pairs a joint with itself")
            for j in (a, b):
                if j in seen:
                    raise ConfigError(f"{self.source}: DATASET.FLIP_PAIRS is not symmetric: joint {j} is in "
                                      f"both {list(seen[j])} and {list(pair)}")
                seen[j] = pair
        for limb in self.skeleton:
            if not all(0 <= j < k for j in limb):
                raise ConfigError(f"{self.source}: skeleton limb {list(limb)} (0-based) is out of range for "
                                  f"{k} joints")
        if self.sigmas is not None:
            sig = tuple(float(s) for s in self.sigmas)
            if len(sig) != k:
                raise ConfigError(f"{self.source}: {self.sigmas_key} has {len(sig)} values for {k} joints "
                                  f"(MODEL.NUM_JOINTS / keypoint names); expected {k}")
            bad = [s for s in sig if not (np.isfinite(s) and s > 0)]
            if bad:
                raise ConfigError(f"{self.source}: {self.sigmas_key} must be > 0; got {bad[0]!r}")
            set_(self, "sigmas", sig)
        weights = (1.0,) * k if self.joint_weights is None else tuple(float(w) for w in self.joint_weights)
        if len(weights) != k:
            raise ConfigError(f"{self.source}: joint_weights has {len(weights)} values for {k} joints")
        set_(self, "joint_weights", weights)

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def centre_ids(self) -> tuple[int, ...]:
        sides = set(self.left_ids) | set(self.right_ids)
        return tuple(j for j in range(self.num_joints) if j not in sides)

    def oks_sigmas(self) -> np.ndarray:
        """The sigmas as a float64 array; a clear error when the set has none."""
        if self.sigmas is None:
            raise ConfigError(
                f"{self.source}: OKS (OKS-NMS, rescoring, COCO evaluation) needs one sigma per joint for this "
                f"{self.num_joints}-joint set; set DATASET.OKS_SIGMAS to a list of {self.num_joints} positive numbers")
        return np.asarray(self.sigmas, dtype=np.float64)


COCO_KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
MPII_KEYPOINT_NAMES = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
)

COCO_KEYPOINTS = KeypointInfo(
    names=COCO_KEYPOINT_NAMES,
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    skeleton=((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
              (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)),
    sigmas=COCO_SIGMAS,
    left_ids=tuple(range(1, 17, 2)),
    right_ids=tuple(range(2, 17, 2)),
    upper_body_ids=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
    lower_body_ids=(11, 12, 13, 14, 15, 16),
    # HRNet's COCO weights for LOSS.USE_DIFFERENT_JOINTS_WEIGHT.
    joint_weights=(1., 1., 1., 1., 1., 1., 1., 1.2, 1.2, 1.5, 1.5, 1., 1., 1.2, 1.2, 1.5, 1.5),
    source="COCO-17 keypoints",
)

MPII_KEYPOINTS = KeypointInfo(
    names=MPII_KEYPOINT_NAMES,
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    skeleton=((9, 8), (8, 7), (7, 6), (7, 12), (12, 11), (11, 10), (7, 13), (13, 14), (14, 15),
              (6, 3), (3, 4), (4, 5), (6, 2), (2, 1), (1, 0)),
    sigmas=None,
    left_ids=(3, 4, 5, 13, 14, 15),
    right_ids=(0, 1, 2, 10, 11, 12),
    upper_body_ids=(7, 8, 9, 10, 11, 12, 13, 14, 15),
    lower_body_ids=(0, 1, 2, 3, 4, 5, 6),
    source="MPII-16 keypoints",
)

# name -> (side, name with the side token replaced by a placeholder)
_SIDE_PATTERNS = (
    (re.compile(r"^(left|l)([_\- ].+)$", re.IGNORECASE), 1, 2),
    (re.compile(r"^(right|r)([_\- ].+)$", re.IGNORECASE), 1, 2),
    (re.compile(r"^(.+[_\- ])(left|l)$", re.IGNORECASE), 2, 1),
    (re.compile(r"^(.+[_\- ])(right|r)$", re.IGNORECASE), 2, 1),
)


def _side_key(name: str) -> Optional[tuple[str, str]]:
    """``('left'|'right', stem)`` for a name with a left/right token at its start or end, else None."""
    for pattern, side_group, rest_group in _SIDE_PATTERNS:
        m = pattern.match(name)
        if m:
            token = m.group(side_group).lower()
            side = "left" if token in ("left", "l") else "right"
            pos = "pre" if side_group == 1 else "post"
            return side, f"{pos}:{len(token) > 1}:{m.group(rest_group).lower()}"
    return None


def derive_flip_pairs(names: Sequence[str]) -> list[list[int]]:
    """``[left, right]`` pairs of names that differ only by a side token.

    Recognised: ``left_x``/``right_x``, ``l_x``/``r_x``, ``x_left``/``x_right``, ``x_l``/``x_r``
    (case-insensitive; ``_``, ``-`` or a space after/before the token). Pairs come in the order of
    the left joint.
    """
    by_stem: dict[str, dict[str, int]] = {}
    for j, name in enumerate(names):
        key = _side_key(name)
        if key is not None:
            by_stem.setdefault(key[1], {}).setdefault(key[0], j)
    pairs = [[s["left"], s["right"]] for s in by_stem.values() if "left" in s and "right" in s]
    return sorted(pairs)


def _sides_from_names(names: Sequence[str], flip_pairs: Sequence[Sequence[int]]) -> tuple[list[int], list[int]]:
    left, right = [], []
    for a, b in flip_pairs:
        side_a = _side_key(names[a])
        if side_a is not None and side_a[0] == "right":
            a, b = b, a
        left.append(a)
        right.append(b)
    return sorted(left), sorted(right)


def category_joint_names(category: Any) -> Optional[tuple[str, ...]]:
    """The joint names of a COCO category (its ``keypoints`` list), or None when it names none."""
    names = category.get("keypoints") if isinstance(category, dict) else None
    if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
        return tuple(names)
    return None


def clean_skeleton(skeleton: Any, k: int, source: str) -> list[list[int]]:
    """The 0-based limbs of a COCO category's 1-based ``skeleton`` for ``k`` joints.

    The skeleton only draws pictures, so a limb that is not a pair of joint indices in 1..k (e.g. a
    0-based one), joins a joint to itself or repeats an earlier limb is left out with one warning
    naming it; training never stops for it.
    """
    out: list[list[int]] = []
    seen: set[tuple[int, int]] = set()
    if not isinstance(skeleton, (list, tuple)):
        if skeleton:
            logger.warning("=> %s: the category's 'skeleton' is not a list of limbs; no limbs are drawn", source)
        return out
    for limb in skeleton:
        ok = (isinstance(limb, (list, tuple)) and len(limb) == 2
              and all(isinstance(j, int) and not isinstance(j, bool) for j in limb))
        if not ok or not all(1 <= j <= k for j in limb):
            hint = " (0-based? COCO skeletons count joints from 1)" if ok and 0 in limb else ""
            logger.warning("=> %s: skeleton limb %r is not a pair of 1-based joint indices in 1..%d%s; "
                           "it is left out of the pictures", source, limb, k, hint)
            continue
        key = (min(limb), max(limb))
        if limb[0] == limb[1] or key in seen:
            why = "joins a joint to itself" if limb[0] == limb[1] else "repeats an earlier limb"
            logger.warning("=> %s: skeleton limb %r %s; it is left out of the pictures", source, list(limb), why)
            continue
        seen.add(key)
        out.append([limb[0] - 1, limb[1] - 1])
    return out


def from_coco_category(category: dict, source: str) -> tuple[list[str], list[list[int]]]:
    """Joint names and 0-based skeleton of a COCO keypoint category (``skeleton`` is 1-based there).

    Limbs that do not fit the joint list are dropped with a warning (:func:`clean_skeleton`).
    """
    names = category_joint_names(category)
    if names is None:
        cat_name = category.get("name") if isinstance(category, dict) else None
        raise ConfigError(f"{source}: category {cat_name!r} has no 'keypoints' list of joint names; a COCO "
                          "keypoint file needs categories[0].keypoints")
    return list(names), clean_skeleton(category.get("skeleton") or [], len(names), source)


def resolve_for_config(cfg: Any, names: Sequence[str], skeleton: Sequence[Sequence[int]], source: str,
                       derive_pairs: bool = True) -> KeypointInfo:
    """The metadata of a COCO-format joint set with ``DATASET.FLIP_PAIRS`` / ``DATASET.OKS_SIGMAS`` applied.

    The COCO-17 names give :data:`COCO_KEYPOINTS` (original values) unless a key overrides them.
    Without ``DATASET.FLIP_PAIRS`` the pairs are derived from the names, or none with
    ``derive_pairs=False`` (names that the file does not give carry no sides).
    """
    flip_key = cfg.DATASET.get("FLIP_PAIRS", None)
    sigma_key = cfg.DATASET.get("OKS_SIGMAS", None)
    names = tuple(names)
    if names == COCO_KEYPOINTS.names:
        base = COCO_KEYPOINTS
        if flip_key is None and sigma_key is None:
            return base
        return KeypointInfo(
            names=names,
            flip_pairs=base.flip_pairs if flip_key is None else flip_key,
            skeleton=base.skeleton, sigmas=base.sigmas if sigma_key is None else sigma_key,
            left_ids=base.left_ids, right_ids=base.right_ids, upper_body_ids=base.upper_body_ids,
            lower_body_ids=base.lower_body_ids, joint_weights=base.joint_weights, source=source)
    if flip_key is None and not derive_pairs:
        flip_pairs = []
        logger.info("=> %s: no flip pairs (the file names no joints; set DATASET.FLIP_PAIRS for flip "
                    "augmentation and the flip test)", source)
    elif flip_key is None:
        flip_pairs = derive_flip_pairs(names)
        logger.info("=> %s: flip pairs derived from the joint names: %s", source,
                    [[names[a], names[b]] for a, b in flip_pairs])
    else:
        flip_pairs = [list(p) for p in flip_key]
    _check_pairs_shape(flip_pairs, source)
    info = KeypointInfo(names=names, flip_pairs=flip_pairs, skeleton=skeleton, sigmas=sigma_key, source=source)
    left, right = _sides_from_names(names, info.flip_pairs)
    object.__setattr__(info, "left_ids", tuple(left))
    object.__setattr__(info, "right_ids", tuple(right))
    return info


def with_upper_body_ids(info: KeypointInfo, cfg: Any, source: str) -> KeypointInfo:
    """``info`` with ``DATASET.UPPER_BODY_IDS`` applied (half-body augmentation groups).

    ``[]`` (the default) keeps the set's own groups: the original HRNet ones for COCO-17 and MPII-16,
    none for other sets. Otherwise the listed 0-based joints are the upper body and every other joint
    the lower body; ids must be in range and unique.
    """
    ids = list(cfg.DATASET.get("UPPER_BODY_IDS", []) or [])
    if not ids:
        return info
    k = info.num_joints
    for j in ids:
        if not 0 <= j < k:
            raise ConfigError(f"{source}: DATASET.UPPER_BODY_IDS = {ids}: joint {j} is out of range for {k} joints "
                              f"(0-based indices 0..{k - 1})")
        if ids.count(j) > 1:
            raise ConfigError(f"{source}: DATASET.UPPER_BODY_IDS = {ids} lists joint {j} twice; expected unique ids")
    upper = tuple(ids)
    return dataclasses.replace(info, upper_body_ids=upper, lower_body_ids=tuple(j for j in range(k) if j not in upper))


def _check_pairs_shape(pairs: Any, source: str) -> None:
    for p in pairs:
        if not (isinstance(p, (list, tuple)) and len(p) == 2
                and all(isinstance(j, (int, np.integer)) and not isinstance(j, bool) for j in p)):
            raise ConfigError(f"{source}: DATASET.FLIP_PAIRS entry {p!r} is not a [left, right] pair of joint indices")


def keypoints_of_category(cfg: Any, category: dict, source: str) -> KeypointInfo:
    """The joint set of a COCO keypoint category for ``cfg``: names and skeleton from the category,
    checked against ``MODEL.NUM_JOINTS``, then :func:`resolve_for_config`."""
    names, skeleton = from_coco_category(category, source)
    k = int(cfg.MODEL.NUM_JOINTS)
    if len(names) != k:
        raise ConfigError(f"MODEL.NUM_JOINTS={k} but {source} names {len(names)} keypoints; "
                          f"set MODEL.NUM_JOINTS {len(names)}")
    return resolve_for_config(cfg, names, skeleton, source)


def keypoints_of_categories(cfg: Any, categories: Sequence[Any], source: str) -> KeypointInfo:
    """The joint set of a COCO keypoint file's categories, as ``dataset.coco`` reads it: the first
    category that names joints (:func:`keypoints_of_category`); in a file that names none,
    ``DATASET.KEYPOINT_NAMES`` (else ``'0'`` .. ``'K-1'``, K = ``MODEL.NUM_JOINTS``), the first
    category's skeleton and ``DATASET.FLIP_PAIRS`` or no flip pairs."""
    cats = [c for c in categories if isinstance(c, dict)]
    named = [c for c in cats if category_joint_names(c) is not None]
    if named:
        return keypoints_of_category(cfg, named[0], source)
    k = int(cfg.MODEL.NUM_JOINTS)
    names = list(cfg.DATASET.get("KEYPOINT_NAMES", []) or []) or [str(j) for j in range(k)]
    if len(names) != k:
        raise ConfigError(f"DATASET.KEYPOINT_NAMES has {len(names)} names for MODEL.NUM_JOINTS={k} ({source} names "
                          f"no joints); expected {k} names")
    skeleton = clean_skeleton((cats[0].get("skeleton") if cats else None) or [], k, source)
    return resolve_for_config(cfg, names, skeleton, source, derive_pairs=False)


def keypoints_for_config(cfg: Any, names: Optional[Sequence[str]] = None,
                         skeleton: Sequence[Sequence[int]] = ()) -> KeypointInfo:
    """The joint set of a config when no annotation file is at hand (API, demo, export).

    MPII configs get :data:`MPII_KEYPOINTS`; a 17-joint COCO config :data:`COCO_KEYPOINTS`; any other
    ``MODEL.NUM_JOINTS`` uses ``names`` when given, else ``joint_<i>`` names with ``DATASET.FLIP_PAIRS``
    (no pairs when unset) and ``DATASET.OKS_SIGMAS``.
    """
    k = int(cfg.MODEL.NUM_JOINTS)
    if cfg.DATASET.DATASET == "mpii" and k == MPII_KEYPOINTS.num_joints:
        return MPII_KEYPOINTS
    if names is None:
        if k == COCO_KEYPOINTS.num_joints:
            names = COCO_KEYPOINTS.names
        else:
            names = [f"joint_{i}" for i in range(k)]
    return resolve_for_config(cfg, names, skeleton, source=f"MODEL.NUM_JOINTS={k}")
