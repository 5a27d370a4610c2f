"""pose_estimation/test.py (the original folder inference) on folders with unreadable images, called
in-process through ``main(argv)``: a folder where nothing can be read is one error (exit 2 under
run_cli), and a folder with some unreadable images warns per image and counts them."""
from __future__ import annotations

import logging
import shutil

import pytest
import torch

from core.config import load_config
from helpers import REPO, load_script
from models import build_pose_net
from utils.cli import run_cli

COCO_YAML = REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml"
SMALL = ["MODEL.NAME", "pose_resnet", "MODEL.EXTRA.NUM_LAYERS", "18", "WORKERS", "0", "GPUS", "cpu",
         "MODEL.IMAGE_SIZE", "[64,64]", "MODEL.EXTRA.HEATMAP_SIZE", "[16,16]"]


@pytest.fixture(scope="module")
def test_py():
    return load_script("test", "_folder_test_entry")


@pytest.fixture
def model_file(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "model.pth"
    torch.save(build_pose_net(load_config(COCO_YAML, SMALL), is_train=False).state_dict(), path)
    return path


def _argv(folder, model_file, tmp_path):
    return ["--cfg", str(COCO_YAML), "--model-file", str(model_file), "--dir", str(folder),
            "OUTPUT_DIR", str(tmp_path / "out"), "LOG_DIR", str(tmp_path / "log"), *SMALL]


def _out_dir(tmp_path):
    return tmp_path / "out" / "coco" / "pose_resnet_18" / COCO_YAML.stem


def test_folder_of_unreadable_images_is_one_error_line(test_py, model_file, tmp_path, capsys, caplog):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a.jpg", "b.png", "c.JPEG"):
        (images / name).write_bytes(b"\xff\xd8\xff\xe0 cut short")  # a JPEG header and nothing else
    with caplog.at_level(logging.WARNING), pytest.raises(SystemExit) as info:
        run_cli(lambda: test_py.main(_argv(images, model_file, tmp_path)))
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()  # the run's log lines (create_logger), then the error
    assert "traceback" not in "\n".join(err)
    assert err[-1:] == [f"error: --dir {images}: none of its 3 images could be read (OpenCV cannot decode them: damaged, "
                   "truncated or not images); nothing was written"]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [f"=> skipping {images / n}: OpenCV cannot read it" for n in ("a.jpg", "b.png", "c.JPEG")]
    assert not list(_out_dir(tmp_path).glob("*.jpg"))


def test_some_unreadable_images_are_skipped_and_counted(test_py, model_file, coco_root, tmp_path, caplog):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(sorted((coco_root / "images/val2017").glob("*.jpg"))[0], images / "a.jpg")
    (images / "b.jpg").write_bytes(b"not an image")
    with caplog.at_level(logging.WARNING):
        assert test_py.main(_argv(images, model_file, tmp_path)) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned[-1] == "=> skipped 1 of 2 images that OpenCV cannot read"
    assert (_out_dir(tmp_path) / "test_0_pred.jpg").is_file()

