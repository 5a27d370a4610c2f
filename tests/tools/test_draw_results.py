"""tools/draw_results.py: results of any joint set drawn with that set's skeleton."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from draw_results import draw_results
from helpers import run_python

pytestmark = pytest.mark.slow  # starts subprocesses (scripts, torchrun) or trains



def _gt_results(root: Path) -> list[dict]:
    """The ground truth written as results (all joints labelled in the synthetic faces are shown)."""
    ann = json.loads((root / "annotations" / "person_keypoints_val2017.json").read_text())
    return [{"image_id": a["image_id"], "category_id": 1, "keypoints": [float(v) for v in a["keypoints"]],
             "score": 1.0} for a in ann["annotations"]]


def test_face_results_use_the_files_skeleton(face_set, tmp_path) -> None:
    results = _gt_results(face_set)
    (tmp_path / "r.json").write_text(json.dumps(results))
    written = draw_results(tmp_path / "r.json", face_set / "images" / "val2017", tmp_path / "out", kpt_thr=0.5)
    assert [p.name for p in written] == sorted({f"{r['image_id']:012d}_pred.jpg" for r in results})
    checked = 0
    for r in results:  # the middle of the mouth (joints 3-4, a limb COCO's skeleton does not have) is drawn
        k = np.asarray(r["keypoints"]).reshape(5, 3)
        if k[3, 2] > 0 and k[4, 2] > 0 and np.hypot(*(k[3, :2] - k[4, :2])) > 12:
            x, y = np.round((k[3, :2] + k[4, :2]) / 2).astype(int)
            source = cv2.imread(str(face_set / "images" / "val2017" / f"{r['image_id']:012d}.jpg"))
            drawn = cv2.imread(str(tmp_path / "out" / f"{r['image_id']:012d}_pred.jpg"))
            assert np.abs(drawn[y, x].astype(int) - source[y, x]).max() > 40
            checked += 1
    assert checked >= 1


def test_unknown_joint_set_without_annotations_is_one_clear_line(face_set, tmp_path) -> None:
    images = tmp_path / "pictures"
    shutil.copytree(face_set / "images" / "val2017", images)
    (tmp_path / "r.json").write_text(json.dumps(_gt_results(face_set)))
    proc = run_python(["tools/draw_results.py", "--results", tmp_path / "r.json", "--images", images,
                       "--out", tmp_path / "out"])
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "error: the results have 5 joints per person, not COCO's 17 or MPII's 16: pass --annotations")
    assert len(proc.stderr.strip().splitlines()) == 1  # a user error: no "(traceback written to ...)" line
    ann = face_set / "annotations" / "person_keypoints_val2017.json"
    proc = run_python(["tools/draw_results.py", "--results", tmp_path / "r.json", "--images", images,
                       "--out", tmp_path / "out", "--annotations", ann])
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "out").glob("*_pred.jpg"))) >= 1


def test_export_images_are_found_by_file_name(tmp_path) -> None:
    """An export's own names (sub-folders, PNG) and 13-digit ids: the image of a result is its file_name."""
    images = tmp_path / "export"
    (images / "cam_2").mkdir(parents=True)
    rng = np.random.default_rng(0)
    file_names = {12000000005603: "cam_2/frame_0001.png", 7: "a1b2c3d4e5f60718.jpg"}
    for name in file_names.values():
        cv2.imwrite(str(images / name), rng.integers(0, 60, (48, 64, 3), dtype=np.uint8))
    ann = tmp_path / "train.json"
    ann.write_text(json.dumps({
        "images": [{"id": i, "file_name": n, "width": 64, "height": 48} for i, n in file_names.items()],
        "annotations": [], "categories": [{"id": 3, "name": "hand"}]}))  # a category that names no joints
    results = [{"image_id": i, "category_id": 3, "keypoints": [10.0, 10.0, 1.0, 40.0, 30.0, 1.0], "score": 1.0}
               for i in file_names]
    (tmp_path / "r.json").write_text(json.dumps(results))
    written = draw_results(tmp_path / "r.json", images, tmp_path / "out", kpt_thr=0.5, annotations=ann)
    assert [p.name for p in written] == ["000000000007_pred.jpg", "12000000005603_pred.jpg"]
    drawn = cv2.imread(str(written[1]))
    assert np.abs(drawn.astype(int) - cv2.imread(str(images / "cam_2/frame_0001.png")).astype(int)).max() > 40


def test_no_result_above_min_score_is_an_error_and_writes_nothing(coco_root, tmp_path, capsys) -> None:
    """An empty --out folder and exit 0 read as success: when no person passes --min-score the tool
    says so in one line (exit 2) and creates nothing."""
    import draw_results as tool
    from utils.cli import run_cli

    images = coco_root / "images" / "val2017"
    ids = sorted(int(p.stem) for p in images.glob("*.jpg"))[:2]
    keypoints = [v for j in range(17) for v in (100.0 + 5 * j, 80.0 + 7 * j, 0.9)]
    results = [{"image_id": image_id, "category_id": 1, "keypoints": keypoints, "score": 0.05 + 0.01 * i}
               for i, image_id in enumerate(ids)]
    (tmp_path / "r.json").write_text(json.dumps(results))
    (tmp_path / "none.json").write_text("[]")
    out = tmp_path / "out"
    for file, expected in (
        ("r.json", f"error: {tmp_path / 'r.json'}: none of its 2 results has score >= --min-score 0.2 "
                   "(the highest is 0.06); nothing drawn (lower --min-score)"),
        ("none.json", f"error: {tmp_path / 'none.json'}: the file holds no results; nothing to draw"),
    ):
        with pytest.raises(SystemExit) as info:
            # the lambda runs at once, in this iteration
            run_cli(lambda: tool.main(["--results", str(tmp_path / file), "--images", str(images), "--out", str(out)]))  # noqa: B023
        assert info.value.code == 2
        assert capsys.readouterr().err.strip().splitlines() == [expected]
    assert not out.exists()
    # a lower --min-score draws them
    assert tool.main(["--results", str(tmp_path / "r.json"), "--images", str(images), "--out", str(out),
                      "--min-score", "0"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"{i:012d}_pred.jpg" for i in ids]
