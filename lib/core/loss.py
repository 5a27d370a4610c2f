"""Heat-map regression loss: the original's ``JointsMSELoss`` plus opt-in OHKM."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["JointsMSELoss", "JointsOHKMMSELoss", "build_loss"]


class JointsMSELoss(nn.Module):
    """Half the mean squared error between predicted and target heat-maps, weighted per joint.

    ``loss = 0.5 * mean_{n, j, p} (w[n, j] * (output[n, j, p] - target[n, j, p]))**2``, the mean taken
    over all N x J x (H*W) entries. A joint with weight 0 contributes 0 but still counts in the
    denominator. This equals the original per-joint loop (``0.5 * MSELoss`` per joint, averaged
    over joints), computed in one pass.
    """

    def __init__(self, use_target_weight: bool) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight

    def forward(
        self, output: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor
    ) -> torch.Tensor:
        """
        Args:
            output: (N, J, H, W) predicted heat-maps.
            target: (N, J, H, W) target heat-maps.
            target_weight: (N, J, 1) per-joint weights (ignored unless ``use_target_weight``).

        Returns:
            A scalar tensor, in float32 (or float64 for float64 inputs) even under autocast.
        """
        if output.shape != target.shape or output.dim() < 2:
            raise ValueError(
                "JointsMSELoss expects output and target of the same shape (N, J, H, W); "
                f"got {tuple(output.shape)} and {tuple(target.shape)}"
            )
        n, j = output.shape[:2]
        # Reduced precision (fp16/bf16 under autocast) would lose the tiny heat-map differences.
        dtype = torch.promote_types(torch.promote_types(output.dtype, target.dtype), torch.float32)
        pred = output.reshape(n, j, -1).to(dtype)
        gt = target.reshape(n, j, -1).to(dtype)
        if self.use_target_weight:
            if target_weight.numel() != n * j:
                raise ValueError(
                    f"target_weight must hold one weight per joint, shape (N, J, 1) = ({n}, {j}, 1); "
                    f"got {tuple(target_weight.shape)}"
                )
            weight = target_weight.reshape(n, j, 1).to(device=pred.device, dtype=dtype)
            # Weight both sides before the difference, as the original does.
            pred = pred * weight
            gt = gt * weight
        return 0.5 * F.mse_loss(pred, gt, reduction="mean")


class JointsOHKMMSELoss(nn.Module):
    """Online hard keypoint mining (HRNet's ``JointsOHKMMSELoss``, ``LOSS.USE_OHKM``).

    Per sample and joint ``l[n, j] = 0.5 * mean_p (w[n, j] * (output - target))**2`` (both sides
    weighted as in :class:`JointsMSELoss`); the loss is ``mean_n (sum of the topk largest l[n, :]) /
    topk``.
    """

    def __init__(self, use_target_weight: bool, topk: int = 8) -> None:
        super().__init__()
        # a guard for a loss built in code; the config's LOSS.TOPK rules are core.config's
        if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
            raise ValueError(f"JointsOHKMMSELoss: topk={topk!r}; expected an int >= 1")
        self.use_target_weight = use_target_weight
        self.topk = topk

    def forward(
        self, output: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor
    ) -> torch.Tensor:
        if output.shape != target.shape or output.dim() < 2:
            raise ValueError(
                "JointsOHKMMSELoss expects output and target of the same shape (N, J, H, W); "
                f"got {tuple(output.shape)} and {tuple(target.shape)}"
            )
        n, j = output.shape[:2]
        if self.topk > j:  # a fact of the tensors, known only here
            raise ValueError(f"JointsOHKMMSELoss: topk={self.topk} is larger than the number of joints ({j})")
        dtype = torch.promote_types(torch.promote_types(output.dtype, target.dtype), torch.float32)
        pred = output.reshape(n, j, -1).to(dtype)
        gt = target.reshape(n, j, -1).to(dtype)
        if self.use_target_weight:
            weight = target_weight.reshape(n, j, 1).to(device=pred.device, dtype=dtype)
            pred = pred * weight
            gt = gt * weight
        per_joint = 0.5 * ((pred - gt) ** 2).mean(dim=2)  # (N, J)
        hardest = torch.topk(per_joint, k=self.topk, dim=1, sorted=False).values
        return (hardest.sum(dim=1) / self.topk).mean()


def build_loss(cfg) -> nn.Module:
    """The training loss the config asks for: ``JointsOHKMMSELoss`` with ``LOSS.USE_OHKM``, else the
    original ``JointsMSELoss``. A ``LOSS.TOPK`` above ``MODEL.NUM_JOINTS`` is a ConfigError
    (:func:`core.config.check_loss`, also run by ``validate_config``)."""
    from core.config import check_loss

    check_loss(cfg)
    if cfg.LOSS.USE_OHKM:
        return JointsOHKMMSELoss(cfg.LOSS.USE_TARGET_WEIGHT, cfg.LOSS.TOPK)
    return JointsMSELoss(use_target_weight=cfg.LOSS.USE_TARGET_WEIGHT)
