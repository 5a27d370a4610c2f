"""Faults outside the config: a full disk while saving, a malicious checkpoint, '@' in zip roots, run_cli."""
import errno
import os
import subprocess
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from core.config import ConfigError
from helpers import FullDiskFile, sample_path
from utils import atomic_io, zipreader
from utils.checkpoint import UnsafeCheckpointError, load_checkpoint, load_state_dict_file, save_atomic
from utils.cli import run_cli


class _FullDisk:
    """``open`` for utils.atomic_io (which writes every checkpoint) on a file system with ``space`` bytes
    left: the write that does not fit writes what fits and raises OSError(ENOSPC), as a real full disk does."""

    def __init__(self, space: int):
        self.space = space

    def __call__(self, file, mode="r", *args, **kwargs):
        f = open(file, mode, *args, **kwargs)
        return _FileOnAFullDisk(f, self) if "w" in mode else f


class _FileOnAFullDisk(FullDiskFile):
    """A file of ``disk``: writes succeed while its space lasts (FullDiskFile fails the first write)."""

    def __init__(self, f, disk: _FullDisk):
        super().__init__(f)
        self._disk = disk

    def write(self, data) -> int:
        data = memoryview(data).cast("B")
        if len(data) > self._disk.space:
            self._f.write(data[:self._disk.space])
            self._disk.space = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._disk.space -= len(data)
        return self._f.write(data)


@pytest.fixture(params=["enospc-writer", pytest.param("tmpfs", marks=pytest.mark.slow)])
def small_fs(request, tmp_path, monkeypatch):
    """A folder with 1 MiB of space: checkpoint writes raising ENOSPC past 1 MiB, or a real 1 MiB tmpfs
    (mounting needs root; skipped otherwise)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if request.param == "enospc-writer":
        monkeypatch.setattr(atomic_io, "open", _FullDisk(1 << 20), raising=False)
        yield mount
        return
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs (needs root): {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_disk_full_while_saving_names_the_file_and_keeps_the_previous_one(small_fs):
    path = small_fs / "checkpoint.pth.tar"
    previous = {"state_dict": {"w": torch.arange(1000, dtype=torch.float32)}}
    save_atomic(previous, path)
    before = path.read_bytes()
    with pytest.raises(OSError) as info:
        save_atomic({"state_dict": {"w": torch.zeros(400_000)}}, path)  # 1.6 MB > what is left
    assert info.value.errno == errno.ENOSPC
    assert str(info.value).count("\n") == 0
    assert "no space left on device" in str(info.value) and str(path) in str(info.value)
    assert path.read_bytes() == before and os.listdir(small_fs) == ["checkpoint.pth.tar"]  # tmp removed
    assert torch.equal(load_checkpoint(path)["state_dict"]["w"], previous["state_dict"]["w"])


class _RunsACommand:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_malicious_checkpoint_names_the_refused_global_and_never_suggests_unsafe_loading(tmp_path):
    path = tmp_path / "model_best.pth.tar"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "x": _RunsACommand()}, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_state_dict_file(path)
    message = str(info.value)
    assert str(path) in message and f"{os.system.__module__}.system" in message  # posix.system
    assert "safe loading" in message
    assert "weights_only=False" not in message and "corrupt" not in message


def test_zip_root_with_an_at_sign_splits_at_the_archive(tmp_path):
    image = sorted((sample_path("coco") / "images" / "val2017").glob("*.jpg"))[0]
    folder = tmp_path / "user@host" / "images"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "val2017.zip", "w") as zf:
        zf.write(image, arcname=image.name)
    zpath = f"{folder}/val2017.zip@/{image.name}"
    assert zipreader.split_zip_path(zpath) == (str(folder / "val2017.zip"), image.name)
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    assert np.array_equal(zipreader.imread(zpath, flags), cv2.imread(str(image), flags))


def _fail_with(exc):
    def main():
        raise exc
    return main


def test_run_cli_user_errors_are_one_line(capsys):
    for exc in (ConfigError("a.yaml: PRINT_FREQ = 0 is not allowed"), FileNotFoundError("weight file not found: x")):
        with pytest.raises(SystemExit) as info:
            run_cli(_fail_with(exc))
        assert info.value.code == 2
        assert capsys.readouterr().err == f"error: {exc}\n"


def test_run_cli_other_value_errors_keep_their_traceback_in_a_file(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SIMMRPOSE_TRACEBACK_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as info:
        run_cli(_fail_with(ValueError("operands could not be broadcast")))
    assert info.value.code == 2
    first, last = capsys.readouterr().err.splitlines()
    assert last == "error: operands could not be broadcast"
    where = Path(first.removeprefix("(traceback written to ").removesuffix(")"))
    assert where.parent == tmp_path and where.name.startswith("simmrpose-error-")  # where the variable says
    text = where.read_text()
    assert text.startswith("Traceback") and "in main" in text and "ValueError: operands" in text


def test_plain_user_errors_write_no_traceback_file(capsys, tmp_path, monkeypatch):
    """``GPUS abc``, an OUTPUT_DIR that is a file and a malformed detection entry are the user's input:
    one ``error:`` line, no "(traceback written to ...)" line and no file."""
    import argparse
    import json

    from core.detections import DetectionFile
    from utils.cli import add_common_args, add_opts, config_from_args

    monkeypatch.setenv("SIMMRPOSE_TRACEBACK_DIR", str(tmp_path / "tracebacks"))
    (tmp_path / "tracebacks").mkdir()
    yaml = Path(__file__).resolve().parents[2] / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml"
    blocker = tmp_path / "out"
    blocker.write_text("a file")
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3], "score": 0.9}]))
    parser = add_opts(add_common_args(argparse.ArgumentParser()))
    cases = {
        "GPUS = 'abc' is not allowed": lambda: config_from_args(parser.parse_args(["--cfg", str(yaml), "GPUS", "abc"])),
        f"OUTPUT_DIR = {str(blocker)!r} is not allowed": lambda: config_from_args(
            parser.parse_args(["--cfg", str(yaml), "OUTPUT_DIR", str(blocker)])),
        f"detection file {dets}, entry 0: 'bbox' must be [x, y, w, h]": lambda: DetectionFile(dets, 0.5),
    }
    for expected, main in cases.items():
        with pytest.raises(SystemExit) as info:
            run_cli(main)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and err.startswith("error: ") and expected in err, err
    assert list((tmp_path / "tracebacks").iterdir()) == []


def test_run_cli_lets_internal_errors_show_their_traceback():
    # a bug or CUDA out of memory: not turned into one line
    with pytest.raises(RuntimeError, match="CUDA out of memory"):
        run_cli(_fail_with(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")))
    with pytest.raises(KeyError):
        run_cli(_fail_with(KeyError("joints_vis")))
