"""core.loss.JointsMSELoss."""
import pytest
import torch
import torch.nn as nn

from core.loss import JointsMSELoss


def reference_loss(output, target, target_weight, use_target_weight):
    """The original per-joint loop: 0.5 * MSELoss(mean) per joint, averaged over joints."""
    criterion = nn.MSELoss(reduction="mean")
    n, j = output.shape[:2]
    preds = output.reshape(n, j, -1).split(1, 1)
    gts = target.reshape(n, j, -1).split(1, 1)
    loss = 0
    for idx in range(j):
        pred, gt = preds[idx].squeeze(), gts[idx].squeeze()
        if use_target_weight:
            loss = loss + 0.5 * criterion(pred.mul(target_weight[:, idx]), gt.mul(target_weight[:, idx]))
        else:
            loss = loss + 0.5 * criterion(pred, gt)
    return loss / j


@pytest.mark.parametrize("use_target_weight", [True, False])
@pytest.mark.parametrize("n", [1, 4])
def test_matches_per_joint_loop(use_target_weight, n):
    g = torch.Generator().manual_seed(n)
    output = torch.rand(n, 17, 16, 12, generator=g)
    target = torch.rand(n, 17, 16, 12, generator=g)
    weight = (torch.rand(n, 17, 1, generator=g) > 0.3).float()
    loss = JointsMSELoss(use_target_weight)(output, target, weight)
    ref = reference_loss(output, target, weight, use_target_weight)
    assert loss.dim() == 0 and loss.dtype == torch.float32
    torch.testing.assert_close(loss, ref, rtol=1e-6, atol=1e-9)


def test_hand_computed_example_and_zero_weight_denominator():
    # N = 1, J = 2, 1 x 2 maps. Joint 0: diff (1, 3) -> squares 1, 9; joint 1: diff (2, 2) -> 4, 4.
    output = torch.tensor([[[[1.0, 3.0]], [[2.0, 2.0]]]])
    target = torch.zeros_like(output)
    weight = torch.ones(1, 2, 1)
    assert JointsMSELoss(True)(output, target, weight).item() == pytest.approx(0.5 * (1 + 9 + 4 + 4) / 4)
    # Joint 1 weighted out: it contributes 0 but still counts in the denominator (4 entries).
    weight[0, 1, 0] = 0
    assert JointsMSELoss(True)(output, target, weight).item() == pytest.approx(0.5 * (1 + 9) / 4)
    # A weight of 2 scales both sides, so the squared difference grows by 4.
    weight[0, 1, 0] = 2
    assert JointsMSELoss(True)(output, target, weight).item() == pytest.approx(0.5 * (1 + 9 + 16 + 16) / 4)
    # Without target weights the weights are ignored.
    assert JointsMSELoss(False)(output, target, weight).item() == pytest.approx(0.5 * 18 / 4)


def test_gradient_and_low_precision_inputs():
    g = torch.Generator().manual_seed(0)
    output = torch.rand(2, 3, 8, 6, generator=g, requires_grad=True)
    target = torch.rand(2, 3, 8, 6, generator=g)
    weight = torch.ones(2, 3, 1)
    loss = JointsMSELoss(True)(output, target, weight)
    loss.backward()
    torch.testing.assert_close(output.grad, (output - target).detach() / output.numel())

    half = JointsMSELoss(True)(output.detach().bfloat16(), target.bfloat16(), weight)
    assert half.dtype == torch.float32
    double = JointsMSELoss(True)(output.detach().double(), target.double(), weight)
    assert double.dtype == torch.float64
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert JointsMSELoss(True)(output, target, weight).dtype == torch.float32


def test_shape_errors():
    crit = JointsMSELoss(True)
    with pytest.raises(ValueError, match="same shape"):
        crit(torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 4, 4), torch.ones(1, 2, 1))
    with pytest.raises(ValueError, match="one weight per joint"):
        crit(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4), torch.ones(1, 3, 1))
