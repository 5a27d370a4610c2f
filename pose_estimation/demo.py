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
  video frame by ``image_id`` = frame index, counted from 0. Boxes without width or height (<= 0)
  or beyond 1e5 px are skipped with one warning counting them (a real detector's file may hold a
  few); a NaN or infinite box or score, or a malformed entry, is an error naming the entry.
* ``--detector NAME --detector-weights FILE``: a torchvision detector (NAME from
  ``torchvision.models.detection``, e.g. ``fasterrcnn_resnet50_fpn``) built with
  ``weights=None, weights_backbone=None`` and loaded from FILE (a state dict, as
  ``torch.save(model.state_dict())`` writes it); nothing is downloaded. Its person boxes (label 1)
  are used.
* otherwise the whole image or frame is one box (one person per picture; the run says so once).

``--det-thr`` drops boxes scoring below it, from either source (``--det-thr 0`` keeps all, as
validation does with ``TEST.IMAGE_THRE 0``). Keypoints come from :class:`core.api.PoseEstimator`,
the validation pipeline; the flip test is on unless ``--no-flip`` (the published numbers use it).

Outputs in ``--output-dir`` (default ``output/demo``; inputs are only read, and a run that would
write over an input stops with an error). Every picture and video is named ``<input stem>_pose``
plus the input's suffix, so an existing folder's own files of the input names (say the original
photos) are never replaced; running the demo again replaces the ``*_pose`` files of the earlier run.
Each file is written to a temporary name and renamed when complete (a failure leaves no part):

* ``<stem>_pose<suffix>`` for each image, or ``<video stem>_pose.mp4`` (``mp4v``; ``.avi``/``MJPG``
  when this OpenCV cannot write mp4), with skeletons drawn (left side green, right side orange,
  centre blue; joints scoring below ``--kpt-thr`` hidden) and the boxes as thin grey rectangles;
* ``keypoints_<input name>_results.json``: one entry per person in the COCO keypoint results format,
  ``image_id`` (as above; for an image whose stem is not a number, its position in the input list),
  ``category_id`` 1, ``keypoints`` (x1, y1, s1, ..., 3K numbers, s = heatmap maximum), ``score``
  (COCO evaluation's rescoring × box score), ``bbox`` ``[x, y, w, h]``, and ``file_name`` for images
  (the input's name, which a detection file refers to; the picture is ``output_name(file_name)``).
"""
from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path
from typing import Any, Sequence

import _init_paths  # noqa: F401  (puts lib/ on sys.path)
import cv2
import numpy as np
from tqdm import tqdm

from core.api import PoseEstimator, read_image
from core.detections import PERSON, DetectionFile, PersonDetector
from core.results import results_of_people, write_results
from utils.atomic_io import atomic_path, temp_path_for
from utils.cli import InputFileError, UsageError, add_opts, run_cli
from utils.vis import draw_skeleton

logger = logging.getLogger("demo")

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
BOX_COLOR = (200, 200, 200)


# ------------------------------------------------------------------------------------------------
# inputs and outputs


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def image_id_of(path: Path, position: int) -> int:
    """COCO image id of an image: its numeric stem (``000000000785`` -> 785), else its list position."""
    return int(path.stem) if path.stem.isdigit() else position


OUTPUT_TAG = "_pose"


def output_name(input_name: str) -> str:
    """The picture or video the demo writes for ``input_name``: ``a.jpg`` -> ``a_pose.jpg``."""
    path = Path(input_name)
    return f"{path.stem}{OUTPUT_TAG}{path.suffix}"


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _check_not_input(out: Path, inputs: Sequence[Path]) -> None:
    for p in inputs:
        if _same_file(out, p):
            raise UsageError(
                f"output {out} would overwrite the input {p}; choose another --output-dir (inputs are never modified)"
            )


def draw_people(image_bgr: np.ndarray, people: list[dict[str, Any]], kpt_thr: float,
                keypoint_info: Any = None) -> np.ndarray:
    """A copy of the image with every person's box (thin grey) and skeleton drawn (the joint set's
    skeleton and sides when ``keypoint_info`` is given)."""
    canvas = image_bgr.copy()
    for person in people:
        x, y, w, h = person["bbox"]
        cv2.rectangle(canvas, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), BOX_COLOR, 1)
    for person in people:
        canvas = draw_skeleton(canvas, person["keypoints"], score_thr=kpt_thr, keypoint_info=keypoint_info)
    return canvas


class Demo:
    """Boxes → keypoints → pictures and results for each image or frame."""

    def __init__(self, estimator: PoseEstimator, det_file: DetectionFile | None, detector: PersonDetector | None,
                 kpt_thr: float) -> None:
        self.estimator = estimator
        self.det_file = det_file
        self.detector = detector
        self.kpt_thr = kpt_thr
        self.category_id = det_file.category_id if det_file is not None else PERSON

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
            raise InputFileError(f"{where}: {e} (boxes from {source})") from None
        picture = draw_people(image, people, self.kpt_thr, self.estimator.keypoints)
        return picture, results_of_people(people, image_id, file_name, self.category_id)

    def run_images(self, paths: list[Path], output_dir: Path, show_progress: bool, skip_unreadable: bool = False
                   ) -> list[dict[str, Any]]:
        ids = [image_id_of(p, i) for i, p in enumerate(paths)]
        # Detections refer to an image by name, or by id only when the file stem is a number.
        match_ids = [int(p.stem) if p.stem.isdigit() else None for p in paths]
        if self.det_file is not None and not self.det_file.matches_any([p.name for p in paths], match_ids):
            raise InputFileError(
                f"detection file {self.det_file.path}: no person box matches any input image by file name "
                f"or by image id (e.g. {paths[0].name} -> file_name {paths[0].name!r}"
                + (f" or image_id {match_ids[0]})" if match_ids[0] is not None else ")")
            )
        outs = [output_dir / output_name(p.name) for p in paths]
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
            with atomic_path(out) as tmp:
                if not cv2.imwrite(str(tmp), drawn):
                    raise OSError(f"cannot write {out}: OpenCV could not encode or save it")
            results.extend(entries)
        return results

    def run_video(self, path: Path, output_dir: Path) -> tuple[list[dict[str, Any]], Path]:
        capture = cv2.VideoCapture(str(path))
        try:
            if not capture.isOpened():
                raise InputFileError(f"cannot read video {path}: OpenCV could not open it (not a video or unsupported codec?)")
            ok, frame = capture.read()
            if not ok or frame is None:
                raise InputFileError(f"cannot read video {path}: no frame could be decoded")
            fps = capture.get(cv2.CAP_PROP_FPS)
            fps = fps if fps and np.isfinite(fps) and fps > 0 else 25.0
            total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
            height, width = frame.shape[:2]
            writer, out = self._open_writer(output_dir / f"{path.stem}{OUTPUT_TAG}", fps, (width, height), path)
            results: list[dict[str, Any]] = []
            index = 0
            with atomic_path(out), tqdm(total=total, desc="frames", unit="frame") as progress:
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
            out = stem.with_name(stem.name + suffix)
            _check_not_input(out, [source])
            tmp = temp_path_for(out)  # renamed to ``out`` once the last frame is written
            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*codec), fps, size)
            if writer.isOpened():
                return writer, out
            writer.release()
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        raise OSError(f"cannot write a video in {stem.parent}: OpenCV has neither an mp4v nor an MJPG writer")


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
    parser.add_argument("--output-dir", default="output/demo",
                        help="where pictures/video and JSON go (default output/demo); each picture or video is "
                             "named <input stem>_pose<suffix>, so files of the input names there are never replaced")
    parser.add_argument("--det-file", default=None, help="person boxes: COCO detection results JSON")
    parser.add_argument("--detector", default=None, help="person boxes: torchvision detector name, e.g. fasterrcnn_resnet50_fpn")
    parser.add_argument("--detector-weights", default=None, help="local weights file of --detector")
    parser.add_argument("--det-category-id", type=int, default=PERSON,
                        help="use the --det-file boxes of this category_id (default 1, COCO's person); "
                             "the results JSON carries it too")
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
        raise UsageError("give --det-file or --detector, not both")
    if args.detector_weights and not args.detector:
        raise UsageError("--detector-weights needs --detector NAME")

    # Flags first, then the trailing KEY VALUE pairs (which win), as in the other entry points.
    flags = ["TEST.FLIP_TEST", str(not args.no_flip)]
    if args.gpus is not None:
        flags += ["GPUS", args.gpus]
    estimator = PoseEstimator.from_config(args.cfg, args.model_file, opts=flags + list(args.opts or []))
    if args.det_category_id != PERSON and not args.det_file:
        raise UsageError("--det-category-id selects boxes of --det-file; give --det-file too")
    det_file = DetectionFile(args.det_file, args.det_thr, args.det_category_id) if args.det_file else None
    detector = (
        PersonDetector(args.detector, args.detector_weights, estimator.device, args.det_thr) if args.detector else None
    )
    demo = Demo(estimator, det_file, detector, args.kpt_thr)
    if det_file is None and detector is None:
        logger.info("=> no --det-file or --detector: each image or frame is taken as one person, its whole "
                    "picture as the box")

    output_dir = Path(args.output_dir)
    if source.is_dir():
        paths = list_images(source)
        if not paths:
            raise InputFileError(f"input folder {source} holds no images ({', '.join(IMAGE_EXTS)})")
        if _same_file(output_dir, source):
            raise UsageError(f"--output-dir {output_dir} is the input folder; choose another (inputs are never modified)")
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
        written = f"picture {output_dir / output_name(source.name)}"

    json_path = output_dir / f"keypoints_{source.stem if source.is_file() else source.resolve().name}_results.json"
    write_results(json_path, results)
    logger.info("=> %d people; wrote %s and %s", len(results), written, json_path)
    return 0


if __name__ == "__main__":
    run_cli(main)
