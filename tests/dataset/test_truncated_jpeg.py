"""A truncated JPEG (real COCO image cut in half) gives one warning naming the file; the original image none."""
import importlib
import logging
import shutil

import pytest

from core.config import load_config
from dataset import build_dataset
from helpers import REPO

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


def test_truncated_jpeg_in_a_zip_archive_is_an_error_naming_it(root_with_truncated_image):
    """OpenCV's in-memory decoder (zip members) refuses a truncated JPEG that its file reader accepts:
    with DATA_FORMAT zip such an image is an error naming the archive member, not a warning."""
    import zipfile

    root = root_with_truncated_image
    folder = root / "images" / "val2017"
    names = sorted(p.name for p in folder.iterdir())
    with zipfile.ZipFile(root / "images" / "val2017.zip", "w") as archive:
        for i, name in enumerate(names):
            data = (folder / name).read_bytes()
            archive.writestr(name, data[: len(data) // 2] if i == 0 else data)
    cfg = load_config(COCO_YAML, ["DATASET.ROOT", str(root), "DATASET.DATA_FORMAT", "zip",
                                  "MODEL.IMAGE_SIZE", "[64,64]", "MODEL.EXTRA.HEATMAP_SIZE", "[16,16]"])
    ds = build_dataset(cfg, "val2017", False)
    images = sorted({rec["image"] for rec in ds.db})
    bad = [image for image in images if image.endswith(".zip@/" + names[0])]
    assert len(bad) == 1
    with pytest.raises(ValueError, match=r"fail to read .*val2017\.zip@/" + names[0].replace(".", r"\.")):
        ds._read_image(bad[0])
    for image in images:
        if image != bad[0]:
            assert ds._read_image(image).ndim == 3
