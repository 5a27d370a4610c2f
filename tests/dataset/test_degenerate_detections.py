"""Degenerate detector boxes in valid.py's COCO detection path (TEST.COCO_BBOX_FILE): zero- or
negative-size and 1e9-px boxes are skipped with one warning naming the file and counting them; the
other boxes are kept exactly (the real sample file has none, so its records do not change)."""
import json
import logging

import numpy as np

from core.config import load_config
from core.detections import drop_degenerate_boxes, is_degenerate_box
from dataset import build_dataset
from helpers import REPO

COCO_YAML = REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml"
DET_NAME = "COCO_val2017_detections_AP_H_56_person.json"


def _dataset(root):
    det = root / "person_detection_results" / DET_NAME
    cfg = load_config(COCO_YAML, ["DATASET.ROOT", str(root), "TEST.COCO_BBOX_FILE", str(det),
                                  "TEST.USE_GT_BBOX", "False"])
    return build_dataset(cfg, "val2017", False)


def test_degenerate_boxes_are_skipped_with_one_warning(copy_root, caplog):
    det = copy_root / "person_detection_results" / DET_NAME
    clean = _dataset(copy_root)
    data = json.loads(det.read_text())
    assert not any(is_degenerate_box(d["bbox"]) for d in data)  # the real file: nothing to skip
    broken = [dict(data[0], bbox=[10.0, 20.0, -30.0, 40.0]), dict(data[0], bbox=[10.0, 20.0, 0.0, 0.0]),
              dict(data[0], bbox=[0.0, 0.0, 1e9, 1e9])]
    det.write_text(json.dumps(data[:5] + broken + data[5:]))
    with caplog.at_level(logging.WARNING):
        damaged = _dataset(copy_root)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"=> COCO detection file {det}: skipped 3 of {len(data) + 3} boxes with no width or height "
                        "or beyond 100000 px (e.g. entry 5: [10.0, 20.0, -30.0, 40.0])"]
    assert len(damaged) == len(clean)
    for a, b in zip(clean.db, damaged.db):  # the sound boxes give the same records, bit for bit
        assert a["image"] == b["image"] and a["score"] == b["score"]
        assert np.array_equal(a["center"], b["center"]) and np.array_equal(a["scale"], b["scale"])
    assert all((r["scale"] > 0).all() and (r["scale"] < 1e3).all() for r in damaged.db)


def test_helper_keeps_sound_boxes_and_the_list_when_nothing_is_wrong():
    sound = [{"bbox": [0, 0, 1, 1]}, {"bbox": [-5, -5, 99999, 20]}]
    assert drop_degenerate_boxes(sound, "x") is sound
    assert [is_degenerate_box(b) for b in ([0, 0, 0, 5], [0, 0, 5, -1], [1e5 + 1, 0, 5, 5], [0, 0, 5, 5])] == [
        True, True, True, False]
