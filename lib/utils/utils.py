"""Logging set-up, optimizer factory and checkpoint files, with the original names and layout.

``create_logger`` makes the original output tree::

    OUTPUT_DIR/<dataset>/<MODEL.NAME>_<NUM_LAYERS>/<cfg name>/<cfg name>_<YYYY-MM-DD-HH-MM>_<phase>.log
    LOG_DIR/<dataset>/<MODEL.NAME>_<NUM_LAYERS>/<cfg name>_<YYYY-MM-DD-HH-MM>/   (TensorBoard)
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import torch

from core.config import AttrDict, get_model_name
from utils.atomic_io import copy_file
from utils.checkpoint import save_atomic

logger = logging.getLogger(__name__)

_LOG_FORMAT = "%(asctime)-15s %(message)s"


class _DeferredFileHandler(logging.Handler):
    """Keeps the records until :func:`open_deferred_log_file` names the file to write them to.

    train.py logs from its start but writes nothing into the output folder before it has decided
    whether the run may go on there (a refused run leaves the folder as it was).
    """

    def __init__(self, log_file: Path) -> None:
        super().__init__()
        self.log_file = log_file
        self.records: list[logging.LogRecord] = []
        self.target: logging.FileHandler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.target is None:
            self.records.append(record)
        else:
            self.target.handle(record)

    def open(self) -> None:
        if self.target is not None:
            return
        self.target = logging.FileHandler(self.log_file)
        self.target.setFormatter(logging.Formatter(_LOG_FORMAT))
        for record in self.records:
            self.target.handle(record)
        self.records = []

    def close(self) -> None:
        if self.target is not None:
            self.target.close()
        super().close()


def open_deferred_log_file() -> None:
    """Start writing the log file of ``create_logger(..., defer_file=True)``, earlier records first."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _DeferredFileHandler):
            handler.open()


def _configure_logging(log_file: Path | None, is_main: bool, defer_file: bool = False) -> logging.Logger:
    """Root logger: INFO to ``log_file`` (with time) and to the console (message only).

    Called once per entry point; handlers from an earlier call are replaced, so repeated calls (as
    in tests) never duplicate console lines (the original added a handler per call). Non-main ranks of a
    distributed run log warnings and errors only.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_simmrpose", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.INFO if is_main else logging.WARNING)
    console = logging.StreamHandler()
    console._simmrpose = True  # type: ignore[attr-defined]
    root.addHandler(console)
    if log_file is not None:
        file_handler = _DeferredFileHandler(log_file) if defer_file else logging.FileHandler(log_file)
        file_handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        file_handler._simmrpose = True  # type: ignore[attr-defined]
        root.addHandler(file_handler)
    return root


def output_dirs(cfg: AttrDict, cfg_name: str | os.PathLike) -> tuple[Path, Path, str]:
    """``(final_output_dir, tensorboard_parent, cfg_name)`` without creating anything."""
    dataset = cfg.DATASET.DATASET
    if cfg.DATASET.HYBRID_JOINTS_TYPE:
        dataset = f"{dataset}_{cfg.DATASET.HYBRID_JOINTS_TYPE}"
    dataset = dataset.replace(":", "_")
    model, _ = get_model_name(cfg)
    name = os.path.basename(str(cfg_name)).split(".")[0]
    final_output_dir = Path(cfg.OUTPUT_DIR) / dataset / model / name
    tb_parent = Path(cfg.LOG_DIR) / dataset / model
    return final_output_dir, tb_parent, name


def create_logger(
    cfg: AttrDict, cfg_name: str | os.PathLike, phase: str = "train", is_main: bool = True, defer_file: bool = False
) -> tuple[logging.Logger, str, str]:
    """Create the output and TensorBoard folders and configure logging.

    Returns ``(root logger, final_output_dir, tensorboard_log_dir)`` as strings, like the original.
    Only the main process (rank 0) creates folders and writes the log file; with ``defer_file``
    the log file is created (with every record so far) by :func:`open_deferred_log_file` only.
    """
    final_output_dir, tb_parent, name = output_dirs(cfg, cfg_name)
    time_str = time.strftime("%Y-%m-%d-%H-%M")
    tensorboard_log_dir = tb_parent / f"{name}_{time_str}"
    log_file = None
    if is_main:
        print(f"=> creating {final_output_dir}")
        final_output_dir.mkdir(parents=True, exist_ok=True)
        if not defer_file:  # else the SummaryWriter, created once the run goes on, makes it
            print(f"=> creating {tensorboard_log_dir}")
            tensorboard_log_dir.mkdir(parents=True, exist_ok=True)
        log_file = final_output_dir / f"{name}_{time_str}_{phase}.log"
    root = _configure_logging(log_file, is_main, defer_file)
    return root, str(final_output_dir), str(tensorboard_log_dir)


def fused_flag(cfg: AttrDict) -> bool | None:
    """The optimizers' ``fused`` argument: True with ``TRAIN.FUSED_OPTIMIZER``, else torch's default (None)."""
    return True if cfg.TRAIN.FUSED_OPTIMIZER else None


def get_optimizer(cfg: AttrDict, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The original's optimizers: SGD with momentum/WD/nesterov, or Adam with PyTorch defaults.

    Adam gets no weight decay: the original ignores ``TRAIN.WD`` for Adam.
    ``TRAIN.FUSED_OPTIMIZER`` (a speed switch) asks torch for its fused kernel: the same update
    rule in one vectorised pass over all parameters instead of a loop of small ops per tensor,
    equal to the default up to floating-point rounding.
    """
    name = cfg.TRAIN.OPTIMIZER
    fused = fused_flag(cfg)
    if name == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=cfg.TRAIN.LR,
            momentum=cfg.TRAIN.MOMENTUM,
            weight_decay=cfg.TRAIN.WD,
            nesterov=cfg.TRAIN.NESTEROV,
            fused=fused,
        )
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.TRAIN.LR, fused=fused)
    raise ValueError(f"TRAIN.OPTIMIZER={name!r}; expected 'adam' or 'sgd'")


def load_optimizer_state(cfg: AttrDict, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Resume ``optimizer`` from a checkpoint's state; ``TRAIN.FUSED_OPTIMIZER`` is the current run's.

    The stored parameter groups carry the saving run's choice, which would otherwise win; it is
    replaced *before* loading, because ``Optimizer.load_state_dict`` places each parameter's state
    by the group's flags: with ``fused`` (or ``capturable``) Adam's ``step`` counters go to the
    parameter's device as float32 tensors, which the fused kernels require, and without them they
    stay where they were saved (the checkpoint is read onto the CPU, where the per-tensor loop wants them).
    """
    fused = fused_flag(cfg)
    state = {**state, "param_groups": [{**group, "fused": fused} for group in state["param_groups"]]}
    optimizer.load_state_dict(state)


def save_checkpoint(
    states: dict[str, Any],
    is_best: bool,
    output_dir: str | os.PathLike,
    filename: str = "checkpoint.pth.tar",
    every: int = 30,
) -> None:
    """Write ``checkpoint.pth.tar`` (and ``model_best.pth.tar`` when ``is_best``), atomically.

    As the original, after every ``every``-th epoch (1-based
    ``states['epoch']``) the full dict is also saved as ``checkpoint_epoch<E>.pth.tar`` and the
    current best model copied to ``model_best_until_epoch<E>.pth.tar`` with E = epoch - 1. The copy
    is a checked file copy, not the original's asynchronous shell ``cp``.
    """
    output_dir = Path(output_dir)
    save_atomic(states, output_dir / filename)
    best = output_dir / "model_best.pth.tar"
    if is_best and "state_dict" in states:
        save_atomic(states["state_dict"], best)
    epoch = int(states.get("epoch", 0))
    if every > 0 and epoch > 0 and epoch % every == 0:
        save_atomic(states, output_dir / f"checkpoint_epoch{epoch - 1}.pth.tar")
        if best.is_file():
            copy_file(best, output_dir / f"model_best_until_epoch{epoch - 1}.pth.tar")
        else:
            logger.info("=> no model_best.pth.tar yet; model_best_until_epoch%d not written", epoch - 1)
