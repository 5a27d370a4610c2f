"""dataset.coco: records, detection loading, evaluation with real pycocotools."""
import json
import logging
import os
import pickle
from collections import defaultdict

import numpy as np
import pytest

from core.config import load_config
from dataset import build_dataset
from dataset.coco import COCO_STATS_NAMES, COCODataset
from helpers import REPO
from nms.nms import oks_nms

COCO_YAML = REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml"
DET_NAME = "COCO_val2017_detections_AP_H_56_person.json"


def cfg_for(root, *opts, det=None):
    det = det if det is not None else root / "person_detection_results" / DET_NAME
    return load_config(COCO_YAML, ["DATASET.ROOT", str(root), "TEST.COCO_BBOX_FILE", str(det), *opts])


def boxes_and_paths(ds):
    """all_boxes (N, 6) and image paths as validate() fills them."""
    all_boxes = np.zeros((len(ds), 6))
    for i, r in enumerate(ds.db):
        all_boxes[i, 0:2] = r["center"]
        all_boxes[i, 2:4] = r["scale"]
        all_boxes[i, 4] = np.prod(r["scale"] * 200, 0)
        all_boxes[i, 5] = r.get("score", 1)
    return all_boxes, [r["image"] for r in ds.db]


def gt_preds(ds):
    """GT joints as predictions (N, 17, 3) float32 with confidence 1."""
    preds = np.ones((len(ds), 17, 3), dtype=np.float32)
    preds[:, :, 0:2] = np.stack([r["joints_3d"][:, 0:2] for r in ds.db])
    return preds


@pytest.fixture
def gt_ds(coco_root):
    return build_dataset(cfg_for(coco_root), "val2017", False)  # the yamls set USE_GT_BBOX true


@pytest.fixture
def det_ds(coco_root):
    return build_dataset(cfg_for(coco_root, "TEST.USE_GT_BBOX", "False"), "val2017", False)


# --------------------------------------------------------------------------------------------------
# records


def test_gt_records(gt_ds, coco_root):
    assert len(gt_ds) == 12
    assert gt_ds.num_images == 4
    assert gt_ds.classes[:2] == ["__background__", "person"]
    r = gt_ds.db[0]
    assert set(r) == {"image", "center", "scale", "joints_3d", "joints_3d_vis", "ann_bbox", "filename", "imgnum"}
    assert r["image"] == str(coco_root / "images" / "val2017" / "000000000785.jpg")
    assert r["joints_3d"].shape == (17, 3) and r["joints_3d"].dtype == np.float64
    assert r["center"].dtype == np.float32 and r["scale"].dtype == np.float32
    vis = np.stack([d["joints_3d_vis"] for d in gt_ds.db])
    assert set(np.unique(vis[:, :, 0])) <= {0.0, 1.0} and not vis[:, :, 2].any()
    np.testing.assert_array_equal(vis[:, :, 0], vis[:, :, 1])


def test_gt_records_follow_annotations(gt_ds):
    coco = gt_ds.coco
    anns = [a for i in coco.getImgIds() for a in coco.loadAnns(coco.getAnnIds(imgIds=i, iscrowd=False))
            if max(a["keypoints"]) > 0]
    assert len(anns) == 12
    for a, r in zip(anns, gt_ds.db):
        k = np.array(a["keypoints"], dtype=np.float64).reshape(17, 3)
        np.testing.assert_array_equal(r["joints_3d"][:, 0:2], k[:, 0:2])
        np.testing.assert_array_equal(r["joints_3d_vis"][:, 0], np.minimum(k[:, 2], 1))
        x, y, w, h = a["bbox"]
        # Original cleaning: 1-px shrink (boxes are inside these images).
        np.testing.assert_allclose(r["center"], [x + (w - 1) / 2, y + (h - 1) / 2], rtol=1e-6)


def test_training_uses_gt_records(coco_root):
    ds = build_dataset(cfg_for(coco_root, "TEST.USE_GT_BBOX", "False"), "train2017", True)
    assert len(ds) == 12 and "score" not in ds.db[0]


def test_detection_records(det_ds):
    assert len(det_ds) == 118
    r = det_ds.db[0]
    assert set(r) == {"image", "center", "scale", "score", "joints_3d", "joints_3d_vis"}
    assert not r["joints_3d"].any() and r["joints_3d_vis"].all()
    assert len({d["image"] for d in det_ds.db}) == 4


def test_detection_threshold(coco_root):
    ds = build_dataset(cfg_for(coco_root, "TEST.USE_GT_BBOX", "False", "TEST.IMAGE_THRE", "0.9"), "val2017", False)
    assert len(ds) == 14 and min(d["score"] for d in ds.db) >= 0.9


def test_image_without_boxes_above_threshold_has_no_records(coco_root):
    dets = json.loads((coco_root / "person_detection_results" / DET_NAME).read_text())
    top = max(d["score"] for d in dets if d["image_id"] == 785)
    assert any(d["score"] > top for d in dets)
    ds = build_dataset(cfg_for(coco_root, "TEST.USE_GT_BBOX", "False", "TEST.IMAGE_THRE", str(top + 1e-9)), "val2017", False)
    assert all("000000000785" not in d["image"] for d in ds.db) and len(ds) > 0


@pytest.mark.parametrize(
    "image_set, fmt, expected",
    [
        ("val2017", "jpg", "images/val2017/000000000785.jpg"),
        ("val2017", "zip", "images/val2017.zip@/000000000785.jpg"),
        ("train2014", "jpg", "images/train2014/COCO_train2014_000000000785.jpg"),
        ("val2014", "zip", "images/val2014.zip@/COCO_val2014_000000000785.jpg"),
        ("test-dev2017", "jpg", "images/test2017/000000000785.jpg"),
    ],
)
def test_image_paths(image_set, fmt, expected):
    ds = COCODataset.__new__(COCODataset)
    ds.root, ds.image_set, ds.data_format = "data/coco", image_set, fmt
    assert ds.image_path_from_index(785) == "data/coco/" + expected


def test_annotation_file_names():
    ds = COCODataset.__new__(COCODataset)
    ds.root = "r"
    for image_set, name in [("train2017", "person_keypoints_train2017.json"),
                            ("val2017", "person_keypoints_val2017.json"),
                            ("test-dev2017", "image_info_test-dev2017.json")]:
        ds.image_set = image_set
        assert ds._get_ann_file_keypoint() == os.path.join("r", "annotations", name)


# --------------------------------------------------------------------------------------------------
# evaluation


def test_gt_fed_back_gives_ap_1(gt_ds, tmp_path):
    all_boxes, paths = boxes_and_paths(gt_ds)
    name_value, ap = gt_ds.evaluate(None, gt_preds(gt_ds), str(tmp_path), all_boxes, paths)
    assert list(name_value) == COCO_STATS_NAMES
    assert ap == pytest.approx(1.0) and all(v == pytest.approx(1.0) for v in name_value.values())


def test_perturbed_predictions_lower_stable_ap(gt_ds, tmp_path):
    preds = gt_preds(gt_ds)
    preds[:, :, 0:2] += np.random.default_rng(0).normal(0, 4, size=preds[:, :, 0:2].shape).astype(np.float32)
    all_boxes, paths = boxes_and_paths(gt_ds)
    name_value, ap = gt_ds.evaluate(None, preds, str(tmp_path), all_boxes, paths)
    # Measured with pycocotools on this data (stable: no randomness after the seeded noise).
    assert ap == pytest.approx(0.6593092880716642, abs=1e-9)
    assert name_value["Ap .5"] == pytest.approx(1.0)
    assert name_value["AP .75"] == pytest.approx(0.7689768976897692, abs=1e-9)
    assert name_value["AR"] == pytest.approx(0.7333333333333334, abs=1e-9)


def test_results_files(gt_ds, tmp_path):
    all_boxes, paths = boxes_and_paths(gt_ds)
    preds = gt_preds(gt_ds)
    gt_ds.evaluate(None, preds, str(tmp_path), all_boxes, paths)
    res_file = tmp_path / "results" / "keypoints_val2017_results.json"
    text = res_file.read_text()
    results = json.loads(text)
    assert text.startswith("[\n    {\n") and '"category_id": 1' in text  # indent 4, sorted keys
    assert len(results) == 12
    first = results[0]
    assert list(first) == ["category_id", "center", "image_id", "keypoints", "scale", "score"]
    assert first["image_id"] == 785 and len(first["keypoints"]) == 51
    assert first["keypoints"][0:3] == [float(preds[0, 0, 0]), float(preds[0, 0, 1]), 1.0]
    assert first["center"] == all_boxes[0, 0:2].tolist() and first["scale"] == all_boxes[0, 2:4].tolist()
    assert first["score"] == 1.0
    assert not list((tmp_path / "results").glob("*.tmp*"))
    with open(tmp_path / "results" / "keypoints_val2017_results.pkl", "rb") as f:
        ev = pickle.load(f)
    from pycocotools.cocoeval import COCOeval

    assert isinstance(ev, COCOeval) and ev.stats[0] == pytest.approx(1.0)


def original_results(ds, preds, all_boxes, img_path):
    """The original evaluate's rescoring, per-image OKS-NMS and results kernel, loop by loop."""
    _kpts = []
    for idx, kpt in enumerate(preds):
        _kpts.append({"keypoints": kpt, "center": all_boxes[idx][0:2], "scale": all_boxes[idx][2:4],
                      "area": all_boxes[idx][4], "score": all_boxes[idx][5], "image": int(img_path[idx][-16:-4])})
    kpts = defaultdict(list)
    for kpt in _kpts:
        kpts[kpt["image"]].append(kpt)
    oks_nmsed = []
    for img in kpts.keys():
        img_kpts = kpts[img]
        for n_p in img_kpts:
            box_score = n_p["score"]
            kpt_score = 0
            valid_num = 0
            for n_jt in range(17):
                t_s = n_p["keypoints"][n_jt][2]
                if t_s > ds.in_vis_thre:
                    kpt_score = kpt_score + t_s
                    valid_num = valid_num + 1
            if valid_num != 0:
                kpt_score = kpt_score / valid_num
            n_p["score"] = kpt_score * box_score
        keep = oks_nms([img_kpts[i] for i in range(len(img_kpts))], ds.oks_thre)
        oks_nmsed.append(img_kpts if len(keep) == 0 else [img_kpts[k] for k in keep])
    results = []
    for img_kpts in oks_nmsed:
        kp = np.array([k["keypoints"] for k in img_kpts]).reshape(len(img_kpts), -1).astype(np.float64)
        results.extend({"image_id": k["image"], "category_id": 1, "keypoints": list(map(float, kp[i])),
                        "score": float(k["score"]), "center": list(map(float, k["center"])),
                        "scale": list(map(float, k["scale"]))} for i, k in enumerate(img_kpts))
    return results


def test_detection_evaluation_equals_original(det_ds, tmp_path):
    """118 detections with random keypoints: same kept people, order and rescored values."""
    rng = np.random.default_rng(1)
    all_boxes, paths = boxes_and_paths(det_ds)
    preds = np.zeros((len(det_ds), 17, 3), dtype=np.float32)
    # One pose template placed in every box: overlapping boxes of one person give near duplicates.
    template = rng.uniform(-0.4, 0.4, size=(17, 2))
    preds[:, :, 0:2] = (all_boxes[:, None, 0:2] + template * all_boxes[:, None, 2:4] * 200
                        + rng.normal(0, 1, size=(len(det_ds), 17, 2)))
    preds[:, :, 2] = rng.random((len(det_ds), 17))
    name_value, ap = det_ds.evaluate(None, preds, str(tmp_path), all_boxes, paths)
    ours = json.loads((tmp_path / "results" / "keypoints_val2017_results.json").read_text())
    expected = original_results(det_ds, preds, all_boxes, paths)
    assert ours == expected
    assert len(ours) < len(det_ds)  # OKS-NMS (0.9) removed near duplicates
    assert 0 <= ap < 1


def test_test_dev_writes_results_only(coco_root, tmp_path):
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    gt = json.loads((coco_root / "annotations" / "person_keypoints_val2017.json").read_text())
    info = {"images": gt["images"], "categories": gt["categories"]}
    (root / "annotations" / "image_info_test-dev2017.json").write_text(json.dumps(info))
    ds = build_dataset(cfg_for(root, "TEST.USE_GT_BBOX", "False", det=coco_root / "person_detection_results" / DET_NAME),
                       "test-dev2017", False)
    assert len(ds) == 118 and "/images/test2017/" in ds.db[0]["image"]
    all_boxes, paths = boxes_and_paths(ds)
    preds = np.ones((len(ds), 17, 3), dtype=np.float32)
    assert ds.evaluate(None, preds, str(tmp_path), all_boxes, paths) == ({"Null": 0}, 0)
    assert (tmp_path / "results" / "keypoints_test-dev2017_results.json").is_file()
    assert not (tmp_path / "results" / "keypoints_test-dev2017_results.pkl").exists()


def test_evaluate_input_checks(gt_ds, tmp_path):
    all_boxes, paths = boxes_and_paths(gt_ds)
    with pytest.raises(ValueError, match=r"preds must have shape \(N, 17, 3\)"):
        gt_ds.evaluate(None, np.zeros((12, 16, 3)), str(tmp_path), all_boxes, paths)
    with pytest.raises(ValueError, match="all_boxes"):
        gt_ds.evaluate(None, gt_preds(gt_ds), str(tmp_path), all_boxes[:5], paths)
    with pytest.raises(ValueError, match="no predictions"):
        gt_ds.evaluate(None, np.zeros((0, 17, 3)), str(tmp_path), all_boxes, paths)


# --------------------------------------------------------------------------------------------------
# bad input


def test_missing_annotation_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"annotations/person_keypoints_val2017\.json"):
        build_dataset(cfg_for(tmp_path), "val2017", False)


def test_broken_annotation_file(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "person_keypoints_val2017.json").write_text("{not json")
    with pytest.raises(ValueError, match="person_keypoints_val2017.json"):
        build_dataset(cfg_for(tmp_path), "val2017", False)


def write_dets(tmp_path, content):
    path = tmp_path / "dets.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def det_cfg(coco_root, det, *opts):
    return cfg_for(coco_root, "TEST.USE_GT_BBOX", "False", *opts, det=det)


def test_missing_detection_file(coco_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        build_dataset(det_cfg(coco_root, tmp_path / "nope.json"), "val2017", False)


def test_empty_detection_setting(coco_root):
    cfg = det_cfg(coco_root, "")
    cfg.TEST.COCO_BBOX_FILE = ""
    with pytest.raises(FileNotFoundError, match="TEST.COCO_BBOX_FILE is empty"):
        build_dataset(cfg, "val2017", False)


@pytest.mark.parametrize(
    "content, message",
    [
        ("[{", "not valid JSON"),
        ({"image_id": 785}, "must hold a JSON list"),
        ([], "empty list"),
        ([{"image_id": 785, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.9},
          {"image_id": 785, "category_id": 1, "bbox": [1, 2, 3], "score": 0.9}], r"entry 1 .*\"bbox\": \[1, 2, 3\]"),
        ([{"image_id": 785, "category_id": 1, "bbox": [1, 2, 3, 4]}], "entry 0"),
        (["box"], "entry 0"),
    ],
)
def test_bad_detection_files(coco_root, tmp_path, content, message):
    det = write_dets(tmp_path, content)
    with pytest.raises(ValueError, match=message) as info:
        build_dataset(det_cfg(coco_root, det), "val2017", False)
    assert str(det) in str(info.value)


def test_detection_file_that_is_not_utf8_is_an_input_error_naming_it(coco_root, tmp_path):
    """A detection file saved in Latin-1 (a tool that writes the local code page): one error naming the
    file, as for any file that is not JSON, not a bare UnicodeDecodeError without a file name."""
    from utils.cli import InputFileError

    det = tmp_path / "dets.json"
    det.write_bytes(json.dumps([{"image_id": 785, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.9,
                                 "source": "caf\u00e9"}], ensure_ascii=False).encode("latin-1"))
    with pytest.raises(InputFileError, match="not valid JSON") as info:
        build_dataset(det_cfg(coco_root, det), "val2017", False)
    assert str(det) in str(info.value)


def test_no_detection_above_threshold(coco_root):
    det = coco_root / "person_detection_results" / DET_NAME
    with pytest.raises(ValueError, match=r"no person box .* TEST.IMAGE_THRE=2.0") as info:
        build_dataset(det_cfg(coco_root, det, "TEST.IMAGE_THRE", "2.0"), "val2017", False)
    assert str(det) in str(info.value)


def test_non_person_detections_are_skipped(coco_root, tmp_path):
    det = write_dets(tmp_path, [{"image_id": 785, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 0.9},
                                {"image_id": 785, "category_id": 1, "bbox": [10, 20, 30, 40], "score": 0.5}])
    ds = build_dataset(det_cfg(coco_root, det), "val2017", False)
    assert len(ds) == 1 and ds.db[0]["score"] == 0.5
    np.testing.assert_allclose(ds.db[0]["center"], [25, 40])


def test_results_text_equals_json_dumps():
    from core.results import results_json_text as _results_json_text

    rng = np.random.default_rng(5)
    kp = (rng.uniform(-10, 700, size=(3, 51)).astype(np.float32).astype(np.float64)).tolist()
    kp[0][0] = 1e-7
    kp[1][1] = 123456789.0
    centers = rng.random((3, 2)).tolist()
    scales = rng.random((3, 2)).tolist()
    scores = [0.5, 1.0, 0.0]
    ids = [785, 785, 40083]
    results = [{"image_id": i, "category_id": 1, "keypoints": k, "score": s, "center": c, "scale": sc}
               for i, k, s, c, sc in zip(ids, kp, scores, centers, scales)]
    assert _results_json_text(ids, 1, kp, scores, centers, scales) == json.dumps(results, sort_keys=True, indent=4)
    assert _results_json_text([], 1, [], [], [], []) == json.dumps([], sort_keys=True, indent=4)


def test_non_finite_predictions_left_out_of_standard_json(gt_ds, tmp_path, caplog):
    all_boxes, paths = boxes_and_paths(gt_ds)
    preds = gt_preds(gt_ds)
    preds[0, 0, 0] = np.nan
    with caplog.at_level(logging.WARNING):
        gt_ds.evaluate(None, preds, str(tmp_path), all_boxes, paths)
    text = (tmp_path / "results" / "keypoints_val2017_results.json").read_text()

    def refuse(token):
        raise AssertionError(f"non-standard JSON token {token}")

    people = json.loads(text, parse_constant=refuse)
    assert len(people) == len(preds) - 1  # the NaN person only
    assert "1 of %d people have non-finite" % len(preds) in caplog.text


def test_image_id_from_path_error(gt_ds, tmp_path):
    all_boxes, paths = boxes_and_paths(gt_ds)
    paths[3] = "images/val2017/person.jpg"
    with pytest.raises(ValueError, match="person.jpg"):
        gt_ds.evaluate(None, gt_preds(gt_ds), str(tmp_path), all_boxes, paths)
