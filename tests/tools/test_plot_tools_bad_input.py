"""tools/plot_history.py, plot_per_joint.py and draw_results.py on files that are missing, not JSON
or not what they should hold: exit 2 with one last ``error:`` line naming the file, no picture written."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import run_python

pytestmark = pytest.mark.slow  # starts subprocesses (scripts, torchrun) or trains

TOOLS = {
    "plot_history": (["tools/plot_history.py", "{file}", "--out", "{out}/curves.png"],
                     "history.json written by pose_estimation/train.py"),
    "plot_per_joint": (["tools/plot_per_joint.py", "{file}", "--out", "{out}/joints.png"],
                       "per-joint table written by validation"),
    "draw_results": (["tools/draw_results.py", "--results", "{file}", "--images", "{out}", "--out", "{out}/pictures"],
                     "COCO keypoint results file"),
}
WRONG_SHAPE = {
    "plot_history": ([{"epoch": 0, "train_loss": "0.1"}], "expected a list of {'epoch': int, 'train_loss': number"),
    "plot_per_joint": ({"joints": [{"value": 0.5}]}, "expected {'metric': ..., 'joints'"),
    "draw_results": ([{"image_id": 1, "keypoints": [1, 2], "score": 1}], "expected a list of COCO keypoint results"),
}


def _run(tool: str, file: Path, out: Path):
    args, _ = TOOLS[tool]
    proc = run_python([a.replace("{file}", str(file)).replace("{out}", str(out)) for a in args], timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "traceback" not in proc.stderr  # a user's file: no traceback file either
    assert sorted(p.name for p in out.iterdir()) == [], "nothing may be written"
    return proc.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_missing_corrupt_and_wrong_files_are_one_line(tool: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    what = TOOLS[tool][1]
    missing = tmp_path / "missing.json"
    assert _run(tool, missing, out) == f"error: {what} not found: {missing}"

    broken = tmp_path / "broken.json"
    broken.write_text('[{"epoch": 0,')  # cut short, as by a full disk
    last = _run(tool, broken, out)
    assert last.startswith(f"error: {broken}: not a valid JSON file ({what}): Expecting"), last

    wrong = tmp_path / "wrong.json"
    data, message = WRONG_SHAPE[tool]
    wrong.write_text(json.dumps(data))
    last = _run(tool, wrong, out)
    assert last.startswith(f"error: {wrong}: {message}"), last
