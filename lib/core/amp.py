"""The mixed-precision policy: autocast for training (``TRAIN.AMP``) and inference (``TEST.AMP``).

Training autocasts the forward pass in bf16 or fp16 on any device (fp16 trains with a
``torch.amp.GradScaler``, made by train.py). Inference autocasts too, but runs the layers that
write heat-maps in float32 (:func:`heatmap_layers`), and :func:`check_inference_amp` refuses a
``TEST.AMP_DTYPE`` that the device cannot run before anything is computed.
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext

import torch

from core.config import AttrDict, ConfigError

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def amp_enabled(cfg: AttrDict) -> bool:
    """``TRAIN.AMP``, on every device: CUDA and the CPU, bf16 or fp16 (PyTorch runs both on the CPU;
    fp16 trains with ``torch.amp.GradScaler(device.type)``)."""
    return bool(cfg.TRAIN.AMP)


def autocast_context(cfg: AttrDict, device: torch.device):
    """Autocast for the training forward pass when :func:`amp_enabled`; a no-op otherwise."""
    if amp_enabled(cfg):
        return torch.autocast(device_type=device.type, dtype=AMP_DTYPES[cfg.TRAIN.AMP_DTYPE])
    return nullcontext()


def check_inference_amp(cfg: AttrDict, device: torch.device) -> None:
    """Raise ConfigError naming ``TEST.AMP_DTYPE`` when ``TEST.AMP`` asks for what ``device`` cannot run."""
    if not cfg.TEST.AMP:
        return
    dtype = cfg.TEST.AMP_DTYPE
    # The allowed names are a config rule (core.config); only what the device runs is checked here.
    assert dtype in AMP_DTYPES, f"TEST.AMP_DTYPE={dtype!r}; expected one of {sorted(AMP_DTYPES)}"
    try:
        with torch.autocast(device_type=device.type, dtype=AMP_DTYPES[dtype]):
            probe = torch.nn.functional.conv2d(torch.ones(1, 1, 3, 3, device=device), torch.ones(1, 1, 1, 1, device=device))
    except (RuntimeError, AssertionError) as e:
        raise ConfigError(f"TEST.AMP_DTYPE={dtype!r}: autocast with {dtype} does not run on {device} ({e})") from None
    if probe.dtype != AMP_DTYPES[dtype]:
        raise ConfigError(f"TEST.AMP_DTYPE={dtype!r}: autocast with {dtype} is not supported on {device}; use 'bf16'")


@contextmanager
def inference_autocast(cfg: AttrDict, device: torch.device, model: torch.nn.Module | None = None):
    """Autocast for the inference forward when ``TEST.AMP``; a no-op otherwise (float32, the original).

    With ``model``, the layers of it that write heatmaps (those its ``heatmap_layers()`` lists: the
    final layer, MRHeat's side heads) run in float32 inside the autocast region. They
    cost next to nothing, and a bf16 heatmap keeps only about 3 significant digits, which ties
    neighbouring values and so moves the quarter-pixel offset and the joint scores.
    """
    if not cfg.TEST.AMP:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=AMP_DTYPES[cfg.TEST.AMP_DTYPE]):
        if model is None:
            yield
        else:
            with _float32_heatmap_layers(model, device.type):
                yield


def heatmap_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The layers that produce the heatmaps, as the network names them (``heatmap_layers()`` of the
    five networks; see ``models.resnet.ResNetBackbone.HEATMAP_LAYERS``); none for a network that
    does not say. Selecting by ``out_channels == MODEL.NUM_JOINTS`` would also catch trunk layers
    when the joint count is 64, 128, 256 or 512."""
    net = getattr(model, "module", model)  # DDP / DataParallel
    layers = getattr(net, "heatmap_layers", None)
    return list(layers()) if callable(layers) else []


@contextmanager
def _float32_heatmap_layers(model: torch.nn.Module, device_type: str):
    """Hooks that turn autocast off around the heat-map layers of ``model`` (:func:`heatmap_layers`)."""
    saved: list[bool] = []

    def enter(_module, args):
        saved.append(torch.is_autocast_enabled(device_type))
        torch.set_autocast_enabled(device_type, False)
        return tuple(a.float() if torch.is_tensor(a) else a for a in args)

    def leave(_module, _args, _output):
        torch.set_autocast_enabled(device_type, saved.pop())

    handles = []
    for module in heatmap_layers(model):
        handles += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
