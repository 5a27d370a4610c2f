"""Draw the poses a trained network finds in an image, a folder of images or a video.

    python pose_estimation/demo.py --cfg <yaml> --model-file <checkpoint> --input <image|folder|video>
        [--output-dir output/demo] [--det-file dets.json | --detector NAME --detector-weights W.pth]
        [--det-thr 0.5] [--kpt-thr 0.3] [--gpus 0] [--no-flip] [KEY VALUE ...]

Inputs: one image; a folder (its images, not its sub-folders, in name order: .jpg .jpeg .png .bmp
.tif .tiff .webp); or a video (.mp4 .avi .mov .mkv .webm .m4v .mpg .mpeg .wmv). Images are read as
validation reads them (BGR, EXIF orientation not applied).

Person boxes, from the first of these that is given:

* ``--det-file``: detections in the COCO results format, a JSON list of
  ``{"image_id" or "file_name", "category_id", "bbox": [x, y, w, h], "score"}``
  (the format of ``TEST.COCO_BBOX_FILE``). Entries whose ``category_id`` is not 1 (person) are
  ignored; a missing ``category_id`` counts as person and a missing ``score`` as 1. An image is
  matched by ``file_name`` (the entry's base name, or its stem, equals the image's) or by
  ``image_id`` (the image's file stem read as an integer, so ``000000000785.jpg`` is id 785); a
  video frame by ``image_id`` = frame index, counted from 0.
* ``--detector NAME --detector-weights FILE``: a torchvision detector (NAME from
  ``torchvision.models.detection``, e.g. ``fasterrcnn_resnet50_fpn``) built with
  ``weights=None, weights_backbone=None`` and loaded from FILE (a state dict, as
  ``torch.save(model.state_dict())`` writes it); nothing is downloaded. Its person boxes (label 1)
  are used.
* otherwise the whole image or frame is one box.

``--det-thr`` drops boxes scoring below it, from either source (``--det-thr 0`` keeps all, as
validation does with ``TEST.IMAGE_THRE 0``). Keypoints come from :class:`core.api.PoseEstimator`,
the validation pipeline; the flip test is on unless ``--no-flip`` (the published numbers use it).

Outputs in ``--output-dir`` (default ``output/demo``; inputs are only read, and a run that would
write over an input stops with an error):

* pictures with the same file names, or ``<video stem>.mp4`` (``mp4v``; ``.avi``/``MJPG`` when this
  OpenCV cannot write mp4), with skeletons drawn (left side green, right side orange, centre blue;
  joints scoring below ``--kpt-thr`` hidden) and the boxes as thin grey rectangles;
* ``keypoints_<input name>_results.json``: one entry per person in the COCO keypoint results format,
  ``image_id`` (as above; for an image whose stem is not a number, its position in the input list),
  ``category_id`` 1, ``keypoints`` (x1, y1, s1, ..., 3K numbers, s = heatmap maximum), ``score``
  (COCO evaluation's rescoring × box score), ``bbox`` ``[x, y, w, h]``, and ``file_name`` for images.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import _init_paths  # noqa: F401  (puts lib/ on sys.path)
import cv2
import numpy as np
import torch
from tqdm import tqdm

from core.api import PoseEstimator, read_image
from utils.checkpoint import CheckpointMismatchError, load_model_weights
from utils.cli import add_opts, run_cli
from utils.vis import draw_skeleton

logger = logging.getLogger("demo")

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
MAX_BOX_COORD = 1e5  # px; a detection box beyond this is a broken file, not a photo
PERSON = 1  # COCO category id of 'person', also the person label of torchvision's COCO detectors
BOX_COLOR = (200, 200, 200)


# ------------------------------------------------------------------------------------------------
# person boxes


class DetectionFile:
    """Person boxes from a COCO-format detection JSON, looked up by file name or image id."""

    def __init__(self, path: str | os.PathLike, score_thr: float) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"detection file not found: {self.path}")
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"detection file {self.path} is not valid JSON: {e}") from None
        if not isinstance(entries, list):
            raise ValueError(f"detection file {self.path}: expected a JSON list of detections, got {type(entries).__name__}")
        if not entries:
            raise ValueError(f"detection file {self.path} is empty: it holds no detections")
        self.by_name: dict[str, list[tuple[list[float], float]]] = defaultdict(list)
        self.by_id: dict[int, list[tuple[list[float], float]]] = defaultdict(list)
        kept = 0
        for i, entry in enumerate(entries):
            box, score, name, image_id, category = self._parse(entry, i)
            if category != PERSON or score < score_thr:
                continue
            kept += 1
            if name is not None:
                self.by_name[name].append((box, score))
            else:
                self.by_id[image_id].append((box, score))
        if not self.by_name and not self.by_id:
            raise ValueError(
                f"detection file {self.path}: none of its {len(entries)} detections is a person "
                f"(category_id 1) with score >= --det-thr {score_thr:g}"
            )
        logger.info("=> %s: %d of %d detections are persons with score >= %g", self.path, kept, len(entries), score_thr)

    def _parse(self, entry: Any, i: int) -> tuple[list[float], float, str | None, int | None, int]:
        where = f"detection file {self.path}, entry {i}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected an object with 'bbox' and 'image_id' or 'file_name', got {entry!r}")
        bbox = entry.get("bbox")
        if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
            raise ValueError(f"{where}: 'bbox' must be [x, y, w, h] (4 numbers), got {bbox!r}")
        if not all(math.isfinite(v) and abs(v) <= MAX_BOX_COORD for v in bbox):
            raise ValueError(f"{where}: 'bbox' must hold finite numbers of at most {MAX_BOX_COORD:g} px, got {bbox!r}")
        score = entry.get("score", 1.0)
        if not (isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score)):
            raise ValueError(f"{where}: 'score' must be a finite number, got {score!r}")
        category = entry.get("category_id", PERSON)
        name = entry.get("file_name")
        image_id = entry.get("image_id")
        if name is not None:
            name = Path(str(name)).name
        elif isinstance(image_id, int) or (isinstance(image_id, str) and image_id.isdigit()):
            image_id = int(image_id)
        else:
            raise ValueError(f"{where}: needs 'file_name' or an integer 'image_id', got image_id={image_id!r}")
        return [float(v) for v in bbox], float(score), name, image_id, category

    def boxes(self, file_name: str | None, image_id: int | None) -> tuple[np.ndarray, np.ndarray]:
        """(N, 4) boxes and (N,) scores for an image (by name, then by id) or a frame (by id)."""
        found: list[tuple[list[float], float]] = []
        if file_name is not None:
            found = self.by_name.get(file_name) or self.by_name.get(Path(file_name).stem) or []
        if not found and image_id is not None:
            found = self.by_id.get(image_id, [])
        if not found:
            return np.zeros((0, 4)), np.zeros(0)
        return np.array([b for b, _ in found]), np.array([s for _, s in found])

    def matches_any(self, names: Sequence[str | None], ids: Sequence[int | None]) -> bool:
        for name, image_id in zip(names, ids):
            if len(self.boxes(name, image_id)[0]):
                return True
        return False


class PersonDetector:
    """A torchvision COCO detector loaded from a local weights file; returns person boxes as xywh."""

    def __init__(self, name: str, weights: str | os.PathLike, device: torch.device, score_thr: float) -> None:
        import torchvision

        available = torchvision.models.list_models(module=torchvision.models.detection)
        if name not in available:
            raise ValueError(f"--detector {name!r}: not a torchvision detection model; expected one of {available}")
        if not weights:
            raise ValueError(f"--detector {name} needs --detector-weights FILE (nothing is downloaded)")
        # No download: weights=None, weights_backbone=None, then the user's file.
        model = torchvision.models.get_model(name, weights=None, weights_backbone=None)
        try:
            load_model_weights(model, weights)
        except CheckpointMismatchError as e:
            raise CheckpointMismatchError(f"{e}. Are these weights of torchvision's {name}?") from e
        self.model = model.to(device).eval()
        self.device = device
        self.score_thr = score_thr
        self.name = name

    @torch.no_grad()
    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 4) person boxes ``[x, y, w, h]`` and (N,) scores for an (H, W, 3) BGR image."""
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])  # torchvision detectors take RGB in [0, 1]
        tensor = torch.from_numpy(rgb).to(self.device).permute(2, 0, 1).float().div_(255.0)
        out = self.model([tensor])[0]
        keep = (out["labels"] == PERSON) & (out["scores"] >= self.score_thr)
        xyxy = out["boxes"][keep].cpu().numpy().astype(np.float64)
        scores = out["scores"][keep].cpu().numpy().astype(np.float64)
        xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1) if len(xyxy) else np.zeros((0, 4))
        # A degenerate box (zero width or height) cannot be cropped; the detector rarely makes one.
        ok = (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
        return xywh[ok], scores[ok]


# ------------------------------------------------------------------------------------------------
# inputs and outputs


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def image_id_of(path: Path, position: int) -> int:
    """COCO image id of an image: its numeric stem (``000000000785`` -> 785), else its list position."""
    return int(path.stem) if path.stem.isdigit() else position


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _check_not_input(out: Path, inputs: Sequence[Path]) -> None:
    for p in inputs:
        if _same_file(out, p):
            raise ValueError(
                f"output {out} would overwrite the input {p}; choose another --output-dir (inputs are never modified)"
            )


def to_results(people: list[dict[str, Any]], image_id: int, file_name: str | None) -> list[dict[str, Any]]:
    """COCO keypoint results entries (plus ``bbox`` and, for images, ``file_name``)."""
    entries = []
    for person in people:
        entry = {
            "image_id": int(image_id),
            "category_id": PERSON,
            "keypoints": [float(v) for v in person["keypoints"].reshape(-1)],
            "score": float(person["score"]),
            "bbox": [float(v) for v in person["bbox"]],
        }
        if file_name is not None:
            entry["file_name"] = file_name
        entries.append(entry)
    return entries


def draw_people(image_bgr: np.ndarray, people: list[dict[str, Any]], kpt_thr: float) -> np.ndarray:
    """A copy of the image with every person's box (thin grey) and skeleton drawn."""
    canvas = image_bgr.copy()
    for person in people:
        x, y, w, h = person["bbox"]
        cv2.rectangle(canvas, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), BOX_COLOR, 1)
    for person in people:
        canvas = draw_skeleton(canvas, person["keypoints"], score_thr=kpt_thr)
    return canvas


def _write_json(path: Path, results: list[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results), encoding="utf-8")
    os.replace(tmp, path)


class Demo:
    """Boxes → keypoints → pictures and results for each image or frame."""

    def __init__(self, estimator: PoseEstimator, det_file: DetectionFile | None, detector: PersonDetector | None,
                 kpt_thr: float) -> None:
        self.estimator = estimator
        self.det_file = det_file
        self.detector = detector
        self.kpt_thr = kpt_thr

    def boxes(self, image: np.ndarray, file_name: str | None, match_id: int | None
              ) -> tuple[np.ndarray | None, np.ndarray | None, str]:
        """Boxes, scores and where they came from (for error messages); ``None`` = whole image."""
        if self.det_file is not None:
            boxes, scores = self.det_file.boxes(file_name, match_id)
            return boxes, scores, f"detection file {self.det_file.path}"
        if self.detector is not None:
            boxes, scores = self.detector(image)
            return boxes, scores, f"detector {self.detector.name}"
        return None, None, "whole image"

    def frame(self, image: np.ndarray, file_name: str | None, image_id: int, match_id: int | None, where: str
              ) -> tuple[np.ndarray, list]:
        """Drawn copy of one image/frame and its results entries (``match_id``: id for the det file)."""
        boxes, scores, source = self.boxes(image, file_name, match_id)
        try:
            people = self.estimator.predict(image, boxes, scores)
        except ValueError as e:
            raise ValueError(f"{where}: {e} (boxes from {source})") from None
        return draw_people(image, people, self.kpt_thr), to_results(people, image_id, file_name)

    def run_images(self, paths: list[Path], output_dir: Path, show_progress: bool, skip_unreadable: bool = False
                   ) -> list[dict[str, Any]]:
        ids = [image_id_of(p, i) for i, p in enumerate(paths)]
        # Detections refer to an image by name, or by id only when the file stem is a number.
        match_ids = [int(p.stem) if p.stem.isdigit() else None for p in paths]
        if self.det_file is not None and not self.det_file.matches_any([p.name for p in paths], match_ids):
            raise ValueError(
                f"detection file {self.det_file.path}: no person box matches any input image by file name "
                f"or by image id (e.g. {paths[0].name} -> file_name {paths[0].name!r}"
                + (f" or image_id {match_ids[0]})" if match_ids[0] is not None else ")")
            )
        outs = [output_dir / p.name for p in paths]
        for out in outs:
            _check_not_input(out, paths)
        results: list[dict[str, Any]] = []
        jobs = list(zip(paths, ids, match_ids, outs))
        for path, image_id, match_id, out in tqdm(jobs, desc="images", unit="img", disable=not show_progress):
            try:
                image = read_image(path)
            except ValueError as e:
                if not skip_unreadable:
                    raise
                logger.warning("=> skipped %s: %s", path, e)  # one bad file in a folder does not stop the rest
                continue
            drawn, entries = self.frame(image, path.name, image_id, match_id, str(path))
            if not cv2.imwrite(str(out), drawn):
                raise ValueError(f"cannot write {out}")
            results.extend(entries)
        return results

    def run_video(self, path: Path, output_dir: Path) -> tuple[list[dict[str, Any]], Path]:
        capture = cv2.VideoCapture(str(path))
        try:
            if not capture.isOpened():
                raise ValueError(f"cannot read video {path}: OpenCV could not open it (not a video or unsupported codec?)")
            ok, frame = capture.read()
            if not ok or frame is None:
                raise ValueError(f"cannot read video {path}: no frame could be decoded")
            fps = capture.get(cv2.CAP_PROP_FPS)
            fps = fps if fps and np.isfinite(fps) and fps > 0 else 25.0
            total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
            height, width = frame.shape[:2]
            writer, out = self._open_writer(output_dir / path.stem, fps, (width, height), path)
            results: list[dict[str, Any]] = []
            index = 0
            with tqdm(total=total, desc="frames", unit="frame") as progress:
                try:
                    while ok:
                        drawn, entries = self.frame(frame, None, index, index, f"{path} frame {index}")
                        writer.write(drawn)
                        results.extend(entries)
                        index += 1
                        progress.update(1)
                        ok, frame = capture.read()
                finally:
                    writer.release()
        finally:
            capture.release()
        if self.det_file is not None and not any(len(self.det_file.boxes(None, i)[0]) for i in range(index)):
            logger.warning("=> %s: no person box has an image_id between 0 and %d (frame indices)", self.det_file.path, index - 1)
        logger.info("=> %d frames", index)
        return results, out

    @staticmethod
    def _open_writer(stem: Path, fps: float, size: tuple[int, int], source: Path) -> tuple[cv2.VideoWriter, Path]:
        for suffix, codec in ((".mp4", "mp4v"), (".avi", "MJPG")):
            out = stem.with_suffix(suffix)
            _check_not_input(out, [source])
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*codec), fps, size)
            if writer.isOpened():
                return writer, out
            writer.release()
        raise ValueError(f"cannot write a video in {stem.parent}: OpenCV has neither an mp4v nor an MJPG writer")


# ------------------------------------------------------------------------------------------------
# entry point


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Draw poses on an image, a folder of images or a video",
        epilog="Trailing KEY VALUE pairs override the config, e.g. TEST.POST_PROCESS False.",
    )
    parser.add_argument("--cfg", required=True, help="experiment YAML")
    parser.add_argument("--model-file", default=None, help="checkpoint, with or without 'module.' (default TEST.MODEL_FILE)")
    parser.add_argument("--input", required=True, help="an image, a folder of images or a video file")
    parser.add_argument("--output-dir", default="output/demo", help="where pictures/video and JSON go (default output/demo)")
    parser.add_argument("--det-file", default=None, help="person boxes: COCO detection results JSON")
    parser.add_argument("--detector", default=None, help="person boxes: torchvision detector name, e.g. fasterrcnn_resnet50_fpn")
    parser.add_argument("--detector-weights", default=None, help="local weights file of --detector")
    parser.add_argument("--det-thr", type=float, default=0.5, help="drop boxes scoring below this (default 0.5)")
    parser.add_argument("--kpt-thr", type=float, default=0.3, help="hide joints scoring below this (default 0.3)")
    parser.add_argument("--gpus", default=None, help="GPUS, e.g. 0 or cpu (default: the config's)")
    parser.add_argument("--no-flip", action="store_true", help="switch the flip test off (on by default)")
    add_opts(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    source = Path(args.input)
    if not source.exists():
        raise FileNotFoundError(f"input not found: {source}")
    if args.det_file and args.detector:
        raise ValueError("give --det-file or --detector, not both")
    if args.detector_weights and not args.detector:
        raise ValueError("--detector-weights needs --detector NAME")

    # Flags first, then the trailing KEY VALUE pairs (which win), as in the other entry points.
    flags = ["TEST.FLIP_TEST", str(not args.no_flip)]
    if args.gpus is not None:
        flags += ["GPUS", args.gpus]
    estimator = PoseEstimator.from_config(args.cfg, args.model_file, opts=flags + list(args.opts or []))
    det_file = DetectionFile(args.det_file, args.det_thr) if args.det_file else None
    detector = (
        PersonDetector(args.detector, args.detector_weights, estimator.device, args.det_thr) if args.detector else None
    )
    demo = Demo(estimator, det_file, detector, args.kpt_thr)

    output_dir = Path(args.output_dir)
    if source.is_dir():
        paths = list_images(source)
        if not paths:
            raise ValueError(f"input folder {source} holds no images ({', '.join(IMAGE_EXTS)})")
        if _same_file(output_dir, source):
            raise ValueError(f"--output-dir {output_dir} is the input folder; choose another (inputs are never modified)")
        output_dir.mkdir(parents=True, exist_ok=True)
        results = demo.run_images(paths, output_dir, show_progress=True, skip_unreadable=True)
        written = f"{len(paths)} pictures in {output_dir}"
    elif source.suffix.lower() in VIDEO_EXTS:
        output_dir.mkdir(parents=True, exist_ok=True)
        results, out = demo.run_video(source, output_dir)
        written = f"video {out}"
    else:
        output_dir.mkdir(parents=True, exist_ok=True)
        results = demo.run_images([source], output_dir, show_progress=False)
        written = f"picture {output_dir / source.name}"

    json_path = output_dir / f"keypoints_{source.stem if source.is_file() else source.resolve().name}_results.json"
    _write_json(json_path, results)
    logger.info("=> %d people; wrote %s and %s", len(results), written, json_path)
    return 0


if __name__ == "__main__":
    run_cli(main)
