"""utils.vis: debug images and draw_skeleton."""
import cv2
import numpy as np
import pytest
import torch

from core.config import get_default_config
from dataset.keypoints import COCO_KEYPOINTS, MPII_KEYPOINTS
from utils.vis import (
    CENTER_COLOR,
    LEFT_COLOR,
    RIGHT_COLOR,
    draw_skeleton,
    save_batch_heatmaps,
    save_batch_image_with_joints,
    save_batch_image_with_joints_test,
    save_debug_images,
    save_debug_images_test,
)

COCO_SKELETON = list(COCO_KEYPOINTS.skeleton)  # what the debug images draw for 17 joints
MPII_SKELETON = list(MPII_KEYPOINTS.skeleton)  # and for 16

N, J, H_IN, W_IN, H_HM, W_HM = 3, 17, 64, 48, 16, 12


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(N, 3, H_IN, W_IN, generator=g) * 0.1  # dark, low-contrast background
    images[:, :, 0, 0] = 3.0  # fix the batch range so normalisation is predictable
    images[:, :, 0, 1] = -3.0
    heatmaps = torch.rand(N, J, H_HM, W_HM, generator=g)
    joints = torch.zeros(N, J, 3)
    joints[:, :, 0] = torch.linspace(8, 40, J)
    joints[:, :, 1] = torch.linspace(8, 56, J)
    joints[:, 1, :2] = torch.tensor([40.0, 10.0])  # far from the others
    vis = torch.ones(N, J, 3)
    vis[:, 1, :] = 0
    return images, heatmaps, joints, vis


def _debug_config():
    cfg = get_default_config()
    cfg.DEBUG.DEBUG = True
    for key in ("SAVE_BATCH_IMAGES_GT", "SAVE_BATCH_IMAGES_PRED", "SAVE_HEATMAPS_GT", "SAVE_HEATMAPS_PRED"):
        cfg.DEBUG[key] = True
    return cfg


def test_skeletons_are_zero_based_originals():
    assert len(COCO_SKELETON) == 19 and len(MPII_SKELETON) == 15
    assert COCO_SKELETON[0] == (15, 13) and MPII_SKELETON[0] == (9, 8)
    assert max(max(p) for p in COCO_SKELETON) == 16 and max(max(p) for p in MPII_SKELETON) == 15


def test_save_debug_images_writes_four_files_without_mutating(tmp_path):
    images, heatmaps, joints, vis = _batch()
    target = heatmaps.clone()
    joints_pred = joints.numpy()[:, :, :2].copy() + 1
    meta = {"joints": joints.clone(), "joints_vis": vis.clone()}
    copies = [images.clone(), heatmaps.clone(), target.clone(), meta["joints"].clone(), joints_pred.copy()]
    prefix = str(tmp_path / "sub" / "val_0")
    save_debug_images(_debug_config(), images, meta, target, joints_pred, heatmaps, prefix)

    grid_shape = (H_IN + 4, N * (W_IN + 2) + 2, 3)  # make_grid: one row of 3, 2-px padding
    for suffix, shape in [
        ("_gt.jpg", grid_shape),
        ("_pred.jpg", grid_shape),
        ("_hm_gt.jpg", (N * H_HM, (J + 1) * W_HM, 3)),
        ("_hm_pred.jpg", (N * H_HM, (J + 1) * W_HM, 3)),
    ]:
        img = cv2.imread(prefix + suffix)
        assert img is not None, suffix
        assert img.shape == shape, suffix
    for before, after in zip(copies, [images, heatmaps, target, meta["joints"], joints_pred]):
        if isinstance(before, torch.Tensor):
            assert torch.equal(before, after)
        else:
            np.testing.assert_array_equal(before, after)


def test_debug_switches(tmp_path):
    images, heatmaps, joints, vis = _batch()
    cfg = _debug_config()
    cfg.DEBUG.DEBUG = False
    save_debug_images(cfg, images, {"joints": joints, "joints_vis": vis}, heatmaps, joints, heatmaps, str(tmp_path / "a"))
    save_debug_images_test(cfg, images, joints, heatmaps, str(tmp_path / "b"))
    assert list(tmp_path.iterdir()) == []
    cfg.DEBUG.DEBUG = True
    cfg.DEBUG.SAVE_HEATMAPS_GT = False
    cfg.DEBUG.SAVE_BATCH_IMAGES_GT = False
    save_debug_images(cfg, images, {"joints": joints, "joints_vis": vis}, heatmaps, joints, heatmaps, str(tmp_path / "a"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_hm_pred.jpg", "a_pred.jpg"]


def test_joint_circles_are_blue_and_respect_visibility(tmp_path):
    images, _, joints, vis = _batch()
    path = str(tmp_path / "gt.jpg")
    save_batch_image_with_joints(images, joints, vis, path)
    img = cv2.imread(path).astype(int)
    for k in range(N):
        x0 = k * (W_IN + 2) + 2
        x, y = int(x0 + joints[k, 0, 0]), int(2 + joints[k, 0, 1])
        b, g, r = img[y, x + 2]  # on the circle's ring (radius 2); the background is grey
        assert b - r > 100 and b - g > 100
        # Joint 1 is invisible: no blue ring around it.
        x, y = int(x0 + joints[k, 1, 0]), int(2 + joints[k, 1, 1])
        b, g, r = img[y, x + 2]
        assert abs(b - r) < 40 and abs(b - g) < 40


def test_skeleton_test_image(tmp_path):
    images, heatmaps, joints, _ = _batch()
    cfg = _debug_config()
    prefix = str(tmp_path / "test_0")
    save_debug_images_test(cfg, images, joints.numpy()[:, :16], heatmaps[:, :16], prefix)  # MPII skeleton
    assert cv2.imread(prefix + "_pred.jpg").shape == (H_IN + 4, N * (W_IN + 2) + 2, 3)
    assert cv2.imread(prefix + "_hm_pred.jpg").shape == (N * H_HM, 17 * W_HM, 3)
    path = str(tmp_path / "coco.jpg")
    pts = np.zeros((1, 17, 2))
    pts[0, :, 0] = 10
    pts[0, :, 1] = 10
    pts[0, 5] = pts[0, 6] = (10, 50)  # limb 5-6 degenerate; limb 5-11 is vertical x=10, y 10..50
    save_batch_image_with_joints_test(images[:1], pts, path)
    img = cv2.imread(path).astype(int)
    b, g, r = img[2 + 30, 2 + 10]  # middle of the green line
    assert g > 150 and b < 100 and r < 100


def test_heatmap_panel_layout(tmp_path):
    images, _, _, _ = _batch()
    heatmaps = torch.zeros(N, J, H_HM, W_HM)
    heatmaps[:, 0] = 1.0  # a full map -> JET(255) = dark red over the whole panel
    path = str(tmp_path / "hm.jpg")
    save_batch_heatmaps(images, heatmaps, path)
    img = cv2.imread(path).astype(int)
    panel = img[H_HM:2 * H_HM, W_HM:2 * W_HM]  # sample 1, joint 0
    assert panel[H_HM // 2, W_HM // 2, 2] > 80 and panel[H_HM // 2, W_HM // 2, 0] < 60
    empty = img[H_HM:2 * H_HM, 2 * W_HM:3 * W_HM]  # joint 1 is all zero -> JET(0) = dark blue
    assert empty[H_HM // 2, W_HM // 2, 0] > 80 and empty[H_HM // 2, W_HM // 2, 2] < 60


def _coco_person():
    kpts = np.zeros((17, 3))
    kpts[:, 2] = 1.0
    kpts[0] = (100, 30, 1)
    for i in range(1, 17):
        side = -1 if i % 2 else 1  # left joints (odd) on the image's left here, for the test only
        kpts[i] = (100 + side * 30, 30 + i * 10, 1)
    return kpts


def test_draw_skeleton_colours_and_hiding():
    image = np.zeros((240, 200, 3), dtype=np.uint8)
    kpts = _coco_person()
    out = draw_skeleton(image, kpts, score_thr=0.3, radius=4, thickness=2)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert image.max() == 0  # input untouched
    left_ankle = kpts[15, :2].astype(int)
    right_ankle = kpts[16, :2].astype(int)
    nose = kpts[0, :2].astype(int)
    np.testing.assert_array_equal(out[left_ankle[1], left_ankle[0]], LEFT_COLOR)
    np.testing.assert_array_equal(out[right_ankle[1], right_ankle[0]], RIGHT_COLOR)
    np.testing.assert_array_equal(out[nose[1], nose[0]], CENTER_COLOR)
    # Middle of the left knee-ankle limb (13 -> 15) is drawn in the left colour.
    mid = ((kpts[13, :2] + kpts[15, :2]) / 2).round().astype(int)
    np.testing.assert_array_equal(out[mid[1], mid[0]], LEFT_COLOR)

    # A low-score left ankle disappears, and so does the limb to it.
    low = kpts.copy()
    low[15, 2] = 0.1
    hidden = draw_skeleton(image, low, score_thr=0.3, radius=4, thickness=2)
    assert hidden[left_ankle[1] - 6:left_ankle[1] + 7, left_ankle[0] - 6:left_ankle[0] + 7].max() == 0
    assert hidden[mid[1], mid[0]].max() == 0
    np.testing.assert_array_equal(hidden[right_ankle[1], right_ankle[0]], RIGHT_COLOR)
    # NaN coordinates are hidden too instead of raising.
    low[16, 0] = np.nan
    draw_skeleton(image, low)


def test_draw_skeleton_mpii_and_errors():
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    kpts = np.zeros((16, 3))
    kpts[:, 0] = np.arange(16) * 5 + 10
    kpts[:, 1] = 50
    kpts[:, 2] = 0.9
    out = draw_skeleton(image, kpts, radius=1, thickness=1)
    np.testing.assert_array_equal(out[50, 10], RIGHT_COLOR)  # joint 0 r_ankle
    np.testing.assert_array_equal(out[50, 10 + 3 * 5], LEFT_COLOR)  # joint 3 l_hip
    np.testing.assert_array_equal(out[50, 10 + 6 * 5], CENTER_COLOR)  # joint 6 pelvis
    with pytest.raises(ValueError, match="pass skeleton"):
        draw_skeleton(image, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="H, W, 3"):
        draw_skeleton(np.zeros((10, 10), np.uint8), kpts)
