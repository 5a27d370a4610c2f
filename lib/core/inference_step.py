"""The inference step shared by validation, the API, the demo and folder inference.

:func:`prepare_inference_model` readies a network (device, eval mode, BatchNorm folded under
``TEST.AMP``, channels-last); :func:`inference_step` runs one normalised batch through it with the
flip test and the AMP policy of :mod:`core.amp`, and returns float32 heat-maps for
:mod:`core.inference` to decode.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from core.amp import check_inference_amp, inference_autocast
from core.codec import flip_back_and_shift, heatmap_to_input
from core.config import AttrDict
from core.inference import get_max_preds
from models.fuse import fuse_conv_bn
from utils.vis import save_debug_images_test


def device_of(model: torch.nn.Module) -> torch.device:
    """The device of ``model``'s parameters."""
    return next(model.parameters()).device


def inference_channels_last(cfg: AttrDict) -> bool:
    """Channels-last inference: ``TEST.CHANNELS_LAST``, or ``TRAIN.CHANNELS_LAST`` as before."""
    return bool(cfg.TEST.CHANNELS_LAST or cfg.TRAIN.CHANNELS_LAST)


def prepare_inference_model(cfg: AttrDict, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The network on ``device`` in eval mode, channels-last when asked; checks ``TEST.AMP_DTYPE``.

    With ``TEST.AMP`` the BatchNorms are folded into their convolutions, in place
    (:func:`models.fuse.fuse_conv_bn`): the model is then for inference only.
    """
    check_inference_amp(cfg, device)
    model = model.to(device).eval()
    if cfg.TEST.AMP:
        fuse_conv_bn(model)
    if inference_channels_last(cfg):
        model.to(memory_format=torch.channels_last)
    return model


def input_pixels(config: AttrDict, pred: np.ndarray) -> np.ndarray:
    """Heat-map arg-max coordinates (N, J, 2) as input-crop pixels, for the debug pictures: the
    codec's mapping (``MODEL.EXTRA.HEATMAP_SIZE`` and ``TARGET_TYPE``), which is the original's ``x 4``
    for its 256x192 -> 64x48 maps, and also right for strides 2 or 8 and for UDP."""
    image_size = np.resize(np.asarray(config.MODEL.IMAGE_SIZE, dtype=np.float64), 2)
    heatmap_size = np.resize(np.asarray(config.MODEL.EXTRA.HEATMAP_SIZE, dtype=np.float64), 2)
    return heatmap_to_input(pred, image_size, heatmap_size, config.MODEL.EXTRA.TARGET_TYPE).astype(pred.dtype)


@torch.no_grad()
def inference_heatmaps(
    config: AttrDict, model: torch.nn.Module, inputs: torch.Tensor, flip_pairs: list | None
) -> torch.Tensor:
    """Heatmaps (N, J, H, W) for a normalised input batch, with the flip test when ``TEST.FLIP_TEST``.

    Flip test: run the mirrored input, mirror the maps back and swap left/right
    joints, optionally shift one column right (``TEST.SHIFT_HEATMAP``; column 0 keeps its value,
    as in the original), then average with the plain output. Done on the model's device.
    With ``TEST.AMP`` or ``TEST.CHANNELS_LAST`` on CUDA the plain and mirrored crops go through the
    network as one batch of 2N; on the CPU two batches of N are faster (bf16 + channels-last,
    ResNet-50 256x192: 1.88 s against 2.26 s for 32 + 32 crops, ``bench/bench_valid_speed.py``), so
    there, as by default, the original's two passes run.
    """
    if config.TEST.FLIP_TEST and (config.TEST.AMP or config.TEST.CHANNELS_LAST) and inputs.device.type == "cuda":
        both = model(torch.cat([inputs, torch.flip(inputs, dims=[3])]))
        output, flipped = both[: inputs.size(0)], both[inputs.size(0) :]
    else:
        output = model(inputs)
        flipped = model(torch.flip(inputs, dims=[3])) if config.TEST.FLIP_TEST else None
    if flipped is not None:
        # UDP's pixel-centre alignment makes the mirrored maps line up exactly: no shift.
        shift = config.TEST.SHIFT_HEATMAP and config.MODEL.EXTRA.TARGET_TYPE != "udp"
        flipped = flip_back_and_shift(flipped, flip_pairs, shift)
        output = (output + flipped) * 0.5
    return output


@torch.no_grad()
def inference_step(config: AttrDict, model: torch.nn.Module, inputs: torch.Tensor, flip_pairs: list | None) -> torch.Tensor:
    """The batched inference step shared by validation, the API and the demo.

    Moves the batch to the model's device (channels-last when :func:`inference_channels_last`), runs
    :func:`inference_heatmaps` under :func:`inference_autocast` (heatmap layers in float32) and
    returns float32 heatmaps, so the decoding is float32 whatever the forward's precision.
    """
    device = device_of(model)
    inputs = inputs.to(device, non_blocking=True)
    if inference_channels_last(config):
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    with inference_autocast(config, device, model):
        output = inference_heatmaps(config, model, inputs, flip_pairs)
    return output.float()


@torch.no_grad()
def test(config: AttrDict, inputs: torch.Tensor, model: torch.nn.Module, output_dir: str, idx: int) -> np.ndarray:
    """The original folder-inference helper: arg-max joints in input pixels (:func:`input_pixels`; the
    original's x4) and debug pictures ``test_<idx>_*``."""
    model.eval()
    device = device_of(model)
    x = inputs.to(device)
    if inference_channels_last(config):
        x = x.contiguous(memory_format=torch.channels_last)
    with inference_autocast(config, device, model):
        output = model(x).float().cpu()
    pred, _ = get_max_preds(output.numpy())
    prefix = os.path.join(output_dir, f"test_{idx}")
    joints = input_pixels(config, pred)
    save_debug_images_test(config, inputs.cpu(), joints, output, prefix)
    return joints
