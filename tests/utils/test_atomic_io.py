"""utils.atomic_io: the target is the old file or the complete new one; no temporary file survives a
failure of the write, of the disk (ENOSPC) or of the final rename."""
from __future__ import annotations

import errno
import json
import os
import pickle

import pytest
import torch

from utils import atomic_io
from utils.atomic_io import atomic_open, atomic_path, write_bytes, write_json, write_pickle, write_text


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


WRITERS = {
    "text": (lambda p: write_text(p, "new"), lambda p: p.read_text() == "new"),
    "bytes": (lambda p: write_bytes(p, b"new"), lambda p: p.read_bytes() == b"new"),
    "json": (lambda p: write_json(p, {"a": [1, 2]}, indent=1), lambda p: json.loads(p.read_text()) == {"a": [1, 2]}),
    "pickle": (lambda p: write_pickle(p, {"a": 1}), lambda p: pickle.loads(p.read_bytes()) == {"a": 1}),
    "torch.save": (lambda p: _torch_save(p), lambda p: torch.equal(torch.load(p)["w"], torch.arange(3))),
}


def _torch_save(path):
    with atomic_open(path, "wb") as f:
        torch.save({"w": torch.arange(3)}, f)


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_writes_replace_the_target_and_leave_nothing_else(kind, tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    write, check = WRITERS[kind]
    write(target)
    assert check(target) and _names(tmp_path) == ["out.bin"]


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_failing_rename_keeps_the_old_file_and_removes_the_temporary(kind, tmp_path, monkeypatch):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def refuse(src, dst):
        raise PermissionError(errno.EACCES, "rename refused", str(dst))

    monkeypatch.setattr(atomic_io.os, "replace", refuse)
    with pytest.raises(PermissionError, match="rename refused"):
        WRITERS[kind][0](target)
    assert target.read_bytes() == b"old" and _names(tmp_path) == ["out.bin"]


def test_full_disk_names_the_target_and_leaves_no_file(tmp_path):
    target = tmp_path / "results.json"

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[: len(data) // 2])  # part of it reaches the disk, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as info:
        with atomic_open(target, "w") as f:
            FullDisk(f).write("x" * 1000)
    assert info.value.errno == errno.ENOSPC and str(target) in str(info.value) and "unchanged" in str(info.value)
    assert _names(tmp_path) == []  # neither a half-written target nor the temporary


def test_torch_save_failing_midway_keeps_the_previous_checkpoint(tmp_path):
    target = tmp_path / "checkpoint.pth.tar"
    torch.save({"epoch": 1}, target)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle this")

    with pytest.raises(RuntimeError, match="cannot pickle"):
        with atomic_open(target, "wb") as f:
            torch.save({"epoch": 2, "bad": Unpicklable()}, f)
    assert torch.load(target) == {"epoch": 1} and _names(tmp_path) == ["checkpoint.pth.tar"]


def test_atomic_path_keeps_the_suffix_and_needs_the_file_written(tmp_path):
    target = tmp_path / "picture.png"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".png" and f".tmp.{os.getpid()}" in tmp.name
        tmp.write_bytes(b"png")
    assert target.read_bytes() == b"png"
    with pytest.raises(OSError, match="produced no file"):
        with atomic_path(tmp_path / "never.png"):
            pass  # e.g. cv2.imwrite returned False
    assert _names(tmp_path) == ["picture.png"]


def test_interrupt_while_writing_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(tmp_path / "a.txt") as f:
            f.write("partial")
            raise KeyboardInterrupt
    assert _names(tmp_path) == []


def test_json_that_cannot_be_encoded_touches_nothing(tmp_path):
    target = tmp_path / "a.json"
    target.write_text("{}")
    with pytest.raises(TypeError):
        write_json(target, {"x": object()})
    assert target.read_text() == "{}" and _names(tmp_path) == ["a.json"]


def test_save_figure_failing_rename_leaves_no_temporary_picture(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from utils.figures import save_figure

    def refuse(src, dst):
        raise PermissionError(errno.EACCES, "rename refused", str(dst))

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        save_figure(fig, tmp_path / "curves.png")
    assert _names(tmp_path) == []
