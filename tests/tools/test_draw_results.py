"""tools/draw_results.py: results of any joint set drawn with that set's skeleton."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import REPO, run_python

pytestmark = pytest.mark.slow  # starts subprocesses (scripts, torchrun) or trains

sys.path.insert(0, str(REPO / "tools"))
from draw_results import draw_results  # noqa: E402


@pytest.fixture(scope="module")
def face_root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faces")
    proc = run_python(["tools/gen_synthetic_data.py", "--out", out, "--format", "face", "--num-train", 1,
                       "--num-val", 2, "--image-size", 96, "--seed", 2, "--workers", 1])
    assert proc.returncode == 0, proc.stderr
    return out / "face"


def _gt_results(root: Path) -> list[dict]:
    """The ground truth written as results (all joints labelled in the synthetic faces are shown)."""
    ann = json.loads((root / "annotations" / "person_keypoints_val2017.json").read_text())
    return [{"image_id": a["image_id"], "category_id": 1, "keypoints": [float(v) for v in a["keypoints"]],
             "score": 1.0} for a in ann["annotations"]]


def test_face_results_use_the_files_skeleton(face_root, tmp_path) -> None:
    results = _gt_results(face_root)
    (tmp_path / "r.json").write_text(json.dumps(results))
    written = draw_results(tmp_path / "r.json", face_root / "images" / "val2017", tmp_path / "out", kpt_thr=0.5)
    assert [p.name for p in written] == sorted({f"{r['image_id']:012d}_pred.jpg" for r in results})
    checked = 0
    for r in results:  # the middle of the mouth (joints 3-4, a limb COCO's skeleton does not have) is drawn
        k = np.asarray(r["keypoints"]).reshape(5, 3)
        if k[3, 2] > 0 and k[4, 2] > 0 and np.hypot(*(k[3, :2] - k[4, :2])) > 12:
            x, y = np.round((k[3, :2] + k[4, :2]) / 2).astype(int)
            source = cv2.imread(str(face_root / "images" / "val2017" / f"{r['image_id']:012d}.jpg"))
            drawn = cv2.imread(str(tmp_path / "out" / f"{r['image_id']:012d}_pred.jpg"))
            assert np.abs(drawn[y, x].astype(int) - source[y, x]).max() > 40
            checked += 1
    assert checked >= 1


def test_unknown_joint_set_without_annotations_is_one_clear_line(face_root, tmp_path) -> None:
    images = tmp_path / "pictures"
    shutil.copytree(face_root / "images" / "val2017", images)
    (tmp_path / "r.json").write_text(json.dumps(_gt_results(face_root)))
    proc = run_python(["tools/draw_results.py", "--results", tmp_path / "r.json", "--images", images,
                       "--out", tmp_path / "out"])
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "error: the results have 5 joints per person, not COCO's 17 or MPII's 16: pass --annotations")
    ann = face_root / "annotations" / "person_keypoints_val2017.json"
    proc = run_python(["tools/draw_results.py", "--results", tmp_path / "r.json", "--images", images,
                       "--out", tmp_path / "out", "--annotations", ann])
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "out").glob("*_pred.jpg"))) >= 1
