"""core.codec and the accuracy options: DARK, UDP, OHKM, soft OKS-NMS and their config checks."""
import cv2
import numpy as np
import pytest
import torch

from core.codec import dark_refine, encode_target, udp_affine_transform, udp_affine_transform_batch
from core.config import ConfigError, get_default_config, load_config
from core.inference import get_final_preds, get_max_preds
from core.loss import JointsMSELoss, JointsOHKMMSELoss, build_loss
from nms.nms import oks_nms, soft_oks_nms


def _gaussian_map(h, w, x0, y0, sigma=2.0):
    x = np.arange(w, dtype=np.float64)[None, :]
    y = np.arange(h, dtype=np.float64)[:, None]
    return np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma ** 2)).astype(np.float32)


def _identity_crop(n, w, h):
    """centre/scale whose inverse crop matrix is the identity for a (w, h) heat-map (gaussian type)."""
    return np.tile([[w / 2, h / 2]], (n, 1)), np.tile([[w / 200, h / 200]], (n, 1))


# --------------------------------------------------------------------------------------------------
# DARK


def test_dark_recovers_subpixel_peak_where_quarter_offset_cannot():
    h, w = 64, 48
    peaks = [(20.3, 30.7), (10.9, 12.1), (33.45, 40.55), (24.0, 24.0), (7.2, 50.8)]
    hm = np.stack([_gaussian_map(h, w, x0, y0) for x0, y0 in peaks])[None]  # (1, 5, H, W)
    center, scale = _identity_crop(1, w, h)
    truth = np.array(peaks)

    cfg = get_default_config()
    quarter, _ = get_final_preds(cfg, hm, center, scale)
    cfg.TEST.DARK = True
    dark, maxvals = get_final_preds(cfg, hm, center, scale)

    err_dark = np.abs(dark[0] - truth).max(axis=1)
    err_quarter = np.abs(quarter[0] - truth).max(axis=1)
    assert (err_dark < 0.05).all(), err_dark
    assert err_quarter.max() > 0.15  # the quarter offset moves by 0 or 0.25 only
    np.testing.assert_array_equal(maxvals, get_max_preds(hm)[1])  # maxvals are the raw maxima


def _dark_loop_reference(heatmaps, kernel):
    """DarkPose's get_final_preds refinement, one map at a time with cv2.GaussianBlur."""
    coords, _ = get_max_preds(heatmaps)
    coords = coords.astype(np.float64)
    hm = heatmaps.copy()
    border = (kernel - 1) // 2
    n, j, h, w = hm.shape
    for a in range(n):
        for b in range(j):
            origin_max = np.max(hm[a, b])
            dr = np.zeros((h + 2 * border, w + 2 * border))
            dr[border:-border, border:-border] = hm[a, b].copy()
            dr = cv2.GaussianBlur(dr, (kernel, kernel), 0)
            hm[a, b] = dr[border:-border, border:-border].copy()
            hm[a, b] *= origin_max / np.max(hm[a, b])
    hm = np.log(np.maximum(hm, 1e-10))
    for a in range(n):
        for b in range(j):
            px, py = int(coords[a, b, 0]), int(coords[a, b, 1])
            m = hm[a, b]
            if 1 < px < w - 2 and 1 < py < h - 2:
                dx = 0.5 * (m[py][px + 1] - m[py][px - 1])
                dy = 0.5 * (m[py + 1][px] - m[py - 1][px])
                dxx = 0.25 * (m[py][px + 2] - 2 * m[py][px] + m[py][px - 2])
                dxy = 0.25 * (m[py + 1][px + 1] - m[py - 1][px + 1] - m[py + 1][px - 1] + m[py - 1][px - 1])
                dyy = 0.25 * (m[py + 2][px] - 2 * m[py][px] + m[py - 2][px])
                if dxx * dyy - dxy ** 2 != 0:
                    hess = np.array([[dxx, dxy], [dxy, dyy]])
                    coords[a, b] += -np.linalg.inv(hess) @ np.array([dx, dy])
    return coords


@pytest.mark.parametrize("kernel", [3, 11])
def test_dark_matches_per_map_reference(kernel):
    rng = np.random.default_rng(kernel)
    h, w = 16, 12
    hm = np.stack([
        np.stack([_gaussian_map(h, w, *rng.uniform([0, 0], [w, h]), sigma=rng.uniform(1, 3)) for _ in range(4)])
        for _ in range(3)
    ]) * rng.uniform(0.2, 1.0, (3, 4, 1, 1)).astype(np.float32)
    hm[0, 0, 0, 0] = 5.0  # arg-max on the border: no refinement
    hm += rng.normal(0, 0.01, hm.shape).astype(np.float32)
    coords, _ = get_max_preds(hm)
    np.testing.assert_allclose(dark_refine(hm, coords, kernel), _dark_loop_reference(hm, kernel), atol=1e-5)


@pytest.mark.parametrize("value", ["10", "1", "0"])
def test_blur_kernel_must_be_odd_and_at_least_3(value):
    with pytest.raises(ConfigError, match="TEST.BLUR_KERNEL"):
        load_config(None, ["TEST.BLUR_KERNEL", value])
    assert load_config(None, ["TEST.BLUR_KERNEL", "5"]).TEST.BLUR_KERNEL == 5


# --------------------------------------------------------------------------------------------------
# UDP


def test_udp_affine_maps_box_onto_pixel_centres():
    center, scale, size = np.array([100.0, 80.0]), np.array([0.96, 1.28]), [192, 256]
    t = udp_affine_transform(center, scale, 0, size)
    corners = np.array([[100 - 96, 80 - 128, 1], [100 + 96, 80 + 128, 1], [100, 80, 1]], dtype=np.float64)
    np.testing.assert_allclose(corners @ t.T, [[0, 0], [191, 255], [95.5, 127.5]], atol=1e-9)
    for rot in (0.0, 30.0):
        fwd = np.vstack([udp_affine_transform(center, scale, rot, size), [0, 0, 1]])
        inv = np.vstack([udp_affine_transform(center, scale, rot, size, inv=True), [0, 0, 1]])
        np.testing.assert_allclose(fwd @ inv, np.eye(3), atol=1e-9)
    batch = udp_affine_transform_batch(center[None], scale[None], 30.0, size)
    np.testing.assert_allclose(batch[0], udp_affine_transform(center, scale, 30.0, size))


def test_udp_encode_then_decode_round_trip():
    cfg = load_config(None, ["MODEL.EXTRA.TARGET_TYPE", "udp", "TEST.DARK", "True",
                             "MODEL.IMAGE_SIZE", "[96,128]", "MODEL.EXTRA.HEATMAP_SIZE", "[24,32]",
                             "MODEL.NUM_JOINTS", "3"])
    image_size, heatmap_size = cfg.MODEL.IMAGE_SIZE, cfg.MODEL.EXTRA.HEATMAP_SIZE
    center, scale = np.array([210.3, 140.6]), np.array([1.2, 1.6])
    image_pts = np.array([[180.37, 120.91], [250.02, 99.5], [205.5, 190.25]])
    trans = udp_affine_transform(center, scale, 0, image_size)
    crop_pts = image_pts @ trans[:, :2].T + trans[:, 2]
    target, weight = encode_target(crop_pts, np.ones((3, 3)), image_size, heatmap_size, 2, "udp")
    assert weight.ravel().tolist() == [1, 1, 1]
    preds, _ = get_final_preds(cfg, target[None], center[None], scale[None])
    # One heat-map pixel is scale*200/(24-1) ~ 10.4 image pixels; DARK on a UDP target is exact-ish.
    np.testing.assert_allclose(preds[0], image_pts, atol=0.05)


def test_gaussian_encoding_keeps_original_centre_rule():
    """Default type: the centre is int(x / stride + 0.5), so a sub-pixel point snaps to a pixel."""
    target, _ = encode_target(np.array([[21.0, 13.0]]), np.ones((1, 3)), np.array([48, 64]),
                              np.array([12, 16]), 2)
    y, x = np.unravel_index(target[0].argmax(), target[0].shape)
    assert (x, y) == (int(21 / 4 + 0.5), int(13 / 4 + 0.5)) and target[0].max() == 1.0


def test_target_type_choices():
    with pytest.raises(ConfigError, match="MODEL.EXTRA.TARGET_TYPE"):
        load_config(None, ["MODEL.EXTRA.TARGET_TYPE", "offset"])


# --------------------------------------------------------------------------------------------------
# OHKM


def test_ohkm_hand_worked():
    # 1x1 maps, output 0: per-joint loss is 0.5 * t**2 -> [[0.5, 2, 4.5], [8, 0, 0]].
    target = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]]).reshape(2, 3, 1, 1)
    output = torch.zeros_like(target)
    weight = torch.ones(2, 3, 1)
    loss = JointsOHKMMSELoss(use_target_weight=True, topk=2)(output, target, weight)
    assert loss.item() == pytest.approx(((2 + 4.5) / 2 + (8 + 0) / 2) / 2)
    weight[0, 2] = 0  # joint 2 of sample 0 weighted out -> top-2 of [0.5, 2, 0]
    loss = JointsOHKMMSELoss(use_target_weight=True, topk=2)(output, target, weight)
    assert loss.item() == pytest.approx(((2 + 0.5) / 2 + 4) / 2)
    loss = JointsOHKMMSELoss(use_target_weight=False, topk=1)(output, target, weight)
    assert loss.item() == pytest.approx((4.5 + 8) / 2)


def test_ohkm_with_all_joints_equals_mse():
    g = torch.Generator().manual_seed(0)
    output, target = torch.rand(3, 5, 8, 6, generator=g), torch.rand(3, 5, 8, 6, generator=g)
    weight = torch.rand(3, 5, 1, generator=g)
    ohkm = JointsOHKMMSELoss(True, topk=5)(output, target, weight)
    torch.testing.assert_close(ohkm, JointsMSELoss(True)(output, target, weight))


def test_build_loss_from_config():
    cfg = get_default_config()
    assert type(build_loss(cfg)) is JointsMSELoss
    cfg.LOSS.USE_OHKM = True
    assert isinstance(build_loss(cfg), JointsOHKMMSELoss) and build_loss(cfg).topk == 8
    cfg.LOSS.TOPK = 17
    with pytest.raises(ConfigError, match=r"LOSS.TOPK=17 .*MODEL.NUM_JOINTS=16"):
        build_loss(cfg)
    with pytest.raises(ConfigError, match="LOSS.TOPK"):
        load_config(None, ["LOSS.TOPK", "0"])


# --------------------------------------------------------------------------------------------------
# soft OKS-NMS


def _person(x, y, score, area=1000.0):
    kpts = np.zeros((17, 3))
    kpts[:, 0] = x + np.arange(17)
    kpts[:, 1] = y
    kpts[:, 2] = 1.0
    return {"keypoints": kpts, "score": score, "area": area}


def test_soft_oks_nms_hand_worked():
    # A and B identical (OKS 1); C far from both (OKS 0). thresh 0.5:
    # keep A; B -> 0.8 * exp(-1 / 0.5) = 0.108 < C's 0.5, so C comes before B; nothing is dropped.
    db = [_person(0, 0, 0.8), _person(500, 500, 0.5), _person(0, 0, 0.9)]
    assert soft_oks_nms(db, 0.5) == [2, 1, 0]
    assert oks_nms(db, 0.5) == [2, 1]  # hard NMS drops B
    # Partial overlap: B shifted so its OKS with A is o; B keeps 0.8 * exp(-o^2/0.5) vs C 0.5.
    db[0] = _person(0, 3, 0.8)
    from nms.nms import oks_iou
    flat = [np.asarray(d["keypoints"]).ravel() for d in db]
    o = oks_iou(flat[2], flat[0][None], 1000.0, np.array([1000.0]))[0]
    expected = [2, 0, 1] if 0.8 * np.exp(-o ** 2 / 0.5) > 0.5 else [2, 1, 0]
    assert 0 < o < 1 and soft_oks_nms(db, 0.5) == expected
    assert db[0]["score"] == 0.8  # input scores untouched


def test_soft_oks_nms_keeps_at_most_20_and_needs_sigmas():
    db = [_person(100 * i, 0, 1.0 - i / 100) for i in range(25)]
    assert soft_oks_nms(db, 0.9) == list(range(20))
    assert soft_oks_nms([], 0.9) == []
    face = [{"keypoints": np.ones((5, 3)), "score": sc, "area": 1.0} for sc in (1.0, 0.5)]
    with pytest.raises(ValueError, match="sigmas"):
        soft_oks_nms(face, 0.9)
    assert soft_oks_nms(face, 0.9, sigmas=[0.5] * 5) == [0, 1]
