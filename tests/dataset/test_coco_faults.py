"""dataset.coco on damaged copies of the shared real COCO sample: each fault is a clear error naming the file."""
import json
import logging
import math

import pytest

from core.config import load_config
from dataset import build_dataset
from helpers import REPO

COCO_YAML = REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml"
DET_NAME = "COCO_val2017_detections_AP_H_56_person.json"


def _cfg(root, *opts):
    det = root / "person_detection_results" / DET_NAME
    return load_config(COCO_YAML, ["DATASET.ROOT", str(root), "TEST.COCO_BBOX_FILE", str(det), *opts])


def _edit(path, change):
    data = json.loads(path.read_text())
    data = change(data)
    path.write_text(json.dumps(data))  # json writes NaN / Infinity tokens, as a careless tool would
    return path


def test_no_training_sample_names_the_file_and_split(copy_root):
    ann = copy_root / "annotations" / "person_keypoints_train2017.json"

    def no_keypoints(data):
        for a in data["annotations"]:
            a["keypoints"] = [0] * 51
            a["num_keypoints"] = 0
        return data

    _edit(ann, no_keypoints)
    with pytest.raises(ValueError) as info:
        build_dataset(_cfg(copy_root), "train2017", True)
    assert str(info.value).startswith(f"{ann}: 0 samples for DATASET TRAIN_SET 'train2017'")


@pytest.mark.parametrize("change,expected", [
    (lambda d: {k: v for k, v in d.items() if k != "categories"}, "no 'categories' list"),
    (lambda d: d["annotations"], "the top level must be a JSON object"),
])
def test_annotation_file_without_categories_or_a_list(copy_root, change, expected):
    ann = _edit(copy_root / "annotations" / "person_keypoints_val2017.json", change)
    with pytest.raises(ValueError) as info:
        build_dataset(_cfg(copy_root), "val2017", False)
    assert str(ann) in str(info.value) and expected in str(info.value)


def test_nan_keypoint_in_a_validation_annotation_names_its_id(copy_root):
    ann = copy_root / "annotations" / "person_keypoints_val2017.json"
    chosen = {}

    def nan_keypoint(data):
        target = next(a for a in data["annotations"] if max(a["keypoints"]) > 0)
        target["keypoints"][0] = math.nan
        chosen["id"] = target["id"]
        return data

    _edit(ann, nan_keypoint)
    with pytest.raises(ValueError) as info:  # detector boxes: COCOeval would read the NaN itself
        build_dataset(_cfg(copy_root, "TEST.USE_GT_BBOX", "False"), "val2017", False)
    assert str(ann) in str(info.value) and f"annotation id(s) {chosen['id']}" in str(info.value)


def test_non_finite_detections_are_dropped_with_one_warning(copy_root, caplog):
    det = copy_root / "person_detection_results" / DET_NAME
    clean = build_dataset(_cfg(copy_root, "TEST.USE_GT_BBOX", "False"), "val2017", False)

    def damage(data):
        data[0]["score"] = math.nan
        data[1]["bbox"][2] = math.inf
        return data

    _edit(det, damage)
    with caplog.at_level(logging.WARNING, logger="dataset.coco"):
        damaged = build_dataset(_cfg(copy_root, "TEST.USE_GT_BBOX", "False"), "val2017", False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(det) in warnings[0] and "dropped 2 of" in warnings[0]
    assert len(damaged) == len(clean) - 2
    assert all(math.isfinite(r["score"]) and all(map(math.isfinite, r["scale"])) for r in damaged.db)


def test_detections_of_images_not_in_the_annotations_fail_before_inference(copy_root):
    det = copy_root / "person_detection_results" / DET_NAME

    def foreign(data):
        data[0]["image_id"] = 999999999
        return data

    _edit(det, foreign)
    with pytest.raises(ValueError) as info:
        build_dataset(_cfg(copy_root, "TEST.USE_GT_BBOX", "False"), "val2017", False)
    assert str(det) in str(info.value) and "999999999" in str(info.value) and "not in" in str(info.value)


def _dup_image_id(d):
    d["images"][1]["id"] = d["images"][0]["id"]
    return d


def _unknown_image_id(d):
    d["annotations"][0]["image_id"] = 987654
    return d


def _no_bbox(d):
    del d["annotations"][0]["bbox"]
    return d


def _no_file_name(d):
    del d["images"][0]["file_name"]
    return d


def _short_keypoints(d):
    d["annotations"][0]["keypoints"] = d["annotations"][0]["keypoints"][:48]
    return d


def _nan_box(d):
    d["annotations"][0]["bbox"][2] = math.nan
    return d


def _no_image_id(d):
    del d["annotations"][0]["image_id"]
    return d


ANNOTATION_DAMAGES = {
    "duplicate image ids": (_dup_image_id, "two images have id"),
    "unknown image_id": (_unknown_image_id, "refers to image_id 987654"),
    "missing bbox": (_no_bbox, "has no 'bbox'"),
    "missing file_name": (_no_file_name, "has no file_name"),
    "missing image_id": (_no_image_id, "has no 'image_id' field"),
    "inconsistent keypoint count": (_short_keypoints, "has 16 keypoints (48 values)"),
    "non-finite bbox": (_nan_box, "non-finite (NaN/Infinity)"),
}


def _run_cli_lines(main, capsys, tmp_path, monkeypatch):
    """stderr lines of ``run_cli(main)`` (exit status 2 asserted), and the traceback files it wrote."""
    from utils.cli import run_cli

    folder = tmp_path / "tracebacks"
    folder.mkdir(exist_ok=True)
    monkeypatch.setenv("SIMMRPOSE_TRACEBACK_DIR", str(folder))
    monkeypatch.delenv("SIMMRPOSE_TRACEBACK", raising=False)
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        run_cli(main)
    assert info.value.code == 2
    return capsys.readouterr().err.splitlines(), list(folder.iterdir())


@pytest.mark.parametrize("damage", sorted(ANNOTATION_DAMAGES))
def test_a_damaged_annotation_file_is_one_error_line_without_a_traceback(copy_root, capsys, tmp_path, monkeypatch,
                                                                         damage):
    change, expected = ANNOTATION_DAMAGES[damage]
    ann = _edit(copy_root / "annotations" / "person_keypoints_val2017.json", change)
    lines, tracebacks = _run_cli_lines(lambda: build_dataset(_cfg(copy_root), "val2017", False), capsys,
                                       tmp_path, monkeypatch)
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(ann) in lines[0] and expected in lines[0], lines
    assert tracebacks == []


def _bbox_of_three(d):
    d[0]["bbox"] = d[0]["bbox"][:3]
    return d


DETECTION_DAMAGES = {
    "bbox of 3 numbers": (_bbox_of_three, "entry 0 is not"),
    "not a list": (lambda d: {"detections": d}, "must hold a JSON list"),
    "empty list": (lambda d: [], "holds an empty list"),
    "unknown image_id": (lambda d: [{**d[0], "image_id": 987654}], "are not in"),
}


@pytest.mark.parametrize("damage", sorted(DETECTION_DAMAGES))
def test_a_damaged_detection_file_is_one_error_line_without_a_traceback(copy_root, capsys, tmp_path, monkeypatch,
                                                                        damage):
    change, expected = DETECTION_DAMAGES[damage]
    det = _edit(copy_root / "person_detection_results" / DET_NAME, change)
    lines, tracebacks = _run_cli_lines(lambda: build_dataset(_cfg(copy_root, "TEST.USE_GT_BBOX", "False"),
                                                             "val2017", False), capsys, tmp_path, monkeypatch)
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(det) in lines[0] and expected in lines[0], lines
    assert tracebacks == []


def test_joint_count_that_differs_from_the_config_is_a_config_error(copy_root):
    from core.config import ConfigError

    with pytest.raises(ConfigError, match="MODEL.NUM_JOINTS=16 but"):
        build_dataset(_cfg(copy_root, "MODEL.NUM_JOINTS", "16"), "val2017", False)
