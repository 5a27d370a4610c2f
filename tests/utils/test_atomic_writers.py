"""Every file the project writes goes through utils.atomic_io: when the final rename fails, or the disk
fills up while writing, the previous file is unchanged and no temporary file stays in the folder.

The faults are the real ones a writer meets: ``os.replace`` refusing (a read-only or foreign-owned
target, a Windows reader holding the file) and ``write`` failing with ENOSPC after part of the data
reached the disk. They are injected at the operating-system boundary (``os.replace``, ``open``), so
that the tests hold whichever helper a writer uses.
"""
from __future__ import annotations

import builtins
import errno
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from core.config import dump_config, get_default_config, load_config
from dataset import build_dataset
from dataset.per_joint import write_per_joint
from helpers import REPO, FullDiskFile, refuse_rename
from utils.checkpoint import save_atomic
from utils.utils import save_checkpoint

COCO_YAML = REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml"


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def fill_disk(monkeypatch, folder: Path) -> None:
    """Writing any file in ``folder`` fails with ENOSPC (``shutil``'s sendfile path included)."""
    real_open = io.open

    def open_(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if isinstance(file, (str, os.PathLike)) and Path(file).parent == folder and ("w" in mode or "a" in mode):
            return FullDiskFile(f)
        return f

    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)  # what pathlib's write_text / write_bytes call
    monkeypatch.setattr(shutil, "_USE_CP_SENDFILE", False)


def _small_states(epoch: int, value: float) -> dict:
    return {"epoch": epoch, "state_dict": {"w": torch.full((3,), value)}, "perf": 0.5}


# ------------------------------------------------------------------------------------------------
# checkpoints


def test_checkpoint_rename_refused_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pth.tar"
    save_atomic(_small_states(1, 1.0), path)
    before = path.read_bytes()
    refuse_rename(monkeypatch, path.name)
    with pytest.raises(PermissionError):
        save_atomic(_small_states(2, 2.0), path)
    assert path.read_bytes() == before and _names(tmp_path) == [path.name]


def test_checkpoint_on_a_full_disk_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pth.tar"
    fill_disk(monkeypatch, tmp_path)
    with pytest.raises(OSError) as info:
        save_atomic(_small_states(1, 1.0), path)
    assert info.value.errno == errno.ENOSPC and str(path) in str(info.value)
    assert _names(tmp_path) == []


def _best_and_copy(tmp_path: Path) -> tuple[Path, bytes]:
    """A folder after epoch 2 of a run with CHECKPOINT_EVERY 2: model_best and its epoch-1 copy."""
    save_checkpoint(_small_states(2, 1.0), True, tmp_path, every=2)
    copy = tmp_path / "model_best_until_epoch1.pth.tar"
    assert copy.read_bytes() == (tmp_path / "model_best.pth.tar").read_bytes()
    return copy, copy.read_bytes()


def test_model_best_copy_rename_refused_keeps_the_previous_copy(tmp_path, monkeypatch):
    copy, before = _best_and_copy(tmp_path)
    names = _names(tmp_path)
    refuse_rename(monkeypatch, copy.name)
    with pytest.raises(PermissionError):
        save_checkpoint(_small_states(2, 2.0), True, tmp_path, every=2)  # the same epoch saved again
    assert copy.read_bytes() == before and _names(tmp_path) == names


def test_model_best_copy_on_a_full_disk_leaves_no_partial_copy(tmp_path, monkeypatch):
    save_checkpoint(_small_states(1, 1.0), True, tmp_path, every=2)
    assert _names(tmp_path) == ["checkpoint.pth.tar", "model_best.pth.tar"]
    real_save_atomic = save_atomic
    import utils.utils as utils_module

    def save_then_fill(obj, path):  # the checkpoints still fit; the disk is full for the copy
        real_save_atomic(obj, path)
        if Path(path).name == "checkpoint_epoch1.pth.tar":
            fill_disk(monkeypatch, tmp_path)

    monkeypatch.setattr(utils_module, "save_atomic", save_then_fill)
    with pytest.raises(OSError) as info:
        save_checkpoint(_small_states(2, 2.0), False, tmp_path, every=2)
    assert info.value.errno == errno.ENOSPC and "model_best_until_epoch1" in str(info.value)
    assert _names(tmp_path) == ["checkpoint.pth.tar", "checkpoint_epoch1.pth.tar", "model_best.pth.tar"]


# ------------------------------------------------------------------------------------------------
# the config copy beside a run


def test_config_dump_rename_refused_keeps_the_previous_config(tmp_path, monkeypatch):
    path = tmp_path / "config_train.yaml"
    dump_config(get_default_config(), path)
    before = path.read_bytes()
    cfg = get_default_config()
    cfg.TRAIN.END_EPOCH = 7
    refuse_rename(monkeypatch, path.name)
    with pytest.raises(PermissionError):
        dump_config(cfg, path)
    assert path.read_bytes() == before and _names(tmp_path) == [path.name]


def test_config_dump_on_a_full_disk_keeps_the_previous_config(tmp_path, monkeypatch):
    path = tmp_path / "config_train.yaml"
    dump_config(get_default_config(), path)
    before = path.read_bytes()
    fill_disk(monkeypatch, tmp_path)
    with pytest.raises(OSError) as info:
        dump_config(get_default_config(), path)
    assert info.value.errno == errno.ENOSPC
    assert path.read_bytes() == before and _names(tmp_path) == [path.name]


# ------------------------------------------------------------------------------------------------
# evaluation outputs


@pytest.fixture
def evaluated(coco_root, tmp_path):
    """The COCO sample's GT evaluated once into tmp_path/results; (dataset, evaluate args, files)."""
    cfg = load_config(COCO_YAML, ["DATASET.ROOT", str(coco_root)])
    ds = build_dataset(cfg, "val2017", False)
    preds = np.ones((len(ds), 17, 3), dtype=np.float32)
    preds[:, :, 0:2] = np.stack([r["joints_3d"][:, 0:2] for r in ds.db])
    all_boxes = np.zeros((len(ds), 6))
    for i, r in enumerate(ds.db):
        all_boxes[i, 0:2], all_boxes[i, 2:4] = r["center"], r["scale"]
        all_boxes[i, 4], all_boxes[i, 5] = np.prod(r["scale"] * 200), 1
    args = (None, preds, str(tmp_path), all_boxes, [r["image"] for r in ds.db])
    ds.evaluate(*args)
    results = tmp_path / "results"
    files = {p.name: p.read_bytes() for p in results.iterdir()}
    assert sorted(files) == ["keypoints_val2017_results.json", "keypoints_val2017_results.pkl",
                             "per_joint_val2017.json"]
    return ds, args, files


@pytest.mark.parametrize("name", ["keypoints_val2017_results.json", "keypoints_val2017_results.pkl",
                                  "per_joint_val2017.json"])
def test_evaluation_rename_refused_keeps_the_previous_file(evaluated, tmp_path, monkeypatch, name):
    ds, args, files = evaluated
    args[1][:, :, 0] += 3.0  # another result
    refuse_rename(monkeypatch, name)
    with pytest.raises(PermissionError):
        ds.evaluate(*args)
    results = tmp_path / "results"
    assert (results / name).read_bytes() == files[name]
    assert _names(results) == sorted(files)  # no temporary file beside them


def test_evaluation_on_a_full_disk_leaves_no_file(evaluated, tmp_path, monkeypatch):
    ds, args, files = evaluated
    results = tmp_path / "results"
    for p in results.iterdir():
        p.unlink()
    fill_disk(monkeypatch, results)
    with pytest.raises(OSError) as info:
        ds.evaluate(*args)
    assert info.value.errno == errno.ENOSPC and "keypoints_val2017_results.json" in str(info.value)
    assert _names(results) == []


def test_per_joint_table_on_a_full_disk_keeps_the_previous_table(tmp_path, monkeypatch):
    path = tmp_path / "per_joint_val2017.json"
    write_per_joint(str(path), "OKS", ["a", "b"], [0.5, float("nan")], [3, 0])
    before = path.read_bytes()
    fill_disk(monkeypatch, tmp_path)
    with pytest.raises(OSError) as info:
        write_per_joint(str(path), "OKS", ["a", "b"], [0.75, 0.25], [3, 1])
    assert info.value.errno == errno.ENOSPC and str(path) in str(info.value)
    assert path.read_bytes() == before and _names(tmp_path) == [path.name]


# ------------------------------------------------------------------------------------------------
# debug pictures (utils.vis)


@pytest.fixture(scope="module")
def debug_batch():
    """A real validation batch of the COCO sample: (config with every DEBUG picture on, inputs, meta,
    target heat-maps, predicted joints)."""
    import torchvision.transforms as T

    cfg = load_config(COCO_YAML, ["DATASET.ROOT", str(REPO / "tests/data/coco")])
    for key in ("DEBUG", "SAVE_BATCH_IMAGES_GT", "SAVE_BATCH_IMAGES_PRED", "SAVE_HEATMAPS_GT", "SAVE_HEATMAPS_PRED"):
        cfg.DEBUG[key] = True
    normalize = T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    ds = build_dataset(cfg, "val2017", False, T.Compose([T.ToTensor(), normalize]))
    items = [ds[i] for i in range(3)]
    inputs = torch.stack([it[0] for it in items])
    target = torch.stack([torch.as_tensor(it[1]) for it in items])
    meta = {key: torch.stack([torch.as_tensor(it[3][key]) for it in items]) for key in ("joints", "joints_vis")}
    return cfg, inputs, meta, target, meta["joints"][:, :, :2] + 3


def test_debug_pictures_are_the_bytes_cv2_imwrite_writes(debug_batch, tmp_path):
    """Each picture is what ``cv2.imwrite`` writes for its pixels (read back from a lossless PNG)."""
    import cv2

    from utils import vis

    cfg, inputs, meta, target, pred = debug_batch
    writers = {
        "joints": lambda path: vis.save_batch_image_with_joints(inputs, meta["joints"], meta["joints_vis"], str(path)),
        "joints_test": lambda path: vis.save_batch_image_with_joints_test(inputs, pred, str(path)),
        "heatmaps": lambda path: vis.save_batch_heatmaps(inputs, target, str(path)),
    }
    for name, write in writers.items():
        for suffix in (".png", ".jpg"):
            write(tmp_path / f"{name}{suffix}")
        pixels = cv2.imread(str(tmp_path / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        for suffix in (".png", ".jpg"):
            reference = tmp_path / "reference" / f"{name}{suffix}"
            reference.parent.mkdir(exist_ok=True)
            assert cv2.imwrite(str(reference), pixels)
            assert (tmp_path / f"{name}{suffix}").read_bytes() == reference.read_bytes(), (name, suffix)
    vis.save_debug_images(cfg, inputs, meta, target, pred, target, str(tmp_path / "debug" / "val_0"))
    assert _names(tmp_path / "debug") == ["val_0_gt.jpg", "val_0_hm_gt.jpg", "val_0_hm_pred.jpg", "val_0_pred.jpg"]


def test_debug_picture_on_a_full_disk_keeps_the_previous_picture(debug_batch, tmp_path, monkeypatch):
    from utils.vis import save_debug_images

    cfg, inputs, meta, target, pred = debug_batch
    save_debug_images(cfg, inputs, meta, target, pred, target, str(tmp_path / "val_0"))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    fill_disk(monkeypatch, tmp_path)
    with pytest.raises(OSError) as info:
        save_debug_images(cfg, inputs * 0.5, meta, target, pred + 1, target * 0.5, str(tmp_path / "val_0"))
    assert info.value.errno == errno.ENOSPC and str(tmp_path / "val_0_gt.jpg") in str(info.value)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no half picture, no temporary file


def test_debug_picture_rename_refused_keeps_the_previous_picture(debug_batch, tmp_path, monkeypatch):
    from utils.vis import save_batch_heatmaps

    _, inputs, _, target, _ = debug_batch
    path = tmp_path / "val_0_hm_pred.jpg"
    save_batch_heatmaps(inputs, target, str(path))
    before = path.read_bytes()
    refuse_rename(monkeypatch, path.name)
    with pytest.raises(PermissionError) as info:
        save_batch_heatmaps(inputs, target * 0.5, str(path))
    assert str(path) in str(info.value)
    assert path.read_bytes() == before and _names(tmp_path) == [path.name]


def test_debug_picture_of_an_unknown_format_is_an_error_naming_the_file(debug_batch, tmp_path):
    from utils.vis import save_batch_heatmaps

    _, inputs, _, target, _ = debug_batch
    path = tmp_path / "val_0_hm_pred.xyz"
    with pytest.raises(OSError, match=f"cannot write debug image {path}"):
        save_batch_heatmaps(inputs, target, str(path))
    assert _names(tmp_path) == []


def test_copy_file_keeps_the_previous_copy_when_the_rename_is_refused(tmp_path, monkeypatch):
    """train.py's copies of the network sources and the model_best_until_epoch<E> copy: all or nothing."""
    from utils.atomic_io import copy_file

    source = REPO / "lib" / "models" / "pose_resnet.py"
    target = tmp_path / "pose_resnet.py"
    target.write_text("the previous run's copy")
    refuse_rename(monkeypatch, "pose_resnet.py")
    with pytest.raises(PermissionError):
        copy_file(source, target, metadata=True)
    assert target.read_text() == "the previous run's copy"
    assert _names(tmp_path) == ["pose_resnet.py"]


def test_copy_file_copies_bytes_and_with_metadata_the_times(tmp_path):
    from utils.atomic_io import copy_file

    source = REPO / "lib" / "models" / "resnet.py"
    plain, with_times = copy_file(source, tmp_path / "a.py"), copy_file(source, tmp_path / "b.py", metadata=True)
    assert plain.read_bytes() == with_times.read_bytes() == source.read_bytes()
    assert with_times.stat().st_mtime_ns == source.stat().st_mtime_ns
    assert _names(tmp_path) == ["a.py", "b.py"]
