"""Shared pytest set-up: temporary files under pytest's folder and the fixtures of the real sample
data and of a tiny synthetic dataset.

Fixtures and hooks only: the helpers the test modules import live in ``tests/helpers.py``
(``from helpers import ...``). ``lib/``, ``tests/``, ``tools/`` and ``bench/`` are on the import path
through ``pythonpath`` in pyproject.toml.
"""
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from helpers import generate_keypoint_set, run_python, sample_path

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


@pytest.fixture
def coco_root() -> Path:
    return sample_path("coco")


@pytest.fixture
def copy_root(coco_root, tmp_path):
    """A copy of the annotations and detections (images linked) that a test may damage."""
    root = tmp_path / "coco"
    shutil.copytree(coco_root / "annotations", root / "annotations")
    shutil.copytree(coco_root / "person_detection_results", root / "person_detection_results")
    (root / "images").symlink_to(coco_root / "images")
    return root


@pytest.fixture
def mpii_root() -> Path:
    return sample_path("mpii")


@pytest.fixture(scope="session")
def keypoint_sets(tmp_path_factory) -> Path:
    """Tiny generated face (5 joints) and hand (21 joints) datasets in the COCO layout, made once per
    run: ``<root>/face`` (16 train / 8 val images) and ``<root>/hand`` (16 / 6). Tests read them only."""
    root = tmp_path_factory.mktemp("kpsets")
    generate_keypoint_set(root, "face", num_train=16, num_val=8, seed=2)
    generate_keypoint_set(root, "hand", num_train=16, num_val=6, seed=1)
    return root


@pytest.fixture(scope="session")
def face_set(keypoint_sets) -> Path:
    """The generated face set of :func:`keypoint_sets` (its folder)."""
    return keypoint_sets / "face"


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


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> Path:
    """A tiny synthetic COCO- and MPII-layout dataset made by tools/gen_synthetic_data.py."""
    out = tmp_path_factory.mktemp("synthetic")
    proc = run_python(
        ["tools/gen_synthetic_data.py", "--out", out, "--num-train", 12, "--num-val", 6, "--seed", 3, "--format", "both"]
    )
    assert proc.returncode == 0, proc.stderr
    return out


