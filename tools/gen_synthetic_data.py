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
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import _init_paths  # noqa: F401  (puts lib/ on sys.path)

from synthetic.coco_mpii import (
    COCO_KEYPOINT_NAMES,
    COCO_SKELETON,
    MPII_JOINT_NAMES,
    MPII_MAT_NAMES,
    generate_coco,
    generate_mpii,
    write_readme,
)
from synthetic.keypoint_sets import KEYPOINT_SETS, generate_keypoint_set, generate_keypoint_set_export
from synthetic.mannequin import INTERNAL_JOINTS, J
from synthetic.scene import FigureAnnotation, SceneOptions, render_scene

__all__ = [
    "COCO_KEYPOINT_NAMES",
    "COCO_SKELETON",
    "INTERNAL_JOINTS",
    "J",
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
    write_readme(out, args.format, parts, args.seed, opt, cmd)
    print(f"done in {time.time() - t0:.1f}s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
