"""Train a pose network: ``python pose_estimation/train.py --cfg <yaml> [KEY VALUE ...]``.

Single process (CPU or one GPU) as is, or several GPUs / nodes under torchrun::

    torchrun --nproc_per_node 4 pose_estimation/train.py --cfg <yaml> GPUS 0,1,2,3

``TRAIN.BATCH_SIZE`` is per GPU (per process), as in the original. Resuming is exact: model,
optimizer, LR schedule, epoch, best score, RNG states and the sampler's epoch are restored from
``MODEL.CHECKPOINT`` or, with ``TRAIN.AUTO_RESUME``, from ``<output dir>/checkpoint.pth.tar``.
With ``TRAIN.CHECKPOINT_ITERS`` N > 0 that file is also written every N iterations, and a run
stopped mid-epoch continues at the next iteration. Auto-resume refuses a checkpoint written with
another config or on other data (``utils.data_identity``), and decides before anything is written
into the output folder; a finished run started again trains and writes nothing.

:func:`main` reads top to bottom; the run's state and its checkpoints are ``utils.train_state``'s
(:class:`TrainState`, :func:`resume`), one epoch's training ``core.training``'s and the validation
``core.evaluation``'s.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import pprint
import secrets
from pathlib import Path
from typing import NamedTuple

import _init_paths  # noqa: F401  (puts lib/ on sys.path)
import torch
from torch.utils.data import DataLoader

from core.amp import amp_enabled, check_inference_amp
from core.config import AttrDict, ConfigError, dump_config
from core.evaluation import validate
from core.loss import build_loss
from core.training import NonFiniteLossError, train
from dataset import build_dataset, build_transform
from dataset.sampler import EpochSampler, SeededSamples, ShardSampler
from models import build_pose_net
from utils.atomic_io import copy_file
from utils.checkpoint import save_atomic, unwrap_model
from utils.cli import add_common_args, add_opts, config_from_args, run_cli
from utils.data_identity import data_identity
from utils.device import configure_cudnn, resolve_device, warn_slow_cpu_fp16
from utils.distributed import DistInfo, all_gather_objects, broadcast_buffers, broadcast_object, cleanup, init_distributed
from utils.run_lock import FolderInUseError, RunLock
from utils.train_state import TrainState, check_checkpoint_exists, resume, seed_everything, validation_due
from utils.utils import create_logger, get_optimizer, open_deferred_log_file, output_dirs

logger = logging.getLogger(__name__)
MODELS_DIR = Path(__file__).resolve().parents[1] / "lib" / "models"


def main(argv: list[str] | None = None) -> int:
    held: list[RunLock] = []  # the output folder's lock, released however training ends
    try:
        return _main(argv, held)
    finally:
        for lock in held:
            lock.release()


def _main(argv: list[str] | None, held: list[RunLock]) -> int:
    args = parse_args(argv)
    cfg = config_from_args(args)
    device = resolve_device(cfg.GPUS)  # under torchrun: cuda:<LOCAL_RANK>
    check_inference_amp(cfg, device)  # the per-epoch validation's TEST.AMP_DTYPE, before anything is written
    dist_info = init_distributed(device)
    check_checkpoint_exists(cfg, dist_info)
    take_output_folder(cfg, args.cfg, dist_info, held)
    # Nothing goes into the folder (log file, config copy, network sources) before the resume decision:
    # the log is kept in memory until then, so that a refused run leaves the folder as it was.
    _, final_output_dir, tb_log_dir = create_logger(cfg, args.cfg, "train", is_main=dist_info.is_main, defer_file=True)
    log_start(args, cfg, device, dist_info, final_output_dir)
    configure_cudnn(cfg)
    if cfg.TRAIN.SEED >= 0:
        seed_everything(cfg.TRAIN.SEED + dist_info.rank)

    model = build_pose_net(cfg, is_train=True)
    train_dataset, valid_dataset = build_datasets(cfg)
    data = data_identity(train_dataset, valid_dataset) if dist_info.is_main else None  # recorded in every checkpoint
    place_model(cfg, model, device, dist_info)
    criterion = build_loss(cfg).to(device)  # JointsMSELoss, or JointsOHKMMSELoss with LOSS.USE_OHKM
    optimizer = get_optimizer(cfg, model)
    use_scaler = amp_enabled(cfg) and cfg.TRAIN.AMP_DTYPE == "fp16"
    scaler = torch.amp.GradScaler(device.type) if use_scaler else None  # its state goes in checkpoints
    writer_dict = {"writer": None, "train_global_steps": 0, "valid_global_steps": 0} if dist_info.is_main else None
    # Every rank must shuffle with the same seed, or the shards overlap: rank 0 picks it.
    sampler_seed = broadcast_object(cfg.TRAIN.SEED if cfg.TRAIN.SEED >= 0 else secrets.randbelow(2**31))
    state = TrainState(cfg, model, optimizer, scaler, sampler_seed, final_output_dir, dist_info.is_main, data,
                       writer_dict)
    resumed_from = resume(state, dist_info)
    if resumed_from and state.finished:
        end_finished_run(state, resumed_from)
        cleanup()
        return 0

    if dist_info.is_main:  # the run goes on in this folder: now its files are written
        open_run_files(cfg, final_output_dir, tb_log_dir, writer_dict)
    state.model = wrap_for_ddp(cfg, model, device, dist_info)  # after loading: DDP starts from the same weights
    loaders = make_loaders(cfg, train_dataset, valid_dataset, dist_info.world_size, dist_info.rank,
                           state.sampler_seed, device)
    state.start_lr_policy(len(loaders.train))
    for epoch in range(state.epoch, cfg.TRAIN.END_EPOCH):
        if not train_epoch(state, epoch, criterion, loaders, tb_log_dir):
            cleanup()
            return 1
    finish(state, dist_info)
    cleanup()
    return 0


def end_finished_run(state: TrainState, checkpoint_file: str) -> None:
    """A finished run started again trains nothing and writes nothing, except a ``final_state.pth.tar``
    lost by a stop between the last checkpoint and the end: the checkpoint in the run's own folder holds
    the same weights, and it is written from them."""
    final_state = Path(state.output_dir) / "final_state.pth.tar"
    own_checkpoint = Path(checkpoint_file).resolve() == (Path(state.output_dir) / "checkpoint.pth.tar").resolve()
    if state.is_main and own_checkpoint and not final_state.exists():
        save_atomic(unwrap_model(state.model).state_dict(), final_state)
        logger.info("=> %s has finished epoch %d of %d, but its final_state.pth.tar was missing: written from "
                    "that checkpoint's weights. Nothing else was written", checkpoint_file, state.epoch,
                    state.cfg.TRAIN.END_EPOCH)
        return
    logger.info("=> nothing left to train: %s has finished epoch %d of %d (TRAIN.END_EPOCH %d); nothing "
                "was written. Raise TRAIN.END_EPOCH to train on", checkpoint_file, state.epoch,
                state.cfg.TRAIN.END_EPOCH, state.cfg.TRAIN.END_EPOCH)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train keypoints network")
    add_opts(add_common_args(parser))
    return parser.parse_args(argv)


def take_output_folder(cfg: AttrDict, cfg_file: str, dist_info: DistInfo, held: list[RunLock]) -> None:
    """One run per output folder: rank 0 locks it (into ``held``) before anything is written there;
    every rank raises FolderInUseError when another run holds it."""
    lock_error = None
    if dist_info.is_main:
        folder = output_dirs(cfg, cfg_file)[0]
        folder.mkdir(parents=True, exist_ok=True)
        try:
            held.append(RunLock(folder).acquire())
        except FolderInUseError as e:
            lock_error = str(e)
    lock_error = broadcast_object(lock_error)
    if lock_error:
        raise FolderInUseError(lock_error)


def log_start(args: argparse.Namespace, cfg: AttrDict, device: torch.device, dist_info: DistInfo,
              final_output_dir: str) -> None:
    """The output folder (printed), the arguments and the whole config, as the original logs them."""
    if dist_info.is_main:
        print(final_output_dir)
    logger.info(pprint.pformat(args))
    logger.info(pprint.pformat(cfg.to_dict()))
    logger.info("=> device %s, world size %d", device, dist_info.world_size)
    if dist_info.is_main:
        warn_slow_cpu_fp16(cfg, device)


def build_datasets(cfg: AttrDict):
    """``(train_dataset, valid_dataset)`` of ``DATASET.TRAIN_SET`` / ``DATASET.TEST_SET``."""
    transform = build_transform()
    return (build_dataset(cfg, cfg.DATASET.TRAIN_SET, True, transform),
            build_dataset(cfg, cfg.DATASET.TEST_SET, False, transform))


def place_model(cfg: AttrDict, model: torch.nn.Module, device: torch.device, dist_info: DistInfo) -> None:
    """The network on ``device`` (channels-last with ``TRAIN.CHANNELS_LAST``), in place."""
    model.to(device)
    if cfg.TRAIN.CHANNELS_LAST:
        model.to(memory_format=torch.channels_last)
    # A device fact, known only once the device is chosen (the config's value rules are core.config's).
    if dist_info.enabled and cfg.TRAIN.SYNC_BN and device.type != "cuda":
        raise ConfigError(
            f"TRAIN.SYNC_BN=True needs CUDA devices (torch's SyncBatchNorm has no {device.type} kernel); "
            "set TRAIN.SYNC_BN false to train with per-process BatchNorm on this device"
        )


def open_run_files(cfg: AttrDict, final_output_dir: str, tb_log_dir: str, writer_dict: dict) -> None:
    """Rank 0, once the run goes on in its folder: the log file (with every record so far), the config
    as run, the network's sources and the TensorBoard writer."""
    open_deferred_log_file()
    dump_config(cfg, Path(final_output_dir) / "config_train.yaml")
    for source in (MODELS_DIR / f"{cfg.MODEL.NAME}.py", MODELS_DIR / "resnet.py"):
        copy_file(source, Path(final_output_dir) / source.name, metadata=True)
    from tensorboardX import SummaryWriter

    writer_dict["writer"] = SummaryWriter(log_dir=tb_log_dir)


def wrap_for_ddp(cfg: AttrDict, model: torch.nn.Module, device: torch.device, dist_info: DistInfo) -> torch.nn.Module:
    """Under torchrun: the model in DistributedDataParallel (SyncBatchNorm with ``TRAIN.SYNC_BN``)."""
    if not dist_info.enabled:
        return model
    if cfg.TRAIN.SYNC_BN:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


class Loaders(NamedTuple):
    """The run's data loaders, the validation dataset (evaluated on rank 0) and the training sampler."""

    valid_dataset: object
    train: DataLoader
    valid: DataLoader
    train_sampler: EpochSampler


def make_loaders(cfg: AttrDict, train_dataset, valid_dataset, world_size: int, rank: int, sampler_seed: int,
                 device: torch.device) -> Loaders:
    # One sampler type for one and many processes: the order is a function of (seed, epoch) only,
    # which is what makes a resumed run see the same batches as an uninterrupted one. With mid-epoch
    # checkpoints every sample's augmentation is seeded from (seed, epoch, slot) as well, so that it
    # does not depend on WORKERS or on where the run was interrupted (another stream than the default).
    # Persistent workers carry their RNG streams from epoch to epoch, where no checkpoint can reach them:
    # they are seeded per sample too, which makes an epoch-end resume with them exact.
    per_sample_seeds = cfg.TRAIN.CHECKPOINT_ITERS > 0 or (cfg.TRAIN.PERSISTENT_WORKERS and cfg.WORKERS > 0)
    train_sampler = EpochSampler(
        train_dataset, num_replicas=world_size, rank=rank, shuffle=cfg.TRAIN.SHUFFLE, seed=sampler_seed,
        sample_seeds=per_sample_seeds,
    )
    if per_sample_seeds:
        train_dataset = SeededSamples(train_dataset)
    common = dict(
        num_workers=cfg.WORKERS,
        pin_memory=cfg.TRAIN.PIN_MEMORY and device.type == "cuda",
        persistent_workers=cfg.TRAIN.PERSISTENT_WORKERS and cfg.WORKERS > 0,
    )
    if per_sample_seeds:  # the workers' base seeds (unused then) stop drawing from the global torch RNG
        common["generator"] = torch.Generator().manual_seed(sampler_seed)
    train_loader = DataLoader(train_dataset, batch_size=cfg.TRAIN.BATCH_SIZE, sampler=train_sampler, **common)
    valid_loader = DataLoader(
        valid_dataset,
        batch_size=cfg.TEST.BATCH_SIZE,
        sampler=ShardSampler(len(valid_dataset), world_size, rank),
        **common,
    )
    return Loaders(valid_dataset, train_loader, valid_loader, train_sampler)


def train_epoch(state: TrainState, epoch: int, criterion: torch.nn.Module, loaders: Loaders, tb_log_dir: str) -> bool:
    """Train ``epoch``, validate when due, record and save it; False when a non-finite loss stopped it."""
    cfg = state.cfg
    position = state.position_in(epoch)
    loaders.train_sampler.set_epoch(epoch, first=position.iteration * cfg.TRAIN.BATCH_SIZE if position else 0)
    num_batches = (position.iteration if position else 0) + len(loaders.train)
    lr = state.lr_policy.lr(epoch, 0, num_batches)  # the epoch's first LR (what the log and history show)
    logger.info("=> epoch %d, lr %.3g", epoch, lr)
    try:
        stats = train(
            cfg, loaders.train, state.model, criterion, state.optimizer, epoch, state.output_dir, tb_log_dir,
            state.writer_dict, scaler=state.scaler, is_main=state.is_main, resume_at=position,
            save_position=state.save_position if cfg.TRAIN.CHECKPOINT_ITERS > 0 else None, lr_policy=state.lr_policy,
        )
    except NonFiniteLossError as e:
        if state.is_main:  # every rank stops at this iteration; one message
            logger.error("=> %s", e)
        if state.writer_dict is not None:
            state.writer_dict["writer"].close()
        return False
    state.lr_policy.end_epoch(epoch)
    broadcast_buffers(unwrap_model(state.model))
    perf, metrics = None, None  # the validation's score and results table (AP, ... or PCK@0.2, EPE, NME)
    if validation_due(cfg, epoch):
        metrics = {}
        perf = validate(cfg, loaders.valid, loaders.valid_dataset, state.model, criterion, state.output_dir,
                        tb_log_dir, state.writer_dict, is_main=state.is_main, metrics=metrics)
    elif state.is_main:
        logger.info("=> no validation after epoch %d (TRAIN.VALIDATE_EVERY %d)", epoch, cfg.TRAIN.VALIDATE_EVERY)
    best_model = state.record_epoch(epoch, lr, stats, perf, metrics)
    state.save_epoch(epoch, best_model)
    return True


def finish(state: TrainState, dist_info: DistInfo) -> None:
    """After the last epoch: the replicas compared, ``final_state.pth.tar`` and the best score."""
    model = unwrap_model(state.model)
    if dist_info.enabled:  # cheap guard against silently diverged replicas
        digests = all_gather_objects(weights_digest(model))
        if len(set(digests)) == 1:
            logger.info("=> all %d replicas hold identical weights (sha1 %s)", len(digests), digests[0][:12])
        else:
            logger.warning("=> replicas hold different weights: %s", digests)
    if not state.is_main:
        return
    final_model_state_file = os.path.join(state.output_dir, "final_state.pth.tar")
    logger.info("=> saving final model state to %s", final_model_state_file)
    save_atomic(model.state_dict(), final_model_state_file)
    if state.best_perf > 0:  # model_best.pth.tar is written when the score improves on the previous best (from 0)
        logger.info("=> best perf %.4f at epoch %d (model_best.pth.tar)", state.best_perf, state.best_epoch)
    else:
        logger.info("=> no best model was saved: the validation score never rose above 0 (model_best.pth.tar "
                    "is written only when it improves); the last weights are in %s", final_model_state_file)
    state.writer_dict["writer"].close()


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-1 of every parameter and buffer, to compare replicas."""
    digest = hashlib.sha1()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


if __name__ == "__main__":
    run_cli(main)
