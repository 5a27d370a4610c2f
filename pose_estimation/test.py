"""The original folder inference: ``python pose_estimation/test.py --cfg <yaml> --model-file <f> --dir <images>``.

Every image of the folder is resized as a whole to ``MODEL.IMAGE_SIZE`` (no person box, aspect
ratio not kept, BGR as in training) and batches of ``TEST.BATCH_SIZE`` go
through the network; ``test_<k>_pred.jpg`` (skeletons) and ``test_<k>_hm_pred.jpg`` (heatmaps)
are written to the output folder. Unlike the original it never renames the user's files, reads
.jpg/.jpeg/.png in any letter case, and goes through the folder in sorted order. An image OpenCV
cannot read is skipped with a warning naming it (and a count at the end); when none of the folder's
images can be read the run ends with one error line and exit status 2 (no pictures were written).
For person boxes, original-resolution keypoints and videos use ``pose_estimation/demo.py``.
"""
from __future__ import annotations

import argparse
import logging
import pprint
from pathlib import Path

import _init_paths  # noqa: F401  (puts lib/ on sys.path)
import cv2
import torch

from core.inference_step import prepare_inference_model, test
from dataset import build_transform
from models import build_pose_net
from utils.checkpoint import load_model_weights
from utils.cli import InputFileError, add_common_args, add_opts, add_test_args, config_from_args, run_cli
from utils.device import configure_cudnn, resolve_device
from utils.utils import create_logger

logger = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run keypoints network on a folder of images")
    add_test_args(add_common_args(parser))
    parser.add_argument("--dir", required=True, type=str, help="folder of images (.jpg, .jpeg, .png)")
    add_opts(parser)
    return parser.parse_args(argv)


def list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"--dir {folder}: not a folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = config_from_args(args)
    cfg.DEBUG.DEBUG = True  # the original forces debug pictures on: they are test.py's only output

    device = resolve_device(cfg.GPUS)
    _, final_output_dir, _ = create_logger(cfg, args.cfg, "test")
    logger.info(pprint.pformat(args))
    configure_cudnn(cfg)
    images = list_images(Path(args.dir))
    if not images:
        raise FileNotFoundError(f"--dir {args.dir}: no .jpg, .jpeg or .png images in it")

    model = build_pose_net(cfg, is_train=False)
    model_file = cfg.TEST.MODEL_FILE or str(Path(final_output_dir) / "model_best.pth.tar")
    if not Path(model_file).is_file():
        raise FileNotFoundError(f"model file not found: {model_file} (TEST.MODEL_FILE / --model-file)")
    load_model_weights(model, model_file)
    model = prepare_inference_model(cfg, model, device)  # TEST.CHANNELS_LAST, TEST.AMP_DTYPE checked

    transform = build_transform()
    width, height = (int(v) for v in cfg.MODEL.IMAGE_SIZE)
    batch: list[torch.Tensor] = []
    batch_index = 0
    unreadable = 0
    for path in images:
        logger.info("=> %s", path.name)
        image = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if image is None:
            logger.warning("=> skipping %s: OpenCV cannot read it", path)
            unreadable += 1
            continue
        if cfg.DATASET.COLOR_RGB:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
        batch.append(transform(image))
        if len(batch) == cfg.TEST.BATCH_SIZE:
            test(cfg, torch.stack(batch), model, final_output_dir, batch_index)
            batch, batch_index = [], batch_index + 1
    if unreadable == len(images):
        raise InputFileError(f"--dir {args.dir}: none of its {len(images)} images could be read (OpenCV cannot "
                             f"decode them: damaged, truncated or not images); nothing was written")
    if batch:
        test(cfg, torch.stack(batch), model, final_output_dir, batch_index)
    if unreadable:
        logger.warning("=> skipped %d of %d images that OpenCV cannot read", unreadable, len(images))
    logger.info("=> pictures written to %s", final_output_dir)
    return 0


if __name__ == "__main__":
    run_cli(main)
