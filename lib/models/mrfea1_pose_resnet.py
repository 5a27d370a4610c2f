"""MRFeaNet1 (``MODEL.NAME: mrfea1_pose_resnet``): multi-resolution feature averaging.

The layer2/3/4 outputs are upsampled to 1/4 resolution (one, two and three
deconvolution stages), averaged with the raw layer1 output, and one ``final_layer`` predicts the
heatmaps. Needs a Bottleneck trunk (F2 = 64e = 256) and H, W multiples of 32.
"""
from __future__ import annotations

from typing import Any

import torch

from core.config import check_network
from models.resnet import ResNetBackbone, build_pose_net_of, check_input_multiple_of_32, deconv_block, final_conv

MODEL_NAME = "mrfea1_pose_resnet"


class MRFea1PoseResNet(ResNetBackbone):
    """ResNet + three upsampling branches of constant width F; output (N, J, H/4, W/4)."""

    HEAD_MODULES = ("deconv11", "deconv12", "deconv13", "deconv21", "deconv22", "deconv3", "final_layer")
    HEATMAP_LAYERS = ("final_layer",)

    def __init__(self, cfg: Any, **kwargs: Any):
        check_network(cfg, MODEL_NAME)
        extra = cfg.MODEL.EXTRA
        super().__init__(extra.NUM_LAYERS, cfg.MODEL.STYLE, model_name=MODEL_NAME)
        f = [int(v) for v in extra.NUM_DECONV_FILTERS]
        k = [int(v) for v in extra.NUM_DECONV_KERNELS]
        bias, e = bool(extra.DECONV_WITH_BIAS), self.expansion
        # Registration order (deconv21 before deconv13) fixes the state_dict and parameter order.
        self.deconv11 = deconv_block(self.inplanes, f[0], k[0], bias, inplace_relu=True)  # layer4: 512e
        self.deconv12 = deconv_block(f[0], f[1], k[1], bias, inplace_relu=True)
        self.deconv21 = deconv_block(256 * e, f[1], k[1], bias, inplace_relu=True)  # layer3
        self.deconv13 = deconv_block(f[1], f[2], k[2], bias, inplace_relu=True)
        self.deconv22 = deconv_block(f[1], f[2], k[2], bias, inplace_relu=True)
        self.deconv3 = deconv_block(128 * e, f[2], k[2], bias, inplace_relu=True)  # layer2
        self.final_layer = final_conv(f[-1], cfg.MODEL.NUM_JOINTS, extra.FINAL_CONV_KERNEL)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) image batch, H and W multiples of 32 -> (N, J, H/4, W/4) heatmaps."""
        check_input_multiple_of_32(x, MODEL_NAME)
        c2, c3, c4, c5 = self.forward_stages(x)
        u2 = self.deconv3(c3)                                      # (N, F2, H/4, W/4)
        u3 = self.deconv22(self.deconv21(c4))                      # (N, F2, H/4, W/4)
        u4 = self.deconv13(self.deconv12(self.deconv11(c5)))       # (N, F2, H/4, W/4)
        z = (((c2 + u2) + u3) + u4) / 4  # the original's order; raw layer1 output included
        return self.final_layer(z)


PoseResNet = MRFea1PoseResNet  # the class name every original network file used


def get_pose_net(cfg: Any, is_train: bool, **kwargs: Any) -> MRFea1PoseResNet:
    """Build the network (head init and ImageNet weights when training); ``kwargs`` are ignored, as in the original."""
    return build_pose_net_of(MRFea1PoseResNet, cfg, is_train, **kwargs)
