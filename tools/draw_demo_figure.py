"""Draw docs/demo.png: a trained network's predicted skeletons on the first validation images of the
synthetic data set, side by side in one picture.

    python tools/draw_demo_figure.py --cfg experiments/synthetic/res18_128x96_quickstart.yaml \
        --model-file output/coco/pose_resnet_18/res18_128x96_quickstart/model_best.pth.tar \
        [--data data/synthetic] [--out docs/demo.png] [--num 6] [--cols 3] [--tile 256] [--kpt-thr 0.3]

The people are the annotated ones of ``<data>/coco/annotations/person_keypoints_val2017.json`` (their
boxes, as validation with ``TEST.USE_GT_BBOX`` uses them); the images are the first ``--num`` of
that file, in ``image_id`` order, that hold at least one person with keypoints. Keypoints come from
:class:`core.api.PoseEstimator` with the YAML's own test settings (the quickstart YAML has no flip
test). Each image is drawn as ``pose_estimation/demo.py`` draws one (thin grey boxes, left side
green, right side orange), scaled to fit a ``--tile`` square, and the tiles fill ``--cols``
columns. The picture is written whole or not at all (through a temporary file); its suffix picks
the format, and a .png is stored with a palette of 256 colours. ``scripts/quickstart.sh`` trains the
model this reads; it does not run this tool.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import _init_paths  # noqa: F401  (puts lib/ on sys.path)
import cv2
import numpy as np

from utils.atomic_io import atomic_path
from utils.cli import InputFileError, UsageError, positive_int, read_json, run_cli
from utils.vis import draw_skeleton

BOX_COLOR = (200, 200, 200)  # as pose_estimation/demo.py draws the person boxes


def people_per_image(annotations: Path, num: int) -> list[tuple[str, list[list[float]]]]:
    """``(file_name, [box, ...])`` of the first ``num`` images (by id) with an annotated person."""
    data = read_json(annotations, "COCO keypoint file")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise InputFileError(f"{annotations}: expected a COCO keypoint file with 'images' and 'annotations' lists")
    boxes: dict[int, list[list[float]]] = {}
    for ann in data["annotations"]:
        x, y, w, h = ann["bbox"]
        if ann.get("num_keypoints", 0) > 0 and w > 0 and h > 0:
            boxes.setdefault(ann["image_id"], []).append([float(x), float(y), float(w), float(h)])
    names = {img["id"]: img["file_name"] for img in data["images"]}
    chosen = [(names[i], boxes[i]) for i in sorted(boxes) if i in names][:num]
    if not chosen:
        raise InputFileError(f"{annotations}: no image holds an annotated person; nothing to draw")
    return chosen


def fit_tile(image: np.ndarray, tile: int) -> np.ndarray:
    """The image scaled to fit a ``tile`` x ``tile`` square, centred on black."""
    height, width = image.shape[:2]
    ratio = tile / max(height, width)
    new_w, new_h = max(1, round(width * ratio)), max(1, round(height * ratio))
    scaled = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR)
    canvas = np.zeros((tile, tile, 3), dtype=np.uint8)
    top, left = (tile - new_h) // 2, (tile - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = scaled
    return canvas


def draw_demo_figure(cfg: str | Path, model_file: str | Path, data: str | Path, out: str | Path, num: int = 6,
                     cols: int = 3, tile: int = 256, kpt_thr: float = 0.3, device: str = "cpu") -> Path:
    from PIL import Image

    from core.api import PoseEstimator, keypoint_info

    out = Path(out)
    if out.suffix.lower() not in Image.registered_extensions():
        raise UsageError(f"--out {out}: expected a name whose suffix names a picture format, e.g. .png")
    root = Path(data) / "coco"
    images = people_per_image(root / "annotations" / "person_keypoints_val2017.json", num)
    estimator = PoseEstimator.from_config(cfg, model_file, device=device)
    info = keypoint_info(estimator.cfg)
    tiles = []
    for file_name, boxes in images:
        path = root / "images" / "val2017" / file_name
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"image not found or unreadable: {path}")
        people = estimator.predict(image, boxes)
        for person in people:
            x, y, w, h = person["bbox"]
            cv2.rectangle(image, (round(x), round(y)), (round(x + w), round(y + h)), BOX_COLOR, 1)
        for person in people:
            image = draw_skeleton(image, person["keypoints"], score_thr=kpt_thr, keypoint_info=info)
        tiles.append(fit_tile(image, tile))
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % cols)  # fill the last row
    rows = [np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]
    picture = Image.fromarray(cv2.cvtColor(np.vstack(rows), cv2.COLOR_BGR2RGB))
    if out.suffix.lower() == ".png":
        picture = picture.quantize(colors=256)  # a palette of 256 colours keeps the file small
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:  # the temporary file keeps the suffix, which picks the format
        picture.save(tmp)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", required=True, help="experiment YAML of the model")
    parser.add_argument("--model-file", required=True, help="its checkpoint, e.g. model_best.pth.tar")
    parser.add_argument("--data", default="data/synthetic", help="output folder of tools/gen_synthetic_data.py")
    parser.add_argument("--out", default="docs/demo.png")
    parser.add_argument("--num", type=positive_int, default=6, help="number of images (default 6)")
    parser.add_argument("--cols", type=positive_int, default=3, help="tiles per row (default 3)")
    parser.add_argument("--tile", type=positive_int, default=256, help="side of a tile in pixels (default 256)")
    parser.add_argument("--kpt-thr", type=float, default=0.3, help="hide joints scoring below this (default 0.3)")
    parser.add_argument("--device", default="cpu", help="'cpu' (default), '0', 'cuda:1', ...")
    args = parser.parse_args(argv)
    print(draw_demo_figure(args.cfg, args.model_file, args.data, args.out, args.num, args.cols, args.tile,
                           args.kpt_thr, args.device))
    return 0


if __name__ == "__main__":
    run_cli(main)
