"""Draw predicted skeletons from a COCO results JSON over the images they belong to.

    python tools/draw_results.py --results <keypoints_val2017_results.json> --images data/synthetic/coco/images/val2017 \
        --out output/pictures [--num 8] [--kpt-thr 0.3] [--min-score 0.2] [--annotations FILE]

COCO-17 and MPII-16 results are drawn with their skeletons. Any other joint set takes its skeleton
and left/right sides from a COCO keypoint file's category: ``--annotations``, by default
``<root>/annotations/person_keypoints_<set>.json`` when ``--images`` is ``<root>/images/<set>``.

The image of a result is ``<--images>/<file_name>`` of its ``image_id`` in that annotation file
(an export's own names and sub-folders); without one, COCO's ``<image_id:012d>.jpg``.

When no result scores at least ``--min-score`` (or the file holds none), nothing is drawn: the tool
says so in one ``error:`` line naming the highest score and exits with status 2, leaving ``--out``
as it was (an empty folder and status 0 read as success). Each picture is written whole or not at
all (through a temporary file).
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import _init_paths  # noqa: F401  (puts lib/ on sys.path)
import cv2
import numpy as np

from core.results import read_keypoint_results
from utils.atomic_io import atomic_path
from utils.cli import InputFileError, UsageError, read_json, run_cli
from utils.vis import draw_skeleton


def default_annotations(image_dir: str | Path) -> Path:
    """``<root>/annotations/person_keypoints_<set>.json`` for ``--images <root>/images/<set>``."""
    image_dir = Path(image_dir)
    return image_dir.parent.parent / "annotations" / f"person_keypoints_{image_dir.name}.json"


def keypoint_info_for(num_joints: int, image_dir: str | Path, annotations: str | Path | None = None):
    """The joint set to draw K-joint results with: None (COCO / MPII by K) for K = 17 or 16 without
    ``annotations``, else the metadata of the annotation file's first keypoint category (a category
    that names no joints: ``'0'`` .. ``'K-1'``, no flip pairs)."""
    from core.config import load_config
    from dataset.keypoints import category_joint_names, clean_skeleton, resolve_for_config

    if annotations is None:
        if num_joints in (16, 17):
            return None
        annotations = default_annotations(image_dir)
        if not annotations.is_file():
            raise UsageError(f"the results have {num_joints} joints per person, not COCO's 17 or MPII's 16: pass "
                             f"--annotations <COCO keypoint file> for its skeleton ({annotations} does not exist)")
    annotations = Path(annotations)
    data = read_json(annotations, "COCO keypoint file (--annotations)")
    categories = [c for c in ((data.get("categories") if isinstance(data, dict) else None) or []) if isinstance(c, dict)]
    named = [c for c in categories if category_joint_names(c) is not None]
    category = named[0] if named else (categories[0] if categories else {})
    names = category_joint_names(category) or tuple(str(j) for j in range(num_joints))
    if len(names) != num_joints:
        raise InputFileError(f"--annotations {annotations} names {len(names)} joints but the results have {num_joints}")
    skeleton = clean_skeleton(category.get("skeleton") or [], num_joints, str(annotations))
    return resolve_for_config(load_config(None), names, skeleton, str(annotations),
                              derive_pairs=category_joint_names(category) is not None)


def image_file_names(annotations: str | Path | None, image_dir: str | Path) -> dict[int, str]:
    """``image_id -> file_name`` of the annotation file (``annotations``, else the default one when it
    exists); empty without one."""
    path = Path(annotations) if annotations is not None else default_annotations(image_dir)
    if annotations is None and not path.is_file():
        return {}
    data = read_json(path, "COCO keypoint file (--annotations)")
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise InputFileError(f"{path}: expected a COCO keypoint file with an 'images' list")
    return {img["id"]: img["file_name"] for img in images
            if isinstance(img, dict) and isinstance(img.get("file_name"), str) and "id" in img}


def draw_results(results_file: str | Path, image_dir: str | Path, out_dir: str | Path, num: int = 8,
                 kpt_thr: float = 0.3, min_score: float = 0.2, annotations: str | Path | None = None) -> list[Path]:
    results = read_keypoint_results(results_file)
    info = keypoint_info_for(len(results[0]["keypoints"]) // 3, image_dir, annotations) if results else None
    file_names = image_file_names(annotations, image_dir)
    per_image: dict[int, list[dict]] = defaultdict(list)
    for r in results:
        if r["score"] >= min_score:
            per_image[int(r["image_id"])].append(r)
    if not per_image:
        if not results:
            raise InputFileError(f"{results_file}: the file holds no results; nothing to draw")
        best = max(float(r["score"]) for r in results)
        raise InputFileError(f"{results_file}: none of its {len(results)} results has score >= --min-score "
                             f"{min_score:g} (the highest is {best:.4g}); nothing drawn (lower --min-score)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for image_id in sorted(per_image)[:num]:
        if file_names and image_id not in file_names:
            where = annotations if annotations is not None else default_annotations(image_dir)
            raise InputFileError(f"{results_file}: image_id {image_id} is not among the images of {where}")
        path = Path(image_dir) / file_names.get(image_id, f"{image_id:012d}.jpg")
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"image for image_id {image_id} not found or unreadable: {path}")
        for r in per_image[image_id]:
            keypoints = np.asarray(r["keypoints"], dtype=np.float32).reshape(-1, 3)
            image = draw_skeleton(image, keypoints, score_thr=kpt_thr, keypoint_info=info)
        target = out_dir / f"{image_id:012d}_pred.jpg"
        with atomic_path(target) as tmp:
            if not cv2.imwrite(str(tmp), image):
                raise OSError(f"cannot write {target}: OpenCV could not encode or save it")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", required=True)
    parser.add_argument("--images", required=True,
                        help="folder that the annotation file's file_names are relative to (else <image_id:012d>.jpg)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--num", type=int, default=8)
    parser.add_argument("--kpt-thr", type=float, default=0.3)
    parser.add_argument("--min-score", type=float, default=0.2,
                        help="draw only people scoring at least this (default 0.2); when none does, exit 2")
    parser.add_argument("--annotations", default=None,
                        help="COCO keypoint file: the image file_names of the ids, and the skeleton of joint sets "
                             "other than COCO/MPII")
    args = parser.parse_args(argv)
    written = draw_results(args.results, args.images, args.out, args.num, args.kpt_thr, args.min_score,
                           args.annotations)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    run_cli(main)
