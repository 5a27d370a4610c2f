"""core.results.read_keypoint_results: the one reader of keypoint results files, on files written by
validation's and the demo's writers, and one error naming the file for anything else."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.results import read_keypoint_results, results_of_people, write_coco_keypoint_results, write_results
from utils.cli import InputFileError


def test_reads_validation_results_as_written(tmp_path):
    rng = np.random.default_rng(0)
    preds = rng.uniform(0, 100, (4, 17, 3))
    all_boxes = np.concatenate([rng.uniform(50, 60, (4, 4)), np.ones((4, 2))], axis=1)
    path = tmp_path / "keypoints_val2017_results.json"
    write_coco_keypoint_results(str(path), preds, all_boxes, rng.uniform(0, 1, 4), np.array([5, 5, 9, 9]),
                                np.ones(4, dtype=np.int64), [np.array([0, 1]), np.array([3])])
    results = read_keypoint_results(path)
    assert results == json.loads(path.read_text())
    assert [r["image_id"] for r in results] == [5, 5, 9] and len(results[2]["keypoints"]) == 51
    assert results[2]["keypoints"][:3] == preds[3, 0].tolist()


def test_reads_demo_results_as_written(tmp_path):
    people = [{"keypoints": np.arange(48, dtype=np.float32).reshape(16, 3), "score": np.float32(0.75),
               "bbox": np.array([1, 2, 30, 40], dtype=np.float32)}]
    path = tmp_path / "keypoints_clip_results.json"
    write_results(path, results_of_people(people, 3, "a.jpg", 1) + results_of_people(people, 4, None, 1))
    results = read_keypoint_results(str(path))
    assert [(r["image_id"], r.get("file_name"), r["score"]) for r in results] == [(3, "a.jpg", 0.75), (4, None, 0.75)]
    assert results[0]["keypoints"] == list(range(48)) and results[0]["bbox"] == [1, 2, 30, 40]


def test_an_empty_file_is_an_empty_list(tmp_path):
    (tmp_path / "r.json").write_text("[]")
    assert read_keypoint_results(tmp_path / "r.json") == []


def test_missing_and_broken_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"COCO keypoint results file not found: {tmp_path / 'no.json'}"):
        read_keypoint_results(tmp_path / "no.json")
    (tmp_path / "cut.json").write_text('[{"image_id": 1,')
    with pytest.raises(InputFileError, match=r"cut.json: not a valid JSON file \(COCO keypoint results file\)"):
        read_keypoint_results(tmp_path / "cut.json")


@pytest.mark.parametrize("content", [
    {"image_id": 1, "keypoints": [1, 2, 3], "score": 1},  # not a list
    [{"image_id": "1", "keypoints": [1, 2, 3], "score": 1}],
    [{"image_id": 1, "keypoints": [1, 2], "score": 1}],
    [{"image_id": 1, "keypoints": [], "score": 1}],
    [{"image_id": 1, "keypoints": [1, 2, 3], "score": "high"}],
    [{"image_id": 1, "keypoints": [1, 2, 3]}],
    [[1, 2, 3]],
])
def test_entries_that_are_no_results_name_the_file(tmp_path, content):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(content))
    with pytest.raises(InputFileError, match=f"^{path}: expected a list of COCO keypoint results"):
        read_keypoint_results(path)


def test_people_with_different_numbers_of_joints_name_the_file(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"image_id": 1, "keypoints": [1, 2, 3] * 17, "score": 1},
                                {"image_id": 1, "keypoints": [1, 2, 3] * 16, "score": 1}]))
    with pytest.raises(InputFileError, match=f"^{path}: the results have different numbers of joints per person"):
        read_keypoint_results(path)
