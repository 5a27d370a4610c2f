"""One training epoch (the original's ``train``), device-agnostic and DDP-aware.

Every network returns one heatmap tensor (N, J, H/4, W/4), so the loop treats all five alike.
"""
from __future__ import annotations

import logging
import math
import os
import time
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from core.amp import autocast_context
from core.config import AttrDict
from core.evaluate import accuracy
from core.inference_step import device_of, input_pixels
from core.meters import AverageMeter, all_reduce_meters
from utils.distributed import is_dist, reduce_device
from utils.lr_policy import LRPolicy, per_iteration_lr
from utils.train_state import EpochPosition, restore_rng_state
from utils.vis import save_debug_images

logger = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """Raised when the training loss becomes NaN or infinite."""


def _nonfinite_losses(loss_value: float) -> dict[int, float]:
    """``{rank: loss}`` for every rank whose loss is NaN/Inf (one process: rank 0 only).

    Under DDP this is one small all-reduce per iteration, so that all ranks stop at the same
    iteration, before ``backward()`` (whose gradient all-reduce would otherwise wait forever).
    """
    if not is_dist():
        return {} if math.isfinite(loss_value) else {0: loss_value}
    values = torch.zeros(dist.get_world_size(), dtype=torch.float64, device=reduce_device())
    values[dist.get_rank()] = loss_value
    dist.all_reduce(values)
    return {r: float(v) for r, v in enumerate(values.tolist()) if not math.isfinite(v)}


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


class _EpochMeters:
    """The epoch's running figures: batch time, data-loading time, loss and accuracy.

    Loss and accuracy continue from ``start.meters`` when the epoch resumes part-way.
    """

    def __init__(self, start: EpochPosition) -> None:
        self.batch_time, self.data_time, self.loss, self.acc = AverageMeter(), AverageMeter(), AverageMeter(), AverageMeter()
        for name, meter in (("loss", self.loss), ("acc", self.acc)):
            if name in start.meters:
                meter.load(start.meters[name])

    def state(self) -> dict[str, dict[str, Any]]:
        """What a mid-epoch checkpoint keeps of them."""
        return {"loss": self.loss.state(), "acc": self.acc.state()}


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
    model.train()
    start = resume_at or EpochPosition(epoch)
    meters = _EpochMeters(start)
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
    with progress:
        for i, (inputs, target, target_weight, meta) in enumerate(batches, start=start.iteration):
            meters.data_time.update(time.time() - end)
            if lr_policy is not None:
                lr_policy.at(epoch, i, num_batches)
            inputs, target, output = _train_step(config, model, criterion, optimizer, scaler,
                                                 (inputs, target, target_weight), meters, (epoch, i, num_batches),
                                                 output_dir)
            pred = _record_accuracy(config, meters, output, target)
            meters.batch_time.update(time.time() - end)
            end = time.time()
            progress.update(1)
            if i % config.PRINT_FREQ == 0 and is_main:
                local_steps = _log_iteration(writer_dict, meters, (epoch, i, num_batches), inputs.size(0), local_steps)
                save_debug_images(config, inputs.float().cpu(), meta, target.cpu(), input_pixels(config, pred),
                                  output.detach().float().cpu(), os.path.join(output_dir, f"train_{i}"))
            if every and (i + 1) % every == 0 and i + 1 < num_batches:
                save_position(EpochPosition(epoch, i + 1, meters.state(), local_steps), num_batches)
                end = time.time()  # the save is logged with its own duration, not as data time
    all_reduce_meters(meters.loss, meters.acc)  # the epoch's figures over every rank's samples
    if writer_dict is not None and is_main:
        writer_dict["writer"].add_scalars("train", {"train_loss": meters.loss.avg, "train_acc": meters.acc.avg},
                                          writer_dict["train_global_steps"])
        writer_dict["train_global_steps"] += 1
    return {"loss": meters.loss.avg, "acc": meters.acc.avg}


def _train_step(config: AttrDict, model: torch.nn.Module, criterion: torch.nn.Module,
                optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None, batch: tuple,
                meters: _EpochMeters, where: tuple[int, int, int], output_dir: str):
    """Forward, loss, the non-finite check and the optimizer step on one batch; returns the batch's
    ``(inputs, target)`` on the device and the network's output. ``where`` is (epoch, iteration,
    iterations in the epoch), for the message of a non-finite loss."""
    device = device_of(model)
    inputs = _to_device(config, batch[0], device)
    target = batch[1].to(device, non_blocking=True)
    target_weight = batch[2].to(device, non_blocking=True)
    with autocast_context(config, device):
        output = model(inputs)
    loss = criterion(output.float(), target, target_weight)
    loss_value = loss.item()
    bad = _nonfinite_losses(loss_value)  # under DDP every rank learns every rank's loss
    if bad:
        epoch, i, num_batches = where
        on_ranks = "" if not is_dist() else " on rank " + ", ".join(str(r) for r in bad)
        raise NonFiniteLossError(
            f"training loss is {bad[next(iter(bad))]} at epoch {epoch}, iteration {i}/{num_batches}{on_ranks}; "
            f"stopping. The last good checkpoint in {output_dir} is kept unchanged."
        )
    backward_and_step(loss, optimizer, scaler)
    meters.loss.update(loss_value, inputs.size(0))
    return inputs, target, output


def _record_accuracy(config: AttrDict, meters: _EpochMeters, output: torch.Tensor, target: torch.Tensor):
    """The batch's training accuracy into ``meters``; returns the arg-max joints (heat-map pixels)."""
    output_np = output.detach().float().cpu().numpy()
    _, avg_acc, cnt, pred = accuracy(output_np, target.cpu().numpy(), fix_norm=config.TEST.FIX_ACCURACY_NORM)
    meters.acc.update(avg_acc, cnt)
    return pred


def _log_iteration(writer_dict: dict[str, Any] | None, meters: _EpochMeters, where: tuple[int, int, int],
                   batch_size: int, local_steps: int) -> int:
    """The original's log line and ``train_loss``/``train_acc`` scalars; returns the next TensorBoard step."""
    epoch, i, num_batches = where
    logger.info(
        f"Epoch: [{epoch}][{i}/{num_batches}]\t"
        f"Time {meters.batch_time.val:.3f}s ({meters.batch_time.avg:.3f}s)\t"
        f"Speed {batch_size / max(meters.batch_time.val, 1e-12):.1f} samples/s\t"
        f"Data {meters.data_time.val:.3f}s ({meters.data_time.avg:.3f}s)\t"
        f"Loss {meters.loss.val:.5f} ({meters.loss.avg:.5f})\t"
        f"Accuracy {meters.acc.val:.3f} ({meters.acc.avg:.3f})"
    )
    if writer_dict is not None:
        writer_dict["writer"].add_scalar("train_loss", meters.loss.val, local_steps)
        writer_dict["writer"].add_scalar("train_acc", meters.acc.val, local_steps)
        local_steps += 1
    return local_steps
