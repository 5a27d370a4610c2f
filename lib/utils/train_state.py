"""What exact resuming needs beyond the weights: RNG states, the LR of an epoch, the position
inside an epoch (mid-epoch checkpoints, ``TRAIN.CHECKPOINT_ITERS``), and safe loading.

Training checkpoints are loaded with ``weights_only=True``. NumPy scalars (which the original
stored as ``perf``/``best_perf``) are allowed explicitly so that the original's
``checkpoint.pth.tar`` files load too; nothing else is unpickled.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.config import AttrDict
from utils.checkpoint import CheckpointError, load_checkpoint


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states in a ``weights_only``-loadable form."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        # This process's own device only: a rank draws on no other, and a resumed job may see
        # fewer devices (under torchrun each process sees them all, but uses cuda:<LOCAL_RANK>).
        state["cuda_device"] = torch.cuda.get_rng_state(torch.cuda.current_device())
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_as_tuple(state["python"]))
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["name"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available() and ("cuda_device" in state or "cuda" in state):
        device = torch.cuda.current_device()
        if "cuda_device" in state:
            torch.cuda.set_rng_state(state["cuda_device"], device)
        elif device < len(state["cuda"]):  # older files: one state per visible device
            torch.cuda.set_rng_state(state["cuda"][device], device)


def _as_tuple(x: Any) -> Any:
    if isinstance(x, list):
        return tuple(_as_tuple(v) for v in x)
    if isinstance(x, tuple):
        return tuple(_as_tuple(v) for v in x)
    return x


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def lr_at_epoch(cfg: AttrDict, epoch: int) -> float:
    """The original's schedule: ``LR * LR_FACTOR ** #(milestones <= epoch)``."""
    drops = sum(1 for m in cfg.TRAIN.LR_STEP if m <= epoch)
    return cfg.TRAIN.LR * cfg.TRAIN.LR_FACTOR**drops


def per_iteration_lr(cfg: AttrDict) -> bool:
    """True when the LR changes inside an epoch (``TRAIN.LR_SCHEDULER: cosine`` or ``TRAIN.WARMUP_ITERS`` > 0).

    False for the default: the original's per-epoch MultiStepLR alone, which train.py steps and
    nothing overrides.
    """
    return cfg.TRAIN.LR_SCHEDULER != "multistep" or cfg.TRAIN.WARMUP_ITERS > 0


def lr_at_iteration(cfg: AttrDict, epoch: int, iteration: int, num_batches: int) -> float:
    """The LR of iteration ``iteration`` (0-based) of ``epoch`` when the epoch has ``num_batches`` iterations.

    ``multistep``: the original's epoch schedule (:func:`lr_at_epoch`); ``cosine``: from ``TRAIN.LR``
    down to 0 along half a cosine over ``TRAIN.END_EPOCH`` epochs, step by step. Either way the first
    ``TRAIN.WARMUP_ITERS`` iterations of the run scale it by ``(step + 1) / WARMUP_ITERS``. A pure
    function of the position, so a run resumed at any iteration continues the same curve.
    """
    step = epoch * num_batches + iteration
    if cfg.TRAIN.LR_SCHEDULER == "cosine":
        total = max(cfg.TRAIN.END_EPOCH * num_batches, 1)
        lr = cfg.TRAIN.LR * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    else:
        lr = lr_at_epoch(cfg, epoch)
    warmup = cfg.TRAIN.WARMUP_ITERS
    if step < warmup:
        lr *= (step + 1) / warmup
    return lr


def validation_due(cfg: AttrDict, epoch: int) -> bool:
    """Whether train.py validates after ``epoch`` (0-based): every ``TRAIN.VALIDATE_EVERY``-th epoch
    counted from epoch 0 (epochs N-1, 2N-1, ...) and always after the last one, ``END_EPOCH - 1``."""
    return (epoch + 1) % cfg.TRAIN.VALIDATE_EVERY == 0 or epoch + 1 >= cfg.TRAIN.END_EPOCH


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def set_schedule_epoch(
    cfg: AttrDict, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.MultiStepLR, epoch: int
) -> None:
    """Put optimizer and MultiStepLR where a continuous run would be at the start of ``epoch``."""
    lr = lr_at_epoch(cfg, epoch)
    for group in optimizer.param_groups:
        group["lr"] = lr
        group["initial_lr"] = cfg.TRAIN.LR
    scheduler.last_epoch = epoch
    scheduler._last_lr = [lr for _ in optimizer.param_groups]  # what get_last_lr() reports


def load_training_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a ``checkpoint.pth.tar`` (ours or the original's) without unpickling arbitrary objects."""
    ckpt = load_checkpoint(path, map_location, allow_numpy_scalars=True)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "epoch" not in ckpt:
        raise RuntimeError(
            f"{path} is not a training checkpoint: expected a dict with 'epoch' and 'state_dict' "
            f"(got {type(ckpt).__name__} with keys {list(ckpt)[:5] if isinstance(ckpt, dict) else '-'}); "
            "to start from weights only, use MODEL.PRETRAINED or TEST.MODEL_FILE"
        )
    return ckpt


@dataclass
class EpochPosition:
    """One rank's place in an epoch: the next iteration to run and what the epoch has summed so far.

    ``meters`` maps a meter's name to this rank's ``{"sum": float, "count": int}`` (before the
    epoch-end all-reduce); ``rng`` holds this rank's RNG states at the save, restored by the
    training loop once the epoch's data iterator exists (creating it draws from the torch RNG).
    """

    epoch: int
    iteration: int = 0
    meters: dict[str, dict[str, Any]] = field(default_factory=dict)
    local_steps: int = 0  # the TensorBoard step of train_loss / train_acc, restarted every epoch
    rng: dict[str, Any] | None = None

    def rank_state(self) -> dict[str, Any]:
        """What a mid-epoch checkpoint keeps of each rank (ints, floats, dicts: ``weights_only``-safe)."""
        return {"meters": self.meters, "local_steps": int(self.local_steps)}


def mid_epoch_entry(position: EpochPosition, rank_states: list[dict[str, Any]], num_batches: int,
                    batch_size: int) -> dict[str, Any]:
    """The checkpoint's ``mid_epoch`` entry: where the epoch stopped and every rank's meters."""
    return {
        "epoch": int(position.epoch),
        "iteration": int(position.iteration),
        "num_batches": int(num_batches),
        "batch_size": int(batch_size),
        "world_size": len(rank_states),
        "ranks": rank_states,
    }


def position_from_checkpoint(ckpt: dict[str, Any], source: str, rank: int, world_size: int,
                             batch_size: int) -> EpochPosition | None:
    """This rank's :class:`EpochPosition` from a checkpoint's ``mid_epoch`` entry (``None`` without one).

    A mid-epoch position is only meaningful for the same number of ranks and the same batch size
    (they fix which samples the remaining iterations see); anything else is a CheckpointError.
    """
    entry = ckpt.get("mid_epoch")
    if not entry:
        return None
    if entry["world_size"] != world_size or entry["batch_size"] != batch_size:
        raise CheckpointError(
            f"{source} stopped in the middle of epoch {entry['epoch']} (iteration {entry['iteration']}) with "
            f"{entry['world_size']} process(es) of TRAIN.BATCH_SIZE {entry['batch_size']}; it can only be resumed "
            f"the same way (now {world_size} of {batch_size})"
        )
    rank_state = entry["ranks"][rank]
    return EpochPosition(
        epoch=int(entry["epoch"]),
        iteration=int(entry["iteration"]),
        meters={name: dict(m) for name, m in rank_state["meters"].items()},
        local_steps=int(rank_state["local_steps"]),
        rng=ckpt["rng_per_rank"][rank],
    )
