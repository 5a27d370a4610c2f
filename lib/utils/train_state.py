"""What exact resuming needs beyond the weights: RNG states, the LR of an epoch, the position
inside an epoch (mid-epoch checkpoints, ``TRAIN.CHECKPOINT_ITERS``), and safe loading.

Training checkpoints are loaded with ``weights_only=True``. NumPy scalars (which the original
stored as ``perf``/``best_perf``) are allowed explicitly so that the original's
``checkpoint.pth.tar`` files load too; nothing else is unpickled.
"""
from __future__ import annotations

import math
import random
from collections import Counter
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
    """The original's schedule, ``LR * LR_FACTOR ** #(milestones <= epoch)``, rounded as torch's
    ``MultiStepLR`` rounds it: a running product, one factor per milestone reached (``LR_FACTOR ** n``
    for a milestone listed n times), so the values are bit for bit the original's."""
    lr = cfg.TRAIN.LR
    for milestone, count in sorted(Counter(cfg.TRAIN.LR_STEP).items()):
        if milestone <= epoch:
            lr = lr * cfg.TRAIN.LR_FACTOR**count
    return lr


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


class _LRFromFunction(torch.optim.lr_scheduler.LambdaLR):
    """A ``LambdaLR`` whose function gives the LR itself, not a factor of the initial LR: ``TRAIN.LR``
    times a factor would round differently from ``MultiStepLR``'s running product."""

    def get_lr(self) -> list[float]:
        return [function(self.last_epoch) for function in self.lr_lambdas]


class LRPolicy:
    """The one owner of the learning rate: a ``LambdaLR`` over the position ``(epoch, iteration)``.

    The scheduler counts iterations, ``epoch * num_batches + iteration``; its LR is
    :func:`lr_at_iteration` there when the LR changes inside an epoch (:func:`per_iteration_lr`),
    else the original's per-epoch ``MultiStepLR`` value :func:`lr_at_epoch`. That one counts the
    epochs since the run started (``epoch - epoch_offset``; a fresh run starts its count at
    ``TRAIN.BEGIN_EPOCH``, as the original's scheduler did), the count the checkpoint key
    ``lr_scheduler_last_epoch`` holds.

    The training loop calls :meth:`at` before every iteration; train.py calls :meth:`end_epoch`
    where the original stepped its ``MultiStepLR``.
    """

    def __init__(self, cfg: AttrDict, optimizer: torch.optim.Optimizer, epoch: int, iteration: int,
                 num_batches: int, epoch_offset: int = 0, scheduler: bool = True) -> None:
        """``scheduler=False``: no torch scheduler (one wraps ``optimizer.step``); the policy writes the
        same values into the optimizer's param groups itself (core.training.train called without
        train.py's policy)."""
        self.cfg = cfg
        self.optimizer = optimizer
        self.epoch_offset = epoch_offset
        self.per_iteration = per_iteration_lr(cfg)
        self.num_batches = max(num_batches, 1)
        if scheduler:  # a scheduler started past step 0 needs it; our and the original's files hold it
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", cfg.TRAIN.LR)
        step = epoch * self.num_batches + iteration
        self.scheduler = _LRFromFunction(optimizer, self._lr_at_step, last_epoch=step - 1) if scheduler else None
        if self.scheduler is None:
            self.at(epoch, iteration, num_batches)

    def _lr_at_step(self, step: int) -> float:
        epoch, iteration = divmod(step, self.num_batches)
        return self.lr(epoch, iteration, self.num_batches)

    def lr(self, epoch: int, iteration: int, num_batches: int) -> float:
        """The LR at a position, without setting it."""
        if self.per_iteration:
            return lr_at_iteration(self.cfg, epoch, iteration, max(num_batches, 1))
        return lr_at_epoch(self.cfg, epoch - self.epoch_offset)

    def at(self, epoch: int, iteration: int, num_batches: int) -> None:
        """Set the LR of iteration ``iteration`` of ``epoch`` (an epoch of ``num_batches`` iterations)."""
        num_batches = max(num_batches, 1)
        if self.scheduler is None:
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr(epoch, iteration, num_batches)
            return
        step = epoch * num_batches + iteration
        if num_batches == self.num_batches and step == self.scheduler.last_epoch:
            return  # already there (a scheduler steps only after the optimizer has)
        self.num_batches = num_batches
        self.scheduler.last_epoch = step - 1
        self.scheduler.step()

    def end_epoch(self, epoch: int) -> None:
        """After ``epoch``: a per-epoch schedule moves to the next epoch's LR now (the value the
        epoch's checkpoint holds, as the original's); a per-iteration one keeps the last
        iteration's until the next epoch's first."""
        if not self.per_iteration:
            self.at(epoch + 1, 0, self.num_batches)

    def schedule_epoch(self, epoch: int) -> int:
        """``lr_scheduler_last_epoch`` at the start of ``epoch``: epochs since the run's first."""
        return epoch - self.epoch_offset


def restore_original_schedule(cfg: AttrDict, optimizer: torch.optim.Optimizer, epoch: int) -> None:
    """The original's checkpoint holds no schedule: put the optimizer where a continuous run from
    epoch 0 would be at the start of ``epoch`` (the policy made next keeps it there)."""
    lr = lr_at_epoch(cfg, epoch)
    for group in optimizer.param_groups:
        group["lr"] = lr
        group["initial_lr"] = cfg.TRAIN.LR


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
