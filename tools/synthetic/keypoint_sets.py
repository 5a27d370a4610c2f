"""Non-human keypoint sets ("Train on your own keypoints", README): a 5-joint face and a 21-joint hand,
written as a COCO-format set (``generate_keypoint_set``) or as annotation tools export COCO keypoints
(``generate_keypoint_set_export``)."""
from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from utils.atomic_io import write_bytes

from .files import GENERATOR_VERSION, dump_json, encode_jpeg, rnd
from .paint import bgr, scale_bgr

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
    return [bgr(360.0 * j / k, 0.9, 0.95) for j in range(k)]


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
        skin = bgr(rng.uniform(15, 35), rng.uniform(0.3, 0.6), rng.uniform(0.6, 0.9))
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
            cv2.line(img, (int(pa[0]), int(pa[1])), (int(pb[0]), int(pb[1])), scale_bgr(skin, 0.7), thick, cv2.LINE_AA)
        for j, p in enumerate(pts):
            cv2.circle(img, (int(round(p[0])), int(round(p[1]))), max(2, int(size * 0.045)), colours[j], -1, cv2.LINE_AA)
        ext_lo = np.maximum(np.minimum(lo + (cx, cy), pts.min(0)), 0)
        ext_hi = np.minimum(hi + (cx, cy), (width - 1, height - 1))
        box = [float(ext_lo[0]), float(ext_lo[1]), float(ext_hi[0] - ext_lo[0]), float(ext_hi[1] - ext_lo[1])]
        inside = (pts[:, 0] >= 0) & (pts[:, 0] <= width - 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= height - 1)
        kps = []
        for (x, y), ok in zip(pts, inside):
            kps += [rnd(x), rnd(y), 2] if ok else [0, 0, 0]
        annos.append({"bbox": [rnd(v) for v in box], "area": rnd(box[2] * box[3] * 0.6), "keypoints": kps,
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
            write_bytes(path, buf.tobytes())
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
        dump_json(data, out_root / f"{split}.json")
        stats[split] = {"images": num, "people": len(annotations)}
    dump_json(spec["sigmas"], out_root / "oks_sigmas.json")
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
            write_bytes(img_dir / f"{img_id:012d}.jpg", encode_jpeg(img, jpeg_quality))
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
        dump_json(data, out_root / "annotations" / f"person_keypoints_{set_name}.json")
        # The GT boxes as a detection file (score 1): for the demo's --det-file or TEST.COCO_BBOX_FILE.
        dump_json([{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 1.0} for a in annotations],
                   out_root / "person_detection_results" / f"{set_name}_gt_boxes.json")
        stats[set_name] = {"images": num, "people": len(annotations)}
    dump_json(spec["sigmas"], out_root / "oks_sigmas.json")
    return stats
