"""dataset.coco on COCO-format keypoint files written the way annotation tools export them.

The files below are hand-written in the shapes that CVAT ("COCO Keypoints 1.0"), Label Studio and
AP-10K-style multi-species sets use: ordinary file names in sub-folders, ids unrelated to the names
(0-based, or 13 digits), no ``num_keypoints`` / ``area`` / ``iscrowd``, extra fields, several
categories sharing one joint list beside a box-only one, a category without joint names. They are
read where they lie through ``DATASET.TEST_ANN_FILE`` / ``TEST_IMAGE_DIR`` and scored with
pycocotools.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.config import ConfigError, load_config
from dataset.coco import COCODataset
from helpers import REPO
from utils.cli import _error_line

YAML = REPO / "experiments" / "synthetic" / "res18_128x128_face.yaml"
TINY = ["GPUS", "cpu", "WORKERS", "0", "MODEL.IMAGE_SIZE", "[64,64]", "MODEL.EXTRA.HEATMAP_SIZE", "[16,16]",
        "MODEL.EXTRA.NUM_DECONV_FILTERS", "[32,32,32]"]
ANIMAL = ["left_eye", "right_eye", "nose", "neck", "root_of_tail", "left_shoulder", "left_elbow", "left_front_paw",
          "right_shoulder", "right_elbow", "right_front_paw", "left_hip", "left_knee", "left_back_paw", "right_hip",
          "right_knee", "right_back_paw"]
# AP-10K's OKS sigmas (one per joint above).
ANIMAL_SIGMAS = [0.025, 0.025, 0.026, 0.035, 0.035, 0.079, 0.072, 0.062, 0.079, 0.072, 0.062, 0.107, 0.087, 0.089,
                 0.107, 0.087, 0.089]


def _person(rng: np.random.Generator, k: int, x: float, y: float, w: float, h: float) -> list:
    """3K keypoint values inside the box, a few unlabelled (0, 0, 0)."""
    values = []
    for j in range(k):
        if j % 5 == 4:
            values += [0, 0, 0]
        else:
            values += [round(float(x + rng.uniform(0.1, 0.9) * w), 2), round(float(y + rng.uniform(0.1, 0.9) * h), 2),
                       int(rng.choice([1, 2]))]
    return values


def _write_images(folder: Path, images: list) -> None:
    rng = np.random.default_rng(0)
    for img in images:
        path = folder / img["file_name"]
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), rng.integers(0, 255, (img["height"], img["width"], 3), dtype=np.uint8))


def _export(tmp_path: Path, name: str, data: dict) -> tuple[Path, Path]:
    """``<tmp>/<name>/annotations.json`` and its image folder ``<tmp>/<name>/``: the tool's own layout."""
    root = tmp_path / name
    root.mkdir()
    _write_images(root, data["images"])
    ann = root / "annotations.json"
    ann.write_text(json.dumps(data, indent=2))
    return ann, root


def _cfg(ann: Path, images: Path, k: int, *extra: str):
    return load_config(YAML, ["DATASET.TEST_ANN_FILE", str(ann), "DATASET.TEST_IMAGE_DIR", str(images),
                              "DATASET.TRAIN_ANN_FILE", str(ann), "DATASET.TRAIN_IMAGE_DIR", str(images),
                              "DATASET.ROOT", "no/such/root", "MODEL.NUM_JOINTS", str(k), "DATASET.OKS_SIGMAS", "~",
                              *TINY, *extra])


def _gt_eval(ds: COCODataset, out: Path, preds=None):
    """Evaluate ``preds`` (default: the GT joints) fed back as ``validate`` passes them."""
    if preds is None:
        preds = np.stack([r["joints_3d"] for r in ds.db]).astype(np.float32)
        preds[:, :, 2] = 1.0
    all_boxes = np.zeros((len(ds.db), 6))
    all_boxes[:, 0:2] = [r["center"] for r in ds.db]
    all_boxes[:, 2:4] = [r["scale"] for r in ds.db]
    all_boxes[:, 4] = [r["scale"].prod() * 200 ** 2 for r in ds.db]
    all_boxes[:, 5] = 1.0
    name_value, ap = ds.evaluate(None, preds, str(out), all_boxes, [r["image"] for r in ds.db])
    results = json.loads((out / "results" / f"keypoints_{ds.image_set}_results.json").read_text())
    return ap, results


# ------------------------------------------------------------------------------------------------
# CVAT-style: 1-based ids, frame_XXXXXX.PNG in a task sub-folder, a box-only category, no num_keypoints


def cvat_export() -> dict:
    rng = np.random.default_rng(1)
    names = ["nose", "left_eye", "right_eye", "left_ear", "right_ear"]
    images = [{"id": i + 1, "width": 64, "height": 48, "file_name": f"task_3/frame_{i:06d}.PNG", "license": 0,
               "flickr_url": "", "coco_url": "", "date_captured": 0} for i in range(3)]
    anns = []
    for img in images:
        for p in range(2):
            x, y, w, h = 4 + 28 * p, 6, 24, 36
            anns.append({"id": len(anns) + 1, "image_id": img["id"], "category_id": 1, "segmentation": [],
                         "area": w * h * 0.7, "bbox": [x, y, w, h], "iscrowd": 0,
                         "attributes": {"occluded": False, "keyframe": True}, "keypoints": _person(rng, 5, x, y, w, h)})
    anns.append({"id": len(anns) + 1, "image_id": 2, "category_id": 2, "segmentation": [], "area": 100.0,
                 "bbox": [1, 1, 10, 10], "iscrowd": 0, "attributes": {"occluded": False}})
    return {"licenses": [{"name": "", "id": 0, "url": ""}],
            "info": {"contributor": "", "date_created": "", "description": "", "url": "", "version": "", "year": ""},
            "categories": [{"id": 1, "name": "face", "supercategory": "", "keypoints": names,
                            "skeleton": [[2, 3], [1, 2], [1, 3], [2, 4], [3, 5]]},
                           {"id": 2, "name": "car", "supercategory": ""}],
            "images": images, "annotations": anns}


def test_cvat_style_export_reads_file_names_and_scores(tmp_path, caplog) -> None:
    ann, images = _export(tmp_path, "cvat", cvat_export())
    with caplog.at_level(logging.INFO, logger="dataset.coco"):
        ds = COCODataset(_cfg(ann, images, 5, "DATASET.OKS_SIGMAS", "[0.026,0.025,0.025,0.035,0.035]"),
                         "no/such/root", "val2017", False)
    assert len(ds) == 6 and ds.category_ids == [1]
    assert ds.db[0]["image"] == str(images / "task_3" / "frame_000000.PNG")
    assert ds.db_image_ids.tolist() == [1, 1, 2, 2, 3, 3]
    assert "category 'car' (id 2) is left out" in caplog.text
    assert ds[0][0].shape == (64, 64, 3)  # the PNG in its sub-folder is read (the crop; no transform)
    ap, results = _gt_eval(ds, tmp_path / "eval")
    assert ap == pytest.approx(1.0)
    assert sorted({r["image_id"] for r in results}) == [1, 2, 3] and {r["category_id"] for r in results} == {1}


# ------------------------------------------------------------------------------------------------
# Label Studio-style: ids from 0, hashed names under images/, no area / num_keypoints, no joint names


def label_studio_export() -> dict:
    rng = np.random.default_rng(2)
    images = [{"width": 56, "height": 40, "id": i, "file_name": f"images/{h}-IMG_{1710 + i}.jpg"}
              for i, h in enumerate(["0b1f3e5a", "9c2d77e0", "f00dbabe"])]
    anns = []
    for img in images:
        x, y, w, h = 6.5, 4.25, 30.0, 30.0
        anns.append({"id": len(anns), "image_id": img["id"], "category_id": 0, "segmentation": [], "bbox": [x, y, w, h],
                     "ignore": 0, "iscrowd": 0, "keypoints": _person(rng, 4, x, y, w, h)})
    return {"images": images, "categories": [{"id": 0, "name": "Hand"}], "annotations": anns,
            "info": {"year": 2024, "version": "1.0", "contributor": "Label Studio"}}


def test_label_studio_style_export_without_joint_names_or_area(tmp_path, caplog) -> None:
    ann, images = _export(tmp_path, "ls", label_studio_export())
    sigmas = ["DATASET.OKS_SIGMAS", "[0.03,0.03,0.03,0.03]"]
    with caplog.at_level(logging.INFO):
        ds = COCODataset(_cfg(ann, images, 4, *sigmas), "r", "val2017", False)
    assert ds.keypoints.names == ("0", "1", "2", "3") and ds.flip_pairs == []
    assert ds.category_ids == [0] and ds.db_image_ids.tolist() == [0, 1, 2]
    assert caplog.text.count("have no 'area'; evaluation uses their box area x 0.53") == 1
    assert "names no joints; the 4 joints are called '0' .. '3'" in caplog.text
    ap, results = _gt_eval(ds, tmp_path / "eval")
    assert ap == pytest.approx(1.0) and [r["image_id"] for r in results] == [0, 1, 2]
    # The user's file is not rewritten.
    assert json.loads(ann.read_text()) == label_studio_export()

    named = COCODataset(_cfg(ann, images, 4, *sigmas, "DATASET.KEYPOINT_NAMES", "[wrist, thumb, index, pinky]"),
                        "r", "val2017", False)
    assert named.keypoints.names == ("wrist", "thumb", "index", "pinky")
    with pytest.raises(ConfigError, match=rf"DATASET.KEYPOINT_NAMES has 3 names but the annotations of {ann} have "
                                          "4 keypoints each"):
        COCODataset(_cfg(ann, images, 4, "DATASET.KEYPOINT_NAMES", "[a, b, c]"), "r", "val2017", False)


def test_area_missing_is_box_area_times_053_in_the_evaluation(tmp_path) -> None:
    """pycocotools sees the box area x 0.53: predictions 0.7 px off score as a file with that area."""
    data = label_studio_export()
    ann, images = _export(tmp_path, "ls", data)
    ds = COCODataset(_cfg(ann, images, 4, "DATASET.OKS_SIGMAS", "[0.03,0.03,0.03,0.03]"), "r", "val2017", False)
    assert [a["area"] for a in ds.coco.dataset["annotations"]] == [30.0 * 30.0 * 0.53] * 3
    with_area = json.loads(ann.read_text())
    for a in with_area["annotations"]:
        a["area"] = 30.0 * 30.0 * 0.53
    ann2 = ann.with_name("with_area.json")
    ann2.write_text(json.dumps(with_area))
    ds2 = COCODataset(_cfg(ann2, images, 4, "DATASET.OKS_SIGMAS", "[0.03,0.03,0.03,0.03]"), "r", "val2017", False)
    preds = np.stack([r["joints_3d"] for r in ds.db]).astype(np.float32)
    preds[:, :, 2] = 1.0
    preds[:, :, 0] += 0.7
    ap, _ = _gt_eval(ds, tmp_path / "a", preds.copy())
    ap2, _ = _gt_eval(ds2, tmp_path / "b", preds.copy())
    assert 0.5 < ap < 0.95 and ap == ap2


# ------------------------------------------------------------------------------------------------
# AP-10K-style: species categories sharing one joint list, 13-digit ids, plus a category of another list


def ap10k_export() -> dict:
    rng = np.random.default_rng(3)
    species = [(1, "antelope", "Bovidae"), (2, "argali sheep", "Bovidae"), (7, "bobcat", "Felidae")]
    cats = [{"id": i, "name": n, "supercategory": s, "keypoints": ANIMAL,
             "skeleton": [[1, 2], [1, 3], [2, 3], [3, 4], [4, 5], [4, 6], [6, 7], [7, 8], [4, 9], [9, 10], [10, 11],
                          [5, 12], [12, 13], [13, 14], [5, 15], [15, 16], [16, 17]]} for i, n, s in species]
    cats.append({"id": 40, "name": "bird", "supercategory": "Aves", "keypoints": ["beak", "tail"], "skeleton": [[1, 2]]})
    images, anns = [], []
    for i in range(4):
        img_id = 12000000005603 + 17 * i
        images.append({"license": 1, "id": img_id, "file_name": f"{img_id:012d}.jpg", "width": 72, "height": 56,
                       "background": 2})
        for p, cat in enumerate((species[i % 3][0], species[(i + 1) % 3][0])):
            x, y, w, h = 3 + 34 * p, 5, 32, 44
            kpts = _person(rng, 17, x, y, w, h)
            anns.append({"id": 90000 + len(anns), "image_id": img_id, "category_id": cat, "bbox": [x, y, w, h],
                         "area": w * h * 0.6, "iscrowd": 0, "num_keypoints": sum(v > 0 for v in kpts[2::3]),
                         "keypoints": kpts})
    anns.append({"id": 99999, "image_id": images[0]["id"], "category_id": 40, "bbox": [1, 1, 9, 9], "area": 50.0,
                 "iscrowd": 0, "num_keypoints": 2, "keypoints": [2, 2, 2, 8, 8, 2]})
    return {"info": {"description": "AP-10K-style test file"}, "licenses": [], "images": images,
            "annotations": anns, "categories": cats}


def test_ap10k_style_species_are_pooled(tmp_path, caplog) -> None:
    ann, images = _export(tmp_path, "ap10k", ap10k_export())
    opts = ["DATASET.OKS_SIGMAS", json.dumps(ANIMAL_SIGMAS)]
    with caplog.at_level(logging.INFO, logger="dataset.coco"):
        ds = COCODataset(_cfg(ann, images, 17, *opts), "r", "val2017", False)
    assert ds.category_ids == [1, 2, 7] and len(ds) == 8
    assert "category 'bird' (id 40) is left out" in caplog.text
    assert sorted(set(ds.db_category_ids.tolist())) == [1, 2, 7]
    assert ds.flip_pairs  # derived from the left_/right_ names
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="dataset.coco"):
        ap, results = _gt_eval(ds, tmp_path / "eval")
    assert ap == pytest.approx(1.0)
    assert "evaluation pools the 3 categories" in caplog.text and "useCats = 0" in caplog.text
    # Results carry each animal's own category and its 13-digit image id.
    by_key = {(r["image_id"], tuple(np.round(r["keypoints"][:2], 2))): r["category_id"] for r in results}
    expected = {(a["image_id"], tuple(np.round(a["keypoints"][:2], 2))): a["category_id"]
                for a in ap10k_export()["annotations"] if a["category_id"] != 40}
    assert by_key == expected

    # Every species counts: spoiling the bobcats alone lowers the pooled AP.
    preds = np.stack([r["joints_3d"] for r in ds.db]).astype(np.float32)
    preds[:, :, 2] = 1.0
    preds[ds.db_category_ids == 7, :, 0:2] += 15
    spoiled, _ = _gt_eval(ds, tmp_path / "spoiled", preds)
    assert spoiled < 0.8

    # DATASET.CATEGORY_IDS picks categories explicitly.
    two = COCODataset(_cfg(ann, images, 17, *opts, "DATASET.CATEGORY_IDS", "[7, 2]"), "r", "val2017", False)
    assert two.category_ids == [7, 2] and set(two.db_category_ids.tolist()) == {2, 7} and len(two) == 5
    ap, results = _gt_eval(two, tmp_path / "two")
    assert ap == pytest.approx(1.0) and {r["category_id"] for r in results} == {2, 7}
    # One species alone: its results, its AP and its per-joint table (not the other species' people).
    one = COCODataset(_cfg(ann, images, 17, *opts, "DATASET.CATEGORY_IDS", "[2]"), "r", "val2017", False)
    ap, results = _gt_eval(one, tmp_path / "one")
    assert ap == pytest.approx(1.0) and {r["category_id"] for r in results} == {2}
    table = json.loads((tmp_path / "one" / "results" / "per_joint_val2017.json").read_text())
    labelled = sum(v > 0 for a in ap10k_export()["annotations"] if a["category_id"] == 2 for v in a["keypoints"][2::3])
    assert sum(row["count"] for row in table["joints"]) == labelled
    assert all(row["value"] == pytest.approx(1.0) for row in table["joints"] if row["count"])
    with pytest.raises(ConfigError, match=r"DATASET.CATEGORY_IDS = \[1, 40\]: categories 'antelope' \(id 1\) and "
                                          r"'bird' \(id 40\) .* have different joint lists"):
        COCODataset(_cfg(ann, images, 17, *opts, "DATASET.CATEGORY_IDS", "[1, 40]"), "r", "val2017", False)
    with pytest.raises(ConfigError, match=rf"DATASET.CATEGORY_IDS = \[5\]: category id 5 is not in {ann}"):
        COCODataset(_cfg(ann, images, 17, *opts, "DATASET.CATEGORY_IDS", "[5]"), "r", "val2017", False)


def test_detection_boxes_of_the_pooled_categories(tmp_path) -> None:
    data = ap10k_export()
    ann, images = _export(tmp_path, "ap10k", data)
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
            for a in data["annotations"]]
    det_file = tmp_path / "dets.json"
    det_file.write_text(json.dumps(dets))
    opts = ["DATASET.OKS_SIGMAS", json.dumps(ANIMAL_SIGMAS), "TEST.USE_GT_BBOX", "false",
            "TEST.COCO_BBOX_FILE", str(det_file)]
    ds = COCODataset(_cfg(ann, images, 17, *opts), "r", "val2017", False)
    assert len(ds) == 8 and sorted(set(ds.db_category_ids.tolist())) == [1, 2, 7]  # not the bird's box
    assert ds.db[0]["image"] == str(images / f"{data['images'][0]['id']:012d}.jpg")
    only = COCODataset(_cfg(ann, images, 17, *opts, "DATASET.CATEGORY_IDS", "[2]"), "r", "val2017", False)
    assert len(only) == sum(a["category_id"] == 2 for a in data["annotations"])


# ------------------------------------------------------------------------------------------------
# bad input: one line naming the file, the id or the key


def test_inconsistent_files_are_one_clear_error(tmp_path) -> None:
    data = cvat_export()
    data["annotations"][3]["keypoints"] = data["annotations"][3]["keypoints"][:12]
    ann, images = _export(tmp_path, "bad_count", data)
    with pytest.raises(ValueError, match=rf"^{ann}: annotation 4 has 4 keypoints \(12 values\) but its category "
                                         r"'face' names 5 joints; the file is inconsistent$") as info:
        COCODataset(_cfg(ann, images, 5), "r", "val2017", False)
    assert "NUM_JOINTS" not in str(info.value)

    data = cvat_export()
    data["images"][2]["id"] = 1
    ann, images = _export(tmp_path, "dup_id", data)
    with pytest.raises(ValueError, match=rf"{ann}: two images have id 1 \(file_name 'task_3/frame_000000.PNG' and "
                                         r"'task_3/frame_000002.PNG'\)"):
        COCODataset(_cfg(ann, images, 5), "r", "val2017", False)

    data = cvat_export()
    data["annotations"][0]["image_id"] = 77
    ann, images = _export(tmp_path, "unknown_image", data)
    with pytest.raises(ValueError, match=rf"{ann}: annotation 1 refers to image_id 77, which is not in 'images'"):
        COCODataset(_cfg(ann, images, 5), "r", "val2017", False)

    data = label_studio_export()
    data["annotations"][1]["keypoints"] += [1, 1, 2]
    ann, images = _export(tmp_path, "nameless_counts", data)
    with pytest.raises(ValueError, match=r"annotation 1 has 5 keypoints but annotation 0 has 4; the file is inconsistent"):
        COCODataset(_cfg(ann, images, 4), "r", "val2017", False)


def test_bad_skeleton_limbs_only_leave_the_pictures(tmp_path, caplog) -> None:
    data = cvat_export()
    data["categories"][0]["skeleton"] = [[0, 1], [1, 2], [2, 1], [3, 9], [4, 4], [2, 3]]
    ann, images = _export(tmp_path, "skel", data)
    with caplog.at_level(logging.WARNING, logger="dataset.keypoints"):
        ds = COCODataset(_cfg(ann, images, 5), "r", "val2017", True)
    assert ds.keypoints.skeleton == ((0, 1), (1, 2))
    lines = [r.getMessage() for r in caplog.records if "skeleton limb" in r.getMessage()]
    assert len(lines) == 4
    assert "skeleton limb [0, 1] is not a pair of 1-based joint indices in 1..5 (0-based?" in lines[0]
    assert "skeleton limb [2, 1] repeats an earlier limb" in lines[1]
    assert "[3, 9] is not a pair" in lines[2] and "[4, 4] joins a joint to itself" in lines[3]


def test_missing_image_names_the_file_name_and_the_folder(tmp_path) -> None:
    ann, images = _export(tmp_path, "cvat", cvat_export())
    (images / "task_3" / "frame_000001.PNG").unlink()
    ds = COCODataset(_cfg(ann, images, 5), "r", "val2017", False)
    with pytest.raises(FileNotFoundError) as info:
        ds[2]
    assert str(info.value) == (f"image not found: file_name 'task_3/frame_000001.PNG' (image 2) of {ann} is not in "
                               f"the folder {images}")


@pytest.mark.slow
def test_missing_image_in_a_worker_is_the_same_one_line(tmp_path) -> None:
    """A DataLoader worker's error reaches the user as the worker's own message (no worker traceback)."""
    from torch.utils.data import DataLoader

    ann, images = _export(tmp_path, "cvat", cvat_export())
    (images / "task_3" / "frame_000001.PNG").unlink()
    ds = COCODataset(_cfg(ann, images, 5), "r", "val2017", False)
    with pytest.raises(FileNotFoundError) as info:
        list(DataLoader(ds, batch_size=2, num_workers=1))
    assert "Traceback" in str(info.value)  # torch puts the worker's traceback into the message
    assert _error_line(info.value) == (f"image not found: file_name 'task_3/frame_000001.PNG' (image 2) of {ann} is "
                                       f"not in the folder {images}")


def test_missing_folder_names_the_key(tmp_path) -> None:
    ann, _ = _export(tmp_path, "cvat", cvat_export())
    with pytest.raises(FileNotFoundError, match=r"DATASET.TEST_IMAGE_DIR = .*/nowhere: folder not found"):
        COCODataset(_cfg(ann, tmp_path / "nowhere", 5), "r", "val2017", False)


# ------------------------------------------------------------------------------------------------
# train.py / valid.py on the generator's tool-export layout, read where it lies


def _export_opts(root: Path, out: Path) -> list[str]:
    return [str(v) for v in [
        "DATASET.TRAIN_ANN_FILE", root / "train.json", "DATASET.TRAIN_IMAGE_DIR", root / "images" / "train",
        "DATASET.TEST_ANN_FILE", root / "val.json", "DATASET.TEST_IMAGE_DIR", root / "images" / "val",
        "DATASET.ROOT", out / "no_coco_layout_here", "OUTPUT_DIR", out / "output", "LOG_DIR", out / "log",
        "DATASET.OKS_SIGMAS", json.dumps(json.loads((root / "oks_sigmas.json").read_text())), *TINY,
        "TRAIN.BATCH_SIZE", "8", "TEST.BATCH_SIZE", "8"]]


@pytest.mark.slow
def test_train_and_validate_on_a_tool_export(tmp_path) -> None:
    from helpers import generate_keypoint_set, run_python

    root = generate_keypoint_set(tmp_path, "face", num_train=12, num_val=6, seed=3, layout="export")
    opts = _export_opts(root, tmp_path)
    proc = run_python(["pose_estimation/train.py", "--cfg", YAML, *opts, "TRAIN.END_EPOCH", "1"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| 64x64_pose_resnet_18_d32d32d32 | " in proc.stderr
    assert "evaluation pools the 2 categories" in proc.stderr
    out = tmp_path / "output/coco/pose_resnet_18/res18_128x128_face"
    results = json.loads((out / "results/keypoints_val2017_results.json").read_text())
    val = json.loads((root / "val.json").read_text())
    assert {r["image_id"] for r in results} <= {img["id"] for img in val["images"]}
    assert {r["category_id"] for r in results} == {a["category_id"] for a in val["annotations"]}
    proc = run_python(["pose_estimation/valid.py", "--cfg", YAML, "--model-file", out / "final_state.pth.tar", *opts])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| Arch | AP | Ap .5 |" in proc.stderr

    # An image missing on disk, read by a worker process: one line naming the file_name and the folder.
    gone = val["images"][1]["file_name"]
    (root / "images" / "val" / gone).unlink()
    proc = run_python(["pose_estimation/valid.py", "--cfg", YAML, "--model-file", out / "final_state.pth.tar", *opts,
                       "WORKERS", "1"])
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: image not found: file_name {gone!r} (image {val['images'][1]['id']}) of {root / 'val.json'} is not "
        f"in the folder {root / 'images' / 'val'}")


def test_api_reads_the_joint_set_of_the_test_ann_file(tmp_path) -> None:
    """core.api (demo, export) finds the joint set where validation does: DATASET.TEST_ANN_FILE."""
    from core.api import keypoint_info

    ann, images = _export(tmp_path, "ap10k", ap10k_export())
    info = keypoint_info(_cfg(ann, images, 17, "DATASET.OKS_SIGMAS", json.dumps(ANIMAL_SIGMAS)))
    assert info.names == tuple(ANIMAL) and info.flip_pairs and len(info.skeleton) == 17
    ann, images = _export(tmp_path, "ls", label_studio_export())
    info = keypoint_info(_cfg(ann, images, 4, "DATASET.KEYPOINT_NAMES", "[a, b, c, d]"))
    assert info.names == ("a", "b", "c", "d") and info.flip_pairs == ()


def test_zip_archive_of_an_export(tmp_path) -> None:
    """DATA_FORMAT zip: TEST_IMAGE_DIR names the archive; members are the file_names, sub-folders included."""
    import zipfile

    data = cvat_export()
    ann, images = _export(tmp_path, "cvat", data)
    archive = tmp_path / "frames.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for img in data["images"][:2]:
            zf.write(images / img["file_name"], img["file_name"])
    ds = COCODataset(_cfg(ann, archive, 5, "DATASET.DATA_FORMAT", "zip"), "r", "val2017", False)
    assert ds.db[0]["image"] == f"{archive}@/task_3/frame_000000.PNG"
    assert ds[0][0].shape == (64, 64, 3)
    with pytest.raises(FileNotFoundError) as info:
        ds[4]  # image 3 is not in the archive
    assert str(info.value) == (f"image not found: file_name 'task_3/frame_000002.PNG' (image 3) of {ann} is not in "
                               f"the zip archive {archive}")
