"""One ``train.py`` run per output folder: an advisory ``fcntl.flock`` on ``<output dir>/train.lock``.

The kernel drops the lock when its process dies (SIGKILL included), so a lock file left behind by a
killed run is recognised as stale and taken over; the file itself only tells who holds it.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no lock (documented)
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

LOCK_NAME = "train.lock"


class FolderInUseError(RuntimeError):
    """Another live process trains into the same output folder."""


class RunLock:
    """Held from :meth:`acquire` until :meth:`release` or the end of the process."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.path = Path(folder) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        if fcntl is None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            holder = self._holder()
            raise FolderInUseError(
                f"{self.path.parent} is in use by another train.py ({holder}; lock {self.path}); wait for it "
                "to end, stop it, or train into another folder (another OUTPUT_DIR or YAML name)"
            ) from None
        previous = self._holder()
        if previous != "holder unknown":
            logger.warning("=> taking over the stale lock %s left by a run that ended (%s)", self.path, previous)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def _holder(self) -> str:
        try:
            info = json.loads(self.path.read_text(encoding="utf-8"))
            return f"pid {info['pid']} on {info['host']} since {info['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "holder unknown"

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # an empty file: nobody holds it
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
