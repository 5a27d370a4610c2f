"""core.api: the Python API gives validation's keypoints for the same checkpoint and boxes.

The reference is ``core.evaluation.validate`` itself, run over ``COCODataset`` (GT boxes) with the
dataset's ``evaluate`` replaced by a recorder, so crop, flip test, heatmap shift, quarter offset
and back-projection are the ones ``pose_estimation/valid.py`` uses. Tolerances: 1e-4 px for joint
positions, 1e-5 for joint and person scores (the API batches per image, validation across images,
and float32 convolutions over different batch sizes round differently).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from core.api import (
    PoseEstimator,
    box_to_center_scale,
    estimate_poses,
    person_scores,
)
from core.config import ConfigError, load_config
from core.evaluation import validate
from core.loss import JointsMSELoss
from dataset import build_transform
from dataset.coco import COCODataset
from dataset.keypoints import MPII_KEYPOINTS
from models import build_pose_net
from utils.checkpoint import CheckpointMismatchError

REPO = Path(__file__).resolve().parents[2]
COCO_YAML = REPO / "experiments" / "coco" / "resnet50" / "256x192_d256x3_adam_lr1e-3.yaml"
PX_TOL = 1e-4
# Joint scores are heatmap values; convolutions over batches of other sizes round differently.
SCORE_TOL = 1e-5

# A small MRHeat network with the published 3:4 input aspect (96x128 instead of 192x256).
SMALL = [
    "MODEL.NAME", "mrheat1_pose_resnet", "MODEL.EXTRA.NUM_LAYERS", "18",
    "MODEL.EXTRA.NUM_DECONV_FILTERS", "[32,32,32]",
    "MODEL.IMAGE_SIZE", "[96,128]", "MODEL.EXTRA.HEATMAP_SIZE", "[24,32]",
    "GPUS", "cpu", "WORKERS", "0", "TEST.FLIP_TEST", "True", "TEST.BATCH_SIZE", "32",
]


def _save_checkpoints(opts: list[str], folder: Path) -> tuple[Path, Path]:
    """A seeded network saved twice: a bare state dict and a ``module.``-prefixed one in 'state_dict'."""
    cfg = load_config(COCO_YAML, opts)
    torch.manual_seed(0)
    model = build_pose_net(cfg, is_train=False)
    for module in model.modules():  # non-trivial BN statistics, as a trained network has
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    bare, prefixed = folder / "bare.pth", folder / "prefixed.pth.tar"
    torch.save(model.state_dict(), bare)
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}, "epoch": 3}, prefixed)
    return bare, prefixed


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _save_checkpoints(SMALL, tmp_path_factory.mktemp("ckpt"))


@pytest.fixture(scope="module")
def estimator(checkpoints: tuple[Path, Path]) -> PoseEstimator:
    return PoseEstimator.from_config(COCO_YAML, checkpoints[0], opts=SMALL)


def _figure_image(path: Path) -> np.ndarray:
    """A 120x160 BGR picture of a stick figure, written to ``path``."""
    img = np.full((160, 120, 3), 90, np.uint8)
    cv2.rectangle(img, (0, 130), (119, 159), (40, 120, 40), -1)
    cv2.circle(img, (60, 30), 12, (180, 200, 230), -1)
    for a, b in [((60, 42), (60, 95)), ((60, 55), (35, 80)), ((60, 55), (88, 75)),
                 ((60, 95), (45, 140)), ((60, 95), (78, 140))]:
        cv2.line(img, a, b, (30, 60, 200), 6)
    cv2.imwrite(str(path), img)
    return img


# ------------------------------------------------------------------------------------------------
# equality with validation on the real COCO sample


def _validate_records(cfg: Any, coco_root: Path, model_file: Path, tmp_path: Path) -> tuple[COCODataset, dict]:
    """Run core.evaluation.validate on the GT-box dataset; return the dataset and what evaluate got."""
    dataset = COCODataset(cfg, str(coco_root), "val2017", False, build_transform())
    est = PoseEstimator.from_config(COCO_YAML, model_file, opts=SMALL + ["DATASET.COLOR_RGB", str(cfg.DATASET.COLOR_RGB)])
    seen: dict[str, Any] = {}

    def record(config, preds, output_dir, all_boxes, img_path, *args):  # stands in for COCO evaluation
        seen.update(preds=preds.copy(), boxes=all_boxes.copy(), paths=list(img_path))
        return {"AP": 0.0}, 0.0

    dataset.evaluate = record
    loader = DataLoader(dataset, batch_size=cfg.TEST.BATCH_SIZE, shuffle=False, num_workers=0)
    validate(cfg, loader, dataset, est.model, JointsMSELoss(True), str(tmp_path), str(tmp_path))
    return dataset, seen


@pytest.mark.slow
@pytest.mark.parametrize("color_rgb", [False, True])
def test_equals_validation_on_coco_gt_boxes(coco_root: Path, checkpoints, tmp_path: Path, color_rgb: bool) -> None:
    opts = SMALL + ["DATASET.ROOT", str(coco_root), "TEST.USE_GT_BBOX", "True", "DATASET.COLOR_RGB", str(color_rgb)]
    cfg = load_config(COCO_YAML, opts)
    dataset, seen = _validate_records(cfg, coco_root, checkpoints[1], tmp_path)
    assert len(seen["paths"]) == len(dataset.db) == 12
    est = PoseEstimator.from_config(COCO_YAML, checkpoints[0], opts=opts)  # other key format, same weights
    expected_scores = dataset._rescore(seen["preds"], seen["boxes"][:, 5])

    # The GT boxes as the dataset cleans them, per image, in dataset order.
    by_image: dict[str, list[int]] = {}
    for i, path in enumerate(seen["paths"]):
        by_image.setdefault(path, []).append(i)
    clean_boxes: dict[str, list[list[float]]] = {}
    for image_id in dataset.image_set_index:
        info = dataset.coco.loadImgs(image_id)[0]
        boxes = []
        for ann in dataset.coco.loadAnns(dataset.coco.getAnnIds(imgIds=image_id, iscrowd=False)):
            clean = dataset._clean_bbox(ann["bbox"], info["width"], info["height"])
            if ann["area"] > 0 and clean is not None and ann["category_id"] == 1 and max(ann["keypoints"]) > 0:
                boxes.append(clean)
        clean_boxes[dataset.image_path_from_index(image_id)] = boxes

    for path, idx in by_image.items():
        expected = seen["preds"][idx]  # (n, 17, 3) x, y, maxval
        # (a) the dataset's own centre/scale
        got = est.predict_center_scale(path, seen["boxes"][idx, 0:2], seen["boxes"][idx, 2:4])
        # (b) the cleaned GT boxes as [x, y, w, h] (once: the colour order does not change this path)
        got_boxes = got if color_rgb else est.predict(path, boxes=clean_boxes[path])
        assert len(got) == len(got_boxes) == len(idx)
        for k, i in enumerate(idx):
            for result in (got[k], got_boxes[k]):
                assert result["keypoints"].shape == (17, 3) and result["keypoints"].dtype == np.float32
                np.testing.assert_allclose(result["keypoints"][:, :2], expected[k][:, :2], rtol=0, atol=PX_TOL)
                np.testing.assert_allclose(result["keypoints"][:, 2], expected[k][:, 2], rtol=0, atol=SCORE_TOL)
                assert result["score"] == pytest.approx(expected_scores[i], abs=SCORE_TOL)
            # The box path reproduces the dataset's centre and scale bit for bit.
            center, scale = box_to_center_scale(clean_boxes[path][k], est.image_size)
            np.testing.assert_array_equal(center, seen["boxes"][i, 0:2].astype(np.float32))
            np.testing.assert_array_equal(scale, seen["boxes"][i, 2:4].astype(np.float32))
            if not color_rgb:
                assert got_boxes[k]["bbox"] == [float(v) for v in clean_boxes[path][k]]


def test_equals_validation_on_mpii_records(mpii_root: Path, tmp_path: Path) -> None:
    yaml = REPO / "experiments" / "mpii" / "resnet50" / "256x256_d256x3_adam_lr1e-3.yaml"
    opts = [
        "MODEL.NAME", "mrheat2_pose_resnet", "MODEL.EXTRA.NUM_LAYERS", "18", "MODEL.EXTRA.NUM_DECONV_FILTERS", "[32,32,32]",
        "MODEL.IMAGE_SIZE", "[64,64]", "MODEL.EXTRA.HEATMAP_SIZE", "[16,16]", "GPUS", "cpu", "WORKERS", "0",
        "TEST.FLIP_TEST", "True", "DATASET.ROOT", str(mpii_root),
    ]
    cfg = load_config(yaml, opts)
    torch.manual_seed(1)
    torch.save(build_pose_net(cfg, is_train=False).state_dict(), tmp_path / "mpii.pth")
    est = PoseEstimator.from_config(yaml, tmp_path / "mpii.pth", opts=opts)
    assert est.flip_pairs == [list(pair) for pair in MPII_KEYPOINTS.flip_pairs]

    from dataset.mpii import MPIIDataset

    dataset = MPIIDataset(cfg, str(mpii_root), cfg.DATASET.TEST_SET, False, build_transform())
    seen: dict[str, Any] = {}

    def record(config, preds, output_dir, *args):
        seen["preds"] = preds.copy()
        return {"Mean": 0.0}, 0.0

    dataset.evaluate = record
    loader = DataLoader(dataset, batch_size=cfg.TEST.BATCH_SIZE, shuffle=False, num_workers=0)
    validate(cfg, loader, dataset, est.model, JointsMSELoss(True), str(tmp_path), str(tmp_path))
    assert len(seen["preds"]) == len(dataset.db) == 5
    for rec, expected in zip(dataset.db, seen["preds"]):
        (got,) = est.predict_center_scale(rec["image"], rec["center"][None], rec["scale"][None])
        assert got["keypoints"].shape == (16, 3)
        np.testing.assert_allclose(got["keypoints"][:, :2], expected[:, :2], rtol=0, atol=PX_TOL)
        np.testing.assert_allclose(got["keypoints"][:, 2], expected[:, 2], rtol=0, atol=SCORE_TOL)


# ------------------------------------------------------------------------------------------------
# generated image


def test_generated_image_whole_frame_and_array_input(estimator: PoseEstimator, tmp_path: Path) -> None:
    img = _figure_image(tmp_path / "figure.png")
    before = (tmp_path / "figure.png").read_bytes()
    from_path = estimator.predict(tmp_path / "figure.png")
    from_array = estimator.predict(img)
    assert (tmp_path / "figure.png").read_bytes() == before

    assert len(from_path) == 1
    person = from_path[0]
    assert person["bbox"] == [0.0, 0.0, 120.0, 160.0]  # the whole image as one box
    kpts = person["keypoints"]
    assert kpts.shape == (17, 3) and kpts.dtype == np.float32 and np.isfinite(kpts).all()
    # Image coordinates: inside the crop window (the whole image enlarged by 1.25 around its centre).
    half = person["scale"] * 200 / 2
    assert np.all(kpts[:, :2] >= person["center"] - half - 1e-3)
    assert np.all(kpts[:, :2] <= person["center"] + half + 1e-3)
    vis = kpts[:, 2][kpts[:, 2] > estimator.cfg.TEST.IN_VIS_THRE]
    assert person["score"] == pytest.approx(vis.mean() if vis.size else 0.0, rel=1e-6)
    np.testing.assert_array_equal(from_array[0]["keypoints"], kpts)

    # Grey and BGRA arrays are converted to BGR first.
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    np.testing.assert_array_equal(
        estimator.predict(grey)[0]["keypoints"], estimator.predict(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))[0]["keypoints"]
    )
    bgra = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    np.testing.assert_array_equal(estimator.predict(bgra)[0]["keypoints"], kpts)


def test_several_boxes_one_batch_and_box_scores(estimator: PoseEstimator, tmp_path: Path) -> None:
    img = _figure_image(tmp_path / "figure.png")
    boxes = [[20, 10, 80, 140], [-10, -5, 60, 90], [50, 60, 90, 120]]  # the last two stick out of the image
    calls = []
    handle = estimator.model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    try:
        people = estimator.predict(img, boxes=boxes, box_scores=[0.9, 0.5, 0.25])
    finally:
        handle.remove()
    assert calls == [3, 3]  # one batch with all people, plus its flipped copy
    alone = [estimator.predict(img, boxes=b)[0] for b in boxes]
    for person, single, box, box_score in zip(people, alone, boxes, [0.9, 0.5, 0.25]):
        assert person["bbox"] == [float(v) for v in box]
        np.testing.assert_allclose(person["keypoints"], single["keypoints"], atol=PX_TOL)
        assert person["score"] == pytest.approx(single["score"] * box_score, rel=1e-6)
        center, scale = box_to_center_scale(box, estimator.image_size)
        np.testing.assert_array_equal(person["center"], center)
        np.testing.assert_array_equal(person["scale"], scale)
    assert estimator.predict(img, boxes=np.zeros((0, 4))) == []


def test_checkpoint_key_formats_and_functional_helper(checkpoints, tmp_path: Path) -> None:
    img = _figure_image(tmp_path / "figure.png")
    bare, prefixed = checkpoints
    a = PoseEstimator.from_config(COCO_YAML, bare, opts=SMALL, device="cpu").predict(img)
    b = estimate_poses(COCO_YAML, prefixed, tmp_path / "figure.png", opts=SMALL, device=torch.device("cpu"))
    np.testing.assert_array_equal(a[0]["keypoints"], b[0]["keypoints"])
    # flip_test=False switches the flip test off (fewer forward passes, other numbers).
    c = PoseEstimator.from_config(COCO_YAML, bare, opts=SMALL, flip_test=False)
    assert not c.cfg.TEST.FLIP_TEST and c.flip_pairs is None


# ------------------------------------------------------------------------------------------------
# helpers and errors


def test_scores_and_boxes_follow_the_datasets() -> None:
    maxvals = np.array([[[0.1], [0.5], [0.3]], [[0.0], [0.1], [0.2]]], np.float32)
    np.testing.assert_allclose(person_scores(maxvals, np.array([1.0, 0.5]), 0.2), [0.4, 0.0], rtol=1e-6)
    # Worked examples computed with the original ``_xywh2cs``; detector boxes are not cleaned.
    for box, c, sc in [([100, 50, 80, 200], (140, 150), (0.9375, 1.25)), ([10, 20, 300, 100], (160, 70), (1.875, 2.5))]:
        center, scale = box_to_center_scale(box, [192, 256])
        assert center.dtype == scale.dtype == np.float32
        np.testing.assert_allclose(center, c)
        np.testing.assert_allclose(scale, sc, rtol=1e-6)


def test_bad_inputs_name_what_and_where(estimator: PoseEstimator, checkpoints, tmp_path: Path) -> None:
    missing = tmp_path / "nope.jpg"
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        estimator.predict(missing)
    broken = tmp_path / "broken.jpg"
    broken.write_text("not a picture")
    with pytest.raises(ValueError, match="broken.jpg"):
        estimator.predict(broken)
    img = _figure_image(tmp_path / "figure.png")
    with pytest.raises(ValueError, match=r"box 1 .* outside the 120x160 image"):
        estimator.predict(tmp_path / "figure.png", boxes=[[0, 0, 10, 10], [130, 10, 20, 20]])
    with pytest.raises(ValueError, match=r"shape \(N, 4\) \(scores go in box_scores\)"):
        estimator.predict(img, boxes=[[0, 0, 10, 10, 0.9]])
    with pytest.raises(ValueError, match="box 0 .* no area"):
        estimator.predict(img, boxes=[[5, 5, 0, 10]])
    with pytest.raises(ValueError, match="non-finite"):
        estimator.predict(img, boxes=[[5, 5, np.nan, 10]])
    with pytest.raises(ValueError, match="2 boxes but 1 box scores"):
        estimator.predict(img, boxes=[[0, 0, 10, 10], [5, 5, 10, 10]], box_scores=[0.3])
    with pytest.raises(ValueError, match="uint8"):
        estimator.predict(img.astype(np.float32))
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        PoseEstimator.from_config(COCO_YAML, tmp_path / "missing.pth", opts=SMALL)
    # A value that merges by type but that no network runs with is checked as valid.py checks it
    # (an input size off the multiple of 32 used to give silently wrong joints).
    off = [*SMALL, "MODEL.IMAGE_SIZE", "[100,100]", "MODEL.EXTRA.HEATMAP_SIZE", "[25,25]"]
    expected = "MODEL.IMAGE_SIZE = [100, 100] is not allowed; expected [W, H], both positive multiples of 32"
    with pytest.raises(ConfigError, match=re.escape(f"{COCO_YAML}: {expected}")):
        PoseEstimator.from_config(COCO_YAML, checkpoints[0], opts=off)
    cfg = load_config(COCO_YAML, [*SMALL, "MODEL.EXTRA.SIGMA", "0"])
    with pytest.raises(ConfigError, match=r"^the config passed to PoseEstimator: MODEL.EXTRA.SIGMA = 0 is not allowed"):
        PoseEstimator(cfg, estimator.model)
    # A checkpoint of another network: the error names the file and the YAML.
    other = [*SMALL, "MODEL.NAME", "pose_resnet"]
    with pytest.raises(CheckpointMismatchError) as info:
        PoseEstimator.from_config(COCO_YAML, checkpoints[0], opts=other)
    message = str(info.value)
    assert str(checkpoints[0]) in message and str(COCO_YAML) in message and "MODEL.NAME=pose_resnet" in message


def test_nan_scores_nan_centres_and_absurd_boxes_are_refused(estimator: PoseEstimator, tmp_path: Path) -> None:
    """A NaN box score or crop centre would give NaN keypoints and person scores in the results
    (silently wrong); a 1e9-px box a crop of nothing: each is one ValueError naming the index."""
    img = _figure_image(tmp_path / "figure.png")
    with pytest.raises(ValueError, match=r"box score 1 is nan; expected finite numbers \(1 of 2 are NaN"):
        estimator.predict(img, boxes=[[0, 0, 50, 80], [10, 10, 50, 80]], box_scores=[0.9, float("nan")])
    with pytest.raises(ValueError, match=r"centre 0 is \[nan, 50.0\]; expected finite numbers"):
        estimator.predict_center_scale(img, centers=np.array([[np.nan, 50.0]]), scales=np.array([[0.5, 0.7]]))
    with pytest.raises(ValueError, match=r"centre 0 is \[inf, 50.0\]"):
        estimator.predict_center_scale(img, centers=np.array([[np.inf, 50.0]]), scales=np.array([[0.5, 0.7]]))
    with pytest.raises(ValueError, match=r"box 0 \[x, y, w, h\] = \[0.0, 0.0, 1000000000.0, 50.0\] is beyond 100000 px"):
        estimator.predict(img, boxes=[[0, 0, 1e9, 50]])
    assert len(estimator.predict(img, boxes=[[0, 0, 50, 80]], box_scores=[0.9])) == 1  # a sound box still works


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(checkpoints, tmp_path: Path) -> None:
    img = _figure_image(tmp_path / "figure.png")
    cpu = PoseEstimator.from_config(COCO_YAML, checkpoints[0], opts=SMALL, device="cpu").predict(img)
    gpu_est = PoseEstimator.from_config(COCO_YAML, checkpoints[0], opts=SMALL, device="cuda:0")
    assert next(gpu_est.model.parameters()).device.type == "cuda"
    gpu = gpu_est.predict(img)
    np.testing.assert_allclose(gpu[0]["keypoints"][:, :2], cpu[0]["keypoints"][:, :2], atol=0.3)
