"""Validation (the original's ``validate``): inference over the validation split, the dataset's
evaluation, the results table and its TensorBoard scalars; DDP-aware.
"""
from __future__ import annotations

import copy
import logging
import math
import os
import time
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from core.config import AttrDict, get_model_name
from core.evaluate import accuracy
from core.inference import get_final_preds
from core.inference_step import device_of, inference_step, input_pixels
from core.meters import AverageMeter, all_reduce_meters
from models.fuse import fuse_conv_bn
from utils.distributed import all_gather_objects, broadcast_object
from utils.vis import save_debug_images

logger = logging.getLogger(__name__)


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
    # The bare network: a DDP forward would broadcast buffers, a collective that deadlocks when
    # ranks run different numbers of validation batches.
    model = getattr(model, "module", model)
    model.eval()
    model = _validation_network(config, model)
    indices = _shard_indices(val_loader)
    shard = _ShardPredictions(len(indices), config.MODEL.NUM_JOINTS)
    losses, acc = _predict_shard(config, val_loader, val_dataset, model, criterion, output_dir, is_main, shard)
    all_reduce_meters(losses, acc)  # logged/TensorBoard loss and accuracy over every rank's samples

    gathered = gather_predictions(indices[: shard.count], *shard.filled())
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


class _ShardPredictions:
    """This rank's decoded predictions, filled batch by batch in loader order."""

    def __init__(self, size: int, num_joints: int) -> None:
        self.preds = np.zeros((size, num_joints, 3), dtype=np.float32)
        self.boxes = np.zeros((size, 6))
        self.image_paths: list[str] = []
        self.count = 0

    def add(self, joints: np.ndarray, boxes: np.ndarray, image_paths: list[str]) -> None:
        n = len(joints)
        self.preds[self.count : self.count + n], self.boxes[self.count : self.count + n] = joints, boxes
        self.image_paths.extend(image_paths)
        self.count += n

    def filled(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        return self.preds[: self.count], self.boxes[: self.count], self.image_paths


def _predict_shard(config: AttrDict, val_loader: DataLoader, val_dataset: Any, model: torch.nn.Module,
                   criterion: torch.nn.Module, output_dir: str, is_main: bool,
                   shard: _ShardPredictions) -> tuple[AverageMeter, AverageMeter]:
    """Inference over this rank's batches into ``shard``, with the original's log line and debug
    pictures every ``PRINT_FREQ`` batches; returns this rank's loss and accuracy meters."""
    batch_time, losses, acc = AverageMeter(), AverageMeter(), AverageMeter()
    device = device_of(model)
    flip_pairs = getattr(val_dataset, "flip_pairs", None)
    num_batches = len(val_loader)
    progress = tqdm(total=num_batches, desc="Test", disable=None if is_main else True, leave=False,
                    dynamic_ncols=True, mininterval=2.0)
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

        shard.add(*decode_batch(config, output_np, meta), meta["image"])
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
    return losses, acc


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
