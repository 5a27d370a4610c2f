"""core.evaluate: training-time accuracy, against values computed with the original ``accuracy``."""
import numpy as np
import pytest
import torch

from core.evaluate import accuracy, calc_dists, dist_acc


def _example_11_5():
    """64 x 48 maps, one sample, four joints (expected values from the original code)."""
    output = np.zeros((1, 4, 64, 48), dtype=np.float32)
    target = np.zeros((1, 4, 64, 48), dtype=np.float32)
    target[0, 0, 10, 10] = 1  # GT (10, 10)
    output[0, 0, 10, 13] = 1  # pred (13, 10): 3 / 6.4 = 0.469 -> hit
    target[0, 1, 10, 10] = 1
    output[0, 1, 13, 10] = 1  # pred (10, 13): 3 / 4.8 = 0.625 -> miss
    target[0, 2, 10, 1] = 1  # GT x = 1 -> ignored
    output[0, 2, 30, 30] = 1
    output[0, 3, 5, 5] = 1  # all-zero target -> ignored
    return output, target


def test_accuracy_11_5():
    output, target = _example_11_5()
    acc, avg_acc, cnt, pred = accuracy(output, target)
    np.testing.assert_allclose(acc, [0.5, 1, 0, -1, -1], atol=1e-6)
    assert avg_acc == pytest.approx(0.5)
    assert cnt == 2
    assert pred.shape == (1, 4, 2)
    np.testing.assert_array_equal(pred[0], [[13, 10], [10, 13], [30, 30], [5, 5]])


def test_accuracy_accepts_torch_and_matches_numpy():
    output, target = _example_11_5()
    acc, avg_acc, cnt, pred = accuracy(torch.from_numpy(output), torch.from_numpy(target))
    np.testing.assert_allclose(acc, [0.5, 1, 0, -1, -1], atol=1e-6)
    assert (avg_acc, cnt) == (pytest.approx(0.5), 2)


def test_fix_norm_swaps_the_normalisation():
    output, target = _example_11_5()
    # Corrected: x by W/10 = 4.8, y by H/10 = 6.4 -> joint 0: 3/4.8 = 0.625 miss, joint 1: 3/6.4 hit.
    acc, avg_acc, cnt, _ = accuracy(output, target, fix_norm=True)
    np.testing.assert_allclose(acc, [0.5, 0, 1, -1, -1], atol=1e-6)
    assert cnt == 2


def test_no_valid_joint():
    output = np.random.default_rng(0).random((2, 3, 8, 8)).astype(np.float32)
    target = np.zeros_like(output)
    acc, avg_acc, cnt, _ = accuracy(output, target)
    assert cnt == 0 and avg_acc == 0
    np.testing.assert_array_equal(acc, [0, -1, -1, -1])


def test_calc_dists_and_dist_acc():
    preds = np.array([[[13, 10], [0, 0]], [[5, 5], [2, 3]]], dtype=np.float32)
    target = np.array([[[10, 10], [1, 5]], [[5, 9], [2, 2]]], dtype=np.float32)
    dists = calc_dists(preds, target, np.array([[6.4, 4.8], [2.0, 2.0]]))
    assert dists.shape == (2, 2)  # (J, N)
    np.testing.assert_allclose(dists, [[3 / 6.4, 2.0], [-1, 0.5]])
    assert dist_acc(dists[0]) == pytest.approx(0.5)
    assert dist_acc(dists[1]) == 0.0  # 0.5 is not < 0.5
    assert dist_acc(np.array([-1.0, -1.0])) == -1


def test_random_against_loop_reference():
    rng = np.random.default_rng(1)
    output = rng.random((6, 5, 16, 12)).astype(np.float32)
    target = np.zeros_like(output)
    for n in range(6):
        for j in range(5):
            if rng.random() < 0.8:
                target[n, j, rng.integers(0, 16), rng.integers(0, 12)] = 1
    acc, avg_acc, cnt, pred = accuracy(output, target)
    gt = np.stack([np.stack(np.unravel_index(target[n].reshape(5, -1).argmax(1), (16, 12))[::-1], -1) for n in range(6)])
    gt = gt * (target.reshape(6, 5, -1).max(-1) > 0)[..., None]
    norm = np.array([16, 12]) / 10
    ref = []
    for j in range(5):
        d = [np.linalg.norm(pred[n, j] / norm - gt[n, j] / norm) for n in range(6) if gt[n, j, 0] > 1 and gt[n, j, 1] > 1]
        ref.append(np.mean(np.array(d) < 0.5) if d else -1)
    np.testing.assert_allclose(acc[1:], ref)
    valid = [a for a in ref if a >= 0]
    assert cnt == len(valid) and avg_acc == pytest.approx(np.mean(valid))


def test_unknown_hm_type():
    output, target = _example_11_5()
    with pytest.raises(ValueError, match="gaussian"):
        accuracy(output, target, hm_type="regression")
