"""Draw predicted skeletons from a COCO results JSON over the images they belong to.

    python tools/draw_results.py --results <keypoints_val2017_results.json> --images data/synthetic/coco/images/val2017 \
        --out output/pictures [--num 8] [--kpt-thr 0.3] [--min-score 0.2]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from utils.vis import draw_skeleton  # noqa: E402


def draw_results(results_file: str | Path, image_dir: str | Path, out_dir: str | Path, num: int = 8,
                 kpt_thr: float = 0.3, min_score: float = 0.2) -> list[Path]:
    results = json.loads(Path(results_file).read_text())
    per_image: dict[int, list[dict]] = defaultdict(list)
    for r in results:
        if r["score"] >= min_score:
            per_image[int(r["image_id"])].append(r)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for image_id in sorted(per_image)[:num]:
        path = Path(image_dir) / f"{image_id:012d}.jpg"
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"image for image_id {image_id} not found or unreadable: {path}")
        for r in per_image[image_id]:
            keypoints = np.asarray(r["keypoints"], dtype=np.float32).reshape(-1, 3)
            image = draw_skeleton(image, keypoints, score_thr=kpt_thr)
        target = out_dir / f"{image_id:012d}_pred.jpg"
        cv2.imwrite(str(target), image)
        written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", required=True)
    parser.add_argument("--images", required=True, help="folder holding <image_id:012d>.jpg")
    parser.add_argument("--out", required=True)
    parser.add_argument("--num", type=int, default=8)
    parser.add_argument("--kpt-thr", type=float, default=0.3)
    parser.add_argument("--min-score", type=float, default=0.2)
    args = parser.parse_args()
    for path in draw_results(args.results, args.images, args.out, args.num, args.kpt_thr, args.min_score):
        print(path)


if __name__ == "__main__":
    main()
