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
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import pprint
import secrets
import shutil
import time
from collections import OrderedDict
from pathlib import Path

import _init_paths  # noqa: F401  (puts lib/ on sys.path)
import torch
from torch.utils.data import DataLoader

from core.config import AttrDict, ConfigError, dump_config, get_model_name
from core.amp import amp_enabled, check_inference_amp
from core.evaluation import validate
from core.training import NonFiniteLossError, train
from core.loss import build_loss
from dataset import build_dataset, build_transform
from dataset.sampler import EpochSampler, SeededSamples, ShardSampler
from models import build_pose_net
from utils.cli import add_common_args, add_opts, config_from_args, run_cli
from utils.checkpoint import CheckpointError, load_model_weights, save_atomic, unwrap_model
from utils.data_identity import data_differences, data_identity
from utils.device import configure_cudnn, resolve_device, warn_slow_cpu_fp16
from utils.distributed import (
    all_gather_objects,
    barrier,
    broadcast_buffers,
    broadcast_object,
    cleanup,
    init_distributed,
)
from utils.train_state import (
    EpochPosition,
    LRPolicy,
    capture_rng_state,
    load_training_checkpoint,
    mid_epoch_entry,
    position_from_checkpoint,
    restore_original_schedule,
    restore_rng_state,
    seed_everything,
    validation_due,
)
from utils.atomic_io import write_json
from utils.run_lock import FolderInUseError, RunLock
from utils.utils import (
    create_logger,
    get_optimizer,
    load_optimizer_state,
    open_deferred_log_file,
    output_dirs,
    save_checkpoint,
)

logger = logging.getLogger(__name__)
MODELS_DIR = Path(__file__).resolve().parents[1] / "lib" / "models"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train keypoints network")
    add_opts(add_common_args(parser))
    return parser.parse_args(argv)


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-1 of every parameter and buffer, to compare replicas."""
    digest = hashlib.sha1()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def build_datasets(cfg: AttrDict):
    """``(train_dataset, valid_dataset)`` of ``DATASET.TRAIN_SET`` / ``DATASET.TEST_SET``."""
    transform = build_transform()
    return (build_dataset(cfg, cfg.DATASET.TRAIN_SET, True, transform),
            build_dataset(cfg, cfg.DATASET.TEST_SET, False, transform))


def make_loaders(cfg: AttrDict, train_dataset, valid_dataset, world_size: int, rank: int, sampler_seed: int,
                 device: torch.device):
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
    return valid_dataset, train_loader, valid_loader, train_sampler


def resume_file(cfg: AttrDict, final_output_dir: str) -> str | FileNotFoundError:
    """Rank 0's choice: ``MODEL.CHECKPOINT``, else ``<output dir>/checkpoint.pth.tar`` under
    ``TRAIN.AUTO_RESUME``, else ``""`` (a fresh run). A missing explicit file is returned as the
    error to raise on every rank."""
    if cfg.MODEL.CHECKPOINT:
        if not Path(cfg.MODEL.CHECKPOINT).is_file():
            return FileNotFoundError(f"MODEL.CHECKPOINT={cfg.MODEL.CHECKPOINT!r}: file not found")
        return str(cfg.MODEL.CHECKPOINT)
    auto_file = Path(final_output_dir) / "checkpoint.pth.tar"
    return str(auto_file) if cfg.TRAIN.AUTO_RESUME and auto_file.is_file() else ""


# Keys that may change between a run and its resumption without changing what is trained.
RESUME_FREE_KEYS = frozenset({
    "DATASET.ROOT", "MODEL.CHECKPOINT", "MODEL.PRETRAINED", "TRAIN.AUTO_RESUME", "TRAIN.END_EPOCH",
    "TRAIN.CHECKPOINT_EVERY", "TRAIN.PIN_MEMORY", "TRAIN.VALIDATE_EVERY",
    "TRAIN.AMP", "TRAIN.AMP_DTYPE", "TRAIN.CHANNELS_LAST", "TRAIN.FUSED_OPTIMIZER",  # speed switches
})
RESUME_SECTIONS = ("MODEL", "DATASET", "TRAIN", "LOSS")


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_differences(stored: dict, current: AttrDict) -> list[str]:
    """``KEY: checkpoint X, now Y`` for each run-shaping key that both configs have and that differs."""
    old = {k: v for k, v in _flat(stored).items() if k.split(".")[0] in RESUME_SECTIONS}
    new = _flat(current.to_dict())
    return [
        f"{key}: checkpoint {old[key]!r}, now {new[key]!r}"
        for key in sorted(old)
        if key in new and key not in RESUME_FREE_KEYS and old[key] != new[key]
    ]


def resume_refusal(checkpoint_file: str, config_diffs: list[str], data_diffs: list[str]) -> ConfigError:
    """The one-line refusal of an auto-resume whose checkpoint was written with another config or data."""
    what = " and ".join(w for w, diffs in (("another config", config_diffs), ("other data", data_diffs)) if diffs)
    folder = str(Path(checkpoint_file).parent)
    return ConfigError(
        f"{checkpoint_file} was written by a run with {what}; auto-resume refused. Differences: "
        + "; ".join(config_diffs + data_diffs) + ". To go on: train into another OUTPUT_DIR (or rename the YAML); "
        f"or resume from it anyway with MODEL.CHECKPOINT {checkpoint_file}; or start afresh in {folder}: delete "
        "the folder, or set TRAIN.AUTO_RESUME false (its checkpoint and results get overwritten)"
    )


def load_on_every_rank(cfg: AttrDict, checkpoint_file: str, model: torch.nn.Module, is_main: bool,
                       data: dict | None = None) -> dict:
    """Every rank reads the chosen file into the bare model; any rank's failure stops every rank.

    Rank 0 first compares the stored config, and the stored data identity with ``data``
    (:mod:`utils.data_identity`), with the current ones: auto-resume refuses on a difference, before
    any weight is loaded, an explicit ``MODEL.CHECKPOINT`` logs the differences and goes on.
    """
    ckpt, error = None, None
    try:
        ckpt = load_training_checkpoint(checkpoint_file, map_location="cpu")
        if is_main:
            config_diffs = config_differences(ckpt["config"], cfg) if isinstance(ckpt.get("config"), dict) else []
            data_diffs = data_differences(ckpt.get("data"), data or {})
            if (config_diffs or data_diffs) and not cfg.MODEL.CHECKPOINT:
                error = resume_refusal(checkpoint_file, config_diffs, data_diffs)
            elif cfg.MODEL.CHECKPOINT:
                for diff in config_diffs:
                    logger.warning("=> resuming with a changed config (the current value wins): %s", diff)
                for diff in data_diffs:
                    logger.warning("=> resuming on other data than the checkpoint's: %s", diff)
        if error is None:
            load_model_weights(model, ckpt["state_dict"], source=checkpoint_file)
    except (OSError, RuntimeError, ValueError, KeyError) as e:
        error = e
    errors = [(rank, e) for rank, e in enumerate(all_gather_objects(None if error is None else str(error))) if e]
    if errors:
        if isinstance(error, ConfigError) and len(errors) == 1:
            raise error
        raise CheckpointError(
            f"cannot resume from {checkpoint_file}: " + "; ".join(f"rank {rank}: {e}" for rank, e in errors)
        )
    return ckpt


def restore_scaler(scaler: torch.amp.GradScaler | None, ckpt: dict) -> None:
    """The GradScaler state across ``TRAIN.AMP`` / ``TRAIN.AMP_DTYPE`` switches (speed switches, free on resume).

    A run without fp16 saves ``{}`` (or, the original, nothing): an fp16 run resumed from it starts a fresh
    scaler; a saved state that the current run has no scaler for (now float32 or bf16) is left unused.
    """
    saved = ckpt.get("scaler") or {}
    if scaler is not None and saved:
        scaler.load_state_dict(saved)
    elif scaler is not None:
        logger.info("=> the checkpoint holds no GradScaler state (its run did not train in fp16): a fresh scaler")
    elif saved:
        logger.info("=> the checkpoint's GradScaler state is not used (no fp16 in this run)")


def restore_rank_rng(ckpt: dict, dist_info) -> None:
    """Each rank's own RNG states when the checkpoint has them for this world size, else rank 0's only."""
    per_rank = ckpt.get("rng_per_rank")
    if isinstance(per_rank, list) and len(per_rank) == dist_info.world_size:
        restore_rng_state(per_rank[dist_info.rank])
    elif "rng" in ckpt and dist_info.rank == 0:
        restore_rng_state(ckpt["rng"])
        if dist_info.enabled:
            logger.warning("=> the checkpoint holds no RNG states for %d ranks: ranks > 0 keep their seeds",
                           dist_info.world_size)


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
    is_main = dist_info.is_main
    lock_error = None
    if is_main:  # one run per output folder, taken before anything is written there
        folder = output_dirs(cfg, args.cfg)[0]
        folder.mkdir(parents=True, exist_ok=True)
        try:
            held.append(RunLock(folder).acquire())
        except FolderInUseError as e:
            lock_error = str(e)
    lock_error = broadcast_object(lock_error)
    if lock_error:
        raise FolderInUseError(lock_error)
    # Nothing goes into the folder (log file, config copy, network sources) before the resume decision:
    # the log is kept in memory until then, so that a refused run leaves the folder as it was.
    _, final_output_dir, tb_log_dir = create_logger(cfg, args.cfg, "train", is_main=is_main, defer_file=True)
    if is_main:
        print(final_output_dir)
    logger.info(pprint.pformat(args))
    logger.info(pprint.pformat(cfg.to_dict()))
    logger.info("=> device %s, world size %d", device, dist_info.world_size)
    if is_main:
        warn_slow_cpu_fp16(cfg, device)
    configure_cudnn(cfg)
    if cfg.TRAIN.SEED >= 0:
        seed_everything(cfg.TRAIN.SEED + dist_info.rank)

    model = build_pose_net(cfg, is_train=True)
    train_dataset, valid_dataset = build_datasets(cfg)
    data = data_identity(train_dataset, valid_dataset) if is_main else None  # recorded in every checkpoint

    model.to(device)
    if cfg.TRAIN.CHANNELS_LAST:
        model.to(memory_format=torch.channels_last)
    # A device fact, known only once the device is chosen (the config's value rules are core.config's).
    if dist_info.enabled and cfg.TRAIN.SYNC_BN and device.type != "cuda":
        raise ConfigError(
            f"TRAIN.SYNC_BN=True needs CUDA devices (torch's SyncBatchNorm has no {device.type} kernel); "
            "set TRAIN.SYNC_BN false to train with per-process BatchNorm on this device"
        )

    criterion = build_loss(cfg).to(device)  # JointsMSELoss, or JointsOHKMMSELoss with LOSS.USE_OHKM
    optimizer = get_optimizer(cfg, model)
    use_scaler = amp_enabled(cfg) and cfg.TRAIN.AMP_DTYPE == "fp16"
    scaler = torch.amp.GradScaler(device.type) if use_scaler else None  # its state goes in checkpoints

    writer_dict = {"writer": None, "train_global_steps": 0, "valid_global_steps": 0} if is_main else None

    # ---------------------------------------------------------------- resume
    begin_epoch = cfg.TRAIN.BEGIN_EPOCH
    lr_epoch_offset = begin_epoch  # the LR schedule counts epochs from the run's first (utils.train_state.LRPolicy)
    perf, best_perf, best_epoch = 0.0, 0.0, 0
    resume_at: EpochPosition | None = None  # where a mid-epoch checkpoint stopped
    # Every rank must shuffle with the same seed, or the shards overlap: rank 0 picks it.
    sampler_seed = broadcast_object(cfg.TRAIN.SEED if cfg.TRAIN.SEED >= 0 else secrets.randbelow(2**31))
    history: list[dict] = []
    # One decision, made by rank 0 and broadcast: whether and from which file to resume.
    checkpoint_file = broadcast_object(resume_file(cfg, final_output_dir) if is_main else None)
    if isinstance(checkpoint_file, FileNotFoundError):
        raise checkpoint_file
    if checkpoint_file:
        ckpt = load_on_every_rank(cfg, checkpoint_file, model, is_main, data)
        resume_at = position_from_checkpoint(ckpt, checkpoint_file, dist_info.rank, dist_info.world_size,
                                             cfg.TRAIN.BATCH_SIZE)
        begin_epoch = int(ckpt["epoch"])  # a mid-epoch file names the epoch in progress
        if resume_at is None and begin_epoch >= cfg.TRAIN.END_EPOCH:
            logger.info("=> nothing left to train: %s has finished epoch %d of %d (TRAIN.END_EPOCH %d); nothing "
                        "was written. Raise TRAIN.END_EPOCH to train on", checkpoint_file, begin_epoch,
                        cfg.TRAIN.END_EPOCH, cfg.TRAIN.END_EPOCH)
            cleanup()
            return 0
        perf = float(ckpt.get("perf", 0.0))
        best_perf = float(ckpt.get("best_perf", ckpt.get("perf", 0.0)))
        best_epoch = int(ckpt.get("best_epoch", 0))
        if "optimizer" in ckpt:
            load_optimizer_state(cfg, optimizer, ckpt["optimizer"])
        restore_scaler(scaler, ckpt)
        sampler_seed = int(ckpt.get("sampler_seed", sampler_seed))
        history = list(ckpt.get("history", []))
        if resume_at is None:
            restore_rank_rng(ckpt, dist_info)
        # else: the training loop restores them at the iteration where the save was made
        if writer_dict is not None:
            writer_dict["train_global_steps"] = int(ckpt.get("train_global_steps", begin_epoch))
            writer_dict["valid_global_steps"] = int(ckpt.get("valid_global_steps", begin_epoch))
        if "lr_scheduler_last_epoch" in ckpt:  # ours: the epochs the schedule had counted
            lr_epoch_offset = begin_epoch - int(ckpt["lr_scheduler_last_epoch"])
        else:  # the original's checkpoint: continue the schedule a fresh run from epoch 0 would follow
            lr_epoch_offset = 0
            restore_original_schedule(cfg, optimizer, begin_epoch)
        logger.info(
            "=> resumed from %s: epoch %d%s, lr %.3g, best perf %.4f (epoch %d)",
            checkpoint_file, begin_epoch, f" at iteration {resume_at.iteration}" if resume_at else "",
            optimizer.param_groups[0]["lr"], best_perf, best_epoch,
        )

    if is_main:  # the run goes on in this folder: now its files are written
        open_deferred_log_file()
        dump_config(cfg, Path(final_output_dir) / "config_train.yaml")
        for source in (MODELS_DIR / f"{cfg.MODEL.NAME}.py", MODELS_DIR / "resnet.py"):
            shutil.copy2(source, final_output_dir)
        from tensorboardX import SummaryWriter

        writer_dict["writer"] = SummaryWriter(log_dir=tb_log_dir)

    if dist_info.enabled:  # after loading: DDP starts from the weights every rank now holds
        if cfg.TRAIN.SYNC_BN:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    valid_dataset, train_loader, valid_loader, train_sampler = make_loaders(
        cfg, train_dataset, valid_dataset, dist_info.world_size, dist_info.rank, sampler_seed, device
    )

    first_iteration = resume_at.iteration if resume_at is not None and resume_at.epoch == begin_epoch else 0
    lr_policy = LRPolicy(cfg, optimizer, begin_epoch, first_iteration, first_iteration + len(train_loader),
                         epoch_offset=lr_epoch_offset)

    def checkpoint_states(next_epoch: int, rng_per_rank: list) -> dict:
        """The training checkpoint: the original's keys (``epoch``, ``model``, ``state_dict``, ``perf``,
        ``optimizer``) and what an exact resume needs."""
        state_dict = unwrap_model(model).state_dict()
        return {
            "epoch": next_epoch,
            "model": get_model_name(cfg),
            # 'module.' keys, like the original DataParallel files (readable by the original valid.py)
            "state_dict": OrderedDict((f"module.{k}", v) for k, v in state_dict.items()),
            "perf": float(perf),
            "best_perf": float(best_perf),
            "best_epoch": int(best_epoch),
            "optimizer": optimizer.state_dict(),
            "lr_scheduler_last_epoch": lr_policy.schedule_epoch(next_epoch),  # what MultiStepLR.last_epoch held
            "scaler": scaler.state_dict() if scaler is not None else {},
            "rng": rng_per_rank[0],
            "rng_per_rank": rng_per_rank,
            "config": cfg.to_dict(),
            "sampler_seed": int(sampler_seed),
            "train_global_steps": writer_dict["train_global_steps"] if writer_dict else next_epoch,
            "valid_global_steps": writer_dict["valid_global_steps"] if writer_dict else next_epoch,
            "history": history,
            "data": data,  # what identifies the training and validation data (utils.data_identity)
        }

    def save_position(position: EpochPosition, num_batches: int) -> None:
        """``TRAIN.CHECKPOINT_ITERS``: ``checkpoint.pth.tar`` with a ``mid_epoch`` entry (every rank calls this)."""
        started = time.time()
        gathered = all_gather_objects((position.rank_state(), capture_rng_state()))
        if is_main:
            states = checkpoint_states(position.epoch, [rng for _, rng in gathered])
            states["mid_epoch"] = mid_epoch_entry(position, [s for s, _ in gathered], num_batches, cfg.TRAIN.BATCH_SIZE)
            save_checkpoint(states, False, final_output_dir, every=0)  # no model_best, no epoch snapshot
            logger.info("=> saved checkpoint at epoch %d, iteration %d/%d to %s (%.2f s)", position.epoch,
                        position.iteration, num_batches, final_output_dir, time.time() - started)
        barrier()

    # ---------------------------------------------------------------- loop
    for epoch in range(begin_epoch, cfg.TRAIN.END_EPOCH):
        position = resume_at if resume_at is not None and resume_at.epoch == epoch else None
        train_sampler.set_epoch(epoch, first=position.iteration * cfg.TRAIN.BATCH_SIZE if position else 0)
        num_batches = (position.iteration if position else 0) + len(train_loader)
        lr = lr_policy.lr(epoch, 0, num_batches)  # the epoch's first LR (what the log and history show)
        logger.info("=> epoch %d, lr %.3g", epoch, lr)
        try:
            stats = train(
                cfg, train_loader, model, criterion, optimizer, epoch, final_output_dir, tb_log_dir, writer_dict,
                scaler=scaler, is_main=is_main, resume_at=position,
                save_position=save_position if cfg.TRAIN.CHECKPOINT_ITERS > 0 else None, lr_policy=lr_policy,
            )
        except NonFiniteLossError as e:
            if is_main:  # every rank stops at this iteration; one message
                logger.error("=> %s", e)
            if writer_dict is not None:
                writer_dict["writer"].close()
            cleanup()
            return 1
        lr_policy.end_epoch(epoch)
        broadcast_buffers(unwrap_model(model))
        best_model = False
        validated = validation_due(cfg, epoch)
        metrics: dict = {}  # the validation's results table, for the history
        if validated:
            perf = validate(
                cfg, valid_loader, valid_dataset, model, criterion, final_output_dir, tb_log_dir, writer_dict,
                is_main=is_main, metrics=metrics,
            )
            if perf > best_perf:  # strict: ties keep the older epoch (as the original)
                best_perf, best_epoch, best_model = perf, epoch, True
                logger.info("=> best model so far: epoch %d, perf %.4f", epoch, perf)
        elif is_main:
            logger.info("=> no validation after epoch %d (TRAIN.VALIDATE_EVERY %d)", epoch, cfg.TRAIN.VALIDATE_EVERY)
        # perf and metrics (the results table: AP, ... or PCK@0.2, EPE, NME): null for an epoch that was
        # not validated; the checkpoint's "perf" stays the last score
        history.append({"epoch": epoch, "lr": lr, "train_loss": stats["loss"], "train_acc": stats["acc"],
                        "perf": perf if validated else None, "metrics": metrics if validated else None})

        rng_per_rank = all_gather_objects(capture_rng_state())  # every rank's, for an exact resume
        if is_main:
            logger.info("=> saving checkpoint to %s", final_output_dir)
            save_checkpoint(checkpoint_states(epoch + 1, rng_per_rank), best_model, final_output_dir,
                            every=cfg.TRAIN.CHECKPOINT_EVERY)
            history_file = Path(final_output_dir) / "history.json"
            write_json(history_file, history, indent=1)  # never half-written, like the checkpoints
        barrier()

    if dist_info.enabled:  # cheap guard against silently diverged replicas
        digests = all_gather_objects(weights_digest(unwrap_model(model)))
        if len(set(digests)) == 1:
            logger.info("=> all %d replicas hold identical weights (sha1 %s)", len(digests), digests[0][:12])
        else:
            logger.warning("=> replicas hold different weights: %s", digests)
    if is_main:
        final_model_state_file = os.path.join(final_output_dir, "final_state.pth.tar")
        logger.info("=> saving final model state to %s", final_model_state_file)
        save_atomic(unwrap_model(model).state_dict(), final_model_state_file)
        if best_perf > 0:  # model_best.pth.tar is written when the score improves on the previous best (from 0)
            logger.info("=> best perf %.4f at epoch %d (model_best.pth.tar)", best_perf, best_epoch)
        else:
            logger.info("=> no best model was saved: the validation score never rose above 0 (model_best.pth.tar "
                        "is written only when it improves); the last weights are in %s", final_model_state_file)
        writer_dict["writer"].close()
    cleanup()
    return 0


if __name__ == "__main__":
    run_cli(main)
