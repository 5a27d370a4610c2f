"""experiments/synthetic/res18_128x128_hand_export.yaml, the measured example of docs/own_keypoints.md
(section 5): the synthetic hands as an annotation tool's export, a set without OKS sigmas.

The YAML must point where the documented generator command writes, pass the config checks, train and
validate with PCK / EPE / NME; tools/browse_dataset.py names each sample's image as the file does."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from browse_dataset import _image_label
from core.config import load_config
from helpers import REPO, run_python

HAND_YAML = REPO / "experiments" / "synthetic" / "res18_128x128_hand_export.yaml"
PATH_KEYS = ("TRAIN_ANN_FILE", "TRAIN_IMAGE_DIR", "TEST_ANN_FILE", "TEST_IMAGE_DIR")
TINY = ["GPUS", "cpu", "MODEL.IMAGE_SIZE", "[64,64]", "MODEL.EXTRA.HEATMAP_SIZE", "[16,16]",
        "MODEL.EXTRA.NUM_DECONV_FILTERS", "[32,32,32]", "TRAIN.BATCH_SIZE", "4", "TEST.BATCH_SIZE", "8",
        "TRAIN.END_EPOCH", "1", "TRAIN.WARMUP_ITERS", "0", "TRAIN.AMP", "false", "TEST.AMP", "false"]


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> tuple[Path, str]:
    """A small hand export, written by the command the YAML documents (only the sizes differ)."""
    out = tmp_path_factory.mktemp("synthetic")
    proc = run_python(["tools/gen_synthetic_data.py", "--out", out, "--format", "hand", "--layout", "export",
                       "--num-train", 6, "--num-val", 3, "--image-size", 128, "--seed", 3])
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def _moved(out: Path) -> list[str]:
    """The YAML's four DATASET paths with its data/synthetic/ moved to ``out``."""
    dataset = yaml.safe_load(HAND_YAML.read_text())["DATASET"]
    moved = []
    for key in PATH_KEYS:
        assert dataset[key].startswith("data/synthetic/hand_export/"), (key, dataset[key])
        moved += [f"DATASET.{key}", str(out / dataset[key].removeprefix("data/synthetic/"))]
    return moved


@pytest.mark.slow
def test_the_yaml_passes_the_config_checks_and_points_where_the_generator_writes(export) -> None:
    out, printed = export
    cfg = load_config(HAND_YAML, validate=True)  # as shipped
    assert cfg.DATASET.OKS_SIGMAS is None and cfg.MODEL.NUM_JOINTS == 21 and cfg.TRAIN.VALIDATE_EVERY == 1
    moved = _moved(out)
    # the generator's closing line names the four keys and the paths it wrote
    for key, value in zip(moved[::2], moved[1::2]):
        assert f"{key} {value}" in printed
        assert Path(value).exists()
    cfg = load_config(HAND_YAML, moved, validate=True)
    assert cfg.DATASET.TEST_IMAGE_DIR == str(out / "hand_export" / "images" / "val")


@pytest.mark.slow
def test_the_yaml_trains_and_scores_pck_epe_nme_on_the_export(export, tmp_path) -> None:
    out, _ = export
    opts = [*_moved(out), *TINY, "OUTPUT_DIR", str(tmp_path / "out"), "LOG_DIR", str(tmp_path / "log")]
    proc = run_python(["pose_estimation/train.py", "--cfg", HAND_YAML, *opts])
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert re.search(r"\| Arch \| PCK@0\.2 \| EPE \| NME \|", log) and "| AP " not in log
    run = tmp_path / "out" / "coco" / "pose_resnet_18" / "res18_128x128_hand_export"
    saved = json.loads((run / "results" / "keypoints_val_pck.json").read_text())
    history = json.loads((run / "history.json").read_text())
    assert history[0]["metrics"] == {name: saved[name] for name in ("PCK@0.2", "EPE", "NME")}
    assert saved["people"] == len(json.loads((out / "hand_export" / "val.json").read_text())["annotations"])


@pytest.mark.slow
def test_browse_names_the_image_as_the_file_does(export) -> None:
    from dataset.coco import COCODataset

    out, _ = export
    cfg = load_config(HAND_YAML, [*_moved(out), *TINY], validate=True)
    ds = COCODataset(cfg, cfg.DATASET.ROOT, cfg.DATASET.TRAIN_SET, True)
    data = json.loads((out / "hand_export" / "train.json").read_text())
    first = data["images"][0]  # scene_0/frame_0000.png: a file in a sub-folder
    idx = next(i for i, image_id in enumerate(ds.db_image_ids) if image_id == first["id"])
    label = _image_label(ds, idx, Path(ds.db[idx]["image"]))
    category = {c["id"]: c["name"] for c in data["categories"]}[int(ds.db_category_ids[idx])]
    assert "/" in first["file_name"]
    assert label == f"{first['file_name']} (image id {first['id']}, category {category})"
