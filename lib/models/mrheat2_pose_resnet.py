"""MRHeatNet2 (``MODEL.NAME: mrheat2_pose_resnet``): SimpleBaseline plus two independently upsampled
heatmap side branches.

Same modules as MRHeat1 plus the bare ``s_deconv12``: the 1/16 branch is upsampled
twice (``s_deconv1``, ``s_deconv12``), the 1/8 branch once (``s_deconv2``), and both are added to the
main heatmaps at 1/4 resolution.
"""
from __future__ import annotations

from typing import Any

import torch

from core.config import check_network
from models.resnet import (
    ResNetBackbone,
    build_pose_net_of,
    conv_bn_relu,
    deconv_block,
    final_conv,
    transposed_conv,
)

MODEL_NAME = "mrheat2_pose_resnet"


class MRHeat2PoseResNet(ResNetBackbone):
    """ResNet + three deconvolution stages + two upsampled heatmap side branches; output (N, J, H/4, W/4)."""

    HEAD_MODULES = (
        "deconv1", "deconv2", "deconv3", "s_deconv1", "s_deconv2", "s_deconv12", "s_conv1", "s_conv2", "final_layer",
    )
    HEATMAP_LAYERS = ("s_conv1.0", "s_deconv1.0", "s_deconv12", "s_conv2.0", "s_deconv2", "final_layer")

    def __init__(self, cfg: Any, **kwargs: Any):
        check_network(cfg, MODEL_NAME)
        extra = cfg.MODEL.EXTRA
        filters = [int(f) for f in extra.NUM_DECONV_FILTERS]
        kernels = [int(k) for k in extra.NUM_DECONV_KERNELS]
        super().__init__(extra.NUM_LAYERS, cfg.MODEL.STYLE, model_name=MODEL_NAME)
        joints, kf, bias = cfg.MODEL.NUM_JOINTS, extra.FINAL_CONV_KERNEL, bool(extra.DECONV_WITH_BIAS)
        # ReLU in-place flags as in the original (numerically irrelevant).
        self.deconv1 = deconv_block(self.inplanes, filters[0], kernels[0], bias, inplace_relu=False)
        self.deconv2 = deconv_block(filters[0], filters[1], kernels[1], bias, inplace_relu=False)
        self.deconv3 = deconv_block(filters[1], filters[2], kernels[2], bias, inplace_relu=True)
        self.s_conv1 = conv_bn_relu(filters[0], joints, kf, inplace_relu=True)
        self.s_deconv1 = deconv_block(joints, joints, kernels[1], bias, inplace_relu=True)
        self.s_deconv12 = transposed_conv(joints, joints, kernels[2], bias)
        self.s_conv2 = conv_bn_relu(filters[1], joints, kf, inplace_relu=False)
        self.s_deconv2 = transposed_conv(joints, joints, kernels[2], bias)
        self.final_layer = final_conv(filters[-1], joints, kf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) image batch -> (N, J, H/4, W/4) heatmaps."""
        c5 = self.forward_stages(x)[-1]                          # (N, 512e, H/32, W/32)
        d1 = self.deconv1(c5)                                    # (N, F0, H/16, W/16)
        d2 = self.deconv2(d1)                                    # (N, F1, H/8, W/8)
        a = self.s_deconv12(self.s_deconv1(self.s_conv1(d1)))    # (N, J, H/4, W/4)
        b = self.s_deconv2(self.s_conv2(d2))                     # (N, J, H/4, W/4)
        m = self.final_layer(self.deconv3(d2))                   # (N, J, H/4, W/4)
        return (m + a) + b  # the original's order of additions


PoseResNet = MRHeat2PoseResNet  # the class name every original network file used


def get_pose_net(cfg: Any, is_train: bool, **kwargs: Any) -> MRHeat2PoseResNet:
    """Build the network (head init and ImageNet weights when training); ``kwargs`` are ignored, as in the original."""
    return build_pose_net_of(MRHeat2PoseResNet, cfg, is_train, **kwargs)
