"""Saving and loading model weights: one loader and one saver for every entry point.

The original code base had two near-identical validation scripts because ``train.py`` wrote
``module.``-prefixed weights (DataParallel) and SimpleBaseline's published files have none
(prefixed or not, CUDA-saved, full training checkpoints, 0.4.0 BatchNorm buffers). Here a single loader

* reads with ``torch.load(..., map_location=..., weights_only=True)`` (no arbitrary unpickling),
* accepts a bare state dict or a dict holding it under ``'state_dict'`` (the original's
  ``checkpoint.pth.tar``),
* strips a leading ``module.`` when every key has it,
* loads strictly and, on a mismatch, names the file, the counts and the first offending keys.

PyTorch-0.4-era files have no ``num_batches_tracked`` BatchNorm buffers; those missing keys (and only
those) are tolerated and keep the model's current value.
"""
from __future__ import annotations

import errno
import io
import logging
import os
import pickle
import pickletools
import re
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from torch import nn

from utils.atomic_io import atomic_open, no_space_error

__all__ = [
    "CheckpointError",
    "CheckpointMismatchError",
    "UnsafeCheckpointError",
    "load_checkpoint",
    "load_model_weights",
    "load_state_dict_file",
    "pickle_globals",
    "save_atomic",
    "strip_prefix",
    "unwrap_model",
]

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
MapLocation = Union[str, torch.device, None]

# How many offending keys an error message lists before it says "...".
_SHOW_KEYS = 5
# BatchNorm buffer added in PyTorch 0.4.1; files written by 0.4.0 lack it.
_NUM_BATCHES_TRACKED = "num_batches_tracked"
_NOT_READABLE = "not a readable PyTorch weight file (truncated or corrupt?)"


class CheckpointError(RuntimeError):
    """A weight file that cannot be used; the message names the file."""


class CheckpointMismatchError(CheckpointError):
    """A weight file whose keys or shapes do not match the model."""


class UnsafeCheckpointError(CheckpointError):
    """A file that ``torch.load(weights_only=True)`` refuses (it pickles non-tensor Python objects)."""


def unwrap_model(model: nn.Module) -> nn.Module:
    """The bare network inside DistributedDataParallel / DataParallel wrappers (or ``model`` itself)."""
    while isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        model = model.module
    return model


def save_atomic(obj: Any, path: PathLike) -> None:
    """``torch.save`` ``obj`` so that ``path`` is never left half-written.

    Written through :func:`utils.atomic_io.atomic_open`: the data goes to a temporary file beside
    ``path`` (unique per process), is flushed and fsync'ed, replaces ``path`` in one ``os.replace``
    (atomic on POSIX and Windows for the same file system), and the folder is fsync'ed. If anything
    fails, the rename included, the temporary file is removed and a previous ``path`` stays untouched;
    a full disk is an ``OSError(ENOSPC)`` naming ``path``.
    """
    path = Path(path)
    writer = None
    try:
        with atomic_open(path, "wb", sync_dir=True) as f:
            writer = _RecordingWriter(f)
            torch.save(obj, writer)
    except BaseException as e:
        # torch reports a failed write as "[enforce fail at inline_container.cc] unexpected pos"
        full = no_space_error(path, writer.error if writer is not None else None)
        if full is not None and not (isinstance(e, OSError) and e.errno == errno.ENOSPC):
            raise full from e
        raise


class _RecordingWriter:
    """A file wrapper for torch.save that keeps the OSError of a failed write (torch hides its errno)."""

    def __init__(self, f):
        self._f = f
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self._f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self._f.flush()


def _numpy_scalar_globals() -> list[Any]:
    """What unpickling NumPy float scalars needs (the original stored ``perf`` as np.float64).

    The scalar constructor is allowed under both of its pickled names: ``numpy.core.multiarray.scalar``
    (files written with NumPy 1.x, as users of the original have them) and
    ``numpy._core.multiarray.scalar`` (NumPy 2); nothing else is added.
    """
    core = np._core if hasattr(np, "_core") else np.core  # NumPy 2 renamed the module
    scalar = core.multiarray.scalar
    return [
        (scalar, "numpy.core.multiarray.scalar"),
        (scalar, "numpy._core.multiarray.scalar"),
        np.dtype,
        type(np.dtype(np.float64)),
        type(np.dtype(np.float32)),
    ]


def load_checkpoint(path: PathLike, map_location: MapLocation = "cpu", allow_numpy_scalars: bool = False) -> Any:
    """Whatever object ``path`` holds, read with ``weights_only=True``.

    ``allow_numpy_scalars`` additionally admits NumPy scalars, so that the original's
    ``checkpoint.pth.tar`` (``perf``/``best_perf`` as np.float64) can be resumed from.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeCheckpointError: the file pickles objects that ``weights_only`` loading refuses,
            e.g. NumPy scalars such as ``perf`` in the original ``checkpoint.pth.tar``.
        CheckpointError: the file is not a readable PyTorch file (truncated, corrupt, other format).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file not found: {path}")
    allowed = _numpy_scalar_globals() if allow_numpy_scalars else []
    try:
        with torch.serialization.safe_globals(allowed), warnings.catch_warnings():
            # torch's note on a plain pickle's protocol 4/5; the error below says what the file is
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        refused = sorted(set(re.findall(r"unsupported global:? (?:GLOBAL )?([\w.]+)", str(e), flags=re.I)))
        if not refused:  # a damaged pickle stream, or a plain pickle that torch stops reading early
            referenced = [] if zipfile.is_zipfile(path) else pickle_globals(path)
            if referenced:
                raise UnsafeCheckpointError(
                    f"{path}: a plain Python pickle (not PyTorch's weight-file format) that references "
                    f"{', '.join(referenced)}; unpickling it could run code from the file, so it is not loaded. "
                    "Weight files are written by torch.save"
                ) from e
            raise CheckpointError(f"{path}: {_NOT_READABLE}: {_weights_only_reason(str(e))}") from e
        numpy_hint = (
            " (The original train.py stored NumPy scalars such as 'perf' in checkpoint.pth.tar; the "
            "model_best.pth.tar and final_state.pth.tar of such a run hold only tensors.)"
            if all(name.startswith("numpy") for name in refused) else ""
        )
        raise UnsafeCheckpointError(
            f"{path}: the file holds Python objects that safe loading (torch.load with weights_only=True) "
            f"refuses: {', '.join(refused)}. Unpickling them could run code from the file, so it is not "
            "loaded, however much you trust its source; only tensors, plain containers and numbers are "
            f"accepted.{numpy_hint}"
        ) from e
    except Exception as e:  # torch.load fails on damaged files with many exception types
        raise CheckpointError(f"{path}: {_NOT_READABLE}: {type(e).__name__}: {e}") from e


def pickle_globals(path: PathLike, limit: int = 1 << 30) -> list[str]:
    """The ``module.name`` globals that the pickle stream(s) at the start of ``path`` reference, listed
    with :func:`pickletools.genops` (the opcodes are read, nothing is unpickled). Sorted, without
    repeats; what could be read before a damaged part, [] for a file that is no pickle at all.

    ``GLOBAL`` names its global inline; ``STACK_GLOBAL`` (protocol 4 and later) takes module and
    name from the two strings pushed before it, directly or from the memo, which is followed here.
    Consecutive pickles (PyTorch's legacy format writes several) are read one after another.
    """
    found: set[str] = set()
    with open(path, "rb") as f:
        data = f.read(limit)
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        strings: list[Any] = []  # the values pushed so far that STACK_GLOBAL could take
        memo: dict[int, Any] = {}
        try:
            for opcode, arg, _ in pickletools.genops(stream):
                name = opcode.name
                if name == "GLOBAL":
                    found.add(str(arg).replace(" ", "."))
                elif name == "STACK_GLOBAL":
                    if len(strings) >= 2 and all(isinstance(v, str) for v in strings[-2:]):
                        found.add(f"{strings[-2]}.{strings[-1]}")
                    strings = strings[:-2]
                elif name in ("MEMOIZE",):
                    memo[len(memo)] = strings[-1] if strings else None
                elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                    memo[int(arg)] = strings[-1] if strings else None
                elif name in ("GET", "BINGET", "LONG_BINGET"):
                    strings.append(memo.get(int(arg)))
                elif isinstance(arg, str) and ("UNICODE" in name or "STRING" in name):
                    strings.append(arg)
                elif opcode.stack_after:  # anything else pushed: not a string for STACK_GLOBAL
                    strings.append(None)
        except Exception:  # a damaged stream or data after the pickles: keep what was read
            break
    return sorted(found)


def _weights_only_reason(message: str) -> str:
    """The informative part of torch's weights_only error, e.g. "Unsupported operand 123".

    Torch puts it after "WeightsUnpickler error:" (on that line or a later one); the rest of its
    message advises loading with ``weights_only=False``, which this project never suggests.
    """
    _, marker, rest = message.partition("WeightsUnpickler error:")
    lines = [line.strip() for line in (rest if marker else message).splitlines()]
    lines = [line for line in lines if line and "weights_only" not in line]
    return lines[0] if lines else "the pickle stream cannot be read"


def strip_prefix(state_dict: Mapping[str, Any], prefix: str = "module.") -> "OrderedDict[str, Any]":
    """A copy of ``state_dict`` without ``prefix`` when *every* key starts with it; otherwise unchanged.

    PyTorch's per-module version metadata (``state_dict._metadata``) is carried over with the
    same renaming, so BatchNorm's handling of old files keeps working.
    """
    keys = list(state_dict.keys())
    strip = bool(keys) and all(k.startswith(prefix) for k in keys)
    out: OrderedDict[str, Any] = OrderedDict(
        (k[len(prefix):] if strip else k, v) for k, v in state_dict.items()
    )
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        if strip:
            bare = prefix.rstrip(".")
            metadata = OrderedDict(
                ("" if k == bare else k[len(prefix):] if k.startswith(prefix) else k, v)
                for k, v in metadata.items()
            )
        out._metadata = metadata  # type: ignore[attr-defined]
    return out


def load_state_dict_file(path: PathLike, map_location: MapLocation = "cpu") -> "OrderedDict[str, torch.Tensor]":
    """The model state dict stored in ``path``, keys without a leading ``module.``.

    Accepted layouts: a bare state dict (``model_best.pth.tar``, ``final_state.pth.tar``, torchvision
    ImageNet files) or a dict with the state dict under ``'state_dict'`` (``checkpoint.pth.tar``,
    caffe-style ImageNet ``.pth.tar`` files).

    Raises:
        FileNotFoundError / UnsafeCheckpointError / CheckpointError: see :func:`load_checkpoint`;
            CheckpointError also when no state dict is found in the file.
    """
    obj = load_checkpoint(path, map_location)
    if isinstance(obj, Mapping) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        found = list(obj.keys())[:_SHOW_KEYS] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(
            f"{path}: no state dict found; expected a mapping of parameter names to tensors, or a dict "
            f"holding one under 'state_dict'; found {found}"
        )
    return strip_prefix(obj)


def _first(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOW_KEYS])
    return shown + (", ..." if len(keys) > _SHOW_KEYS else "")


def load_model_weights(
    model: nn.Module,
    path: PathLike | Mapping[str, Any],
    map_location: MapLocation = "cpu",
    source: str | None = None,
) -> nn.Module:
    """Load ``path`` (a file, or an already loaded state dict) into ``model`` strictly.

    Loads into ``model.module`` for DDP/DataParallel; a leading ``module.`` on every key is
    stripped. ``source`` names a state dict passed directly (e.g. the checkpoint it came from) in
    error messages.

    Missing ``num_batches_tracked`` buffers (PyTorch 0.4.0 files) are the only tolerated difference:
    they keep the model's current value.

    Returns:
        The unwrapped model the weights were loaded into.

    Raises:
        CheckpointMismatchError: keys missing from the file, keys the model lacks or shape mismatches;
            the message names the file, the counts and the first few keys of each kind.
    """
    target = unwrap_model(model)
    if isinstance(path, Mapping):
        state_dict = strip_prefix(path)
        path = source or "<state dict>"
    else:
        state_dict = load_state_dict_file(path, map_location)
    expected = target.state_dict()

    missing = [k for k in expected if k not in state_dict]
    tolerated = [k for k in missing if k.rsplit(".", 1)[-1] == _NUM_BATCHES_TRACKED]
    missing = [k for k in missing if k not in tolerated]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state_dict.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if missing or unexpected or mismatched:
        parts = [
            f"{path}: weights do not match the model ({type(target).__name__}, "
            f"{len(expected)} entries; file {len(state_dict)} entries)"
        ]
        if missing:
            parts.append(f"{len(missing)} missing from the file: {_first(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected in the file: {_first(unexpected)}")
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatches: {_first(mismatched)}")
        raise CheckpointMismatchError("; ".join(parts))

    if tolerated:
        logger.info("%s: %d num_batches_tracked buffers absent (PyTorch 0.4.0 file); keeping current values",
                    path, len(tolerated))
        for k in tolerated:
            state_dict[k] = expected[k]
    target.load_state_dict(state_dict, strict=True)
    logger.info("=> loaded %d weight entries from %s", len(state_dict), path)
    return target
