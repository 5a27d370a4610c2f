"""Helpers the test modules import (``from helpers import REPO, run_python, ...``): paths of the
checkout, the real sample data, running a project script, a tiny training YAML, a generated face or
hand keypoint set, exact comparison of nested outputs and importing a script of ``pose_estimation/``
by its file path.

``tests/`` is on the import path through ``pythonpath`` in pyproject.toml, as are ``lib/``, ``tools/``
and ``bench/``. Fixtures and hooks live in the conftest.py files; this is a plain module, so no two
files compete for one module name.
"""
import errno
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
LIB = REPO / "lib"

# The tiny real COCO / MPII sample ships with the repository (sources and licences in its README.md).
SAMPLE_DATA = REPO / "tests" / "data"


def sample_path(*parts: str) -> Path:
    """Path under ``tests/data``; a missing file is an error of the checkout, never a skip."""
    p = SAMPLE_DATA.joinpath(*parts)
    assert p.exists(), f"sample data missing from the checkout: {p}"
    return p


PYTHON = sys.executable


def run_python(args, timeout=600, env=None, **kwargs):
    """Run a project script with this interpreter from the repo root; returns CompletedProcess."""
    import subprocess

    full_env = dict(os.environ)
    full_env.setdefault("OMP_NUM_THREADS", "1")
    full_env.update(env or {})
    return subprocess.run(
        [PYTHON, *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=timeout, env=full_env, **kwargs
    )


TINY_TRAIN_YAML = """\
GPUS: cpu
OUTPUT_DIR: {out}/output
LOG_DIR: {out}/log
WORKERS: 0
PRINT_FREQ: 1
DATASET:
  DATASET: coco
  ROOT: {root}/coco/
  TRAIN_SET: train2017
  TEST_SET: val2017
  ROT_FACTOR: 30
  SCALE_FACTOR: 0.25
MODEL:
  NAME: {name}
  PRETRAINED: ''
  NUM_JOINTS: 17
  IMAGE_SIZE: [64, 64]
  EXTRA:
    NUM_LAYERS: {layers}
    HEATMAP_SIZE: [16, 16]
    SIGMA: 1
    NUM_DECONV_FILTERS: [{filters}, {filters}, {filters}]
TRAIN:
  BATCH_SIZE: 4
  END_EPOCH: {epochs}
  LR: 0.001
  LR_STEP: [2]
  SEED: 0
TEST:
  BATCH_SIZE: 8
  USE_GT_BBOX: true
  OKS_THRE: 0.9
  IN_VIS_THRE: 0.2
  COCO_BBOX_FILE: {root}/coco/person_detection_results/COCO_val2017_detections_AP_H_56_person.json
"""


def write_tiny_yaml(path: Path, data_root: Path, out: Path, name="pose_resnet", layers=18, filters=32, epochs=3) -> Path:
    path.write_text(TINY_TRAIN_YAML.format(out=out, root=data_root, name=name, layers=layers, filters=filters, epochs=epochs))
    return path


def generate_keypoint_set(out: Path, kind: str, num_train: int, num_val: int, seed: int, image_size: int = 96,
                          layout: str = "coco", workers: int | None = None) -> Path:
    """A tiny ``face`` (5 joints) or ``hand`` (21 joints) dataset written by tools/gen_synthetic_data.py
    under ``out``, as a user would make it; its folder (``<out>/<kind>``, ``<out>/<kind>_export`` for
    ``layout="export"``)."""
    args = ["tools/gen_synthetic_data.py", "--out", out, "--format", kind, "--num-train", num_train,
            "--num-val", num_val, "--image-size", image_size, "--seed", seed]
    if layout != "coco":
        args += ["--layout", layout]
    if workers is not None:
        args += ["--workers", workers]
    proc = run_python(args, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return Path(out) / (kind if layout == "coco" else f"{kind}_{layout}")


def identical(a, b, path="out"):
    """Assert exact equality of nested outputs: dtype, shape and values of tensors and arrays."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), path
        assert a.dtype == b.dtype and a.shape == b.shape, (path, a.dtype, b.dtype, a.shape, b.shape)
        assert torch.equal(a, b), (path, (a - b).abs().max())
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), (path, type(b))
        assert a.dtype == b.dtype and a.shape == b.shape, (path, a.dtype, b.dtype, a.shape, b.shape)
        assert np.array_equal(a, b), (path, a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            identical(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            identical(x, y, f"{path}[{i}]")
    else:
        assert type(a) is type(b) and a == b, (path, a, b, type(a), type(b))


def load_script(name: str, module_name: str | None = None) -> ModuleType:
    """Import ``pose_estimation/<name>.py`` from its file as module ``module_name`` (default ``name``);
    each call executes the script's module anew.

    ``pose_estimation/`` is not on the test run's import path: its ``test.py`` would hide the standard
    library's ``test`` package. The script's own ``import _init_paths`` finds the equivalent file of
    ``tools/`` (each puts ``lib/``, already on the path, first).
    """
    module_name = module_name or name
    spec = importlib.util.spec_from_file_location(module_name, REPO / "pose_estimation" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


class FullDiskFile:
    """A file opened for writing on a disk that fills up: the first write stores half of its data,
    then fails with ENOSPC, as ``write(2)`` does."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        self._f.write(data[: len(data) // 2])
        self._f.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def refuse_rename(monkeypatch, target_name: str) -> None:
    """``os.replace`` onto a file named ``target_name`` fails (as for a target the user cannot replace)."""
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == target_name:
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
