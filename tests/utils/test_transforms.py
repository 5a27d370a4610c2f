"""utils.transforms: the crop affine and the flip helpers, against worked examples of the original code."""
import numpy as np
import pytest
import torch

from utils.transforms import (
    affine_transform,
    affine_transform_points,
    crop,
    flip_back,
    flip_back_torch,
    fliplr_joints,
    get_3rd_point,
    get_affine_transform,
    get_affine_transform_batch,
    get_dir,
    transform_preds,
)

CENTER = np.array([140.0, 150.0], dtype=np.float32)
SCALE = np.array([0.9375, 1.25], dtype=np.float32)
INPUT_SIZE = [192, 256]
HEATMAP_SIZE = [48, 64]
ATOL = 1e-6  # the reference values are given to 6 decimals


@pytest.mark.parametrize(
    "rot, forward, inverse",
    [
        (0, [[1.024, 0, -47.36], [0, 1.024, -25.6]], [[0.9765625, 0, 46.25], [0, 0.9765625, 25.0]]),
        (
            30,
            [[0.886810, 0.512, -104.953405], [-0.512, 0.886810, 66.658499]],
            [[0.845728, -0.488281, 121.310120], [0.488281, 0.845728, -5.128174]],
        ),
        (
            -45,
            [[0.724077, -0.724077, 103.240774], [0.724077, 0.724077, -81.982433]],
            [[0.690534, 0.690534, -14.679606], [-0.690534, 0.690534, 127.902913]],
        ),
    ],
)
def test_affine_matrices_11_2(rot, forward, inverse):
    t = get_affine_transform(CENTER, SCALE, rot, INPUT_SIZE)
    t_inv = get_affine_transform(CENTER, SCALE, rot, INPUT_SIZE, inv=1)
    assert t.shape == (2, 3) and t.dtype == np.float64
    np.testing.assert_allclose(t, forward, atol=ATOL)
    np.testing.assert_allclose(t_inv, inverse, atol=ATOL)
    # The inverse really inverts the forward similarity.
    full = np.vstack([t, [0, 0, 1]])
    full_inv = np.vstack([t_inv, [0, 0, 1]])
    np.testing.assert_allclose(full @ full_inv, np.eye(3), atol=1e-9)


def test_heatmap_size_matrices_11_2():
    np.testing.assert_allclose(
        get_affine_transform(CENTER, SCALE, 0, HEATMAP_SIZE), [[0.256, 0, -11.84], [0, 0.256, -6.4]], atol=ATOL
    )
    np.testing.assert_allclose(
        get_affine_transform(CENTER, SCALE, 30, HEATMAP_SIZE),
        [[0.221703, 0.128, -26.238351], [-0.128, 0.221703, 16.664625]],
        atol=ATOL,
    )
    # The heat-map matrix is the input matrix divided by the stride 4.
    np.testing.assert_allclose(
        get_affine_transform(CENTER, SCALE, 30, HEATMAP_SIZE),
        get_affine_transform(CENTER, SCALE, 30, INPUT_SIZE) / 4,
        atol=1e-6,
    )


def test_shift_11_2():
    t = get_affine_transform(CENTER, SCALE, 0, INPUT_SIZE, shift=np.array([0.1, -0.2], dtype=np.float32))
    np.testing.assert_allclose(t, [[1.024, 0, -66.56], [0, 1.024, 25.6]], atol=ATOL)


@pytest.mark.parametrize(
    "rot, point, expected",
    [
        (0, (150, 200), (106.24, 179.2)),
        (0, (140, 150), (96, 128)),
        (0, (100, 50), (55.04, 25.6)),
        (30, (150, 200), (130.468101, 167.220501)),
        (30, (190, 150), (140.340501, 102.4)),  # right of the centre moves up: counter-clockwise
        (30, (140, 100), (70.4, 83.659499)),
    ],
)
def test_point_mapping_11_2(rot, point, expected):
    t = get_affine_transform(CENTER, SCALE, rot, INPUT_SIZE)
    np.testing.assert_allclose(affine_transform(point, t), expected, atol=ATOL)
    np.testing.assert_allclose(affine_transform_points(np.array([point]), t)[0], expected, atol=ATOL)


def test_gt_box_and_mpii_examples_11_2():
    t = get_affine_transform(np.array([139.5, 149.5], np.float32), np.array([0.9328125, 1.24375], np.float32), 0, INPUT_SIZE)
    np.testing.assert_allclose(t, [[1.029146, 0, -47.565829], [0, 1.029146, -25.857286]], atol=ATOL)
    joint = affine_transform((150, 200), t)
    np.testing.assert_allclose(joint, (106.806030, 179.971859), atol=ATOL)
    np.testing.assert_allclose(joint / 4, (26.7015, 44.9930), atol=1e-4)

    t = get_affine_transform(np.array([593, 301.315]), np.array([3.77625, 3.77625]), 0, [256, 256])
    np.testing.assert_allclose(t, [[0.338961, 0, -73.003641], [0, 0.338961, 25.866083]], atol=ATOL)


def test_scalar_scale_means_square_box():
    np.testing.assert_array_equal(
        get_affine_transform(CENTER, 0.9375, 10, INPUT_SIZE),
        get_affine_transform(CENTER, np.array([0.9375, 0.9375]), 10, INPUT_SIZE),
    )


def test_closed_form_matches_three_point_construction():
    rng = np.random.default_rng(0)
    for _ in range(20):
        c = rng.uniform(0, 600, 2).astype(np.float32)
        s = rng.uniform(0.2, 4, 2).astype(np.float32)
        rot = float(rng.uniform(-80, 80))
        t = get_affine_transform(c, s, rot, INPUT_SIZE)
        k = INPUT_SIZE[0] / (s[0] * 200)
        th = np.deg2rad(rot)
        a = k * np.array([[np.cos(th), np.sin(th)], [-np.sin(th), np.cos(th)]])
        b = np.array(INPUT_SIZE) / 2 - a @ c.astype(np.float64)
        np.testing.assert_allclose(t[:, :2], a, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(t[:, 2], b, rtol=1e-5, atol=1e-3)


def test_batch_matches_scalar():
    rng = np.random.default_rng(1)
    n = 50
    centers = rng.uniform(0, 600, (n, 2)).astype(np.float32)
    scales = rng.uniform(0.2, 4, (n, 2)).astype(np.float32)
    rots = rng.uniform(-80, 80, n)
    for inv in (0, 1):
        batch = get_affine_transform_batch(centers, scales, rots, INPUT_SIZE, inv=inv)
        loop = np.stack([get_affine_transform(c, s, r, INPUT_SIZE, inv=inv) for c, s, r in zip(centers, scales, rots)])
        np.testing.assert_allclose(batch, loop, rtol=1e-10, atol=1e-9)
    # Square (N,) scales and a shared scalar rotation.
    batch = get_affine_transform_batch(centers, scales[:, 0], 0, HEATMAP_SIZE, inv=1)
    loop = np.stack([get_affine_transform(c, s, 0, HEATMAP_SIZE, inv=1) for c, s in zip(centers, scales[:, 0])])
    np.testing.assert_allclose(batch, loop, rtol=1e-10, atol=1e-9)


def test_affine_transform_points_matches_loop():
    rng = np.random.default_rng(2)
    t = get_affine_transform(CENTER, SCALE, 17, INPUT_SIZE)
    pts = rng.uniform(-50, 300, (100, 2))
    expected = np.stack([affine_transform(p, t) for p in pts])
    np.testing.assert_allclose(affine_transform_points(pts, t), expected, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        affine_transform_points(np.zeros((3, 3)), t)


def test_transform_preds_inverse_of_forward():
    coords = np.array([[26.56, 44.8, 0.9], [24, 32, 0.5]])  # (24, 32) is the heat-map centre
    out = transform_preds(coords, CENTER, SCALE, HEATMAP_SIZE)
    assert out.dtype == np.float64 and out.shape == coords.shape
    np.testing.assert_array_equal(out[:, 2], 0)  # extra columns are zero, as in the original
    np.testing.assert_allclose(out[:, :2], [[150, 200], [140, 150]], atol=1e-4)


def test_get_dir_and_3rd_point():
    np.testing.assert_allclose(get_dir([0, -10], np.pi / 2), [10, 0], atol=1e-12)
    third = get_3rd_point(np.array([0, 0], np.float32), np.array([0, -5], np.float32))
    assert third.dtype == np.float32
    np.testing.assert_array_equal(third, [-5, -5])


def test_crop_is_warp_with_forward_matrix():
    img = np.arange(300 * 400 * 3, dtype=np.uint8).reshape(300, 400, 3)
    out = crop(img, CENTER, SCALE, INPUT_SIZE, rot=10)
    assert out.shape == (256, 192, 3)


# ----- flips ----------------------------------------------------------------------------------


def test_fliplr_joints_11_6():
    joints = np.array([[100, 50, 0], [200, 60, 0], [0, 0, 0]], dtype=np.float64)
    vis = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0]], dtype=np.float64)
    joints_before, vis_before = joints.copy(), vis.copy()
    out, out_vis = fliplr_joints(joints, vis, 640, [[0, 1]])
    np.testing.assert_array_equal(out[:, :2], [[439, 60], [539, 50], [0, 0]])
    np.testing.assert_array_equal(out_vis, [[1, 1, 0], [1, 1, 0], [0, 0, 0]])
    # The centre follows the same mirror rule: x -> width - 1 - x.
    assert 640 - 1 - 139.5 == 499.5
    np.testing.assert_array_equal(joints, joints_before)
    np.testing.assert_array_equal(vis, vis_before)


def test_fliplr_joints_swaps_visibility_too():
    joints = np.array([[10, 5, 0], [20, 6, 0]], dtype=np.float64)
    vis = np.array([[1, 1, 0], [0, 0, 0]], dtype=np.float64)
    out, out_vis = fliplr_joints(joints, vis, 100, [[0, 1]])
    np.testing.assert_array_equal(out_vis[:, 0], [0, 1])
    np.testing.assert_array_equal(out[:, :2], [[0, 0], [89, 5]])


def _flip_example():
    maps = np.zeros((1, 2, 1, 6), dtype=np.float32)
    maps[0, 0, 0] = np.arange(1, 7)
    maps[0, 1, 0] = np.arange(10, 70, 10)
    return maps


def test_flip_back_11_6():
    maps = _flip_example()
    before = maps.copy()
    out = flip_back(maps, [[0, 1]])
    np.testing.assert_array_equal(out[0, 0, 0], [60, 50, 40, 30, 20, 10])
    np.testing.assert_array_equal(out[0, 1, 0], [6, 5, 4, 3, 2, 1])
    np.testing.assert_array_equal(maps, before)  # the caller's array is untouched
    # SHIFT_HEATMAP: one column to the right, column 0 keeps its value (the original does not zero it).
    shifted = out.copy()
    shifted[:, :, :, 1:] = out[:, :, :, :-1]
    np.testing.assert_array_equal(shifted[0, 0, 0], [60, 60, 50, 40, 30, 20])
    np.testing.assert_array_equal(shifted[0, 1, 0], [6, 6, 5, 4, 3, 2])


def test_flip_back_torch_matches_numpy():
    maps = _flip_example()
    t = torch.from_numpy(maps.copy())
    out = flip_back_torch(t, [[0, 1]])
    np.testing.assert_array_equal(out.numpy(), flip_back(maps, [[0, 1]]))
    np.testing.assert_array_equal(t.numpy(), maps)
    shifted = out.clone()
    shifted[:, :, :, 1:] = out[:, :, :, :-1]
    np.testing.assert_array_equal(shifted[0, 0, 0].numpy(), [60, 60, 50, 40, 30, 20])
    np.testing.assert_array_equal(shifted[0, 1, 0].numpy(), [6, 6, 5, 4, 3, 2])

    rng = np.random.default_rng(3)
    maps = rng.random((3, 17, 8, 6)).astype(np.float32)
    pairs = [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]]
    np.testing.assert_array_equal(flip_back_torch(torch.from_numpy(maps), pairs).numpy(), flip_back(maps, pairs))


def test_flip_back_is_an_involution_and_rejects_bad_shapes():
    rng = np.random.default_rng(4)
    maps = rng.random((2, 4, 3, 5))
    np.testing.assert_array_equal(flip_back(flip_back(maps, [[0, 3]]), [[0, 3]]), maps)
    with pytest.raises(ValueError, match="N, J, H, W"):
        flip_back(maps[0], [[0, 3]])
    with pytest.raises(ValueError, match="N, J, H, W"):
        flip_back_torch(torch.zeros(2, 3, 4), [[0, 1]])
