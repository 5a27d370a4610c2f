"""Shared pieces of the command-line entry points: flags → config, and clean error exits."""
from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

from core.config import AttrDict, ConfigError, load_config
from utils.checkpoint import CheckpointError
from utils.run_lock import FolderInUseError


def add_common_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The original's ``--cfg --frequent --gpus --workers`` plus trailing ``KEY VALUE`` overrides."""
    parser.add_argument("--cfg", required=True, type=str, help="experiment configure file name")
    parser.add_argument("--frequent", type=int, default=None, help="frequency of logging (sets PRINT_FREQ)")
    parser.add_argument("--gpus", type=str, default=None, help="gpus, e.g. 0,1 (or cpu)")
    parser.add_argument("--workers", type=int, default=None, help="num of dataloader workers (0 allowed)")
    return parser


def add_test_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The original valid.py flags; store-true flags switch on, ``KEY VALUE`` pairs switch off."""
    parser.add_argument("--model-file", help="model state file (TEST.MODEL_FILE)", type=str)
    parser.add_argument("--use-detect-bbox", help="use detected boxes (TEST.USE_GT_BBOX False)", action="store_true")
    parser.add_argument("--flip-test", help="use flip test (TEST.FLIP_TEST)", action="store_true")
    parser.add_argument("--post-process", help="use quarter-offset post-process (TEST.POST_PROCESS)", action="store_true")
    parser.add_argument("--shift-heatmap", help="shift flipped heatmaps (TEST.SHIFT_HEATMAP)", action="store_true")
    parser.add_argument("--coco-bbox-file", help="COCO detection file (TEST.COCO_BBOX_FILE)", type=str)
    return parser


def add_opts(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The trailing ``KEY VALUE`` config overrides (``args.opts``); flags may also come after them.

    argparse hands every token from the first override on to ``opts``, so
    ``--cfg x.yaml TEST.FLIP_TEST false --model-file m.pth`` would read ``--model-file`` as a config
    key. The parser's ``parse_known_args`` (which ``parse_args`` calls) is wrapped so that such
    flags are parsed as flags; see :func:`_parse_with_trailing_flags`.
    """
    parser.add_argument(
        "opts", nargs=argparse.REMAINDER,
        help="config overrides as KEY VALUE pairs, e.g. TEST.FLIP_TEST False (flags may follow them)",
    )
    parser.parse_known_args = functools.partial(_parse_with_trailing_flags, parser.parse_known_args)
    return parser


def positive_int(text: str) -> int:
    """argparse ``type`` for counts that must be at least 1 (``--threads``, ``--batches``, ...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {value}")
    return value


def _is_config_key(token: str) -> bool:
    """Whether ``token`` reads as a config key (``GPUS``, ``MODEL.NAME``, ...): upper case, dotted, and
    its first part is a top-level key of the defaults."""
    if not re.fullmatch(r"[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)*", token):
        return False
    from core.config import get_default_config

    return token.split(".")[0] in get_default_config()


def _pairs_and_flags(opts: Sequence[str]) -> tuple[list[str], list[str]]:
    """``opts`` read as ``KEY VALUE`` pairs: (the pairs, the flags found where a KEY should be).

    A token that starts with ``-`` in the place of a KEY begins a flag; the flag's own values run up
    to the next config key (``--batches 1 8 MODEL.NAME x``). A VALUE is never taken for a flag, so
    ``TRAIN.LR -1`` stays a pair. Whatever is neither stays with the pairs, where the config reports it.
    """
    pairs: list[str] = []
    flags: list[str] = []
    i = 0
    while i < len(opts):
        if opts[i].startswith("-"):
            j = i + 1
            while j < len(opts) and not _is_config_key(opts[j]):
                j += 1
            flags += opts[i:j]
            i = j
        else:
            pairs += opts[i:i + 2]
            i += 2
    return pairs, flags


def split_overrides(argv: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """``argv`` cut at the first token that is a config key: (flags, ``KEY VALUE`` overrides).

    argparse lets a flag with ``nargs="+"`` (e.g. ``--batches 1 8``) swallow the overrides after it;
    cutting first keeps ``--batches 1 MODEL.NAME x`` working, and an override value that starts
    with ``-`` is never mistaken for a flag. Flags written after the overrides
    (``MODEL.NAME x --threads 2``) go back to the flags."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for i, token in enumerate(argv):
        if _is_config_key(token):
            pairs, flags = _pairs_and_flags(argv[i:])
            return argv[:i] + flags, pairs
    return argv, []


def _parse_with_trailing_flags(
    parse_known_args: Callable[..., tuple[argparse.Namespace, list[str]]],
    args: Sequence[str] | None = None,
    namespace: argparse.Namespace | None = None,
) -> tuple[argparse.Namespace, list[str]]:
    """argparse's ``parse_known_args``, then flags among the ``KEY VALUE`` overrides parsed as flags.

    A command line whose overrides hold no flag is parsed exactly as argparse parses it. Otherwise
    the flags found where a KEY should be (:func:`_pairs_and_flags`) are parsed again together with
    everything before the overrides; an unknown one is argparse's own ``error: unrecognized
    arguments`` line, and the pairs stay the overrides, in their order.
    """
    argv = list(sys.argv[1:] if args is None else args)
    parsed, extras = parse_known_args(argv, namespace)
    opts = list(getattr(parsed, "opts", None) or [])
    pairs, flags = _pairs_and_flags(opts)
    start = len(argv) - len(opts)
    if not flags or not pairs or argv[start:] != opts:  # no flag to move (or nothing would change)
        return parsed, extras
    parsed, extras = parse_known_args(argv[:start] + flags, namespace)
    parsed.opts = pairs + list(parsed.opts or [])  # anything left over after the flags: reported by the config
    return parsed, extras


def config_from_args(args: argparse.Namespace) -> AttrDict:
    """Defaults, YAML, then one key per given flag, then the trailing ``KEY VALUE`` pairs."""
    flags: list[str] = []
    if args.frequent is not None:
        flags += ["PRINT_FREQ", str(args.frequent)]
    if args.gpus is not None:
        flags += ["GPUS", args.gpus]
    if args.workers is not None:
        flags += ["WORKERS", str(args.workers)]
    if getattr(args, "model_file", None):
        flags += ["TEST.MODEL_FILE", args.model_file]
    if getattr(args, "use_detect_bbox", False):
        flags += ["TEST.USE_GT_BBOX", "false"]
    if getattr(args, "flip_test", False):
        flags += ["TEST.FLIP_TEST", "true"]
    if getattr(args, "post_process", False):
        flags += ["TEST.POST_PROCESS", "true"]
    if getattr(args, "shift_heatmap", False):
        flags += ["TEST.SHIFT_HEATMAP", "true"]
    if getattr(args, "coco_bbox_file", None):
        flags += ["TEST.COCO_BBOX_FILE", args.coco_bbox_file]
    return load_config(args.cfg, flags + list(args.opts or []), validate=True)


class InputFileError(ValueError):
    """A user's file that is not what it should be (malformed JSON, the wrong structure): one line."""


class UsageError(ValueError):
    """Flags or values that cannot work together (``--det-file`` with ``--detector``, ...): one line."""


def read_json(path: str | os.PathLike, what: str) -> Any:
    """The JSON value in ``path``; a missing, unreadable or malformed file is one clear error naming
    ``what`` it should be (e.g. "history.json written by train.py") and the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputFileError(f"{path}: not a valid JSON file ({what}): {e}") from None


# Errors about the user's input: one line, no traceback.
USER_ERRORS = (ConfigError, OSError, CheckpointError, InputFileError, UsageError,
               FolderInUseError)  # OSError: missing files, disk full, ...


TRACEBACK_DIR_ENV = "SIMMRPOSE_TRACEBACK_DIR"


def _save_traceback(exc: BaseException) -> str | None:
    """Write the traceback of ``exc`` to a new ``simmrpose-error-*.txt`` in ``$SIMMRPOSE_TRACEBACK_DIR``
    (default: the system's temporary folder); its path, or None when that fails too."""
    try:
        folder = os.environ.get(TRACEBACK_DIR_ENV) or None  # None: tempfile's own choice (/tmp, $TMPDIR, ...)
        fd, path = tempfile.mkstemp(prefix="simmrpose-error-", suffix=".txt", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        return path
    except OSError:
        return None


def _error_line(exc: BaseException) -> str:
    """The message of ``exc``; for an error that a DataLoader worker raised, the worker's own message.

    torch re-raises a worker's exception in the main process with the worker's traceback in the
    message ("Caught FileNotFoundError in DataLoader worker process 0. Original Traceback ...");
    its last line is the original ``<type>: <message>``.
    """
    text = str(exc)
    if text.startswith("Caught ") and "\nOriginal Traceback" in text:
        last = text.rstrip().splitlines()[-1]
        prefix = f"{type(exc).__name__}: "
        return last[len(prefix):] if last.startswith(prefix) else last
    return text


def run_cli(main: Callable[[], int | None]) -> None:
    """Run an entry point; user errors end with one clear line instead of a traceback.

    * configuration, file-system (missing file, disk full), weight-file and input-file errors (``USER_ERRORS``):
      one line, exit 2;
    * other ``ValueError``s (mostly checks of the input, but a bug can raise one too): the same
      ``error:`` last line, exit 2, after a line giving the file that holds the full traceback
      (written to ``$SIMMRPOSE_TRACEBACK_DIR``, default the system's temporary folder); checks of the
      user's input raise one of ``USER_ERRORS`` instead, so that they write no such file;
    * anything else (a bug, CUDA out of memory, ...): Python's own traceback, exit 1.

    Set ``SIMMRPOSE_TRACEBACK=1`` to see the full traceback in every case.
    """
    try:
        code = main()
    except (*USER_ERRORS, ValueError) as e:
        if os.environ.get("SIMMRPOSE_TRACEBACK"):
            raise
        if not isinstance(e, USER_ERRORS):
            where = _save_traceback(e)
            if where:  # before the error, which stays the last line
                print(f"(traceback written to {where})", file=sys.stderr)
        print(f"error: {_error_line(e)}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)
