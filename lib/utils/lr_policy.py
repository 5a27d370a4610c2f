"""The learning rate: the original's per-epoch ``MultiStepLR`` numbers, cosine decay and warm-up,
as one ``LambdaLR`` over the training position (:class:`LRPolicy`).

Every value is a pure function of (epoch, iteration), so a run resumed anywhere continues the
same curve.
"""
from __future__ import annotations

import math
from collections import Counter

import torch

from core.config import AttrDict


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
