"""core.inference: arg-max decoding and back-projection, against worked examples of the original code."""
import math

import numpy as np
import pytest
import torch

from core.config import get_default_config
from core.inference import get_final_preds, get_max_preds
from utils.transforms import affine_transform, get_affine_transform


def _config(post_process: bool):
    cfg = get_default_config()
    cfg.TEST.POST_PROCESS = post_process
    return cfg


def reference_final_preds(post_process, heatmaps, center, scale):
    """The straightforward per-person, per-joint loop of the original, kept as the test oracle."""
    coords, maxvals = get_max_preds(heatmaps)
    coords = coords.copy()
    h, w = heatmaps.shape[2], heatmaps.shape[3]
    if post_process:
        for n in range(coords.shape[0]):
            for p in range(coords.shape[1]):
                hm = heatmaps[n][p]
                px = int(math.floor(coords[n][p][0] + 0.5))
                py = int(math.floor(coords[n][p][1] + 0.5))
                if 1 < px < w - 1 and 1 < py < h - 1:
                    diff = np.array([hm[py][px + 1] - hm[py][px - 1], hm[py + 1][px] - hm[py - 1][px]])
                    coords[n][p] += np.sign(diff) * 0.25
    preds = coords.copy()
    for n in range(coords.shape[0]):
        trans = get_affine_transform(center[n], scale[n], 0, [w, h], inv=1)
        for p in range(coords.shape[1]):
            preds[n, p] = affine_transform(coords[n, p], trans)
    return preds, maxvals


def _example_11_4():
    hm = np.zeros((1, 1, 64, 48), dtype=np.float32)
    hm[0, 0, 45, 27] = 1.0
    hm[0, 0, 45, 28] = 0.8  # right
    hm[0, 0, 45, 26] = 0.5  # left
    hm[0, 0, 44, 27] = 0.7  # above
    hm[0, 0, 46, 27] = 0.6  # below
    center = np.array([[140, 150]], dtype=np.float32)
    scale = np.array([[0.9375, 1.25]], dtype=np.float32)
    return hm, center, scale


@pytest.mark.parametrize(
    "post_process, expected", [(True, (152.69531, 199.80469)), (False, (151.71875, 200.78125))]
)
def test_final_preds_11_4(post_process, expected):
    hm, center, scale = _example_11_4()
    preds, maxvals = get_final_preds(_config(post_process), hm, center, scale)
    assert preds.shape == (1, 1, 2) and preds.dtype == np.float32
    assert maxvals.shape == (1, 1, 1)
    np.testing.assert_allclose(preds[0, 0], expected, atol=1e-5)
    assert maxvals[0, 0, 0] == 1.0
    # General form of the worked example (centre (140, 150), 192x256 input, 48x64 maps):
    # X = 140 + (x - 24) / 0.256, Y = 150 + (y - 32) / 0.256.
    x, y = (27.25, 44.75) if post_process else (27, 45)
    np.testing.assert_allclose(preds[0, 0], (140 + (x - 24) / 0.256, 150 + (y - 32) / 0.256), atol=1e-4)


def test_final_preds_accepts_torch_tensors():
    hm, center, scale = _example_11_4()
    preds, maxvals = get_final_preds(
        _config(True), torch.from_numpy(hm).requires_grad_(), torch.from_numpy(center), torch.from_numpy(scale)
    )
    np.testing.assert_allclose(preds[0, 0], (152.69531, 199.80469), atol=1e-5)
    preds_bf16, _ = get_final_preds(_config(True), torch.from_numpy(hm).bfloat16(), center, scale)
    np.testing.assert_allclose(preds_bf16[0, 0], (152.69531, 199.80469), atol=1e-5)


def _random_case(rng, n, j, h, w, center_dtype):
    heatmaps = rng.normal(0, 0.3, (n, j, h, w)).astype(np.float32)
    # Peaks on the borders and next to them, where the quarter-offset bounds matter.
    for k in range(min(n, 12)):
        heatmaps[k, 0, rng.integers(0, h), rng.choice([0, 1, 2, w - 2, w - 1])] = 5.0
        heatmaps[k, 1 % j, rng.choice([0, 1, 2, h - 2, h - 1]), rng.integers(0, w)] = 5.0
    heatmaps[0, :] = -1.0  # non-positive maxima decode to (0, 0)
    heatmaps[1 % n, 0, 5, 5:8] = 2.0  # ties: the first maximum wins, equal neighbours give no offset
    heatmaps[1 % n, 0, 4:7, 6] = 2.0
    center = rng.uniform(0, 1000, (n, 2)).astype(center_dtype)
    scale = rng.uniform(0.1, 5.0, (n, 2)).astype(center_dtype)
    return heatmaps, center, scale


@pytest.mark.parametrize("post_process", [True, False])
@pytest.mark.parametrize("shape, center_dtype", [((37, 17, 64, 48), np.float32), ((25, 16, 64, 64), np.float64)])
def test_vectorised_matches_loop_reference(post_process, shape, center_dtype):
    rng = np.random.default_rng(sum(shape) + post_process)
    heatmaps, center, scale = _random_case(rng, *shape, center_dtype)
    preds, maxvals = get_final_preds(_config(post_process), heatmaps, center, scale)
    ref_preds, ref_maxvals = reference_final_preds(post_process, heatmaps, center, scale)
    assert preds.dtype == ref_preds.dtype == np.float32
    # Both round a float64 value to float32; the matrices differ by ~1e-15 (LAPACK vs OpenCV solve),
    # which can flip a float32 rounding tie, so allow one float32 ulp (2**-23 relative) beyond 1e-5.
    np.testing.assert_allclose(preds, ref_preds, rtol=2.0**-22, atol=1e-5)
    np.testing.assert_array_equal(maxvals, ref_maxvals)


def test_quarter_offset_bounds():
    """Refinement happens only for 1 < px < W - 1 and 1 < py < H - 1, as in the original."""
    cfg = _config(True)
    h, w = 10, 8
    cases = {(1, 5): False, (2, 5): True, (w - 2, 5): True, (w - 1, 5): False, (4, 1): False, (4, h - 2): True}
    for (x, y), refined in cases.items():
        hm = np.zeros((1, 1, h, w), dtype=np.float32)
        hm[0, 0, y, x] = 1.0
        if x + 1 < w:
            hm[0, 0, y, x + 1] = 0.5  # higher right neighbour -> +0.25 in x when refined
        center = np.array([[w / 2, h / 2]])
        scale = np.array([[w / 200, h / 200]])  # identity mapping: k = 1, centre on (W/2, H/2)
        preds, _ = get_final_preds(cfg, hm, center, scale)
        expected_x = x + 0.25 if refined and x + 1 < w else x
        np.testing.assert_allclose(preds[0, 0], (expected_x, y), atol=1e-6, err_msg=f"peak at {(x, y)}")


def test_get_max_preds():
    hm = np.zeros((2, 3, 4, 5), dtype=np.float32)
    hm[0, 0, 2, 3] = 0.5
    hm[0, 1, 1, 1] = hm[0, 1, 3, 0] = 0.9  # tie: first in row-major order
    hm[0, 2] = -0.1  # non-positive maximum
    hm[1, 0, 3, 4] = 1.0
    coords, maxvals = get_max_preds(hm)
    assert coords.dtype == np.float32 and coords.shape == (2, 3, 2) and maxvals.shape == (2, 3, 1)
    np.testing.assert_array_equal(coords[0], [[3, 2], [1, 1], [0, 0]])
    np.testing.assert_array_equal(coords[1, 0], [4, 3])
    np.testing.assert_array_equal(coords[1, 1:], 0)  # all-zero maps: max 0 is not positive
    np.testing.assert_allclose(maxvals[0, :, 0], [0.5, 0.9, -0.1])
    coords_t, _ = get_max_preds(torch.from_numpy(hm))
    np.testing.assert_array_equal(coords_t, coords)


@pytest.mark.parametrize("bad", [np.zeros((2, 3, 4)), [[[[1.0]]]], np.zeros((1, 1, 1, 2, 2))])
def test_get_max_preds_rejects_bad_input(bad):
    with pytest.raises(ValueError, match=r"\(N, J, H, W\)"):
        get_max_preds(bad)
