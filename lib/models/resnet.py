"""ResNet blocks, the trunk shared by the five pose networks, and the small head builders.

The trunk is a *base class* rather than a child module so that its parameters keep the top-level
names ``conv1``, ``bn1``, ``layer1`` .. ``layer4`` of the published checkpoints and of torchvision's
ImageNet files. Each pose network subclasses :class:`ResNetBackbone`, adds its
head with the original attribute names and ``nn.Sequential`` indices, and lists the head modules
in ``HEAD_MODULES`` (the order in which the original ``init_weights`` re-initialised them).

Tensor shapes are (N, C, H, W); H, W of the input are the image height and width
(``MODEL.IMAGE_SIZE`` is stored as [W, H]).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Union

import torch
from torch import nn

from core.config import DECONV_KERNELS, check_deconv_kernel, check_resnet
from utils.checkpoint import CheckpointError, load_state_dict_file, unwrap_model

__all__ = [
    "BN_MOMENTUM",
    "BasicBlock",
    "Bottleneck",
    "Bottleneck_CAFFE",
    "ResNetBackbone",
    "conv3x3",
    "conv_bn_relu",
    "deconv_block",
    "deconv_padding",
    "final_conv",
    "init_head_",
    "load_imagenet_weights",
    "resnet_spec",
    "resolve_block",
]

logger = logging.getLogger(__name__)

BN_MOMENTUM = 0.1

PathLike = Union[str, os.PathLike]
# Top-level attribute names of the trunk (registration order); everything else is head.
TRUNK_MODULES = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34); expansion 1."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, inplanes, H, W) -> (N, planes, H/stride, W/stride)."""
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        # In place is safe here: BatchNorm's backward does not need its output.
        out += residual
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride here, "pytorch style" = torchvision) -> 1x1 with a residual; expansion 4."""

    expansion = 4
    # Which convolution carries the stride: the 3x3 here, the first 1x1 in Bottleneck_CAFFE.
    stride_on_1x1 = False

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        stride_1x1, stride_3x3 = (stride, 1) if self.stride_on_1x1 else (1, stride)
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, stride=stride_1x1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride_3x3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, inplanes, H, W) -> (N, 4 * planes, H/stride, W/stride)."""
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += residual  # safe in place: BatchNorm's backward does not need its output
        return self.relu(out)


class Bottleneck_CAFFE(Bottleneck):  # original class name
    """Caffe-style bottleneck: the stride sits on the first 1x1 convolution, the 3x3 has stride 1.

    Same parameters and key names as :class:`Bottleneck`; only the place of the stride differs.
    """

    stride_on_1x1 = True


BlockType = type[Union[BasicBlock, Bottleneck]]

# depth -> (block, blocks per stage layer1..layer4)
resnet_spec: dict[int, tuple[BlockType, list[int]]] = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (Bottleneck, [3, 4, 6, 3]),
    101: (Bottleneck, [3, 4, 23, 3]),
    152: (Bottleneck, [3, 8, 36, 3]),
}

STYLES = ("pytorch", "caffe")


def resolve_block(depth: int, style: str = "pytorch", model_name: str = "pose_resnet") -> tuple[BlockType, list[int]]:
    """``(block class, blocks per stage)`` for ``MODEL.EXTRA.NUM_LAYERS`` and ``MODEL.STYLE``.

    Raises:
        ConfigError (a ValueError): unknown depth or style, or caffe style with a BasicBlock depth
            (18/34); the rule is :func:`core.config.check_resnet`.
    """
    check_resnet(depth, style, model_name)
    block, layers = resnet_spec[depth]
    if style == "caffe":
        block = Bottleneck_CAFFE
    return block, list(layers)


# kernel -> (padding, output_padding) giving an exact x2 upsampling with stride 2.
_DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}
assert sorted(_DECONV_PADDING) == sorted(DECONV_KERNELS)


def deconv_padding(kernel: int, model_name: str | None = None) -> tuple[int, int]:
    """``(padding, output_padding)`` of a stride-2 ConvTranspose2d with ``kernel`` (4, 3 or 2)."""
    check_deconv_kernel(kernel, model_name)
    return _DECONV_PADDING[kernel]


def transposed_conv(in_channels: int, out_channels: int, kernel: int, bias: bool) -> nn.ConvTranspose2d:
    """Stride-2 ConvTranspose2d, (N, in, H, W) -> (N, out, 2H, 2W)."""
    padding, output_padding = deconv_padding(kernel)
    return nn.ConvTranspose2d(
        in_channels, out_channels, kernel_size=kernel, stride=2,
        padding=padding, output_padding=output_padding, bias=bias,
    )


def deconv_block(in_channels: int, out_channels: int, kernel: int, bias: bool, inplace_relu: bool) -> nn.Sequential:
    """``[0] ConvTranspose2d (stride 2), [1] BatchNorm2d, [2] ReLU``: (N, in, H, W) -> (N, out, 2H, 2W)."""
    return nn.Sequential(
        transposed_conv(in_channels, out_channels, kernel, bias),
        nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM),
        nn.ReLU(inplace=inplace_relu),
    )


def final_conv(in_channels: int, out_channels: int, kernel: int) -> nn.Conv2d:
    """Stride-1 Conv2d with bias; padding 1 for kernel 3, else 0 (as in the original)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=kernel, stride=1,
                     padding=1 if kernel == 3 else 0, bias=True)


def conv_bn_relu(in_channels: int, out_channels: int, kernel: int, inplace_relu: bool) -> nn.Sequential:
    """``[0] Conv2d (bias, stride 1), [1] BatchNorm2d, [2] ReLU`` (MRHeat's ``s_conv*``)."""
    return nn.Sequential(
        final_conv(in_channels, out_channels, kernel),
        nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM),
        nn.ReLU(inplace=inplace_relu),
    )


@torch.no_grad()
def init_head_(modules: Iterable[nn.Module], std: float = 0.001) -> None:
    """Re-initialise head modules in place, in the given order (the order fixes the random draws).

    (Transposed) convolution weights ~ N(0, std), their biases 0; BatchNorm weight 1, bias 0
    (running statistics keep their fresh values).
    """
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, std=std)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


def _group_keys(keys: Sequence[str]) -> str:
    """``deconv1.* (5), final_layer.* (2)``: a compact listing of many keys by top-level module."""
    counts: dict[str, int] = {}
    for k in keys:
        head = k.split(".", 1)[0]
        counts[head] = counts.get(head, 0) + 1
    return ", ".join(f"{name}.* ({n})" for name, n in counts.items())


def load_imagenet_weights(model: nn.Module, path: PathLike) -> int:
    """Load an ImageNet classification file into the trunk of ``model`` (a deliberate partial load).

    Accepts torchvision files (a bare state dict: ``conv1``, ``bn1``, ``layerX``, ``fc``) and
    caffe-style ``.pth.tar`` files (a dict with ``'state_dict'``, keys possibly ``module.``-prefixed).
    Keys the model lacks (``fc.weight``, ``fc.bias``) are skipped and keys the file lacks (the head)
    keep their initialisation; both are logged. Like the original, a file key with a head name and a
    matching shape is loaded too (logged as a warning).

    Returns:
        The number of tensors taken from the file.

    Raises:
        FileNotFoundError: ``path`` does not exist (names ``MODEL.PRETRAINED``).
        ValueError: a shape mismatch (names the file and key), or no key of the file fits the model.
    """
    target = unwrap_model(model)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"MODEL.PRETRAINED={str(path)!r}: ImageNet weight file not found (set MODEL.PRETRAINED to an "
            "existing file, or to '' to train from scratch)"
        )
    try:
        state_dict = load_state_dict_file(path)
    except CheckpointError as e:
        raise ValueError(f"MODEL.PRETRAINED: {e}") from e

    expected = target.state_dict()
    taken = {k: v for k, v in state_dict.items() if k in expected}
    for k, v in taken.items():
        if v.shape != expected[k].shape:
            raise ValueError(
                f"MODEL.PRETRAINED={str(path)!r}: {k} has shape {tuple(v.shape)} in the file but "
                f"{tuple(expected[k].shape)} in the model (wrong depth or style for MODEL.EXTRA.NUM_LAYERS?)"
            )
    if not taken:
        raise ValueError(
            f"MODEL.PRETRAINED={str(path)!r}: no key of the file matches the model "
            f"(file keys start with {list(state_dict)[:3]}; expected conv1/bn1/layer1..layer4)"
        )
    skipped = [k for k in state_dict if k not in expected]
    missing = [k for k in expected if k not in taken]
    old_buffers = [k for k in missing if k.endswith(".num_batches_tracked") and k.split(".", 1)[0] in TRUNK_MODULES]
    missing = [k for k in missing if k not in old_buffers]
    head_taken = [k for k in taken if k.split(".", 1)[0] not in TRUNK_MODULES]

    target.load_state_dict(taken, strict=False)
    logger.info("=> loaded ImageNet weights from %s: %d of %d file tensors taken", path, len(taken), len(state_dict))
    if skipped:
        logger.info("=> skipped %d file keys the model does not have: %s", len(skipped), ", ".join(skipped))
    if missing:
        logger.info("=> %d model keys not in the file keep their initialisation: %s",
                    len(missing), _group_keys(missing))
    if old_buffers:
        logger.info("=> %d num_batches_tracked buffers absent from the file (old format); they keep their "
                    "current value", len(old_buffers))
    if head_taken:
        logger.warning("=> the file also overwrote %d head keys: %s", len(head_taken), _group_keys(head_taken))
    return len(taken)


class ResNetBackbone(nn.Module):
    """ResNet trunk: ``conv1, bn1, relu, maxpool, layer1..layer4`` registered in that order.

    Subclasses add a head and set ``HEAD_MODULES`` to the head attribute names in the order the
    original ``init_weights`` re-initialised them.

    Args:
        depth: ``MODEL.EXTRA.NUM_LAYERS`` (18, 34, 50, 101 or 152).
        style: ``MODEL.STYLE``: ``'pytorch'`` (stride on the 3x3) or ``'caffe'`` (stride on the 1x1).
        model_name: ``MODEL.NAME``, only used in error messages.
    """

    HEAD_MODULES: tuple[str, ...] = ()
    # The layers whose outputs are heatmaps (or are summed into them), as submodule names: inference
    # under autocast runs them in float32 (core.amp). Plain class data: no state_dict key changes.
    HEATMAP_LAYERS: tuple[str, ...] = ()

    def __init__(self, depth: int, style: str = "pytorch", *, model_name: str = "pose_resnet"):
        super().__init__()
        block, layers = resolve_block(depth, style, model_name)
        self.expansion: int = block.expansion
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)

    def _make_layer(self, block: BlockType, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion, momentum=BN_MOMENTUM),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers.extend(block(self.inplanes, planes) for _ in range(1, blocks))
        return nn.Sequential(*layers)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, 64, H/4, W/4): conv1, bn1, relu, maxpool."""
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def forward_stages(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) -> (c2, c3, c4, c5), the outputs of layer1..layer4.

        Shapes with e = block expansion: c2 (N, 64e, H/4, W/4), c3 (N, 128e, H/8, W/8),
        c4 (N, 256e, H/16, W/16), c5 (N, 512e, H/32, W/32) (sizes rounded up per stride-2 step).
        """
        c2 = self.layer1(self.forward_stem(x))
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return c2, c3, c4, c5

    def head_modules(self) -> list[nn.Module]:
        """The head modules in the original initialisation order."""
        return [getattr(self, name) for name in self.HEAD_MODULES]

    def heatmap_layers(self) -> list[nn.Module]:
        """The convolutions that produce heatmaps (``HEATMAP_LAYERS``): the final layer and MRHeat's side heads."""
        return [self.get_submodule(name) for name in self.HEATMAP_LAYERS]

    def init_weights(self, pretrained: PathLike = "") -> None:
        """Initialise the head (N(0, 0.001) weights, zero biases, BN 1/0), then load ImageNet weights.

        ``pretrained`` is ``MODEL.PRETRAINED``. ``''`` means: no ImageNet weights, the trunk keeps
        PyTorch's default initialisation (training from scratch). The original raised for any file
        that did not exist, ``''`` included; a non-empty missing path still raises.

        Raises:
            FileNotFoundError: ``pretrained`` is non-empty and does not exist (checked before any
                initialisation so nothing is changed).
        """
        pretrained = os.fspath(pretrained)
        if pretrained and not os.path.isfile(pretrained):
            raise FileNotFoundError(
                f"MODEL.PRETRAINED={pretrained!r}: ImageNet weight file not found (set MODEL.PRETRAINED to "
                "an existing file, or to '' to train from scratch)"
            )
        logger.info("=> init head of %s: %s (weights N(0, 0.001), biases 0, BN 1/0)",
                    type(self).__name__, ", ".join(self.HEAD_MODULES))
        init_head_(self.head_modules())
        if pretrained:
            load_imagenet_weights(self, pretrained)
        else:
            logger.info("=> MODEL.PRETRAINED is empty: no ImageNet weights are loaded (training from scratch)")



def build_pose_net_of(cls: type, cfg: Any, is_train: bool, **kwargs: Any) -> nn.Module:
    """What every ``get_pose_net`` does: build ``cls(cfg)``; for training with ``MODEL.INIT_WEIGHTS``
    also initialise the head and load ImageNet weights from ``MODEL.PRETRAINED``."""
    model = cls(cfg, **kwargs)
    if is_train and cfg.MODEL.INIT_WEIGHTS:
        model.init_weights(cfg.MODEL.PRETRAINED)
    return model

def check_input_multiple_of_32(x: torch.Tensor, model_name: str) -> None:
    """MRFea forward needs H, W multiples of 32; say so instead of a cryptic size mismatch.

    A fact of the input tensor, known only here at run time (the config's MODEL.IMAGE_SIZE rule is
    core.config's).
    """
    h, w = x.shape[-2:]
    if h % 32 or w % 32:
        raise ValueError(
            f"{model_name}: input (N, C, H, W) = {tuple(x.shape)} needs H and W multiples of 32 "
            "(MODEL.IMAGE_SIZE)"
        )
