"""A training run's state and its resumption: :class:`TrainState` and :func:`resume`.

:class:`TrainState` holds what a run carries from epoch to epoch besides the weights: the next
epoch, the last and the best score, the history, the sampler's seed, the LR schedule's count, the
TensorBoard steps, every rank's RNG states, the position inside an epoch (mid-epoch checkpoints,
``TRAIN.CHECKPOINT_ITERS``), and the model, optimizer and GradScaler whose states go with them.
``state_dict()`` is the checkpoint (the original's keys ``epoch``, ``model``, ``state_dict``, ``perf``,
``optimizer``, plus what an exact resume needs); ``load_state_dict()`` restores a run from one.

:func:`resume` decides whether and from which file a run continues (``MODEL.CHECKPOINT``, or
``<output dir>/checkpoint.pth.tar`` under ``TRAIN.AUTO_RESUME``), refuses an auto-resume whose
checkpoint was written with another config or on other data before any weight is loaded, and
restores the state on every rank.

Training checkpoints are loaded with ``weights_only=True``. NumPy scalars (which the original
stored as ``perf``/``best_perf``) are allowed explicitly so that the original's
``checkpoint.pth.tar`` files load too; nothing else is unpickled.
"""
from __future__ import annotations

import logging
import random
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.config import AttrDict, ConfigError, get_model_name
from utils.atomic_io import write_json
from utils.checkpoint import CheckpointError, load_checkpoint, load_model_weights, unwrap_model
from utils.data_identity import data_differences
from utils.distributed import DistInfo, all_gather_objects, barrier, broadcast_object
from utils.lr_policy import LRPolicy, restore_original_schedule
from utils.utils import load_optimizer_state, save_checkpoint

logger = logging.getLogger(__name__)


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


def validation_due(cfg: AttrDict, epoch: int) -> bool:
    """Whether train.py validates after ``epoch`` (0-based): every ``TRAIN.VALIDATE_EVERY``-th epoch
    counted from epoch 0 (epochs N-1, 2N-1, ...) and always after the last one, ``END_EPOCH - 1``."""
    return (epoch + 1) % cfg.TRAIN.VALIDATE_EVERY == 0 or epoch + 1 >= cfg.TRAIN.END_EPOCH


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


class TrainState:
    """A training run besides its weights, and the checkpoint that holds it (module docstring).

    ``model``, ``optimizer`` and ``scaler`` are the run's own objects (the model may be wrapped in
    DDP; its bare network is saved); ``writer_dict`` is the original's TensorBoard dict (``None`` on
    ranks > 0), whose step counters the checkpoint keeps. ``lr_policy`` is made by
    :meth:`start_lr_policy` once the length of an epoch is known.
    """

    def __init__(self, cfg: AttrDict, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 scaler: torch.amp.GradScaler | None, sampler_seed: int, output_dir: str, is_main: bool,
                 data: dict | None = None, writer_dict: dict[str, Any] | None = None) -> None:
        self.cfg, self.model, self.optimizer, self.scaler = cfg, model, optimizer, scaler
        self.sampler_seed = int(sampler_seed)  # every rank shuffles with it (rank 0 picked it)
        self.output_dir, self.is_main = output_dir, is_main
        self.data = data  # what identifies the training and validation data (utils.data_identity)
        self.writer_dict = writer_dict
        self.epoch = cfg.TRAIN.BEGIN_EPOCH  # the next epoch to train
        # The LR schedule counts epochs from the run's first (LRPolicy's epoch_offset).
        self.lr_epoch_offset = self.epoch
        self.perf, self.best_perf, self.best_epoch = 0.0, 0.0, 0
        self.history: list[dict[str, Any]] = []
        self.resume_at: EpochPosition | None = None  # where a mid-epoch checkpoint stopped
        self.lr_policy: LRPolicy | None = None

    @property
    def finished(self) -> bool:
        """Whether no epoch is left to train (``TRAIN.END_EPOCH`` reached, not stopped mid-epoch)."""
        return self.resume_at is None and self.epoch >= self.cfg.TRAIN.END_EPOCH

    def position_in(self, epoch: int) -> EpochPosition | None:
        """Where ``epoch`` resumes when a mid-epoch checkpoint stopped in it, else ``None``."""
        return self.resume_at if self.resume_at is not None and self.resume_at.epoch == epoch else None

    def start_lr_policy(self, num_batches: int) -> LRPolicy:
        """The run's LR policy at the position it starts from (``num_batches`` iterations per epoch)."""
        position = self.position_in(self.epoch)
        first_iteration = position.iteration if position is not None else 0
        self.lr_policy = LRPolicy(self.cfg, self.optimizer, self.epoch, first_iteration,
                                  first_iteration + num_batches, epoch_offset=self.lr_epoch_offset)
        return self.lr_policy

    def state_dict(self, next_epoch: int, rng_per_rank: list[dict[str, Any]]) -> dict[str, Any]:
        """The training checkpoint: the original's keys (``epoch``, ``model``, ``state_dict``, ``perf``,
        ``optimizer``) and what an exact resume needs."""
        state_dict = unwrap_model(self.model).state_dict()
        steps = self.writer_dict or {}
        return {
            "epoch": next_epoch,
            "model": get_model_name(self.cfg),
            # 'module.' keys, like the original DataParallel files (readable by the original valid.py)
            "state_dict": OrderedDict((f"module.{k}", v) for k, v in state_dict.items()),
            "perf": float(self.perf),
            "best_perf": float(self.best_perf),
            "best_epoch": int(self.best_epoch),
            "optimizer": self.optimizer.state_dict(),
            # what the original's MultiStepLR.last_epoch held
            "lr_scheduler_last_epoch": self.lr_policy.schedule_epoch(next_epoch),
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "rng": rng_per_rank[0],
            "rng_per_rank": rng_per_rank,
            "config": self.cfg.to_dict(),
            "sampler_seed": int(self.sampler_seed),
            "train_global_steps": steps.get("train_global_steps", next_epoch),
            "valid_global_steps": steps.get("valid_global_steps", next_epoch),
            "history": self.history,
            "data": self.data,
        }

    def load_state_dict(self, ckpt: dict[str, Any], source: str, dist_info: DistInfo) -> None:
        """Restore the run from checkpoint ``ckpt`` (ours or the original's, read from ``source``),
        everything but the weights (:func:`load_on_every_rank` loads those first).

        A mid-epoch file restores this rank's position in the epoch; its RNG states are then put back
        by the training loop at that iteration, else here. The original's files hold no schedule: the
        optimizer is put where a run from epoch 0 would be.
        """
        self.resume_at = position_from_checkpoint(ckpt, source, dist_info.rank, dist_info.world_size,
                                                  self.cfg.TRAIN.BATCH_SIZE)
        self.epoch = int(ckpt["epoch"])  # a mid-epoch file names the epoch in progress
        self.perf = float(ckpt.get("perf", 0.0))
        self.best_perf = float(ckpt.get("best_perf", ckpt.get("perf", 0.0)))
        self.best_epoch = int(ckpt.get("best_epoch", 0))
        if "optimizer" in ckpt:
            load_optimizer_state(self.cfg, self.optimizer, ckpt["optimizer"])
        restore_scaler(self.scaler, ckpt)
        self.sampler_seed = int(ckpt.get("sampler_seed", self.sampler_seed))
        self.history = list(ckpt.get("history", []))
        if self.resume_at is None:
            restore_rank_rng(ckpt, dist_info)
        if self.writer_dict is not None:
            self.writer_dict["train_global_steps"] = int(ckpt.get("train_global_steps", self.epoch))
            self.writer_dict["valid_global_steps"] = int(ckpt.get("valid_global_steps", self.epoch))
        if "lr_scheduler_last_epoch" in ckpt:  # ours: the epochs the schedule had counted
            self.lr_epoch_offset = self.epoch - int(ckpt["lr_scheduler_last_epoch"])
        else:  # the original's checkpoint: continue the schedule a fresh run from epoch 0 would follow
            self.lr_epoch_offset = 0
            restore_original_schedule(self.cfg, self.optimizer, self.epoch)

    def record_epoch(self, epoch: int, lr: float, stats: dict[str, float], perf: float | None,
                     metrics: dict[str, float | None] | None) -> bool:
        """Add ``epoch`` to the history (``perf``/``metrics`` ``None`` when it was not validated);
        returns whether its score is the best so far: strictly, ties keep the older epoch (as the original)."""
        best = False
        if perf is not None:
            self.perf = perf  # the checkpoint's "perf" stays the last score of a validated epoch
            if perf > self.best_perf:
                self.best_perf, self.best_epoch, best = perf, epoch, True
                logger.info("=> best model so far: epoch %d, perf %.4f", epoch, perf)
        self.history.append({"epoch": epoch, "lr": lr, "train_loss": stats["loss"], "train_acc": stats["acc"],
                             "perf": perf, "metrics": metrics if perf is not None else None})
        return best

    def save_epoch(self, epoch: int, best_model: bool) -> None:
        """After ``epoch`` (every rank calls this): ``checkpoint.pth.tar``, ``model_best.pth.tar`` when
        ``best_model``, the ``TRAIN.CHECKPOINT_EVERY`` snapshots and ``history.json``, all atomic."""
        rng_per_rank = all_gather_objects(capture_rng_state())  # every rank's, for an exact resume
        if self.is_main:
            logger.info("=> saving checkpoint to %s", self.output_dir)
            save_checkpoint(self.state_dict(epoch + 1, rng_per_rank), best_model, self.output_dir,
                            every=self.cfg.TRAIN.CHECKPOINT_EVERY)
            write_json(Path(self.output_dir) / "history.json", self.history, indent=1)
        barrier()

    def save_position(self, position: EpochPosition, num_batches: int) -> None:
        """``TRAIN.CHECKPOINT_ITERS``: ``checkpoint.pth.tar`` with a ``mid_epoch`` entry (every rank calls this)."""
        started = time.time()
        gathered = all_gather_objects((position.rank_state(), capture_rng_state()))
        if self.is_main:
            states = self.state_dict(position.epoch, [rng for _, rng in gathered])
            states["mid_epoch"] = mid_epoch_entry(position, [s for s, _ in gathered], num_batches,
                                                  self.cfg.TRAIN.BATCH_SIZE)
            save_checkpoint(states, False, self.output_dir, every=0)  # no model_best, no epoch snapshot
            logger.info("=> saved checkpoint at epoch %d, iteration %d/%d to %s (%.2f s)", position.epoch,
                        position.iteration, num_batches, self.output_dir, time.time() - started)
        barrier()


def resume(state: TrainState, dist_info: DistInfo) -> str:
    """Continue ``state`` from the checkpoint :func:`resume_file` picks, if any, on every rank; returns
    that file, ``""`` for a fresh run. Rank 0 makes the decision and every rank follows it.

    When the checkpoint's run has already finished (:attr:`TrainState.finished`), the state is
    restored and the caller ends the run.
    """
    checkpoint_file = broadcast_object(resume_file(state.cfg, state.output_dir) if dist_info.is_main else None)
    if isinstance(checkpoint_file, FileNotFoundError):
        raise checkpoint_file
    if not checkpoint_file:
        return ""
    ckpt = load_on_every_rank(state.cfg, checkpoint_file, state.model, dist_info.is_main, state.data)
    state.load_state_dict(ckpt, checkpoint_file, dist_info)
    if not state.finished:
        logger.info(
            "=> resumed from %s: epoch %d%s, lr %.3g, best perf %.4f (epoch %d)",
            checkpoint_file, state.epoch, f" at iteration {state.resume_at.iteration}" if state.resume_at else "",
            state.optimizer.param_groups[0]["lr"], state.best_perf, state.best_epoch,
        )
    return checkpoint_file


def check_checkpoint_exists(cfg: AttrDict, dist_info: DistInfo) -> None:
    """A ``MODEL.CHECKPOINT`` that is not a file stops every rank before the output folder is made
    (rank 0 looks): a refused run creates nothing."""
    error = broadcast_object(_missing_checkpoint(cfg) if dist_info.is_main else None)
    if error is not None:
        raise error


def resume_file(cfg: AttrDict, final_output_dir: str) -> str | FileNotFoundError:
    """Rank 0's choice: ``MODEL.CHECKPOINT``, else ``<output dir>/checkpoint.pth.tar`` under
    ``TRAIN.AUTO_RESUME``, else ``""`` (a fresh run). A missing explicit file is returned as the
    error to raise on every rank."""
    if cfg.MODEL.CHECKPOINT:
        return _missing_checkpoint(cfg) or str(cfg.MODEL.CHECKPOINT)
    auto_file = Path(final_output_dir) / "checkpoint.pth.tar"
    return str(auto_file) if cfg.TRAIN.AUTO_RESUME and auto_file.is_file() else ""


def _missing_checkpoint(cfg: AttrDict) -> FileNotFoundError | None:
    """The error for a ``MODEL.CHECKPOINT`` that is set but not a file, else ``None``."""
    explicit = cfg.MODEL.CHECKPOINT
    if explicit and not Path(explicit).is_file():
        return FileNotFoundError(f"MODEL.CHECKPOINT={explicit!r}: file not found")
    return None


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


def _compare_with_checkpoint(cfg: AttrDict, ckpt: dict, checkpoint_file: str, data: dict | None) -> ConfigError | None:
    """Rank 0's comparison of the stored config and data identity with the current ones: the refusal
    of an auto-resume on a difference; an explicit ``MODEL.CHECKPOINT`` logs the differences and goes on."""
    config_diffs = config_differences(ckpt["config"], cfg) if isinstance(ckpt.get("config"), dict) else []
    data_diffs = data_differences(ckpt.get("data"), data or {})
    if (config_diffs or data_diffs) and not cfg.MODEL.CHECKPOINT:
        return resume_refusal(checkpoint_file, config_diffs, data_diffs)
    if cfg.MODEL.CHECKPOINT:
        for diff in config_diffs:
            logger.warning("=> resuming with a changed config (the current value wins): %s", diff)
        for diff in data_diffs:
            logger.warning("=> resuming on other data than the checkpoint's: %s", diff)
    return None


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
            error = _compare_with_checkpoint(cfg, ckpt, checkpoint_file, data)
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


def restore_rank_rng(ckpt: dict, dist_info: DistInfo) -> None:
    """Each rank's own RNG states when the checkpoint has them for this world size, else rank 0's only."""
    per_rank = ckpt.get("rng_per_rank")
    if isinstance(per_rank, list) and len(per_rank) == dist_info.world_size:
        restore_rng_state(per_rank[dist_info.rank])
    elif "rng" in ckpt and dist_info.rank == 0:
        restore_rng_state(ckpt["rng"])
        if dist_info.enabled:
            logger.warning("=> the checkpoint holds no RNG states for %d ranks: ranks > 0 keep their seeds",
                           dist_info.world_size)
