"""Read images stored inside zip archives (``DATASET.DATA_FORMAT: zip``), as the original's zip reader.

A zip path has the form ``<archive>.zip@/<member>``: the part before ``.zip@``'s ``@`` is the archive file, the
part after the two characters ``@/`` is the member name inside it (dataset images sit at the archive
root, e.g. ``data/coco/images/val2017.zip@/000000000139.jpg``).

Open archives are cached per process. The cache is keyed by ``(pid, archive path)`` so that a
``DataLoader`` worker forked after the parent opened an archive never shares the parent's file
handle (two processes seeking one descriptor would corrupt each other's reads).
"""
from __future__ import annotations

import os
import threading
import zipfile

import cv2
import numpy as np

__all__ = ["imread", "read_bytes", "split_zip_path"]

_ZIP_CACHE: dict[tuple[int, str], zipfile.ZipFile] = {}
_ZIP_LOCK = threading.Lock()


def split_zip_path(path: str) -> tuple[str, str]:
    """``'<archive>.zip@/<member>'`` -> ``(archive, member)``.

    Raises ValueError when the path has no ``@`` (not a zip path).
    """
    path = os.fspath(path)
    # Split at the archive's '.zip@', so that an '@' elsewhere in DATASET.ROOT stays in the folder name
    # (the original split at the first '@'); other archive names fall back to the first '@'.
    pos_zip = path.find(".zip@")
    pos_at = pos_zip + len(".zip") if pos_zip >= 0 else path.find("@")
    if pos_at < 0:
        raise ValueError(f"not a zip image path (expected '<archive>.zip@/<member>'): {path!r}")
    # The member starts two characters after '@' (skipping the '/'), as in the original reader.
    return path[:pos_at], path[pos_at + 2:]


def _open_archive(archive: str) -> zipfile.ZipFile:
    key = (os.getpid(), archive)
    zf = _ZIP_CACHE.get(key)
    if zf is not None:
        return zf
    with _ZIP_LOCK:
        zf = _ZIP_CACHE.get(key)
        if zf is None:
            if not os.path.isfile(archive):
                raise FileNotFoundError(f"zip archive not found: {archive}")
            try:
                zf = zipfile.ZipFile(archive, "r")
            except zipfile.BadZipFile as e:
                raise ValueError(f"not a valid zip archive: {archive} ({e})") from e
            _ZIP_CACHE[key] = zf
    return zf


def read_bytes(path: str) -> bytes:
    """The raw bytes of the member named by a ``<archive>.zip@/<member>`` path.

    Raises FileNotFoundError naming the archive (missing archive) or the member and its archive
    (missing member).
    """
    archive, member = split_zip_path(path)
    zf = _open_archive(archive)
    try:
        return zf.read(member)
    except KeyError:
        raise FileNotFoundError(f"member {member!r} not found in zip archive {archive}") from None


def imread(path: str, flags: int = cv2.IMREAD_COLOR) -> np.ndarray | None:
    """Decode an image stored in a zip archive, like ``cv2.imread`` for a plain file.

    Args:
        path: ``<archive>.zip@/<member>``.
        flags: OpenCV imread flags (the datasets pass ``IMREAD_COLOR | IMREAD_IGNORE_ORIENTATION``).

    Returns:
        The decoded image (H, W, 3) uint8 in BGR order for colour flags, or None when the bytes do
        not decode (the caller reports that, as ``cv2.imread`` would return None too).
    """
    data = read_bytes(path)
    return cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
