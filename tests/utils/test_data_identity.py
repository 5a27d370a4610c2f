"""utils.data_identity on the real COCO / MPII sample: what a checkpoint records about its data."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from core.config import load_config
from dataset import build_dataset
from helpers import REPO, sample_path
from utils.data_identity import annotation_file, data_differences, data_identity, split_identity

COCO_YAML = REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml"
MPII_YAML = REPO / "experiments/mpii/resnet50/256x256_d256x3_adam_lr1e-3.yaml"


def _coco(root, image_set="val2017"):
    cfg = load_config(COCO_YAML, ["DATASET.ROOT", f"{root}/"])
    return build_dataset(cfg, image_set, image_set.startswith("train"))


def test_coco_and_mpii_splits_name_their_annotation_file_and_content():
    coco = _coco(sample_path("coco"))
    ann = sample_path("coco", "annotations", "person_keypoints_val2017.json")
    assert Path(annotation_file(coco)).resolve() == ann.resolve()
    entry = split_identity(coco)
    assert entry["file"] == ann.name and entry["size"] == ann.stat().st_size
    assert entry["sha256"] == hashlib.sha256(ann.read_bytes()).hexdigest()
    assert entry["images"] == coco.num_images and entry["people"] == len(coco.db)
    assert entry["joints"][:3] == ["nose", "left_eye", "right_eye"] and len(entry["joints"]) == 17

    mpii = build_dataset(load_config(MPII_YAML, ["DATASET.ROOT", str(sample_path("mpii"))]), "valid", False)
    entry = split_identity(mpii)
    ann = sample_path("mpii", "annot", "valid.json")
    assert entry["file"] == "valid.json" and entry["sha256"] == hashlib.sha256(ann.read_bytes()).hexdigest()
    assert entry["images"] == len({r["image"] for r in mpii.db}) and entry["people"] == len(mpii.db)
    assert len(entry["joints"]) == 16


def test_moved_data_is_the_same_edited_data_is_not(tmp_path):
    original = data_identity(_coco(sample_path("coco")), _coco(sample_path("coco")))
    moved = tmp_path / "elsewhere" / "coco"
    shutil.copytree(sample_path("coco"), moved)
    assert data_differences(original, data_identity(_coco(moved), _coco(moved))) == []

    ann = moved / "annotations" / "person_keypoints_val2017.json"
    content = json.loads(ann.read_text())
    content["annotations"][0]["keypoints"][0] += 1  # one coordinate, one pixel: the same size class of edit
    ann.write_text(json.dumps(content))
    diffs = data_differences(original, data_identity(_coco(moved), _coco(moved)))
    assert len(diffs) == 2  # both "splits" read this file here
    assert diffs[0].startswith("train split (person_keypoints_val2017.json) annotation file content (SHA-256): checkpoint ")
    assert not any("size" in d for d in diffs)  # the digest already says it

    # nothing to compare against: the original's checkpoints and files written before this record
    assert data_differences(None, original) == [] and data_differences({}, original) == []
