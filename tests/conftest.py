"""Shared pytest set-up: ``lib/`` on the import path and locations of the shared sample data."""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIB = REPO / "lib"
if str(LIB) not in sys.path:
    sys.path.insert(0, str(LIB))

# The tiny real COCO / MPII sample lives beside the checkout (never inside it).
SHARED_DATA = Path(os.environ.get("SIMMRPOSE_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Path under ``../shared/data``; skips the calling test with a reason when it is absent."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared sample data not found at {p} (set SIMMRPOSE_SHARED_DATA or put ../shared/data beside the checkout)")
    return p


@pytest.fixture
def coco_root() -> Path:
    return shared_path("coco")


@pytest.fixture
def mpii_root() -> Path:
    return shared_path("mpii")
