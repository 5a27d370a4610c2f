"""The CUDA tier: every test in this folder is marked ``cuda`` and skipped where no GPU is visible.

``make test-gpu`` (``pytest -m cuda tests``) runs it on a machine with one or two GPUs. Without a GPU
the whole folder is skipped ("needs a CUDA GPU"), so ``make test`` and CI stay green.

Dry run: ``SIMMRPOSE_TEST_DEVICE=cpu`` runs the tests that also make sense on the CPU with
``GPUS cpu`` / device ``"cpu"`` instead of skipping them. It proves that the test code itself works
(fixtures, helpers, command lines, assertions), not that CUDA does. Tests of what exists only on
CUDA (NCCL, pinned memory, the CUDA generator, several GPUs) still skip then: they take the
``real_cuda`` or ``two_gpus`` fixture.

The shared helpers of the tier live in ``cuda_tier.py`` (a test module imports helpers, never a
conftest.py, by name).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
DEVICE_VAR = "SIMMRPOSE_TEST_DEVICE"


def tier_device() -> str:
    """``'cuda'`` (the default) or ``'cpu'`` for the dry run; anything else is a usage error."""
    value = os.environ.get(DEVICE_VAR, "").strip().lower() or "cuda"
    if value not in ("cuda", "cpu"):
        raise pytest.UsageError(f"{DEVICE_VAR}={os.environ[DEVICE_VAR]!r}; expected 'cpu' (the dry run) or 'cuda'")
    return value


def _in_tier(item: pytest.Item) -> bool:
    return HERE in Path(str(item.path)).resolve().parents


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tier = [item for item in items if _in_tier(item)]
    if not tier:
        return
    unmarked = [item.nodeid for item in tier if item.get_closest_marker("cuda") is None]
    if unmarked:  # `make test-gpu` selects with -m cuda: an unmarked test here would never run
        raise pytest.UsageError(f"tests in {HERE} must be marked cuda (pytestmark = pytest.mark.cuda): {unmarked}")
    if tier_device() == "cuda" and not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in tier:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def device() -> torch.device:
    """Where the tier runs: ``cuda:0``, or the CPU in the dry run."""
    return torch.device("cuda", 0) if tier_device() == "cuda" else torch.device("cpu")


@pytest.fixture(scope="session")
def gpus(device: torch.device) -> str:
    """The ``GPUS`` value of a single-process run on :func:`device`."""
    return "0" if device.type == "cuda" else "cpu"


@pytest.fixture
def real_cuda(device: torch.device) -> None:
    """For what exists only on CUDA: skipped in the CPU dry run."""
    if device.type != "cuda":
        pytest.skip(f"CUDA only: not part of the {DEVICE_VAR}=cpu dry run")


@pytest.fixture
def two_gpus(real_cuda: None) -> None:
    """For multi-GPU runs (torchrun with NCCL, SyncBatchNorm): skipped with fewer than 2 GPUs."""
    count = torch.cuda.device_count()
    if count < 2:
        pytest.skip(f"needs 2 CUDA GPUs (this machine has {count})")


@pytest.fixture
def exact_float32():
    """TF32 off for matrix products and cuDNN convolutions, restored afterwards.

    With TF32 a float32 product keeps about 10 mantissa bits (relative error near 1e-3), which a
    network's dozens of layers compound; without it CUDA and the CPU differ only in the order of
    float32 additions (relative error near 1e-6 per layer), which the tier's 1e-4 tolerances take.
    """
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
