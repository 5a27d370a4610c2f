"""dataset.keypoints and custom COCO-format joint sets: metadata, derived flip pairs, bad input,
training / validation (pycocotools AP with the given sigmas) and the API on 5- and 21-joint sets."""
from __future__ import annotations

import json
import logging
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from core.config import ConfigError, load_config
from dataset import build_transform
from dataset.coco import COCODataset
from dataset.keypoints import (
    COCO_KEYPOINTS,
    MPII_KEYPOINTS,
    KeypointInfo,
    derive_flip_pairs,
)
from helpers import REPO, run_python

FACE_YAML = REPO / "experiments" / "synthetic" / "res18_128x128_face.yaml"
HAND_SIGMAS = json.dumps([0.035] + [0.03, 0.028, 0.025, 0.022] * 5)
TINY = ["GPUS", "cpu", "WORKERS", "0", "MODEL.IMAGE_SIZE", "[64,64]", "MODEL.EXTRA.HEATMAP_SIZE", "[16,16]",
        "MODEL.EXTRA.NUM_DECONV_FILTERS", "[32,32,32]", "TRAIN.BATCH_SIZE", "8", "TEST.BATCH_SIZE", "8"]


def _opts(root: Path, kind: str, out: Path) -> list[str]:
    opts = ["DATASET.ROOT", f"{root}/{kind}/", "OUTPUT_DIR", out / "output", "LOG_DIR", out / "log", *TINY]
    if kind == "hand":
        opts += ["MODEL.NUM_JOINTS", "21", "DATASET.OKS_SIGMAS", HAND_SIGMAS]
    return [str(v) for v in opts]


# ------------------------------------------------------------------------------------------------
# the original values


def test_coco_and_mpii_metadata_are_the_originals() -> None:
    from pycocotools.cocoeval import Params

    # The original's limbs (its vis.py listed them 1-based), 0-based here.
    coco_skeleton = [(15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
                     (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)]
    mpii_skeleton = [(9, 8), (8, 7), (7, 6), (7, 12), (12, 11), (11, 10), (7, 13), (13, 14), (14, 15),
                     (6, 3), (3, 4), (4, 5), (6, 2), (2, 1), (1, 0)]

    assert COCO_KEYPOINTS.flip_pairs == ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))
    assert MPII_KEYPOINTS.flip_pairs == ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13))
    assert np.array_equal(COCO_KEYPOINTS.oks_sigmas(), Params(iouType="keypoints").kpt_oks_sigmas)  # bit for bit
    assert list(COCO_KEYPOINTS.skeleton) == coco_skeleton and list(MPII_KEYPOINTS.skeleton) == mpii_skeleton
    assert COCO_KEYPOINTS.upper_body_ids == tuple(range(11)) and COCO_KEYPOINTS.lower_body_ids == tuple(range(11, 17))
    assert MPII_KEYPOINTS.upper_body_ids == tuple(range(7, 16)) and MPII_KEYPOINTS.lower_body_ids == tuple(range(7))
    assert COCO_KEYPOINTS.joint_weights[7:11] == (1.2, 1.2, 1.5, 1.5) and MPII_KEYPOINTS.joint_weights == (1.0,) * 16
    assert COCO_KEYPOINTS.centre_ids == (0,) and MPII_KEYPOINTS.centre_ids == (6, 7, 8, 9)
    # The MPII names derive exactly the original pairs, the COCO names too.
    assert derive_flip_pairs(MPII_KEYPOINTS.names) == sorted([b, a] for a, b in MPII_KEYPOINTS.flip_pairs)
    assert derive_flip_pairs(COCO_KEYPOINTS.names) == [list(p) for p in COCO_KEYPOINTS.flip_pairs]


def test_flip_pairs_are_derived_from_left_right_tokens() -> None:
    names = ["nose", "left_eye", "right_eye", "l_paw", "r_paw", "ear_left", "ear_right", "Left-Wing", "Right-Wing",
             "tail", "left_only", "lever", "r_"]
    assert derive_flip_pairs(names) == [[1, 2], [3, 4], [5, 6], [7, 8]]
    assert derive_flip_pairs(["wrist", "thumb_1"]) == []
    # left_x pairs with right_x, not with r_x
    assert derive_flip_pairs(["left_x", "r_x"]) == []


# ------------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("pairs, message", [
    ([[0, 3]], r"pair \[0, 3\] is out of range for 3 joints"),
    ([[0, 1], [1, 2]], "not symmetric: joint 1 is in both"),
    ([[1, 1]], "pairs a joint with itself"),
])
def test_bad_flip_pairs(pairs, message) -> None:
    with pytest.raises(ConfigError, match=message):
        KeypointInfo(names=("a", "b", "c"), flip_pairs=pairs, source="x.json")


def test_bad_sigmas_and_skeleton() -> None:
    with pytest.raises(ConfigError, match="DATASET.OKS_SIGMAS has 2 values for 3 joints"):
        KeypointInfo(names=("a", "b", "c"), sigmas=[0.1, 0.1])
    with pytest.raises(ConfigError, match="DATASET.OKS_SIGMAS must be > 0; got 0.0"):
        KeypointInfo(names=("a", "b", "c"), sigmas=[0.1, 0.0, 0.1])
    with pytest.raises(ConfigError, match=r"skeleton limb \[0, 5\]"):
        KeypointInfo(names=("a", "b", "c"), skeleton=[[0, 5]])
    with pytest.raises(ConfigError, match="set DATASET.OKS_SIGMAS to a list of 3 positive numbers"):
        KeypointInfo(names=("a", "b", "c")).oks_sigmas()


def test_config_type_checks_the_new_keys() -> None:
    with pytest.raises(ConfigError, match="DATASET.FLIP_PAIRS = .* expected ~ .default. or a list of .left, right. pairs"):
        load_config(FACE_YAML, ["DATASET.FLIP_PAIRS", "[1, 2]"])
    with pytest.raises(ConfigError, match="DATASET.OKS_SIGMAS = .* expected ~ .default. or a list of numbers"):
        load_config(FACE_YAML, ["DATASET.OKS_SIGMAS", "[a, b]"])
    assert load_config(FACE_YAML, ["DATASET.FLIP_PAIRS", "[[1,2]]"]).DATASET.FLIP_PAIRS == [[1, 2]]
    assert load_config(None).DATASET.FLIP_PAIRS is None and load_config(None).DATASET.OKS_SIGMAS is None


def _copy_set(src: Path, dst: Path, edit) -> Path:
    shutil.copytree(src, dst)
    ann = dst / "annotations" / "person_keypoints_val2017.json"
    data = json.loads(ann.read_text())
    edit(data)
    ann.write_text(json.dumps(data))
    return ann


def _face_cfg(root: Path, *extra: str):
    return load_config(FACE_YAML, ["DATASET.ROOT", str(root), *TINY, *extra])


@pytest.mark.slow
def test_bad_files_and_mismatches_name_the_file_and_key(keypoint_sets, tmp_path, caplog) -> None:
    face = keypoint_sets / "face"
    ann = face / "annotations" / "person_keypoints_val2017.json"
    with pytest.raises(ValueError, match=rf"MODEL.NUM_JOINTS=17 but {ann} names 5 keypoints"):
        COCODataset(_face_cfg(face, "MODEL.NUM_JOINTS", "17"), str(face), "val2017", False)
    with pytest.raises(ConfigError, match=rf"{ann}: DATASET.OKS_SIGMAS has 4 values for 5 joints"):
        COCODataset(_face_cfg(face, "DATASET.OKS_SIGMAS", "[0.1,0.1,0.1,0.1]"), str(face), "val2017", False)
    with pytest.raises(ConfigError, match=rf"{ann}: DATASET.FLIP_PAIRS pair \[3, 7\] is out of range for 5 joints"):
        COCODataset(_face_cfg(face, "DATASET.FLIP_PAIRS", "[[3,7]]"), str(face), "val2017", False)

    with pytest.raises(ValueError, match="DATASET.PROB_HALF_BODY=0.3: half-body augmentation needs the upper-body"):
        COCODataset(_face_cfg(face, "DATASET.PROB_HALF_BODY", "0.3"), str(face), "val2017", True)

    # A category without joint names: K from the annotations, names '0'..'4', no flip pairs.
    _copy_set(face, tmp_path / "nokpts", lambda d: d["categories"][0].pop("keypoints"))
    nameless = COCODataset(_face_cfg(tmp_path / "nokpts"), str(tmp_path / "nokpts"), "val2017", False)
    assert nameless.keypoints.names == ("0", "1", "2", "3", "4") and nameless.flip_pairs == []
    # A skeleton limb out of range only leaves the pictures, with a warning naming it.
    bad_skel = _copy_set(face, tmp_path / "badskel", lambda d: d["categories"][0].update(skeleton=[[1, 6], [1, 2]]))
    with caplog.at_level(logging.WARNING, logger="dataset.keypoints"):
        ds = COCODataset(_face_cfg(tmp_path / "badskel"), str(tmp_path / "badskel"), "val2017", False)
    assert ds.keypoints.skeleton == ((0, 1),)
    assert f"{bad_skel}: skeleton limb [1, 6] is not a pair of 1-based joint indices in 1..5" in caplog.text

    # No sigmas for a non-COCO set: the dataset loads, OKS is a clear error (validation then scores
    # PCK / EPE / NME instead: tests/core/test_keypoint_metrics.py).
    ds = COCODataset(_face_cfg(face, "DATASET.OKS_SIGMAS", "~"), str(face), "val2017", False)
    with pytest.raises(ConfigError, match="set DATASET.OKS_SIGMAS"):
        ds.keypoints.oks_sigmas()


# ------------------------------------------------------------------------------------------------
# custom sets end to end


@pytest.mark.slow
def test_custom_set_reads_names_pairs_and_evaluates_with_its_sigmas(keypoint_sets, tmp_path, caplog) -> None:
    face = keypoint_sets / "face"
    with caplog.at_level(logging.INFO, logger="dataset.keypoints"):
        ds = COCODataset(_face_cfg(face), str(face), "val2017", False, build_transform())
    assert "flip pairs derived from the joint names: [['left_eye', 'right_eye'], ['mouth_left', 'mouth_right']]" in caplog.text
    assert ds.num_joints == 5 and ds.flip_pairs == [[1, 2], [3, 4]]
    assert ds.keypoints.left_ids == (1, 3) and ds.keypoints.right_ids == (2, 4)
    assert ds.keypoints.skeleton[0] == (1, 2)  # 1-based [2, 3] in the file
    assert ds[0][1].shape == (5, 16, 16)

    # GT keypoints as predictions: AP 1; a 2-px error costs AP, more so with smaller sigmas.
    gt = np.stack([r["joints_3d"] for r in ds.db]).astype(np.float32)
    gt[:, :, 2] = 1.0
    boxes = np.zeros((len(ds.db), 6), np.float32)
    boxes[:, 4] = [r["scale"].prod() * 200 ** 2 for r in ds.db]
    boxes[:, 5] = 1.0
    paths = [r["image"] for r in ds.db]
    _, ap = ds.evaluate(None, gt, str(tmp_path / "a"), boxes, paths)
    assert ap == pytest.approx(1.0)
    table = json.loads((tmp_path / "a/results/per_joint_val2017.json").read_text())
    assert [row["name"] for row in table["joints"]] == list(ds.keypoints.names)
    assert all(row["value"] == pytest.approx(1.0) for row in table["joints"])
    evaluator = pickle.loads((tmp_path / "a/results/keypoints_val2017_results.pkl").read_bytes())
    np.testing.assert_array_equal(evaluator.params.kpt_oks_sigmas, [0.026, 0.025, 0.025, 0.035, 0.035])
    shifted = gt.copy()
    shifted[:, :, 0] += 2.0
    _, ap_wide = COCODataset(_face_cfg(face, "DATASET.OKS_SIGMAS", "[0.2,0.2,0.2,0.2,0.2]"), str(face), "val2017",
                             False).evaluate(None, shifted, str(tmp_path / "b"), boxes, paths)
    _, ap_narrow = ds.evaluate(None, shifted, str(tmp_path / "c"), boxes, paths)
    assert ap_narrow < ap_wide <= 1.0
    # 2 px off in x: each joint's OKS term is exp(-4 / (2 area (2 sigma)^2)), averaged over people.
    table = json.loads((tmp_path / "c/results/per_joint_val2017.json").read_text())
    areas = np.array([a["area"] for a in ds.coco.loadAnns(ds.coco.getAnnIds())])
    expected = [np.exp(-4.0 / (2 * areas * (2 * s) ** 2)).mean() for s in (0.026, 0.025, 0.025, 0.035, 0.035)]
    np.testing.assert_allclose([row["value"] for row in table["joints"]], expected, rtol=1e-5)  # float32 preds


@pytest.mark.slow
def test_the_keypoint_category_id_is_used_for_boxes_and_results(keypoint_sets, tmp_path, caplog) -> None:
    """A file whose keypoint category has another id than COCO's person (1), beside a second category:
    GT records, detection boxes and results all follow the first category's id; the other category's
    annotations and the boxes of other ids are left out, and the left-out annotations are logged."""
    face = keypoint_sets / "face"
    root = tmp_path / "face7"

    def renumber(data: dict) -> None:
        data["categories"][0]["id"] = 7
        data["categories"].append({"id": 1, "name": "person", "keypoints": ["a", "b", "c", "d", "e"]})
        for ann in data["annotations"]:
            ann["category_id"] = 7
        stray = dict(data["annotations"][0], id=999_999, category_id=1)
        data["annotations"].append(stray)

    ann_file = _copy_set(face, root, renumber)
    original = COCODataset(_face_cfg(face), str(face), "val2017", False)
    with caplog.at_level(logging.WARNING, logger="dataset.coco"):
        gt_ds = COCODataset(_face_cfg(root), str(root), "val2017", False)
    assert gt_ds.category_id == 7 and gt_ds.category_name == "face"
    assert [r["center"].tolist() for r in gt_ds.db] == [r["center"].tolist() for r in original.db]
    assert (f"{ann_file}: 1 annotation(s) of categories other than 'face' (category_id 7) are not used"
            in caplog.text)

    # Detector boxes: those of category 7 are the dataset's, a box of category 1 is not.
    det_file = root / "person_detection_results" / "val2017_gt_boxes.json"
    boxes = json.loads(det_file.read_text())
    det_file.write_text(json.dumps([dict(b, category_id=7) for b in boxes]
                                   + [dict(boxes[0], category_id=1, bbox=[0, 0, 5, 5])]))
    det_ds = COCODataset(_face_cfg(root, "TEST.USE_GT_BBOX", "false", "TEST.COCO_BBOX_FILE", str(det_file)),
                         str(root), "val2017", False)
    assert len(det_ds.db) == len(boxes) == len(gt_ds.db)
    det_file.write_text(json.dumps([dict(b, category_id=1) for b in boxes]))
    with pytest.raises(ValueError, match=rf"no face box \(category_id 7, the keypoint category of {ann_file}\)"):
        COCODataset(_face_cfg(root, "TEST.USE_GT_BBOX", "false", "TEST.COCO_BBOX_FILE", str(det_file)),
                    str(root), "val2017", False)

    # GT joints as predictions: written under category 7, AP 1 from pycocotools.
    gt = np.stack([r["joints_3d"] for r in gt_ds.db]).astype(np.float32)
    gt[:, :, 2] = 1.0
    all_boxes = np.zeros((len(gt_ds.db), 6), np.float32)
    all_boxes[:, 4] = [r["scale"].prod() * 200 ** 2 for r in gt_ds.db]
    all_boxes[:, 5] = 1.0
    _, ap = gt_ds.evaluate(None, gt, str(tmp_path / "eval"), all_boxes, [r["image"] for r in gt_ds.db])
    assert ap == pytest.approx(1.0)
    results = json.loads((tmp_path / "eval/results/keypoints_val2017_results.json").read_text())
    assert {r["category_id"] for r in results} == {7}


@pytest.mark.slow
@pytest.mark.parametrize("kind, k", [("face", 5), ("hand", 21)])
def test_custom_sets_train_and_validate(keypoint_sets, tmp_path, kind, k) -> None:
    opts = _opts(keypoint_sets, kind, tmp_path)
    proc = run_python(["pose_estimation/train.py", "--cfg", FACE_YAML, *opts, "TRAIN.END_EPOCH", "1",
                       "DEBUG.DEBUG", "true", "DEBUG.SAVE_BATCH_IMAGES_PRED", "true"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "output/coco/pose_resnet_18/res18_128x128_face"
    assert "| 64x64_pose_resnet_18_d32d32d32 | " in proc.stderr
    results = json.loads((out / "results/keypoints_val2017_results.json").read_text())
    assert results and all(len(r["keypoints"]) == 3 * k for r in results)
    assert (out / "val_0_pred.jpg").is_file()
    table = json.loads((out / "results/per_joint_val2017.json").read_text())
    assert table["metric"] == "OKS term" and len(table["joints"]) == k
    assert all(0.0 <= row["value"] <= 1.0 and row["count"] > 0 for row in table["joints"])
    assert "=> per-joint OKS term:" in proc.stderr
    proc = run_python(["tools/plot_per_joint.py", out / "results/per_joint_val2017.json", "--out", tmp_path / "j.png"])
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "j.png").read_bytes()[:4] == b"\x89PNG"
    proc = run_python(["pose_estimation/valid.py", "--cfg", FACE_YAML, "--model-file", out / "final_state.pth.tar",
                       "--flip-test", *opts])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| Arch | AP | Ap .5 |" in proc.stderr


@pytest.mark.slow
def test_api_returns_k_keypoints(keypoint_sets, tmp_path) -> None:
    from core.api import PoseEstimator
    from models import build_pose_net
    from utils.vis import draw_skeleton

    for kind, k in (("face", 5), ("hand", 21)):
        opts = _opts(keypoint_sets, kind, tmp_path) + ["TEST.FLIP_TEST", "True"]
        cfg = load_config(FACE_YAML, opts)
        torch.manual_seed(0)
        torch.save(build_pose_net(cfg, is_train=False).state_dict(), tmp_path / f"{kind}.pth")
        est = PoseEstimator.from_config(FACE_YAML, tmp_path / f"{kind}.pth", opts=opts)
        assert est.flip_pairs == ([[1, 2], [3, 4]] if kind == "face" else [])
        image = keypoint_sets / kind / "images" / "val2017" / "000001000001.jpg"
        people = est.predict(str(image), boxes=[[10, 10, 60, 60], [0, 0, 96, 96]])
        assert [p["keypoints"].shape for p in people] == [(k, 3), (k, 3)]
        drawn = draw_skeleton(np.zeros((96, 96, 3), np.uint8), people[0]["keypoints"], score_thr=0.0,
                              keypoint_info=est.keypoints)
        assert drawn.any()


def test_mpii_per_joint_pckh_table(mpii_root, tmp_path) -> None:
    from test_mpii import cfg_for, dataset_for, gt_preds

    ds = dataset_for(mpii_root)
    preds = gt_preds(ds)
    preds[:, :, 0:2] += np.random.default_rng(0).normal(0, 8, size=preds[:, :, 0:2].shape)
    name_value, _ = ds.evaluate(cfg_for(mpii_root), preds, str(tmp_path))
    table = json.loads((tmp_path / "per_joint_valid.json").read_text())
    assert table["metric"] == "PCKh@0.5 (%)" and [r["name"] for r in table["joints"]] == list(MPII_KEYPOINTS.names)
    value = {r["name"]: r["value"] for r in table["joints"]}
    assert name_value["Head"] == pytest.approx(value["head_top"])
    assert name_value["Knee"] == pytest.approx(0.5 * (value["l_knee"] + value["r_knee"]))


@pytest.mark.slow
def test_onnx_export_of_a_21_joint_network(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    from export_onnx import check_onnx, export_onnx
    from models import build_pose_net

    cfg = load_config(FACE_YAML, [*TINY, "MODEL.NUM_JOINTS", "21"])
    torch.manual_seed(0)
    model = build_pose_net(cfg, is_train=False).eval()
    path = export_onnx(model, cfg, tmp_path / "hand.onnx")
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path))
    out = session.run(None, {session.get_inputs()[0].name: np.zeros((1, 3, 64, 64), np.float32)})[0]
    assert out.shape == (1, 21, 16, 16)
    assert check_onnx(model, cfg, path) <= 1e-4


# ------------------------------------------------------------------------------------------------
# half-body on a custom set: DATASET.UPPER_BODY_IDS


@pytest.mark.slow
def test_half_body_on_a_custom_set_uses_upper_body_ids(keypoint_sets) -> None:
    face = keypoint_sets / "face"
    still = ["DATASET.SCALE_FACTOR", "0", "DATASET.ROT_FACTOR", "0"]  # the crop box is then the half-body box
    plain = COCODataset(_face_cfg(face, *still), str(face), "train2017", True)
    half = COCODataset(_face_cfg(face, *still, "DATASET.PROB_HALF_BODY", "1.0", "DATASET.NUM_JOINTS_HALF_BODY", "3",
                                 "DATASET.UPPER_BODY_IDS", "[0,1,2]"), str(face), "train2017", True)
    assert half.upper_body_ids == (0, 1, 2) and half.lower_body_ids == (3, 4)
    assert plain.upper_body_ids == () and plain.prob_half_body == 0
    checked = 0
    for idx, rec in enumerate(half.db):
        vis = rec["joints_3d_vis"][:, 0] > 0
        if not vis[:3].all() or vis.sum() <= 3:  # half-body needs more than NUM_JOINTS_HALF_BODY visible
            continue
        np.random.seed(idx)
        meta = half[idx][3]
        np.random.seed(idx)
        plain_meta = plain[idx][3]
        # Only two lower (mouth) joints: the upper body (nose and eyes) is always chosen.
        upper = rec["joints_3d"][:3, :2]
        np.testing.assert_allclose(meta["center"], upper.mean(axis=0), rtol=1e-5)
        w, h = np.ptp(upper, axis=0)
        w, h = max(w, h * half.aspect_ratio), max(h, w / half.aspect_ratio)
        np.testing.assert_allclose(meta["scale"], np.array([w, h]) / 200 * 1.5, rtol=1e-4)
        np.testing.assert_array_equal(plain_meta["center"], rec["center"])
        assert not np.allclose(meta["scale"], plain_meta["scale"])
        checked += 1
    assert checked >= 5


@pytest.mark.slow
def test_half_body_ids_bad_input_names_the_key(keypoint_sets) -> None:
    face = keypoint_sets / "face"
    ann = face / "annotations" / "person_keypoints_train2017.json"
    with pytest.raises(ValueError, match=r"DATASET.PROB_HALF_BODY=0.3: .*list them in DATASET.UPPER_BODY_IDS"):
        COCODataset(_face_cfg(face, "DATASET.PROB_HALF_BODY", "0.3"), str(face), "train2017", True)
    with pytest.raises(ConfigError, match=rf"{ann}: DATASET.UPPER_BODY_IDS = \[0, 7\]: joint 7 is out of range for 5 "):
        COCODataset(_face_cfg(face, "DATASET.UPPER_BODY_IDS", "[0,7]"), str(face), "train2017", True)
    with pytest.raises(ConfigError, match=r"DATASET.UPPER_BODY_IDS = \[1, 1\] lists joint 1 twice"):
        COCODataset(_face_cfg(face, "DATASET.UPPER_BODY_IDS", "[1,1]"), str(face), "train2017", True)
    with pytest.raises(ConfigError, match=r"DATASET.UPPER_BODY_IDS = .* expected a list of 0-based joint indices"):
        _face_cfg(face, "DATASET.UPPER_BODY_IDS", "[0.5]")
    # The default [] keeps the original groups of COCO-17 and MPII-16.
    assert load_config(None).DATASET.UPPER_BODY_IDS == []
    assert COCO_KEYPOINTS.upper_body_ids == tuple(range(11)) and MPII_KEYPOINTS.upper_body_ids == tuple(range(7, 16))
