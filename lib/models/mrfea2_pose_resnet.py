"""MRFeaNet2 (``MODEL.NAME: mrfea2_pose_resnet``): MRFeaNet1 with wider, channel-halving branches.

Same attribute names, order and wiring as MRFea1, but the widths are hard-coded:
layer4 path 2048 -> 1024 -> 512 -> 256, layer3 path 1024 -> 512 -> 256, layer2 path 512 -> 256.
``NUM_DECONV_FILTERS`` is only read for F2 (the original's BN size of the last stages, which must be
256) and F[-1] (``final_layer`` input).
"""
from __future__ import annotations

from typing import Any

import torch

from core.config import MRFEA2_LAST_WIDTH, check_network
from models.resnet import ResNetBackbone, build_pose_net_of, check_input_multiple_of_32, deconv_block, final_conv

MODEL_NAME = "mrfea2_pose_resnet"
# Hard-coded widths of the original; the last one must equal NUM_DECONV_FILTERS[2].
WIDTHS = (1024, 512, 256)
assert WIDTHS[-1] == MRFEA2_LAST_WIDTH  # the config rule on NUM_DECONV_FILTERS[2] reads that constant


class MRFea2PoseResNet(ResNetBackbone):
    """ResNet + three upsampling branches halving the width at each step; output (N, J, H/4, W/4)."""

    HEAD_MODULES = ("deconv11", "deconv12", "deconv13", "deconv21", "deconv22", "deconv3", "final_layer")
    HEATMAP_LAYERS = ("final_layer",)

    def __init__(self, cfg: Any, **kwargs: Any):
        check_network(cfg, MODEL_NAME)
        extra = cfg.MODEL.EXTRA
        super().__init__(extra.NUM_LAYERS, cfg.MODEL.STYLE, model_name=MODEL_NAME)
        k = [int(v) for v in extra.NUM_DECONV_KERNELS]
        bias, e = bool(extra.DECONV_WITH_BIAS), self.expansion
        w1, w2, w3 = WIDTHS
        self.deconv11 = deconv_block(self.inplanes, w1, k[0], bias, inplace_relu=True)  # layer4: 512e
        self.deconv12 = deconv_block(w1, w2, k[1], bias, inplace_relu=True)
        self.deconv21 = deconv_block(256 * e, w2, k[1], bias, inplace_relu=True)  # layer3
        self.deconv13 = deconv_block(w2, w3, k[2], bias, inplace_relu=True)
        self.deconv22 = deconv_block(w2, w3, k[2], bias, inplace_relu=True)
        self.deconv3 = deconv_block(128 * e, w3, k[2], bias, inplace_relu=True)  # layer2
        self.final_layer = final_conv(int(extra.NUM_DECONV_FILTERS[-1]), cfg.MODEL.NUM_JOINTS, extra.FINAL_CONV_KERNEL)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) image batch, H and W multiples of 32 -> (N, J, H/4, W/4) heatmaps."""
        check_input_multiple_of_32(x, MODEL_NAME)
        c2, c3, c4, c5 = self.forward_stages(x)
        u2 = self.deconv3(c3)                                      # (N, 256, H/4, W/4)
        u3 = self.deconv22(self.deconv21(c4))                      # (N, 256, H/4, W/4)
        u4 = self.deconv13(self.deconv12(self.deconv11(c5)))       # (N, 256, H/4, W/4)
        z = (((c2 + u2) + u3) + u4) / 4  # the original's order; raw layer1 output included
        return self.final_layer(z)


PoseResNet = MRFea2PoseResNet  # the class name every original network file used


def get_pose_net(cfg: Any, is_train: bool, **kwargs: Any) -> MRFea2PoseResNet:
    """Build the network (head init and ImageNet weights when training); ``kwargs`` are ignored, as in the original."""
    return build_pose_net_of(MRFea2PoseResNet, cfg, is_train, **kwargs)
