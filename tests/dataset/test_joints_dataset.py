"""dataset.JointsDataset: box -> centre/scale, targets and the MPII record (worked examples computed
with the original code), meta, and bit-identical items against a port of the original
(bench/reference_joints_dataset.py)."""
import json
import random
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from core.config import get_default_config, load_config
from dataset import DATASETS, build_dataset, build_transform
from dataset.coco import COCODataset
from dataset.JointsDataset import JointsDataset, _matmul_matches_dot, is_standard_transform
from dataset.mpii import MPIIDataset
from helpers import REPO, identical, sample_path
from reference_joints_dataset import ReferenceJointsDataset, build_reference_transform  # bench/, the test oracle
from utils import zipreader

COCO_YAML = REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml"
MPII_YAML = REPO / "experiments/mpii/resnet50/256x256_d256x3_adam_lr1e-3.yaml"


# --------------------------------------------------------------------------------------------------
# helpers


def seeded(ds, idx, seed):
    random.seed(seed)
    np.random.seed(seed)
    return ds[idx]


def coco_cfg(root, *opts):
    return load_config(COCO_YAML, ["DATASET.ROOT", str(root), *opts])


def assert_same_items(ours, ref, seeds=range(40)):
    for seed in seeds:
        idx = seed % len(ours)
        identical(seeded(ours, idx, seed), seeded(ref, idx, seed), f"item {idx} seed {seed}")


def coco_stub(fix=False):
    """A COCODataset without files, for its box helpers (aspect 0.75 as 192x256)."""
    ds = COCODataset.__new__(COCODataset)
    ds.aspect_ratio = 0.75
    ds.pixel_std = 200
    ds.fix_box_cleaning = fix
    return ds


def target_dataset(image_size=(192, 256), heatmap_size=(48, 64), sigma=2, num_joints=1):
    cfg = get_default_config()
    cfg.MODEL.IMAGE_SIZE = list(image_size)
    cfg.MODEL.EXTRA.HEATMAP_SIZE = list(heatmap_size)
    cfg.MODEL.EXTRA.SIGMA = sigma
    ds = JointsDataset(cfg, "", "", False)
    ds.num_joints = num_joints
    return ds


# --------------------------------------------------------------------------------------------------
# box -> centre / scale


@pytest.mark.parametrize(
    "box, gt, cleaned, center, scale",
    [
        ([100, 50, 80, 200], True, [100, 50, 79, 199], (139.5, 149.5), (0.9328125, 1.24375)),
        ([100, 50, 80, 200], False, None, (140, 150), (0.9375, 1.25)),
        ([10, 20, 300, 100], True, [10, 20, 299, 99], (159.5, 69.5), (1.86875, 2.4916667)),
        ([10, 20, 300, 100], False, None, (160, 70), (1.875, 2.5)),
        ([600, 400, 80, 120], True, [600, 400, 39, 79], (619.5, 439.5), (0.3703125, 0.49375)),
        ([-10, 20, 50, 100], True, [0, 20, 49, 99], (24.5, 69.5), (0.4640625, 0.61875)),
    ],
)
def test_box_to_center_scale_rows(box, gt, cleaned, center, scale):
    ds = coco_stub()
    if gt:
        got = ds._clean_bbox(box, 640, 480)
        assert [float(v) for v in got] == cleaned
        box = got
    c, s = ds._box2cs(box)
    assert c.dtype == np.float32 and s.dtype == np.float32
    np.testing.assert_allclose(c, center, rtol=1e-7)
    np.testing.assert_allclose(s, scale, rtol=1e-6)


@pytest.mark.parametrize(
    "box, cleaned",
    [
        ([-10, 20, 50, 100], [0, 20, 40, 100]),  # cut at the left border, not shifted
        ([600, 400, 80, 120], [600, 400, 40, 80]),  # cut at the right/bottom border
        ([100, 50, 80, 200], [100, 50, 80, 200]),  # inside: unchanged (no 1-px shrink)
        ([-50, 20, 30, 100], None),  # entirely left of the image: dropped
        ([100, 50, 0, 200], None),  # zero width: dropped
    ],
)
def test_fixed_box_cleaning_cuts(box, cleaned):
    got = coco_stub(fix=True)._clean_bbox(box, 640, 480)
    assert (None if got is None else [float(v) for v in got]) == cleaned


def test_fixed_cleaning_matches_detection_box():
    ds = coco_stub(fix=True)
    c_gt, s_gt = ds._box2cs(ds._clean_bbox([100, 50, 80, 200], 640, 480))
    c_det, s_det = ds._box2cs([100, 50, 80, 200])
    identical(c_gt, c_det)
    identical(s_gt, s_det)


def test_original_cleaning_keeps_zero_size_boxes():
    # The original's filter is x2 >= x1, so a zero-width box passes.
    assert coco_stub()._clean_bbox([100, 50, 0, 0], 640, 480) == [100, 50, 0, 0]


# --------------------------------------------------------------------------------------------------
# target heat-maps

G = [1, 0.882497, 0.606531, 0.324652, 0.135335, 0.043937, 0.011109]


def one_target(x, y, vis=1.0, **kw):
    ds = target_dataset(**kw)
    joints = np.array([[x, y, 0.0]])
    joints_vis = np.array([[vis, vis, 0.0]])
    target, weight = ds.generate_target(joints, joints_vis)
    assert target.dtype == np.float32 and target.shape == (1, 64, 48)
    assert weight.dtype == np.float32 and weight.shape == (1, 1)
    return target[0], float(weight[0, 0])


def test_target_T1():
    t, w = one_target(106.24, 179.2)
    assert w == 1 and t[45, 27] == 1.0
    rows, cols = np.nonzero(t)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (39, 51, 21, 33)
    np.testing.assert_allclose(t[45, 21:34], G[::-1] + G[1:], atol=1e-6)
    assert t.sum() == pytest.approx(25.08129, abs=1e-5)


def test_target_T2_partly_outside():
    t, w = one_target(-20, 100)
    assert w == 1
    rows, cols = np.nonzero(t)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (19, 31, 0, 2)
    assert t.max() == pytest.approx(0.135335, abs=1e-6) and t[25, 0] == t.max()


def test_target_T3_br_zero_keeps_weight_and_draws_nothing():
    t, w = one_target(-30, 100)
    assert w == 1 and not t.any()


def test_target_T4_off_grid_corner():
    t, w = one_target(191.9, 255.9)
    assert w == 1
    rows, cols = np.nonzero(t)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (58, 63, 42, 47)
    assert t.max() == pytest.approx(0.778801, abs=1e-6) and t[63, 47] == t.max()
    assert t.sum() == pytest.approx(4.016261, abs=1e-5)


def test_target_T5_truncation_toward_zero():
    t, w = one_target(-2, -2)
    assert w == 1 and t[0, 0] == 1.0
    assert t.sum() == pytest.approx(9.024384, abs=1e-5)


@pytest.mark.parametrize("x, y", [(215, 100), (-200, -200)])
def test_target_T6_T7_outside_weight_zero(x, y):
    t, w = one_target(x, y)
    assert w == 0 and not t.any()


def test_target_invisible_joint_not_drawn():
    t, w = one_target(100, 100, vis=0.0)
    assert w == 0 and not t.any()


def test_target_sigma3_profile():
    t, _ = one_target(96, 128, sigma=3)
    row = t[32, 24:34]
    np.testing.assert_allclose(row, [1, 0.945959, 0.800737, 0.606531, 0.411112, 0.249352, 0.135335,
                                     0.065729, 0.028566, 0.011109], atol=1e-6)


def _random_joint_sets(count, rng):
    for _ in range(count):
        joints = np.zeros((17, 3))
        joints[:, 0:2] = rng.uniform(-80, 300, size=(17, 2))
        vis = np.zeros((17, 3))
        vis[:, 0:2] = (rng.random(17) < 0.8)[:, None]
        yield joints, vis


def _reference_targets(ds, sigma):
    ref = ReferenceJointsDataset.__new__(ReferenceJointsDataset)
    ref.num_joints, ref.target_type, ref.sigma = ds.num_joints, "gaussian", sigma
    ref.image_size, ref.heatmap_size = ds.image_size, ds.heatmap_size
    return ref


@pytest.mark.parametrize("sigma", [1, 2, 3, 4 / 3])  # 3 sigma an integer: the original's targets, bit for bit
def test_targets_equal_original_loop(sigma):
    ds = target_dataset(sigma=sigma, num_joints=17)
    ref = _reference_targets(ds, sigma)
    for joints, vis in _random_joint_sets(200, np.random.default_rng(7)):
        identical(ds.generate_target(joints, vis), ref.generate_target(joints, vis))


@pytest.mark.parametrize("sigma", [2.5, 1.5, 2.2])
def test_non_integer_three_sigma_keeps_the_peak_on_the_joint(sigma):
    """The original truncates int(mu - 3 sigma) toward zero: with 3 sigma not an integer, a joint closer
    than 3 sigma cells to the top/left border got its peak one cell too far down/right. Ours stays on
    mu = int(x / stride + 0.5) and is the original's target for every other joint."""
    ds = target_dataset(sigma=sigma, num_joints=17)
    ref = _reference_targets(ds, sigma)
    stride = ds.image_size / ds.heatmap_size
    moved = 0
    for joints, vis in _random_joint_sets(200, np.random.default_rng(7)):
        ours, ours_w = ds.generate_target(joints, vis)
        theirs, theirs_w = ref.generate_target(joints, vis)
        mu = (joints[:, 0:2] / stride + 0.5).astype(int)
        for j in range(17):
            drawn_on_map = ours_w[j, 0] > 0.5 and (0 <= mu[j]).all() and (mu[j] < ds.heatmap_size).all()
            if drawn_on_map:
                assert ours[j, mu[j, 1], mu[j, 0]] == 1.0
            if (mu[j] >= 3 * sigma).all():  # where truncation and floor agree
                identical((ours[j], ours_w[j]), (theirs[j], theirs_w[j]))
            elif drawn_on_map:  # within 3 sigma of the top/left border: the original's peak is one cell off
                moved += 1
                assert theirs[j].max() == 1.0 and theirs[j, mu[j, 1], mu[j, 0]] < 1.0
    assert moved > 100  # the case the fix is for does occur in this sample


def test_target_rejects_non_finite_and_other_types():
    ds = target_dataset()
    with pytest.raises(ValueError, match="finite"):
        ds.generate_target(np.array([[np.nan, 1.0, 0.0]]), np.ones((1, 3)))
    ds.target_type = "offset"
    with pytest.raises(ValueError, match="gaussian"):
        ds.generate_target(np.zeros((1, 3)), np.ones((1, 3)))


def test_target_huge_coordinates_weight_zero():
    t, w = one_target(1e300, -1e300)
    assert w == 0 and not t.any()


# --------------------------------------------------------------------------------------------------
# MPII record


def test_mpii_record_center_scale(tmp_path):
    (tmp_path / "annot").mkdir()
    rec = {"image": "x.jpg", "center": [594, 257], "scale": 3.021,
           "joints": [[10 + i, 20 + i] for i in range(16)], "joints_vis": [1] * 15 + [0]}
    (tmp_path / "annot" / "valid.json").write_text(json.dumps([rec]))
    cfg = load_config(MPII_YAML, ["DATASET.ROOT", str(tmp_path)])
    ds = MPIIDataset(cfg, str(tmp_path), "valid", False)
    r = ds.db[0]
    np.testing.assert_allclose(r["center"], [593, 301.315], rtol=1e-12)
    np.testing.assert_allclose(r["scale"], [3.77625, 3.77625], rtol=1e-12)
    assert r["center"].dtype == np.float64 and r["scale"].dtype == np.float64
    np.testing.assert_array_equal(r["joints_3d"][:, 0:2], np.array(rec["joints"]) - 1)
    assert not r["joints_3d"][:, 2].any()
    np.testing.assert_array_equal(r["joints_3d_vis"][:, 0], rec["joints_vis"])
    np.testing.assert_array_equal(r["joints_3d_vis"][:, 1], rec["joints_vis"])
    assert r["image"] == str(tmp_path / "images" / "x.jpg")


# --------------------------------------------------------------------------------------------------
# items: meta and equality with the original algorithm


@pytest.fixture
def coco_val(coco_root):
    return build_dataset(coco_cfg(coco_root), "val2017", False, build_transform())


@pytest.fixture
def coco_train(coco_root):
    return build_dataset(coco_cfg(coco_root), "train2017", True, build_transform())


def test_item_shapes_and_meta_val(coco_val):
    ds = coco_val
    assert len(ds) == 12
    rec = ds.db[3]
    inp, target, weight, meta = ds[3]
    assert inp.dtype == torch.float32 and inp.shape == (3, 256, 192)
    assert target.dtype == torch.float32 and target.shape == (17, 64, 48)
    assert weight.dtype == torch.float32 and weight.shape == (17, 1)
    assert set(meta) == {"image", "filename", "imgnum", "joints", "joints_vis", "center", "scale", "rotation", "score"}
    assert meta["image"] == rec["image"] and meta["filename"] == "" and meta["imgnum"] == 0
    assert meta["rotation"] == 0 and meta["score"] == 1
    identical(meta["center"], rec["center"])
    identical(meta["scale"], rec["scale"])
    identical(meta["joints_vis"], rec["joints_3d_vis"])
    # Visible joints are in crop pixels, invisible ones untouched.
    from utils.transforms import affine_transform, get_affine_transform

    trans = get_affine_transform(rec["center"], rec["scale"], 0, ds.image_size)
    for j in range(17):
        if rec["joints_3d_vis"][j, 0] > 0:
            np.testing.assert_array_equal(meta["joints"][j, 0:2], affine_transform(rec["joints_3d"][j, 0:2], trans))
        else:
            np.testing.assert_array_equal(meta["joints"][j], rec["joints_3d"][j])
    np.testing.assert_array_equal(weight[:, 0].numpy() > 0, rec["joints_3d_vis"][:, 0] > 0)


def test_item_does_not_change_the_record(coco_train):
    before = [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in r.items()} for r in coco_train.db]
    for seed in range(30):
        seeded(coco_train, seed % 12, seed)
    for r0, r1 in zip(before, coco_train.db):
        identical(r0, r1)


@pytest.mark.slow
def test_train_items_equal_original(coco_train):
    ref = ReferenceJointsDataset(coco_train, transform=build_reference_transform())
    assert_same_items(coco_train, ref, range(120))


def test_val_items_equal_original(coco_val):
    ref = ReferenceJointsDataset(coco_val, transform=build_reference_transform())
    for idx in range(len(coco_val)):
        identical(coco_val[idx], ref[idx])


def test_train_rotations_and_flips_are_exercised(coco_train):
    rots, flips = 0, 0
    for seed in range(60):
        meta = seeded(coco_train, seed % 12, seed)[3]
        rots += meta["rotation"] != 0
        flips += meta["center"][0] != coco_train.db[seed % 12]["center"][0]
    assert 20 < rots < 50 and 15 < flips < 45


def test_no_transform_equals_original(coco_root):
    ours = build_dataset(coco_cfg(coco_root), "train2017", True, None)
    ref = ReferenceJointsDataset(ours, transform=None)
    assert_same_items(ours, ref, range(24))
    inp = seeded(ours, 0, 0)[0]
    assert isinstance(inp, np.ndarray) and inp.dtype == np.uint8 and inp.shape == (256, 192, 3)


def test_other_transform_uses_it_as_is(coco_root):
    def transform(img):
        return torch.from_numpy(img.astype(np.float32).transpose(2, 0, 1) * 2.0)

    ours = build_dataset(coco_cfg(coco_root), "train2017", True, transform)
    assert not ours._lut_ok
    assert_same_items(ours, ReferenceJointsDataset(ours, transform=transform), range(12))


def test_standard_transform_recognised():
    import torchvision.transforms as T

    assert is_standard_transform(build_transform())
    assert is_standard_transform(build_reference_transform())  # a plain torchvision Compose
    assert not is_standard_transform(T.Compose([T.ToTensor()]))
    assert not is_standard_transform(None)
    assert not is_standard_transform(lambda x: x)


def test_fused_normalisation_is_exact():
    ds = target_dataset()
    ds.transform = build_transform()
    crop = np.random.default_rng(0).integers(0, 256, size=(37, 29, 3), dtype=np.uint8)
    ours = ds._to_input(crop)
    ref = build_reference_transform()(crop)
    identical(ours, ref)
    assert (ours - ref).abs().max().item() == 0


def test_mpii_train_items_equal_original(mpii_root):
    cfg = load_config(MPII_YAML, ["DATASET.ROOT", str(mpii_root)])
    ours = build_dataset(cfg, "train", True, build_transform())
    assert len(ours) == 5
    assert_same_items(ours, ReferenceJointsDataset(ours, transform=build_reference_transform()), range(30))


def test_joint_transform_matches_per_joint_dot():
    # Informational on this machine; the dataset falls back to the per-joint loop otherwise.
    assert isinstance(_matmul_matches_dot(), bool)


# --------------------------------------------------------------------------------------------------
# options: RGB, half body, select_data


def test_rgb_switch(coco_root):
    bgr = build_dataset(coco_cfg(coco_root), "train2017", True, None)
    rgb = build_dataset(coco_cfg(coco_root, "DATASET.COLOR_RGB", "True"), "train2017", True, None)
    for seed in range(8):
        a = seeded(bgr, seed % 12, seed)
        b = seeded(rgb, seed % 12, seed)
        np.testing.assert_array_equal(b[0], a[0][:, :, ::-1])
        identical(a[1:], b[1:])
    # With the standard transform: the same values as converting right after reading (HRNet).
    rgb_t = build_dataset(coco_cfg(coco_root, "DATASET.COLOR_RGB", "True"), "train2017", True, build_transform())
    assert_same_items(rgb_t, ReferenceJointsDataset(rgb_t, transform=build_reference_transform()), range(16))


def test_half_body_equals_hrnet(coco_root):
    ours = build_dataset(coco_cfg(coco_root, "DATASET.PROB_HALF_BODY", "1.0"), "train2017", True, build_transform())
    ref = ReferenceJointsDataset(ours, transform=build_reference_transform())
    assert_same_items(ours, ref, range(48))
    # It did change some boxes: scale 1.5 x a joint box instead of the person box.
    changed = 0
    for seed in range(24):
        meta = seeded(ours, seed % 12, seed)[3]
        plain = seeded(build_dataset(coco_cfg(coco_root), "train2017", True, None), seed % 12, seed)[3]
        changed += not np.array_equal(meta["scale"], plain["scale"])
    assert changed > 0


def test_half_body_transform_box():
    ds = target_dataset(num_joints=17)
    ds.upper_body_ids = tuple(range(11))
    joints = np.zeros((17, 3))
    vis = np.zeros((17, 3))
    # Four visible upper-body joints spanning x 100..130, y 50..90.
    for j, (x, y) in zip([0, 5, 6, 9], [(100, 50), (130, 60), (110, 90), (120, 70)]):
        joints[j, 0:2] = (x, y)
        vis[j, 0:2] = 1
    np.random.seed(0)  # randn() = 1.76 > 0.5, but the lower body has < 3 joints -> upper body
    c, s = ds.half_body_transform(joints, vis)
    np.testing.assert_allclose(c, [115, 67.5])
    # w 30, h 40 -> w = 40 * 0.75 = 30 -> scale (30, 40) / 200 * 1.5
    np.testing.assert_allclose(s, [0.225, 0.3], rtol=1e-6)
    vis[:] = 0
    vis[0, 0] = 1
    assert ds.half_body_transform(joints, vis) == (None, None)


def original_select_data(ds, db):
    """The original loop, for comparison."""
    out = []
    for rec in db:
        num_vis, jx, jy = 0, 0.0, 0.0
        for joint, joint_vis in zip(rec["joints_3d"], rec["joints_3d_vis"]):
            if joint_vis[0] <= 0:
                continue
            num_vis += 1
            jx += joint[0]
            jy += joint[1]
        if num_vis == 0:
            continue
        jx, jy = jx / num_vis, jy / num_vis
        area = rec["scale"][0] * rec["scale"][1] * (ds.pixel_std ** 2)
        diff = np.linalg.norm(np.array([jx, jy]) - np.array(rec["center"]), 2)
        ks = np.exp(-1.0 * (diff ** 2) / ((0.2) ** 2 * 2.0 * area))
        if ks > (0.2 / 16) * num_vis + 0.45 - 0.2 / 16:
            out.append(rec)
    return out


def test_select_data_equals_original(coco_root, mpii_root):
    coco = build_dataset(coco_cfg(coco_root), "train2017", True)
    mpii = build_dataset(load_config(MPII_YAML, ["DATASET.ROOT", str(mpii_root)]), "train", True)
    full = build_dataset(load_config(MPII_YAML, ["DATASET.ROOT", str(sample_path("mpii_full"))]), "valid", False)
    # Two made-up records that the filter drops: joints far from the box centre, no visible joint.
    far = dict(coco.db[0], joints_3d=coco.db[0]["joints_3d"] + 400.0)
    blind = dict(coco.db[1], joints_3d_vis=np.zeros((17, 3)))
    for ds, db in ((coco, coco.db + [far, blind]), (mpii, mpii.db), (full, full.db)):
        kept = ds.select_data(db)
        assert [id(r) for r in kept] == [id(r) for r in original_select_data(ds, db)]
    assert len(coco.select_data(coco.db + [far, blind])) == len(coco.select_data(coco.db))
    sel = build_dataset(coco_cfg(coco_root, "DATASET.SELECT_DATA", "True"), "train2017", True)
    assert len(sel) == len(coco.select_data(coco.db))


# --------------------------------------------------------------------------------------------------
# zip format and read errors


@pytest.fixture
def coco_zip_root(coco_root, tmp_path):
    root = tmp_path / "coco"
    (root / "images").mkdir(parents=True)
    (root / "annotations").symlink_to(coco_root / "annotations")
    with zipfile.ZipFile(root / "images" / "train2017.zip", "w") as zf:
        for p in sorted((coco_root / "images" / "train2017").glob("*.jpg")):
            zf.write(p, arcname=p.name)
    return root


def test_zip_format_equals_jpg(coco_root, coco_zip_root):
    jpg = build_dataset(coco_cfg(coco_root), "train2017", True, build_transform())
    zp = build_dataset(coco_cfg(coco_zip_root, "DATASET.DATA_FORMAT", "zip"), "train2017", True, build_transform())
    assert zp.db[0]["image"] == str(coco_zip_root / "images" / "train2017.zip@" / Path(jpg.db[0]["image"]).name)
    for seed in range(12):
        a = seeded(jpg, seed, seed)
        b = seeded(zp, seed, seed)
        assert b[3]["image"].startswith(str(coco_zip_root / "images" / "train2017.zip@/"))
        b[3]["image"] = a[3]["image"]
        identical(a, b)
    assert_same_items(zp, ReferenceJointsDataset(zp, transform=build_reference_transform()), range(12))


def test_zipreader_errors(coco_zip_root, tmp_path):
    archive = coco_zip_root / "images" / "train2017.zip"
    img = zipreader.imread(f"{archive}@/000000000785.jpg", cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    assert img.shape == (425, 640, 3) and img.dtype == np.uint8
    with pytest.raises(FileNotFoundError, match="missing.zip"):
        zipreader.imread(f"{tmp_path}/missing.zip@/a.jpg")
    with pytest.raises(FileNotFoundError, match=r"'nope\.jpg'.*train2017\.zip"):
        zipreader.imread(f"{archive}@/nope.jpg")
    with pytest.raises(ValueError, match="not a zip image path"):
        zipreader.imread(str(tmp_path / "plain.jpg"))
    assert zipreader.split_zip_path("a/b.zip@/c.jpg") == ("a/b.zip", "c.jpg")


def test_zip_cache_is_per_process(coco_zip_root):
    import os

    archive = str(coco_zip_root / "images" / "train2017.zip")
    zipreader.read_bytes(f"{archive}@/000000000785.jpg")
    assert (os.getpid(), archive) in zipreader._ZIP_CACHE


def test_missing_image_error(coco_val, tmp_path):
    missing = str(tmp_path / "nothing_here.jpg")
    coco_val.db[0] = dict(coco_val.db[0], image=missing)
    with pytest.raises(FileNotFoundError, match="nothing_here.jpg"):
        coco_val[0]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a jpeg")
    coco_val.db[0] = dict(coco_val.db[0], image=str(broken))
    with pytest.raises(ValueError, match="broken.jpg"):
        coco_val[0]


# --------------------------------------------------------------------------------------------------
# building


def test_build_dataset_by_name(coco_root, mpii_root):
    roots = {"coco": (COCO_YAML, coco_root, "val2017"), "mpii": (MPII_YAML, mpii_root, "valid")}
    for name, cls in DATASETS.items():
        yaml, root, image_set = roots[name]
        ds = build_dataset(load_config(yaml, ["DATASET.ROOT", str(root)]), image_set, False)
        assert type(ds) is cls and len(ds) > 0


def test_build_dataset_unknown_name():
    cfg = get_default_config()
    cfg.DATASET.DATASET = "lsp"
    with pytest.raises(ValueError, match=r"DATASET.DATASET='lsp'; expected one of \['coco', 'mpii'\]"):
        build_dataset(cfg, "valid", False)


def test_original_names_importable():
    import dataset

    assert dataset.coco is COCODataset and dataset.mpii is MPIIDataset


def test_extended_standard_transform_is_not_fused(coco_root):
    import torchvision.transforms as T

    transform = build_transform()
    transform.transforms.append(T.Lambda(lambda x: x * 2))
    assert not is_standard_transform(transform)
    ours = build_dataset(coco_cfg(coco_root), "val2017", False, transform)
    identical(ours[0], ReferenceJointsDataset(ours, transform=transform)[0])


def test_results_do_not_depend_on_opencv_threads(coco_train):
    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        one = [seeded(coco_train, s % 12, s) for s in range(6)]
        cv2.setNumThreads(2)
        two = [seeded(coco_train, s % 12, s) for s in range(6)]
    finally:
        cv2.setNumThreads(before)
    identical(one, two)


def test_zip_dataset_in_worker_processes(coco_zip_root):
    """Items read through forked DataLoader workers (one archive handle per process) are unchanged."""
    ds = build_dataset(coco_cfg(coco_zip_root, "DATASET.DATA_FORMAT", "zip"), "train2017",
                       False, build_transform())
    ds[0]  # the parent opens the archive before the workers fork
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, shuffle=False)
    batches = list(loader)
    inputs = torch.cat([b[0] for b in batches])
    expected = torch.stack([ds[i][0] for i in range(len(ds))])
    assert torch.equal(inputs, expected)
