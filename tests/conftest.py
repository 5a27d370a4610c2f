"""Shared pytest set-up: temporary files under pytest's folder, the real sample data and helpers.

``lib/`` and ``tests/`` are on the import path through ``pythonpath`` in pyproject.toml.
"""
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis.configuration import set_hypothesis_home_dir

REPO = Path(__file__).resolve().parents[1]
LIB = REPO / "lib"
_SAVED_TMP = pytest.StashKey[tuple]()  # TMPDIR and tempfile.tempdir before the run


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Send every temporary file of the run to a folder inside pytest's own temporary folder.

    ``TMPDIR`` is set before the test modules are collected, so it reaches the scripts, torchrun jobs
    and DataLoader workers the tests start (also through environments copied at import time): their
    ``simmrpose-error-*.txt`` traceback files, ``torchelastic_*`` log folders and ``pymp-*`` folders
    land there, and pytest keeps only its last few such folders. ``tempfile.tempdir`` does the same
    for this process, and Hypothesis keeps its examples there instead of ``.hypothesis/`` in the
    checkout.
    """
    if not hasattr(config, "_tmp_path_factory"):  # pytest's tmpdir plugin disabled: leave things as they are
        return
    tmp = config._tmp_path_factory.mktemp("tmp", numbered=False)
    config.stash[_SAVED_TMP] = (os.environ.get("TMPDIR"), tempfile.tempdir)
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = str(tmp)
    set_hypothesis_home_dir(tmp / "hypothesis")


def pytest_unconfigure(config: pytest.Config) -> None:
    saved = config.stash.get(_SAVED_TMP, None)
    if saved is None:
        return
    env, tempfile.tempdir = saved
    if env is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = env


# The tiny real COCO / MPII sample ships with the repository (sources and licences in its README.md).
SAMPLE_DATA = REPO / "tests" / "data"


def sample_path(*parts: str) -> Path:
    """Path under ``tests/data``; a missing file is an error of the checkout, never a skip."""
    p = SAMPLE_DATA.joinpath(*parts)
    assert p.exists(), f"sample data missing from the checkout: {p}"
    return p


@pytest.fixture
def coco_root() -> Path:
    return sample_path("coco")


@pytest.fixture
def mpii_root() -> Path:
    return sample_path("mpii")


@pytest.fixture(scope="session", autouse=True)
def _tracebacks_under_tmp_path(tmp_path_factory):
    """utils.cli.run_cli writes the traceback of an unexpected ValueError to a file: during the tests
    (and their subprocesses, which inherit the environment) into pytest's folder, not the system's /tmp."""
    folder = tmp_path_factory.mktemp("tracebacks")
    old = os.environ.get("SIMMRPOSE_TRACEBACK_DIR")
    os.environ["SIMMRPOSE_TRACEBACK_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("SIMMRPOSE_TRACEBACK_DIR", None)
    else:
        os.environ["SIMMRPOSE_TRACEBACK_DIR"] = old


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


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> Path:
    """A tiny synthetic COCO- and MPII-layout dataset made by tools/gen_synthetic_data.py."""
    out = tmp_path_factory.mktemp("synthetic")
    proc = run_python(
        ["tools/gen_synthetic_data.py", "--out", out, "--num-train", 12, "--num-val", 6, "--seed", 3, "--format", "both"]
    )
    assert proc.returncode == 0, proc.stderr
    return out


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
