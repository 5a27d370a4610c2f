"""Accuracy options on the real sample data: soft OKS-NMS in COCO evaluation, UDP crops and targets."""
import numpy as np
import pytest

from core.config import load_config
from dataset import build_dataset
from helpers import REPO

COCO_YAML = REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml"


def _ds(root, *opts):
    det = root / "person_detection_results" / "COCO_val2017_detections_AP_H_56_person.json"
    cfg = load_config(COCO_YAML, ["DATASET.ROOT", str(root), "TEST.COCO_BBOX_FILE", str(det), *opts])
    return build_dataset(cfg, "val2017", False)


@pytest.mark.parametrize("soft", [False, True])
def test_coco_evaluation_picks_soft_nms(coco_root, soft):
    ds = _ds(coco_root, "TEST.SOFT_NMS", str(soft))
    preds = np.ones((3, 17, 3), dtype=np.float32)
    preds[:, :, 0] = np.arange(17) * 5.0
    preds[:, :, 1] = 50.0
    preds[2, :, 0] += 400  # person 2 far from the duplicates 0 and 1
    scores = np.array([0.9, 0.8, 0.5])
    kept = ds._oks_nms_per_image(preds, np.full(3, 5000.0), scores, np.array([7, 7, 7]))
    # Hard OKS-NMS drops the duplicate; soft rescoring keeps it, after the far person.
    assert [k.tolist() for k in kept] == ([[0, 2, 1]] if soft else [[0, 2]])


def test_udp_item_targets_peak_on_transformed_joints(coco_root):
    ds = _ds(coco_root, "MODEL.EXTRA.TARGET_TYPE", "udp", "TEST.USE_GT_BBOX", "True")
    default = _ds(coco_root, "TEST.USE_GT_BBOX", "True")
    idx = next(i for i, r in enumerate(ds.db) if r["joints_3d_vis"][:, 0].sum() >= 10)
    inp, target, weight, meta = ds[idx]
    inp0, target0, _, meta0 = default[idx]
    assert inp.shape == inp0.shape and not np.array_equal(meta["joints"], meta0["joints"])
    stride = (np.array(ds.image_size) - 1) / (np.array(ds.heatmap_size) - 1)
    for j in np.flatnonzero(weight.numpy()[:, 0] > 0):
        hm = target[j].numpy()
        y, x = np.unravel_index(hm.argmax(), hm.shape)
        expect = meta["joints"][j, 0:2] / stride
        if 0 < expect[0] < hm.shape[1] - 1 and 0 < expect[1] < hm.shape[0] - 1:
            assert np.abs(np.array([x, y]) - expect).max() <= 0.5 + 1e-6


@pytest.mark.parametrize("use", [False, True])
def test_different_joints_weight_multiplies_target_weight(coco_root, use):
    ds = _ds(coco_root, "LOSS.USE_DIFFERENT_JOINTS_WEIGHT", str(use), "TEST.USE_GT_BBOX", "True")
    plain = _ds(coco_root, "TEST.USE_GT_BBOX", "True")
    weights = np.array([1, 1, 1, 1, 1, 1, 1, 1.2, 1.2, 1.5, 1.5, 1, 1, 1.2, 1.2, 1.5, 1.5],
                       dtype=np.float32)[:, None]  # HRNet's COCO weights, from the metadata
    np.testing.assert_array_equal(ds.joints_weight_column(), weights)
    _, _, w, _ = ds[0]
    _, _, w0, _ = plain[0]
    np.testing.assert_array_equal(w.numpy(), w0.numpy() * weights if use else w0.numpy())
