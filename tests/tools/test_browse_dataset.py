"""tools/browse_dataset.py: pictures of samples as the network sees them (issue 19, item 8)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from browse_dataset import browse, joint_groups
from helpers import REPO, run_python

FACE_YAML = REPO / "experiments" / "synthetic" / "res18_128x128_face_pck.yaml"


def test_flip_pairs_share_a_colour_group() -> None:
    group, role = joint_groups(5, [(1, 2), (3, 4)])
    assert group[1] == group[2] != group[3] == group[4] and len({group[0], group[1], group[3]}) == 3
    assert role == ["single", "left", "right", "left", "right"]


def _pixels(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[0] > 200 and image.shape[1] > 400, path
    return image


def test_pictures_of_both_splits(face_set, tmp_path) -> None:
    opts = ["DATASET.ROOT", str(face_set), "OUTPUT_DIR", str(tmp_path / "output")]
    written = browse(str(FACE_YAML), "train", 3, tmp_path / "train", seed=0, opts=opts)
    assert len(written) == 3 and all(p.parent == tmp_path / "train" and p.name.startswith("train_") for p in written)
    again = browse(str(FACE_YAML), "train", 3, tmp_path / "again", seed=0, opts=opts)
    other = browse(str(FACE_YAML), "train", 3, tmp_path / "other", seed=1, opts=opts)
    assert all(np.array_equal(_pixels(a), _pixels(b)) for a, b in zip(written, again))  # --seed fixes it
    assert any(not np.array_equal(_pixels(a), _pixels(b)) for a, b in zip(written, other))  # augmented
    val = browse(str(FACE_YAML), "val", 50, None, opts=opts)  # more than there are: every sample once
    assert len(val) == len(set(val)) > 3
    assert all(p.parent == tmp_path / "output" / "coco" / "pose_resnet_18" / "res18_128x128_face_pck" / "browse_val"
               for p in val)
    assert not list(tmp_path.rglob("*.tmp*"))


@pytest.mark.slow
def test_command_line(face_set, tmp_path) -> None:
    proc = run_python(["tools/browse_dataset.py", "--cfg", FACE_YAML, "--num", "2", "--out", tmp_path / "pics",
                       "DATASET.ROOT", face_set])
    assert proc.returncode == 0, proc.stderr
    printed = [line for line in proc.stdout.splitlines() if line.endswith(".png")]  # pycocotools prints too
    assert len(printed) == 2 and all(Path(p).parent == tmp_path / "pics" and Path(p).is_file() for p in printed)
    for args, message in ((["--num", "0"], "error: --num 0: expected a number of samples >= 1"),
                          (["DATASET.FLIP_PAIRS", "[[1,7]]"], "DATASET.FLIP_PAIRS pair [1, 7] is out of range")):
        proc = run_python(["tools/browse_dataset.py", "--cfg", FACE_YAML, "--out", tmp_path / "bad", *args,
                           "DATASET.ROOT", face_set])
        assert proc.returncode == 2 and message in proc.stderr.strip().splitlines()[-1], proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())
