"""SimpleBaseline (``MODEL.NAME: pose_resnet``): ResNet trunk + a stack of stride-2 deconvolutions.

Keys: trunk ``conv1``, ``bn1``, ``layer1..4``; head ``deconv_layers.{3i}``
(ConvTranspose2d), ``deconv_layers.{3i+1}`` (BatchNorm2d), ``deconv_layers.{3i+2}`` (ReLU, no keys) and
``final_layer``.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from core.config import check_network
from models.resnet import ResNetBackbone, build_pose_net_of, deconv_block, final_conv

MODEL_NAME = "pose_resnet"


class PoseResNet(ResNetBackbone):
    """ResNet + ``NUM_DECONV_LAYERS`` upsampling stages + a 1x1 heatmap layer.

    Output: (N, J, H/32 * 2^L, W/32 * 2^L) for L stages, i.e. (N, J, H/4, W/4) with the shipped L = 3.
    """

    HEAD_MODULES = ("deconv_layers", "final_layer")
    HEATMAP_LAYERS = ("final_layer",)

    def __init__(self, cfg: Any, **kwargs: Any):
        extra = cfg.MODEL.EXTRA
        filters = [int(f) for f in extra.NUM_DECONV_FILTERS]
        kernels = [int(k) for k in extra.NUM_DECONV_KERNELS]
        check_network(cfg, MODEL_NAME)
        super().__init__(extra.NUM_LAYERS, cfg.MODEL.STYLE, model_name=MODEL_NAME)
        self.deconv_with_bias = bool(extra.DECONV_WITH_BIAS)
        self.deconv_layers = self._make_deconv_layer(filters, kernels)
        self.final_layer = final_conv(filters[-1], cfg.MODEL.NUM_JOINTS, extra.FINAL_CONV_KERNEL)

    def _make_deconv_layer(self, filters: list[int], kernels: list[int]) -> nn.Sequential:
        """One flat Sequential ``[TConv, BN, ReLU] x L`` starting from the layer4 width (512e)."""
        layers: list[nn.Module] = []
        in_channels = self.inplanes
        for out_channels, kernel in zip(filters, kernels):
            layers.extend(deconv_block(in_channels, out_channels, kernel, self.deconv_with_bias, inplace_relu=True))
            in_channels = out_channels
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) image batch -> (N, J, H/4, W/4) heatmaps."""
        c5 = self.forward_stages(x)[-1]
        return self.final_layer(self.deconv_layers(c5))


def get_pose_net(cfg: Any, is_train: bool, **kwargs: Any) -> PoseResNet:
    """Build the network (head init and ImageNet weights when training); ``kwargs`` are ignored, as in the original."""
    return build_pose_net_of(PoseResNet, cfg, is_train, **kwargs)
