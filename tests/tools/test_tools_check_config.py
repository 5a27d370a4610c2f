"""The tools check the merged config as train.py / valid.py do: a value no network can run with is
one ``error:`` line naming the YAML, the key and what is expected, exit 2, and nothing is written."""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import REPO, run_python

pytestmark = pytest.mark.slow  # starts subprocesses (scripts, torchrun) or trains

YAML = REPO / "experiments" / "coco" / "resnet50" / "256x192_d256x3_adam_lr1e-3.yaml"
# 100 is not a multiple of 32: the network would run, but its heatmaps would not be the size the
# decoding assumes (before this check, predictions came back silently wrong).
BAD = ["MODEL.IMAGE_SIZE", "[100,100]", "MODEL.EXTRA.HEATMAP_SIZE", "[25,25]"]
EXPECTED = (f"error: {YAML}: MODEL.IMAGE_SIZE = [100, 100] is not allowed; expected [W, H], both positive "
            "multiples of 32 (the networks downsample by 32)")


@pytest.mark.parametrize("tool,args", [
    ("tools/export_onnx.py", ["--model-file", "{tmp}/missing.pth", "--output", "{tmp}/x.onnx"]),
    ("tools/model_summary.py", []),
    ("bench/bench_inference.py", ["--skip-compile", "--batches", "1", "--repeats", "1"]),
    ("tools/browse_dataset.py", ["--out", "{tmp}/pictures"]),
])
def test_bad_value_is_one_error_line(tool: str, args: list[str], tmp_path: Path) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = run_python([tool, "--cfg", YAML, *args, *BAD], timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [EXPECTED]
    assert list(tmp_path.iterdir()) == []
