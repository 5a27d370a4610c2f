"""The training and validation loops (the original's ``train``/``validate``), device-agnostic and DDP-aware.

Every network returns one heatmap tensor (N, J, H/4, W/4), so the loops treat all five alike.
"""
from __future__ import annotations

import copy
import logging
import math
import os
import time
from collections import OrderedDict
from contextlib import contextmanager, nullcontext
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from core.config import AttrDict, ConfigError, get_model_name
from core.evaluate import accuracy
from core.codec import flip_back_and_shift, heatmap_to_input
from core.inference import get_final_preds, get_max_preds
from models.fuse import fuse_conv_bn
from utils.distributed import all_gather_objects, broadcast_object, is_dist
from utils.train_state import EpochPosition, LRPolicy, per_iteration_lr, restore_rng_state
from utils.vis import save_debug_images, save_debug_images_test

logger = logging.getLogger(__name__)

_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class AverageMeter:
    """Running value, sum, count and average (``avg`` is 0 while ``count`` is 0)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.val = 0.0
        self.avg = 0.0
        self.sum = 0.0
        self.count = 0

    def update(self, val: float, n: int = 1) -> None:
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count if self.count != 0 else 0.0

    def state(self) -> dict[str, Any]:
        return {"sum": float(self.sum), "count": int(self.count)}

    def load(self, state: dict[str, Any]) -> None:
        self.sum, self.count = float(state["sum"]), int(state["count"])
        self.avg = self.sum / self.count if self.count != 0 else 0.0


class NonFiniteLossError(FloatingPointError):
    """Raised when the training loss becomes NaN or infinite."""


def _nonfinite_losses(loss_value: float) -> dict[int, float]:
    """``{rank: loss}`` for every rank whose loss is NaN/Inf (one process: rank 0 only).

    Under DDP this is one small all-reduce per iteration, so that all ranks stop at the same
    iteration, before ``backward()`` (whose gradient all-reduce would otherwise wait forever).
    """
    if not is_dist():
        return {} if math.isfinite(loss_value) else {0: loss_value}
    values = torch.zeros(dist.get_world_size(), dtype=torch.float64, device=_reduce_device())
    values[dist.get_rank()] = loss_value
    dist.all_reduce(values)
    return {r: float(v) for r, v in enumerate(values.tolist()) if not math.isfinite(v)}


def _reduce_device() -> torch.device:
    """Where collective tensors live: NCCL reduces CUDA tensors only, gloo CPU ones."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _all_reduce_meters(*meters: "AverageMeter") -> None:
    """Replace each meter's sum/count/avg with the totals over all ranks (no-op in one process)."""
    if not is_dist():
        return
    totals = torch.tensor([x for m in meters for x in (m.sum, float(m.count))], dtype=torch.float64,
                          device=_reduce_device())
    dist.all_reduce(totals)
    totals = totals.cpu()
    for k, meter in enumerate(meters):
        meter.sum, meter.count = float(totals[2 * k]), int(totals[2 * k + 1])
        meter.avg = meter.sum / meter.count if meter.count else 0.0


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def amp_enabled(cfg: AttrDict) -> bool:
    """``TRAIN.AMP``, on every device: CUDA and the CPU, bf16 or fp16 (PyTorch runs both on the CPU;
    fp16 trains with ``torch.amp.GradScaler(device.type)``)."""
    return bool(cfg.TRAIN.AMP)


def autocast_context(cfg: AttrDict, device: torch.device):
    """Autocast for the training forward pass when :func:`amp_enabled`; a no-op otherwise."""
    if amp_enabled(cfg):
        return torch.autocast(device_type=device.type, dtype=_AMP_DTYPES[cfg.TRAIN.AMP_DTYPE])
    return nullcontext()


def input_pixels(config: AttrDict, pred: np.ndarray) -> np.ndarray:
    """Heat-map arg-max coordinates (N, J, 2) as input-crop pixels, for the debug pictures: the
    codec's mapping (``MODEL.EXTRA.HEATMAP_SIZE`` and ``TARGET_TYPE``), which is the original's ``x 4``
    for its 256x192 -> 64x48 maps, and also right for strides 2 or 8 and for UDP."""
    image_size = np.resize(np.asarray(config.MODEL.IMAGE_SIZE, dtype=np.float64), 2)
    heatmap_size = np.resize(np.asarray(config.MODEL.EXTRA.HEATMAP_SIZE, dtype=np.float64), 2)
    return heatmap_to_input(pred, image_size, heatmap_size, config.MODEL.EXTRA.TARGET_TYPE).astype(pred.dtype)


def _to_device(cfg: AttrDict, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    if cfg.TRAIN.CHANNELS_LAST:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def backward_and_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                      scaler: "torch.amp.GradScaler | None" = None) -> None:
    """One optimizer step on ``loss``: gradients cleared, backward, step; through ``scaler`` (fp16) when given."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()


def train(*args: Any, **kwargs: Any) -> dict[str, float]:
    """Train one epoch (see :func:`_train`); log lines print above the progress bar.

    The bar (with ETA) is shown on rank 0 when stderr is a terminal; logs to files or pipes get
    the per-``PRINT_FREQ`` lines only.
    """
    with logging_redirect_tqdm():
        return _train(*args, **kwargs)


def _train(
    config: AttrDict,
    train_loader: DataLoader,
    model: torch.nn.Module,
    criterion: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    output_dir: str,
    tb_log_dir: str,
    writer_dict: dict[str, Any] | None,
    scaler: torch.amp.GradScaler | None = None,
    is_main: bool = True,
    resume_at: EpochPosition | None = None,
    save_position: Callable[[EpochPosition, int], None] | None = None,
    lr_policy: LRPolicy | None = None,
) -> dict[str, float]:
    """Train one epoch; returns ``{'loss': avg, 'acc': avg}``.

    ``lr_policy`` sets the LR before every iteration (train.py passes the run's); without one, a
    per-iteration schedule (``TRAIN.LR_SCHEDULER`` cosine, ``TRAIN.WARMUP_ITERS``) gets its own and a
    per-epoch one leaves the optimizer's LR alone.

    ``resume_at`` continues an epoch that a mid-epoch checkpoint stopped: the loader's sampler
    already skips the samples of its first ``resume_at.iteration`` iterations; the meters, the
    TensorBoard step and the RNG states are put back here. With ``TRAIN.CHECKPOINT_ITERS`` N > 0,
    ``save_position(position, num_batches)`` is called after every N-th iteration of the epoch
    (not after the last one: the epoch checkpoint follows).

    Logs the original's TAB-separated line every ``PRINT_FREQ`` iterations and writes the
    original's TensorBoard scalars (``train_loss``/``train_acc`` at a step that restarts every
    epoch as in the original, and one ``add_scalars('train', ...)`` point per epoch).
    Raises :class:`NonFiniteLossError` naming the epoch and iteration when the loss is NaN/Inf.
    """
    batch_time, data_time, losses, acc = AverageMeter(), AverageMeter(), AverageMeter(), AverageMeter()
    device = _device_of(model)
    model.train()
    start = resume_at or EpochPosition(epoch)
    for name, meter in (("loss", losses), ("acc", acc)):
        if name in start.meters:
            meter.load(start.meters[name])
    local_steps = start.local_steps
    num_batches = start.iteration + len(train_loader)  # the whole epoch's, also when resumed part-way
    every = config.TRAIN.CHECKPOINT_ITERS if save_position is not None else 0
    if lr_policy is None and per_iteration_lr(config):
        lr_policy = LRPolicy(config, optimizer, epoch, start.iteration, num_batches, scheduler=False)
    progress = tqdm(
        total=num_batches, initial=start.iteration, desc=f"Epoch {epoch}", disable=None if is_main else True,
        leave=False, dynamic_ncols=True, mininterval=2.0,
    )
    batches = iter(train_loader)  # draws the workers' base seed from the torch RNG ...
    if start.rng is not None:
        restore_rng_state(start.rng)  # ... so the saved states go back after it, as they were at the save
    end = time.time()
    for i, (inputs, target, target_weight, meta) in enumerate(batches, start=start.iteration):
        data_time.update(time.time() - end)
        inputs = _to_device(config, inputs, device)
        target = target.to(device, non_blocking=True)
        target_weight = target_weight.to(device, non_blocking=True)

        if lr_policy is not None:
            lr_policy.at(epoch, i, num_batches)
        with autocast_context(config, device):
            output = model(inputs)
        loss = criterion(output.float(), target, target_weight)
        loss_value = loss.item()
        bad = _nonfinite_losses(loss_value)  # under DDP every rank learns every rank's loss
        if bad:
            progress.close()
            where = "" if not is_dist() else " on rank " + ", ".join(str(r) for r in bad)
            raise NonFiniteLossError(
                f"training loss is {bad[next(iter(bad))]} at epoch {epoch}, iteration {i}/{num_batches}{where}; "
                f"stopping. The last good checkpoint in {output_dir} is kept unchanged."
            )

        backward_and_step(loss, optimizer, scaler)

        n = inputs.size(0)
        losses.update(loss_value, n)
        output_np = output.detach().float().cpu().numpy()
        target_np = target.cpu().numpy()
        _, avg_acc, cnt, pred = accuracy(output_np, target_np, fix_norm=config.TEST.FIX_ACCURACY_NORM)
        acc.update(avg_acc, cnt)

        batch_time.update(time.time() - end)
        end = time.time()
        progress.update(1)

        if i % config.PRINT_FREQ == 0 and is_main:
            msg = (
                f"Epoch: [{epoch}][{i}/{num_batches}]\t"
                f"Time {batch_time.val:.3f}s ({batch_time.avg:.3f}s)\t"
                f"Speed {n / max(batch_time.val, 1e-12):.1f} samples/s\t"
                f"Data {data_time.val:.3f}s ({data_time.avg:.3f}s)\t"
                f"Loss {losses.val:.5f} ({losses.avg:.5f})\t"
                f"Accuracy {acc.val:.3f} ({acc.avg:.3f})"
            )
            logger.info(msg)
            if writer_dict is not None:
                writer = writer_dict["writer"]
                writer.add_scalar("train_loss", losses.val, local_steps)
                writer.add_scalar("train_acc", acc.val, local_steps)
                local_steps += 1
            prefix = os.path.join(output_dir, f"train_{i}")
            save_debug_images(config, inputs.float().cpu(), meta, target.cpu(), input_pixels(config, pred),
                              output.detach().float().cpu(), prefix)
        if every and (i + 1) % every == 0 and i + 1 < num_batches:
            position = EpochPosition(epoch, i + 1, {"loss": losses.state(), "acc": acc.state()}, local_steps)
            save_position(position, num_batches)
            end = time.time()  # the save is logged with its own duration, not as data time
    progress.close()
    _all_reduce_meters(losses, acc)  # the epoch's figures over every rank's samples

    if writer_dict is not None and is_main:
        writer = writer_dict["writer"]
        writer.add_scalars("train", {"train_loss": losses.avg, "train_acc": acc.avg}, writer_dict["train_global_steps"])
        writer_dict["train_global_steps"] += 1
    return {"loss": losses.avg, "acc": acc.avg}


def inference_channels_last(cfg: AttrDict) -> bool:
    """Channels-last inference: ``TEST.CHANNELS_LAST``, or ``TRAIN.CHANNELS_LAST`` as before."""
    return bool(cfg.TEST.CHANNELS_LAST or cfg.TRAIN.CHANNELS_LAST)


def check_inference_amp(cfg: AttrDict, device: torch.device) -> None:
    """Raise ConfigError naming ``TEST.AMP_DTYPE`` when ``TEST.AMP`` asks for what ``device`` cannot run."""
    if not cfg.TEST.AMP:
        return
    dtype = cfg.TEST.AMP_DTYPE
    # The allowed names are a config rule (core.config); only what the device runs is checked here.
    assert dtype in _AMP_DTYPES, f"TEST.AMP_DTYPE={dtype!r}; expected one of {sorted(_AMP_DTYPES)}"
    try:
        with torch.autocast(device_type=device.type, dtype=_AMP_DTYPES[dtype]):
            probe = torch.nn.functional.conv2d(torch.ones(1, 1, 3, 3, device=device), torch.ones(1, 1, 1, 1, device=device))
    except (RuntimeError, AssertionError) as e:
        raise ConfigError(f"TEST.AMP_DTYPE={dtype!r}: autocast with {dtype} does not run on {device} ({e})") from None
    if probe.dtype != _AMP_DTYPES[dtype]:
        raise ConfigError(f"TEST.AMP_DTYPE={dtype!r}: autocast with {dtype} is not supported on {device}; use 'bf16'")


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


def _validation_network(cfg: AttrDict, model: torch.nn.Module) -> torch.nn.Module:
    """What validation runs: ``model`` itself, or under ``TEST.AMP`` a copy with BatchNorm folded.

    The copy leaves a model in training untouched, and makes the per-epoch validation of
    ``train.py`` compute what ``valid.py`` computes on the saved weights (also under
    ``TRAIN.SYNC_BN``, whose SyncBatchNorm layers fold like BatchNorm2d: in eval mode both are the
    same per-channel affine map).
    """
    if cfg.TEST.AMP and any(isinstance(m, (torch.nn.BatchNorm2d, torch.nn.SyncBatchNorm)) for m in model.modules()):
        model = copy.deepcopy(model)
        fuse_conv_bn(model)
    return model


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
    with torch.autocast(device_type=device.type, dtype=_AMP_DTYPES[cfg.TEST.AMP_DTYPE]):
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
    device = _device_of(model)
    inputs = inputs.to(device, non_blocking=True)
    if inference_channels_last(config):
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    with inference_autocast(config, device, model):
        output = inference_heatmaps(config, model, inputs, flip_pairs)
    return output.float()


def _shard_indices(loader: DataLoader) -> np.ndarray:
    """Dataset indices this process visits, in loader order (the loader must not shuffle)."""
    sampler = loader.batch_sampler.sampler if loader.batch_sampler is not None else loader.sampler
    return np.fromiter(iter(sampler), dtype=np.int64)


def decode_batch(config: AttrDict, output_np: np.ndarray, meta: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Joints (N, J, 3) ``(x, y, maxval)`` in image pixels and boxes (N, 6) ``(c, s, area, score)``."""
    c = meta["center"].numpy()
    s = meta["scale"].numpy()
    preds, maxvals = get_final_preds(config, output_np, c, s)
    joints = np.zeros((len(c), preds.shape[1], 3), dtype=np.float32)
    joints[:, :, 0:2] = preds[:, :, 0:2]
    joints[:, :, 2:3] = maxvals
    boxes = np.zeros((len(c), 6))
    boxes[:, 0:2] = c[:, 0:2]
    boxes[:, 2:4] = s[:, 0:2]
    boxes[:, 4] = np.prod(s * 200, 1)
    boxes[:, 5] = meta["score"].numpy()
    return joints, boxes


def gather_predictions(indices: np.ndarray, preds: np.ndarray, boxes: np.ndarray, paths: list):
    """Every rank's predictions, joined in dataset order: ``(preds, boxes, paths)``."""
    shards = all_gather_objects((indices, preds, boxes, paths))
    order = np.concatenate([s[0] for s in shards])
    all_preds = np.concatenate([s[1] for s in shards])
    all_boxes = np.concatenate([s[2] for s in shards])
    paths = [p for s in shards for p in s[3]]
    if len(shards) > 1:  # restore dataset order
        sort = np.argsort(order, kind="stable")
        all_preds, all_boxes = all_preds[sort], all_boxes[sort]
        paths = [paths[k] for k in sort]
    return all_preds, all_boxes, paths


def _name_value_list(name_values: Any) -> list:
    return name_values if isinstance(name_values, list) else [name_values]


def print_results(config: AttrDict, name_values: Any) -> None:
    """The original's results table(s) for the evaluation's name/value pairs."""
    _, full_arch_name = get_model_name(config)
    for name_value in _name_value_list(name_values):
        _print_name_value(name_value, full_arch_name)


def write_valid_tensorboard(writer_dict: dict[str, Any], loss: float, acc: float, name_values: Any) -> None:
    """The original's validation scalars at ``valid_global_steps``, which then advances by one."""
    writer = writer_dict["writer"]
    step = writer_dict["valid_global_steps"]
    writer.add_scalar("valid_loss", loss, step)
    writer.add_scalar("valid_acc", acc, step)
    for name_value in _name_value_list(name_values):
        writer.add_scalars("valid", dict(name_value), step)
    writer_dict["valid_global_steps"] = step + 1


def validate(*args: Any, **kwargs: Any) -> float:
    """Validate (see :func:`_validate`); log lines print above the progress bar."""
    with logging_redirect_tqdm():
        return _validate(*args, **kwargs)


@torch.no_grad()
def _validate(
    config: AttrDict,
    val_loader: DataLoader,
    val_dataset: Any,
    model: torch.nn.Module,
    criterion: torch.nn.Module,
    output_dir: str,
    tb_log_dir: str,
    writer_dict: dict[str, Any] | None = None,
    is_main: bool = True,
    metrics: dict[str, float | None] | None = None,
) -> float:
    """Run the validation split, evaluate with the dataset's metric and return the perf indicator.

    Under DDP each rank runs its shard; predictions are gathered on rank 0, which evaluates (COCO
    AP, PCK/EPE/NME for a set without OKS sigmas, or MPII PCKh Mean), prints the results table and
    writes TensorBoard; the perf value is broadcast back so every rank returns the same number.
    A ``metrics`` dict, when given, is filled on every rank with the results table's name -> value
    (a non-finite value as None), e.g. for train.py's history.
    """
    batch_time, losses, acc = AverageMeter(), AverageMeter(), AverageMeter()
    # The bare network: a DDP forward would broadcast buffers, a collective that deadlocks when
    # ranks run different numbers of validation batches.
    model = getattr(model, "module", model)
    device = _device_of(model)
    model.eval()
    model = _validation_network(config, model)

    indices = _shard_indices(val_loader)
    num_local = len(indices)
    num_joints = config.MODEL.NUM_JOINTS
    local_preds = np.zeros((num_local, num_joints, 3), dtype=np.float32)
    local_boxes = np.zeros((num_local, 6))
    image_path: list[str] = []
    flip_pairs = getattr(val_dataset, "flip_pairs", None)
    num_batches = len(val_loader)
    idx = 0
    progress = tqdm(total=num_batches, desc="Test", disable=None if is_main else True, leave=False, dynamic_ncols=True, mininterval=2.0)
    end = time.time()
    for i, (inputs, target, target_weight, meta) in enumerate(val_loader):
        output = inference_step(config, model, inputs, flip_pairs)
        target = target.to(device, non_blocking=True)
        target_weight = target_weight.to(device, non_blocking=True)
        loss = criterion(output, target, target_weight)

        n = inputs.size(0)
        losses.update(loss.item(), n)
        output_np = output.cpu().numpy()
        _, avg_acc, cnt, pred = accuracy(output_np, target.cpu().numpy(), fix_norm=config.TEST.FIX_ACCURACY_NORM)
        acc.update(avg_acc, cnt)
        batch_time.update(time.time() - end)
        end = time.time()

        local_preds[idx : idx + n], local_boxes[idx : idx + n] = decode_batch(config, output_np, meta)
        image_path.extend(meta["image"])
        idx += n
        progress.update(1)

        if i % config.PRINT_FREQ == 0 and is_main:
            logger.info(
                f"Test: [{i}/{num_batches}]\t"
                f"Time {batch_time.val:.3f} ({batch_time.avg:.3f})\t"
                f"Loss {losses.val:.4f} ({losses.avg:.4f})\t"
                f"Accuracy {acc.val:.3f} ({acc.avg:.3f})"
            )
            prefix = os.path.join(output_dir, f"val_{i}")
            save_debug_images(config, inputs.float().cpu(), meta, target.cpu(), input_pixels(config, pred), output.cpu(),
                              prefix)
    progress.close()
    _all_reduce_meters(losses, acc)  # logged/TensorBoard loss and accuracy over every rank's samples

    gathered = gather_predictions(indices[:idx], local_preds[:idx], local_boxes[:idx], image_path)
    perf, table = 0.0, {}
    if is_main:
        all_preds, all_boxes, paths = gathered
        name_values, perf = val_dataset.evaluate(config, all_preds, output_dir, all_boxes, paths)
        print_results(config, name_values)
        if writer_dict is not None:
            write_valid_tensorboard(writer_dict, losses.avg, acc.avg, name_values)
        table = _table_values(name_values)
    if metrics is not None:
        metrics.update(broadcast_object(table))
    return float(broadcast_object(float(perf)))


def _table_values(name_values: Any) -> dict[str, float | None]:
    """The results table as plain JSON values: name -> float, None where not finite."""
    table: dict[str, float | None] = {}
    for name_value in _name_value_list(name_values):
        for name, value in name_value.items():
            value = float(value)
            table[str(name)] = value if math.isfinite(value) else None
    return table


def _print_name_value(name_value: "OrderedDict[str, float]", full_arch_name: str) -> None:
    """The original's markdown results table (``_print_name_value``)."""
    names = name_value.keys()
    values = name_value.values()
    num_values = len(name_value)
    logger.info("| Arch " + " ".join([f"| {name}" for name in names]) + " |")
    logger.info("|---" * (num_values + 1) + "|")
    logger.info(f"| {full_arch_name} " + " ".join([f"| {value:.3f}" for value in values]) + " |")


@torch.no_grad()
def test(config: AttrDict, inputs: torch.Tensor, model: torch.nn.Module, output_dir: str, idx: int) -> np.ndarray:
    """The original folder-inference helper: arg-max joints in input pixels (:func:`input_pixels`; the
    original's x4) and debug pictures ``test_<idx>_*``."""
    model.eval()
    device = _device_of(model)
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
