"""A truncated JPEG (real COCO image cut in half) gives one warning naming the file; the original image none."""
import importlib
import logging
import shutil

import pytest

from conftest import REPO
from core.config import load_config
from dataset import build_dataset

joints_module = importlib.import_module("dataset.JointsDataset")

COCO_YAML = REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml"


@pytest.fixture
def root_with_truncated_image(coco_root, tmp_path):
    root = tmp_path / "coco"
    (root / "images").mkdir(parents=True)
    (root / "annotations").symlink_to(coco_root / "annotations")
    shutil.copytree(coco_root / "images" / "val2017", root / "images" / "val2017")
    return root


def test_truncated_jpeg_warns_with_its_name(root_with_truncated_image, caplog):
    cfg = load_config(COCO_YAML, ["DATASET.ROOT", str(root_with_truncated_image), "MODEL.IMAGE_SIZE", "[64,64]",
                                  "MODEL.EXTRA.HEATMAP_SIZE", "[16,16]"])
    ds = build_dataset(cfg, "val2017", False)
    joints_module._TRUNCATED_SEEN.clear()
    with caplog.at_level(logging.WARNING, logger="dataset.JointsDataset"):
        ds._read_image(ds.db[0]["image"])
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

    image = ds.db[0]["image"]
    data = open(image, "rb").read()
    open(image, "wb").write(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING, logger="dataset.JointsDataset"):
        out = ds._read_image(image)
        ds._read_image(image)  # once per file
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert out.ndim == 3 and len(warnings) == 1
    assert warnings[0].startswith(f"=> {image}: truncated JPEG")
