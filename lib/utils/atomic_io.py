"""Writing files so that a reader sees either the old file or the complete new one, never a part.

Every writer here puts the data in a temporary file beside the target (same folder, so same file
system), then renames it over the target with ``os.replace`` (atomic on POSIX and Windows). On any
failure -- an exception while writing, a full disk, a failing rename, Ctrl-C -- the temporary file is
removed and the target is left as it was (or absent, if it was absent).

The temporary file is named ``<stem>.tmp.<pid><suffix>``: unique per process and ending in the
target's suffix, so writers that pick the format from the name (``matplotlib``'s ``savefig``,
``cv2.imwrite``) write the right format.

* :func:`atomic_path` yields the temporary path, for writers that take a file name;
* :func:`atomic_open` yields an open file object (flushed and fsync'ed before the rename), for
  ``torch.save``, ``pickle.dump``, ``json.dump``, ...;
* :func:`write_bytes`, :func:`write_text`, :func:`write_json` and :func:`write_pickle` are the common cases.

A full disk is re-raised as ``OSError(ENOSPC)`` whose message names the target and says the previous
file is unchanged (the bare error of a failed ``write`` names no file); :func:`no_space_error` builds
that error for writers that hide the errno (``torch.save`` reports a failed write as a RuntimeError).
``sync_dir=True`` also fsyncs the folder after the rename, so that the rename itself survives a power
cut (the checkpoints use it).
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import shutil
from pathlib import Path
from typing import IO, Any, Iterator

__all__ = ["atomic_path", "atomic_open", "temp_path_for", "no_space_error", "write_bytes", "write_text", "write_json",
           "write_pickle"]


def temp_path_for(path: str | os.PathLike) -> Path:
    """The temporary file used while writing ``path`` in this process."""
    path = Path(path)
    return path.with_name(f"{path.stem}.tmp.{os.getpid()}{path.suffix}")


def no_space_error(path: str | os.PathLike, cause: BaseException | None) -> OSError | None:
    """For a full disk (``cause`` is an ``OSError`` with errno ENOSPC): the ``OSError(ENOSPC)`` that
    names ``path`` and says the previous file is unchanged; None for any other ``cause``."""
    if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
        return OSError(errno.ENOSPC, f"no space left on device while writing {path}; the previous file (if any) "
                                     "is unchanged", str(path))
    return None


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable where the platform allows it (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, sync_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; when the block ends normally it replaces ``path``.

    If the block raises, or the block did not create the file, or the rename fails, the temporary
    file is removed, ``path`` is unchanged and the error propagates. ``sync_dir``: fsync the folder
    after the rename.
    """
    path = Path(path)
    tmp = temp_path_for(path)
    try:
        yield tmp
        if not tmp.exists():
            raise OSError(errno.EIO, f"writing {path} produced no file", str(path))
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        replacement = no_space_error(path, e)
        if replacement is not None:
            raise replacement from e
        raise
    if sync_dir:
        _fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = None,
                sync_dir: bool = False) -> Iterator[IO]:
    """Yield a file opened for writing in ``mode`` ('w' or 'wb'); it replaces ``path`` once the block
    ends normally, after ``flush`` and ``fsync`` (so a power cut cannot leave an empty file behind).
    ``sync_dir``: also fsync the folder after the rename (:func:`atomic_path`)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open: mode must be 'w' or 'wb', got {mode!r}")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    with atomic_path(path, sync_dir=sync_dir) as tmp:
        with open(tmp, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    with atomic_open(path, "w", encoding=encoding) as f:
        f.write(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any, **dump_kwargs: Any) -> Path:
    """``json.dump(obj, **dump_kwargs)``; an object JSON cannot encode fails before ``path`` is touched."""
    return write_text(path, json.dumps(obj, **dump_kwargs))


def write_pickle(path: str | os.PathLike, obj: Any, protocol: int = pickle.HIGHEST_PROTOCOL) -> Path:
    with atomic_open(path, "wb") as f:
        pickle.dump(obj, f, protocol)
    return Path(path)


def copy_file(source: str | os.PathLike, path: str | os.PathLike, metadata: bool = False) -> Path:
    """Copy ``source`` to ``path`` atomically (``shutil.copy2``'s times and mode too with ``metadata``)."""
    with atomic_path(path) as tmp:
        (shutil.copy2 if metadata else shutil.copyfile)(source, tmp)
    return Path(path)
