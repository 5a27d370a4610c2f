"""core.keypoint_metrics: PCK / EPE / NME for joint sets without OKS sigmas (issue 19, item 7).

The metric functions against hand-computed values and against a plain loop written from the
definitions; the COCO dataset's evaluation on a generated face set (GT and detector boxes); the
config checks; and train.py / valid.py end to end (slow).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from core.config import ConfigError, load_config
from core.keypoint_metrics import keep_all, keypoint_scores, match_by_image, metric_names
from dataset.coco import COCODataset
from helpers import REPO, run_python

FACE_YAML = REPO / "experiments" / "synthetic" / "res18_128x128_face.yaml"
TINY = ["GPUS", "cpu", "WORKERS", "0", "MODEL.IMAGE_SIZE", "[64,64]", "MODEL.EXTRA.HEATMAP_SIZE", "[16,16]",
        "MODEL.EXTRA.NUM_DECONV_FILTERS", "[32,32,32]", "TRAIN.BATCH_SIZE", "8", "TEST.BATCH_SIZE", "8"]


# ------------------------------------------------------------------------------------------------
# the definitions


def test_hand_computed_example() -> None:
    # Two people, three joints. Person 0: box 100 x 50 (longer side 100); person 1: box 20 x 40 (40).
    gt = np.array([[[10, 10], [50, 10], [0, 0]],
                   [[5, 5], [15, 5], [10, 30]]], dtype=np.float64)
    labelled = np.array([[True, True, False], [True, True, True]])
    pred = gt.copy()
    pred[0, 0] += (3, 4)    # distance 5   -> 5/100 = 0.05  correct at 0.2
    pred[0, 1] += (0, 30)   # distance 30  -> 0.30           wrong
    pred[0, 2] += (99, 99)  # not labelled: ignored everywhere
    pred[1, 0] += (6, 8)    # distance 10  -> 10/40 = 0.25  wrong
    pred[1, 1] += (0, 4)    # distance 4   -> 0.10           correct
    pred[1, 2] += (8, 0)    # distance 8   -> 0.20           wrong: PCK counts distances *below* t
    box = np.array([100.0, 40.0])
    s = keypoint_scores(pred, gt, labelled, box, threshold=0.2)
    np.testing.assert_allclose(s.per_joint_pck, [0.5, 0.5, 0.0])  # joint 2 has one labelled instance
    np.testing.assert_array_equal(s.per_joint_count, [2, 2, 1])
    assert s.pck == pytest.approx((0.5 + 0.5 + 0.0) / 3)
    assert s.epe == pytest.approx((5 + 30 + 10 + 4 + 8) / 5)
    assert s.nme == pytest.approx((0.05 + 0.30 + 0.25 + 0.10 + 0.20) / 5)
    assert (s.num_people, s.num_labelled, s.nme_people) == (2, 5, 2)
    # a larger threshold takes the 0.25 and 0.2 joints in
    np.testing.assert_allclose(keypoint_scores(pred, gt, labelled, box, threshold=0.26).per_joint_pck, [1, 0.5, 1])
    # NME by the distance between joints 0 and 1: person 0: 40 px; person 1: 10 px
    s = keypoint_scores(pred, gt, labelled, box, nme_keypoints=(0, 1))
    assert s.nme == pytest.approx((5 / 40 + 30 / 40 + 10 / 10 + 4 / 10 + 8 / 10) / 5)
    # joint 2 unlabelled for person 0: that person has no NME normaliser and is left out of the NME only
    s = keypoint_scores(pred, gt, labelled, box, nme_keypoints=(0, 2))
    d02 = math.hypot(5, 25)
    assert s.nme == pytest.approx((10 / d02 + 4 / d02 + 8 / d02) / 3)
    assert s.nme_people == 1 and s.epe == pytest.approx(57 / 5)
    assert metric_names(0.2) == ["PCK@0.2", "EPE", "NME"] and metric_names(0.05)[0] == "PCK@0.05"


def _loop_scores(pred, gt, labelled, box, thr, pair=()):
    """The definitions written out joint by joint (no vectorisation), to compare against."""
    n, k = labelled.shape
    correct, count, dists, nmes = [0] * k, [0] * k, [], []
    for i in range(n):
        if pair:
            a, b = pair
            norm = math.dist(gt[i][a][:2], gt[i][b][:2]) if labelled[i][a] and labelled[i][b] else 0.0
        else:
            norm = box[i]
        for j in range(k):
            if not labelled[i][j]:
                continue
            d = math.dist(pred[i][j][:2], gt[i][j][:2])
            dists.append(d)
            if box[i] > 0:
                count[j] += 1
                correct[j] += d / box[i] < thr
            if norm > 0:
                nmes.append(d / norm)
    per_joint = [c / m for c, m in zip(correct, count) if m]
    return sum(per_joint) / len(per_joint), sum(dists) / len(dists), sum(nmes) / len(nmes)


@pytest.mark.parametrize("pair", [(), (1, 3)])
def test_against_a_plain_loop(pair) -> None:
    rng = np.random.default_rng(5)
    n, k = 300, 7
    gt = rng.uniform(0, 500, (n, k, 3))
    pred = gt + rng.normal(0, 12, (n, k, 3))
    labelled = rng.random((n, k)) < 0.8
    labelled[:, 5] = False  # a joint never labelled: left out of the mean, NaN in the table
    box = rng.uniform(30, 200, n)
    box[:3] = 0  # people whose box has no size are left out of the PCK (as in mmpose)
    s = keypoint_scores(pred, gt, labelled, box, 0.1, pair)
    pck, epe, nme = _loop_scores(pred, gt, labelled, box, 0.1, pair)
    assert s.pck == pytest.approx(pck, rel=1e-12)
    assert s.epe == pytest.approx(epe, rel=1e-12)
    assert s.nme == pytest.approx(nme, rel=1e-12)
    assert np.isnan(s.per_joint_pck[5]) and s.per_joint_count[5] == 0


def test_matching_by_image_pairs_the_closest_prediction() -> None:
    gt = np.array([[[0, 0], [10, 0]], [[100, 100], [110, 100]], [[50, 50], [60, 50]]], np.float64)
    labelled = np.ones((3, 2), bool)
    # image 'a' holds GT 0 and 1, image 'b' GT 2; predictions: a far false positive, GT 1's, GT 0's
    pred = np.array([[[300, 300], [310, 300]], [[101, 100], [111, 100]], [[1, 0], [11, 0]]], np.float64)
    index, matched = match_by_image(np.array(["a", "a", "a"]), pred, np.array(["a", "a", "b"]), gt, labelled,
                                    np.array([20.0, 20.0, 20.0]))
    assert matched.tolist() == [True, True, False]
    assert index[:2].tolist() == [2, 1]
    s = keypoint_scores(pred[index], gt, labelled, np.full(3, 20.0), 0.2, matched=matched)
    assert s.pck == pytest.approx(2 / 3)  # GT 2 has no prediction: wrong in PCK ...
    assert s.epe == pytest.approx(1.0)  # ... and left out of EPE
    # an image with one box and one person pairs them whatever the distance
    index, matched = match_by_image(np.array(["a", "c", "a", "a"]), np.concatenate([pred[:1], pred]),
                                    np.array(["a", "a", "c"]), gt, labelled, np.array([20.0, 20.0, 20.0]))
    assert matched.all() and index.tolist() == [3, 2, 1]
    assert [g.tolist() for g in keep_all(np.array([7, 3, 7, 5]))] == [[0, 2], [1], [3]]


def test_hundred_thousand_people_take_well_under_a_second() -> None:
    import time

    rng = np.random.default_rng(0)
    n, k = 100_000, 17
    gt = rng.uniform(0, 640, (n, k, 3))
    pred = gt + rng.normal(0, 8, (n, k, 3))
    labelled = rng.random((n, k)) < 0.7
    box = rng.uniform(40, 400, n)
    keypoint_scores(pred[:10], gt[:10], labelled[:10], box[:10])
    start = time.process_time()  # CPU time: the shared test machine's load does not count
    keypoint_scores(pred, gt, labelled, box, 0.2, (1, 2))
    assert time.process_time() - start < 0.5


# ------------------------------------------------------------------------------------------------
# config


@pytest.mark.parametrize("key, value, message", [
    ("TEST.PCK_THRESHOLD", "0", r"TEST.PCK_THRESHOLD = 0.0 is not allowed; expected a number > 0"),
    ("TEST.PCK_THRESHOLD", "-0.1", r"TEST.PCK_THRESHOLD = -0.1 is not allowed"),
    ("TEST.NME_KEYPOINTS", "[1, 5]", r"TEST.NME_KEYPOINTS = \[1, 5\] is not allowed; expected \[\] or two different "
                                     r"0-based joint indices \[i, j\] in 0..4 \(MODEL.NUM_JOINTS = 5\)"),
    ("TEST.NME_KEYPOINTS", "[-1, 2]", r"TEST.NME_KEYPOINTS = \[-1, 2\] is not allowed"),
    ("TEST.NME_KEYPOINTS", "[2]", r"TEST.NME_KEYPOINTS = \[2\] is not allowed"),
    ("TEST.NME_KEYPOINTS", "[2, 2]", r"TEST.NME_KEYPOINTS = \[2, 2\] is not allowed"),
    ("TEST.NME_KEYPOINTS", "[0.5, 2]", r"TEST.NME_KEYPOINTS = \[0.5, 2\] has type list; expected \[\] or two"),
])
def test_bad_metric_keys_are_one_clear_error(key, value, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(FACE_YAML, [key, value], validate=True)


def test_metric_key_defaults() -> None:
    cfg = load_config(FACE_YAML, ["TEST.NME_KEYPOINTS", "[1, 2]", "TEST.PCK_THRESHOLD", "0.05"], validate=True)
    assert cfg.TEST.NME_KEYPOINTS == [1, 2] and cfg.TEST.PCK_THRESHOLD == 0.05
    default = load_config(None)
    assert default.TEST.PCK_THRESHOLD == 0.2 and default.TEST.NME_KEYPOINTS == []


# ------------------------------------------------------------------------------------------------
# the dataset's evaluation


def _face_cfg(root: Path, *extra: str):
    return load_config(FACE_YAML, ["DATASET.ROOT", str(root), "DATASET.OKS_SIGMAS", "~", *TINY, *extra],
                       validate=True)


def _validate_inputs(ds, preds):
    boxes = np.zeros((len(ds.db), 6))
    boxes[:, 5] = [r.get("score", 1) for r in ds.db]
    return boxes, [r["image"] for r in ds.db]


def test_gt_box_evaluation_scores_each_record_against_its_own_annotation(face_set, tmp_path, caplog) -> None:
    ds = COCODataset(_face_cfg(face_set), str(face_set), "val2017", False)
    ann = json.loads((face_set / "annotations" / "person_keypoints_val2017.json").read_text())["annotations"]
    assert len(ds.db) == len(ann) > 8
    gt = np.array([a["keypoints"] for a in ann], np.float64).reshape(len(ann), 5, 3)
    longer = np.array([max(a["bbox"][2:]) for a in ann])
    # every joint off by 0.15 x its box's longer side, except joint 0 of the first half: 0.25
    shift = np.full((len(ann), 5), 0.15) * longer[:, None]
    shift[: len(ann) // 2, 0] = 0.25 * longer[: len(ann) // 2]
    preds = np.ones((len(ann), 5, 3), np.float32)
    preds[:, :, 0] = gt[:, :, 0] + shift
    preds[:, :, 1] = gt[:, :, 1]
    with caplog.at_level("INFO"):
        name_value, perf = ds.evaluate(_face_cfg(face_set), preds, str(tmp_path), *_validate_inputs(ds, preds))
    assert list(name_value) == ["PCK@0.2", "EPE", "NME"]
    labelled = gt[:, :, 2] > 0
    expected_pck = (((shift / longer[:, None] < 0.2) & labelled).sum(0) / labelled.sum(0)).mean()
    assert 0.5 < expected_pck < 1
    assert perf == name_value["PCK@0.2"] == pytest.approx(expected_pck, rel=1e-6)
    assert name_value["EPE"] == pytest.approx(shift[labelled].mean(), rel=1e-5)
    assert name_value["NME"] == pytest.approx((shift / longer[:, None])[labelled].mean(), rel=1e-5)
    assert "no DATASET.OKS_SIGMAS, so no OKS-NMS" in caplog.text
    saved = json.loads((tmp_path / "results" / "keypoints_val2017_pck.json").read_text())
    assert saved["PCK@0.2"] == pytest.approx(perf) and saved["people"] == len(ann)
    assert saved["boxes"] == "ground truth" and saved["nme_normalised_by"] == "bbox longer side"
    assert [j["name"] for j in saved["per_joint"]] == ["nose", "left_eye", "right_eye", "mouth_left", "mouth_right"]
    per_joint = json.loads((tmp_path / "results" / "per_joint_val2017.json").read_text())
    assert per_joint["metric"] == "PCK@0.2" and per_joint["joints"][1]["value"] == 1.0
    results = json.loads((tmp_path / "results" / "keypoints_val2017_results.json").read_text())
    assert len(results) == len(ann)  # no OKS-NMS: every person is kept
    assert not list((tmp_path / "results").glob("*.tmp*"))


def test_pck_file_rename_refused_keeps_the_previous_file_and_no_temporary(face_set, tmp_path, monkeypatch) -> None:
    import errno
    import os

    ds = COCODataset(_face_cfg(face_set), str(face_set), "val2017", False)
    preds = np.ones((len(ds.db), 5, 3), np.float32)
    preds[:, :, 0:2] = np.stack([r["joints_3d"][:, 0:2] for r in ds.db])
    ds.evaluate(_face_cfg(face_set), preds, str(tmp_path), *_validate_inputs(ds, preds))
    results = tmp_path / "results"
    pck = results / "keypoints_val2017_pck.json"
    before, names = pck.read_bytes(), sorted(p.name for p in results.iterdir())
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst).name == pck.name:
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    preds[:, :, 0] += 5.0
    with pytest.raises(PermissionError):
        ds.evaluate(_face_cfg(face_set), preds, str(tmp_path), *_validate_inputs(ds, preds))
    assert pck.read_bytes() == before and sorted(p.name for p in results.iterdir()) == names


def test_nme_keypoints_and_threshold_keys_are_used(face_set, tmp_path) -> None:
    cfg = _face_cfg(face_set, "TEST.NME_KEYPOINTS", "[1, 2]", "TEST.PCK_THRESHOLD", "0.1")
    ds = COCODataset(cfg, str(face_set), "val2017", False)
    gt = np.stack([r["joints_3d"] for r in ds.db])
    eyes = np.linalg.norm(gt[:, 1, :2] - gt[:, 2, :2], axis=1)
    preds = np.ones((len(ds.db), 5, 3), np.float32)
    preds[:, :, :2] = gt[:, :, :2]
    preds[:, :, 1] += 0.5 * eyes[:, None]  # NME 0.5 of the eye distance for every joint
    name_value, perf = ds.evaluate(cfg, preds, str(tmp_path), *_validate_inputs(ds, preds))
    assert list(name_value) == ["PCK@0.1", "EPE", "NME"]
    assert name_value["NME"] == pytest.approx(0.5, rel=1e-5)
    saved = json.loads((tmp_path / "results" / "keypoints_val2017_pck.json").read_text())
    assert saved["nme_normalised_by"] == "GT distance of joints 1 (left_eye) and 2 (right_eye)"
    assert saved["pck_threshold"] == 0.1


def test_detector_boxes_match_predictions_to_the_people_of_their_image(face_set, tmp_path, caplog) -> None:
    det = face_set / "person_detection_results" / "val2017_gt_boxes.json"
    dets = json.loads(det.read_text())
    dets.append(dict(dets[0], bbox=[0, 0, 5, 5], score=0.9))  # a false positive in the first image
    det_file = tmp_path / "dets.json"
    det_file.write_text(json.dumps(dets))
    cfg = _face_cfg(face_set, "TEST.USE_GT_BBOX", "false", "TEST.COCO_BBOX_FILE", str(det_file))
    ds = COCODataset(cfg, str(face_set), "val2017", False)
    gt_ds = COCODataset(_face_cfg(face_set), str(face_set), "val2017", False)
    by_image = {}
    for r in gt_ds.db:
        by_image.setdefault(r["image"], []).append(r["joints_3d"])
    # the detector records in file order; each real one predicts a GT person of its image exactly,
    # handed out in reverse order so that the record order does not give the pairing away
    preds = np.ones((len(ds.db), 5, 3), np.float32)
    for i, r in enumerate(ds.db):
        people = by_image[r["image"]]
        preds[i, :, :2] = people.pop()[:, :2] if people and i < len(gt_ds.db) else 1000.0
    db = ds.db
    with caplog.at_level("INFO"):
        name_value, _ = ds.evaluate(cfg, preds, str(tmp_path), *_validate_inputs(ds, preds))
    assert ds.db is db and len(db) == len(dets) and ds.use_gt_bbox is False  # the GT were read on the side
    assert name_value["PCK@0.2"] == 1.0 and name_value["EPE"] < 1e-4 and name_value["NME"] < 1e-5  # float32 preds
    assert "no OKS-NMS" in caplog.text and "without one" in caplog.text
    saved = json.loads((tmp_path / "results" / "keypoints_val2017_pck.json").read_text())
    assert saved["gt_people_without_prediction"] == 0 and saved["predictions_unmatched"] == 1
    results = json.loads((tmp_path / "results" / "keypoints_val2017_results.json").read_text())
    assert len(results) == len(ds.db)  # the false positive is kept too: no OKS-NMS


def test_with_sigmas_the_ap_table_is_unchanged(face_set, tmp_path) -> None:
    cfg = load_config(FACE_YAML, ["DATASET.ROOT", str(face_set), *TINY], validate=True)
    ds = COCODataset(cfg, str(face_set), "val2017", False)
    preds = np.ones((len(ds.db), 5, 3), np.float32)
    preds[:, :, :2] = np.stack([r["joints_3d"][:, :2] for r in ds.db])
    name_value, perf = ds.evaluate(cfg, preds, str(tmp_path), *_validate_inputs(ds, preds))
    assert list(name_value)[:3] == ["AP", "Ap .5", "AP .75"] and perf == name_value["AP"] == pytest.approx(1.0)
    assert not (tmp_path / "results" / "keypoints_val2017_pck.json").exists()


# ------------------------------------------------------------------------------------------------
# end to end


def _table(log: str, names: list[str]) -> list[list[float]]:
    """The values of every results table with these columns in a log, in order."""
    header = "| Arch " + " ".join(f"| {n}" for n in names) + " |"
    lines = log.splitlines()
    rows = []
    for i, line in enumerate(lines):
        if line.endswith(header):
            rows.append([float(v) for v in re.findall(r"\| (-?[\d.]+|nan) (?=\|)", lines[i + 2])])
    return rows


@pytest.mark.slow
def test_train_and_valid_without_sigmas_report_pck_epe_nme(face_set, tmp_path) -> None:
    opts = ["DATASET.ROOT", str(face_set), "DATASET.OKS_SIGMAS", "~", *TINY, "OUTPUT_DIR", str(tmp_path / "out"),
            "LOG_DIR", str(tmp_path / "log"), "TRAIN.END_EPOCH", "3", "TRAIN.LR", "0.003", "PRINT_FREQ", "100"]
    proc = run_python(["pose_estimation/train.py", "--cfg", FACE_YAML, *opts])
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "out" / "coco" / "pose_resnet_18" / "res18_128x128_face"
    log = proc.stdout + proc.stderr
    tables = _table(log, ["PCK@0.2", "EPE", "NME"])
    assert len(tables) == 3 and "| AP " not in log
    history = json.loads((run / "history.json").read_text())
    assert [h["perf"] for h in history] == pytest.approx([t[0] for t in tables], abs=5e-4)
    best = max(range(3), key=lambda e: (history[e]["perf"], -e))  # ties keep the older epoch
    assert f"best perf {history[best]['perf']:.4f} at epoch {best}" in log
    saved = json.loads((run / "results" / "keypoints_val2017_pck.json").read_text())
    assert saved["PCK@0.2"] == pytest.approx(history[-1]["perf"])
    ckpt = torch.load(run / "checkpoint.pth.tar", map_location="cpu", weights_only=False)
    assert ckpt["best_perf"] == pytest.approx(history[best]["perf"]) and ckpt["best_epoch"] == best
    # valid.py on model_best gives that epoch's PCK again, with the same table
    proc = run_python(["pose_estimation/valid.py", "--cfg", FACE_YAML, *opts])
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = _table(proc.stdout + proc.stderr, ["PCK@0.2", "EPE", "NME"])
    assert row[0] == pytest.approx(history[best]["perf"], abs=5e-4)
    saved = json.loads((run / "results" / "keypoints_val2017_pck.json").read_text())
    assert saved["PCK@0.2"] == pytest.approx(history[best]["perf"])


@pytest.mark.slow
def test_valid_py_refuses_bad_metric_keys_in_one_line(face_set, tmp_path) -> None:
    for key, value in (("TEST.PCK_THRESHOLD", "0"), ("TEST.NME_KEYPOINTS", "[0,7]")):
        proc = run_python(["pose_estimation/valid.py", "--cfg", FACE_YAML, "DATASET.ROOT", str(face_set),
                           "OUTPUT_DIR", str(tmp_path / "out"), "LOG_DIR", str(tmp_path / "log"), key, value])
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines()[-1].startswith(f"error: {FACE_YAML}: {key} = ")
        assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_history_records_each_validated_epochs_pck_epe_nme(face_set, tmp_path) -> None:
    """history.json carries each validated epoch's PCK@0.2 / EPE / NME: those that epoch's results file holds
    (one epoch, then a resumed second one, so that each epoch's file can be read), null for a skipped epoch."""
    opts = ["DATASET.ROOT", str(face_set), "DATASET.OKS_SIGMAS", "~", *TINY, "OUTPUT_DIR", str(tmp_path / "out"),
            "LOG_DIR", str(tmp_path / "log"), "TRAIN.LR", "0.003", "PRINT_FREQ", "100", "TRAIN.VALIDATE_EVERY", "2"]
    run = tmp_path / "out" / "coco" / "pose_resnet_18" / "res18_128x128_face"
    saved = {}
    for end in (2, 3):  # validated after epoch 1 (VALIDATE_EVERY 2), then after 2 (the last)
        proc = run_python(["pose_estimation/train.py", "--cfg", FACE_YAML, *opts, "TRAIN.END_EPOCH", end])
        assert proc.returncode == 0, proc.stderr[-3000:]
        saved[end - 1] = json.loads((run / "results" / "keypoints_val2017_pck.json").read_text())
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1, 2]
    assert history[0]["perf"] is None and history[0]["metrics"] is None
    for h in history[1:]:
        assert list(h["metrics"]) == ["PCK@0.2", "EPE", "NME"]
        assert h["metrics"] == {name: saved[h["epoch"]][name] for name in ("PCK@0.2", "EPE", "NME")}
        assert h["perf"] == h["metrics"]["PCK@0.2"] and h["metrics"]["EPE"] > 0
    assert history[1]["metrics"] != history[2]["metrics"]  # two epochs, two results
    ckpt = torch.load(run / "checkpoint.pth.tar", map_location="cpu", weights_only=True)
    assert ckpt["history"] == history
    # plot_history labels the score by its name in the history
    plot = run_python(["tools/plot_history.py", run / "history.json", "--out", tmp_path / "curves.png"])
    assert plot.returncode == 0, plot.stderr
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_history_names_the_score_from_the_results_table(monkeypatch) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("_plot_history", REPO / "tools" / "plot_history.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.syspath_prepend(str(REPO / "tools"))  # as when Python runs the tool: its tools/_init_paths.py
    spec.loader.exec_module(module)
    pck = [{"epoch": 0, "train_loss": 0.1, "perf": None, "metrics": None},
           {"epoch": 1, "train_loss": 0.1, "perf": 0.5, "metrics": {"PCK@0.2": 0.5, "EPE": 3.0, "NME": 0.1}}]
    assert module.score_name(pck) == "PCK@0.2"
    ap = [{"epoch": 0, "train_loss": 0.1, "perf": 0.25, "metrics": {"AP": 0.25, "Ap .5": 0.5}}]
    assert module.score_name(ap) == "AP"
    assert module.score_name([{"epoch": 0, "train_loss": 0.1, "perf": 0.25}]) is None  # an older history
