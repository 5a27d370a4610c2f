"""pose_estimation/demo.py and scripts/demo.sh: images, folders and videos in; pictures, video and
COCO-format JSON out; inputs untouched; bad input ends with one clear ``error:`` line."""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from core.api import PoseEstimator
from core.config import load_config
from helpers import generate_keypoint_set, load_script
from models import build_pose_net

REPO = Path(__file__).resolve().parents[1]
demo = load_script("demo")

COCO_YAML = REPO / "experiments" / "coco" / "resnet50" / "256x192_d256x3_adam_lr1e-3.yaml"
SMALL = [
    "MODEL.NAME", "pose_resnet", "MODEL.EXTRA.NUM_LAYERS", "18", "MODEL.EXTRA.NUM_DECONV_FILTERS", "[32,32,32]",
    "MODEL.IMAGE_SIZE", "[64,64]", "MODEL.EXTRA.HEATMAP_SIZE", "[16,16]",
]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = build_pose_net(load_config(COCO_YAML, SMALL), is_train=False)
    path = tmp_path_factory.mktemp("ckpt") / "small.pth"
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, path)
    return path


def figure(height: int = 160, width: int = 120, shift: int = 0) -> np.ndarray:
    """A BGR stick figure; ``shift`` moves it right (for video frames)."""
    img = np.full((height, width, 3), 80, np.uint8)
    cx = width // 2 + shift
    cv2.circle(img, (cx, height // 5), height // 14, (170, 190, 230), -1)
    for a, b in [((0, 0.27), (0, 0.6)), ((0, 0.35), (-0.2, 0.5)), ((0, 0.35), (0.22, 0.48)),
                 ((0, 0.6), (-0.12, 0.88)), ((0, 0.6), (0.14, 0.88))]:
        p = (int(cx + a[0] * width), int(a[1] * height))
        q = (int(cx + b[0] * width), int(b[1] * height))
        cv2.line(img, p, q, (40, 70, 210), 4)
    return img


def digest(folder: Path) -> dict[str, tuple[str, float]]:
    """Content hash and modification time of every file under ``folder``."""
    return {
        str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime)
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def run(ckpt: Path, *args: str) -> int:
    return demo.main(["--cfg", str(COCO_YAML), "--model-file", str(ckpt), "--gpus", "cpu", *args, *SMALL])


def load_results(folder: Path, name: str) -> list[dict]:
    return json.loads((folder / f"keypoints_{name}_results.json").read_text())


# ------------------------------------------------------------------------------------------------


def test_single_image_whole_frame(ckpt: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    cv2.imwrite(str(inputs / "figure.png"), figure())
    before = digest(inputs)
    out = tmp_path / "out"

    assert run(ckpt, "--input", str(inputs / "figure.png"), "--output-dir", str(out)) == 0

    assert digest(inputs) == before
    drawn = cv2.imread(str(out / "figure_pose.png"))
    assert drawn.shape == (160, 120, 3) and not np.array_equal(drawn, figure())
    (entry,) = load_results(out, "figure")
    assert entry["image_id"] == 0 and entry["category_id"] == 1 and entry["file_name"] == "figure.png"
    assert entry["bbox"] == [0.0, 0.0, 120.0, 160.0] and len(entry["keypoints"]) == 17 * 3
    # Same numbers as the API with the flip test on (the demo's default).
    est = PoseEstimator.from_config(COCO_YAML, ckpt, opts=SMALL, flip_test=True, device="cpu")
    (person,) = est.predict(inputs / "figure.png")
    np.testing.assert_allclose(entry["keypoints"], person["keypoints"].reshape(-1), rtol=0, atol=1e-5)
    assert entry["score"] == pytest.approx(person["score"])


def test_folder_with_detection_file(ckpt: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "photos"
    inputs.mkdir()
    cv2.imwrite(str(inputs / "000000000007.png"), figure())
    cv2.imwrite(str(inputs / "street.jpg"), figure(shift=15))
    (inputs / "notes.txt").write_text("not an image; ignored")
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([
        {"image_id": 7, "category_id": 1, "bbox": [20, 10, 80, 140], "score": 0.9},
        {"image_id": 7, "category_id": 1, "bbox": [0, 0, 60, 80], "score": 0.7},
        {"image_id": 7, "category_id": 18, "bbox": [5, 5, 20, 20], "score": 0.99},  # a dog: ignored
        {"image_id": 7, "category_id": 1, "bbox": [5, 5, 20, 20], "score": 0.2},  # below --det-thr
        {"file_name": "street.jpg", "category_id": 1, "bbox": [30, 10, 80, 140], "score": 0.8},
        {"image_id": 99, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},  # another image
    ]))
    before = digest(inputs)
    out = tmp_path / "out"

    assert run(ckpt, "--input", str(inputs), "--output-dir", str(out), "--det-file", str(dets), "--no-flip") == 0

    assert digest(inputs) == before
    assert sorted(p.name for p in out.iterdir()) == ["000000000007_pose.png", "keypoints_photos_results.json",
                                                     "street_pose.jpg"]
    results = load_results(out, "photos")
    assert [(r["image_id"], r["file_name"], r["bbox"]) for r in results] == [
        (7, "000000000007.png", [20.0, 10.0, 80.0, 140.0]),
        (7, "000000000007.png", [0.0, 0.0, 60.0, 80.0]),
        (1, "street.jpg", [30.0, 10.0, 80.0, 140.0]),
    ]
    est = PoseEstimator.from_config(COCO_YAML, ckpt, opts=SMALL, flip_test=False, device="cpu")
    people = est.predict(inputs / "000000000007.png", boxes=[[20, 10, 80, 140], [0, 0, 60, 80]], box_scores=[0.9, 0.7])
    for r, p in zip(results, people):
        np.testing.assert_allclose(r["keypoints"], p["keypoints"].reshape(-1), rtol=0, atol=1e-5)
        assert r["score"] == pytest.approx(p["score"])

    # The boxes of another category (a custom keypoint set's), and its id in the results.
    out18 = tmp_path / "out18"
    assert run(ckpt, "--input", str(inputs), "--output-dir", str(out18), "--det-file", str(dets), "--no-flip",
               "--det-category-id", "18") == 0
    assert [(r["image_id"], r["category_id"], r["bbox"]) for r in load_results(out18, "photos")] == [
        (7, 18, [5.0, 5.0, 20.0, 20.0])]
    with pytest.raises(ValueError, match="none of its 6 detections is of category_id 3 with score >= --det-thr 0.5"):
        run(ckpt, "--input", str(inputs), "--output-dir", str(out18), "--det-file", str(dets), "--det-category-id", "3")
    with pytest.raises(ValueError, match="--det-category-id selects boxes of --det-file; give --det-file too"):
        run(ckpt, "--input", str(inputs), "--output-dir", str(out18), "--det-category-id", "18")


@pytest.mark.parametrize("suffix, codec", [(".avi", "MJPG"), (".mp4", "mp4v")])
def test_video(ckpt: Path, tmp_path: Path, suffix: str, codec: str) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    clip = inputs / f"clip{suffix}"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*codec), 10.0, (96, 128))
    if not writer.isOpened():
        pytest.skip(f"this OpenCV cannot write {codec} {suffix}")
    for k in range(5):
        writer.write(figure(128, 96, shift=2 * k))
    writer.release()
    before = digest(inputs)
    out = tmp_path / "out"

    assert run(ckpt, "--input", str(clip), "--output-dir", str(out), "--no-flip") == 0

    assert digest(inputs) == before
    videos = [p for p in out.iterdir() if p.stem == "clip_pose"]
    assert sorted(p.name for p in out.iterdir()) == sorted([videos[0].name, "keypoints_clip_results.json"])
    assert len(videos) == 1
    capture = cv2.VideoCapture(str(videos[0]))
    frames = []
    ok, frame = capture.read()
    while ok:
        frames.append(frame)
        ok, frame = capture.read()
    capture.release()
    assert len(frames) == 5 and frames[0].shape == (128, 96, 3)
    results = load_results(out, "clip")
    assert [r["image_id"] for r in results] == [0, 1, 2, 3, 4]
    assert all("file_name" not in r and r["bbox"] == [0.0, 0.0, 96.0, 128.0] for r in results)


@pytest.mark.slow
def test_torchvision_detector_from_local_weights(ckpt: Path, tmp_path: Path) -> None:
    import torchvision

    name = "fasterrcnn_mobilenet_v3_large_320_fpn"
    torch.manual_seed(0)
    detector = torchvision.models.get_model(name, weights=None, weights_backbone=None)
    with torch.no_grad():  # make every proposal a confident person, so that an untrained detector finds some
        detector.roi_heads.box_predictor.cls_score.bias[1] = 20.0
    weights = tmp_path / "det.pth"
    torch.save(detector.state_dict(), weights)
    image = tmp_path / "figure.png"
    cv2.imwrite(str(image), figure())
    out = tmp_path / "out"

    assert run(ckpt, "--input", str(image), "--output-dir", str(out), "--detector", name,
               "--detector-weights", str(weights), "--det-thr", "0.9", "--no-flip") == 0

    results = load_results(out, "figure")
    assert results, "the rigged detector should find people"
    for r in results:
        x, y, w, h = r["bbox"]
        assert w > 0 and h > 0 and x < 120 and y < 160 and x + w > 0 and y + h > 0

    with pytest.raises(ValueError, match="not a torchvision detection model"):
        run(ckpt, "--input", str(image), "--output-dir", str(out), "--detector", "resnet18", "--detector-weights", str(weights))
    with pytest.raises(RuntimeError, match=f"{ckpt}.*fasterrcnn"):  # pose weights given as detector weights
        run(ckpt, "--input", str(image), "--output-dir", str(out), "--detector", name, "--detector-weights", str(ckpt))


def test_bad_inputs_name_what_and_where(ckpt: Path, tmp_path: Path) -> None:
    image = tmp_path / "figure.png"
    cv2.imwrite(str(image), figure())
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match="input not found: .*missing.jpg"):
        run(ckpt, "--input", str(tmp_path / "missing.jpg"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\x00not a jpeg")
    with pytest.raises(ValueError, match="broken.jpg"):
        run(ckpt, "--input", str(broken), "--output-dir", str(out))
    bad_video = tmp_path / "bad.mp4"
    bad_video.write_text("not a video")
    with pytest.raises(ValueError, match="cannot read video .*bad.mp4"):
        run(ckpt, "--input", str(bad_video), "--output-dir", str(out))
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    with pytest.raises(ValueError, match="detection file .*empty.json is empty"):
        run(ckpt, "--input", str(image), "--output-dir", str(out), "--det-file", str(empty))
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps([{"file_name": "figure.png", "category_id": 1, "bbox": [500, 10, 40, 40], "score": 1}]))
    with pytest.raises(ValueError, match=r"figure.png: .*box 0 .*outside the 120x160 image .*outside.json"):
        run(ckpt, "--input", str(image), "--output-dir", str(out), "--det-file", str(outside))
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps([{"image_id": 5, "category_id": 1, "bbox": [0, 0, 40, 40], "score": 1}]))
    with pytest.raises(ValueError, match="no person box matches any input image"):
        run(ckpt, "--input", str(image), "--output-dir", str(out), "--det-file", str(elsewhere))
    with pytest.raises(RuntimeError, match=f"{ckpt}.*do not match"):  # a pose_resnet checkpoint, an MRHeat YAML
        demo.main(["--cfg", str(COCO_YAML), "--model-file", str(ckpt), "--input", str(image), "--gpus", "cpu",
                   *SMALL, "MODEL.NAME", "mrheat1_pose_resnet"])
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted(
        ["figure.png", "broken.jpg", "bad.mp4", "empty.json", "outside.json", "elsewhere.json"]
    )


@pytest.mark.slow
def test_script_checks_arguments_and_ends_with_one_error_line(ckpt: Path, tmp_path: Path) -> None:
    script = REPO / "scripts" / "demo.sh"
    proc = subprocess.run(["bash", str(script), str(COCO_YAML), str(ckpt)], capture_output=True, text=True)
    assert proc.returncode == 2 and "usage:" in proc.stderr and "error: missing INPUT" in proc.stderr
    proc = subprocess.run(["bash", str(script), str(COCO_YAML)], capture_output=True, text=True)
    assert proc.returncode == 2 and "error: missing CHECKPOINT" in proc.stderr
    proc = subprocess.run(["bash", str(script), str(COCO_YAML), str(ckpt), str(tmp_path / "nope.mp4")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "error: INPUT not found" in proc.stderr

    image = tmp_path / "figure.png"
    cv2.imwrite(str(image), figure())
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    proc = subprocess.run(
        ["bash", str(script), str(COCO_YAML), str(ckpt), str(image), "--det-file", str(empty),
         "--output-dir", str(tmp_path / "out"), "--gpus", "cpu", *SMALL],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"error: detection file {empty} is empty: it holds no detections"


def test_huge_box_and_nan_score_are_clear_errors(ckpt: Path, tmp_path: Path) -> None:
    image = tmp_path / "figure.png"
    cv2.imwrite(str(image), figure())
    out = tmp_path / "out"
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps([{"file_name": "figure.png", "category_id": 1, "bbox": [0, 0, 1e12, 1e12], "score": 1}]))
    with pytest.raises(ValueError, match=r"detection file .*huge.json: none of its 1 detections is a person .*; "
                                         r"1 box\(es\) with no width or height or beyond 100000 px skipped \(e.g. entry 0"):
        run(ckpt, "--input", str(image), "--output-dir", str(out), "--det-file", str(huge))
    nan = tmp_path / "nan.json"
    nan.write_text(json.dumps([{"file_name": "figure.png", "category_id": 1, "bbox": [0, 0, 40, 40], "score": float("nan")}]))
    with pytest.raises(ValueError, match=r"detection file .*nan.json, entry 0: 'score' must be a finite number, got nan"):
        run(ckpt, "--input", str(image), "--output-dir", str(out), "--det-file", str(nan))
    assert not out.exists() or not list(out.iterdir())


def test_folder_with_an_unreadable_file_skips_it_with_a_warning(ckpt: Path, tmp_path: Path, caplog) -> None:
    inputs = tmp_path / "photos"
    inputs.mkdir()
    cv2.imwrite(str(inputs / "a.png"), figure())
    (inputs / "b.jpg").write_bytes(b"\x00not a jpeg")
    cv2.imwrite(str(inputs / "c.png"), figure(shift=10))
    out = tmp_path / "out"
    with caplog.at_level("WARNING"):
        assert run(ckpt, "--input", str(inputs), "--output-dir", str(out), "--no-flip") == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(w.startswith(f"=> skipped {inputs / 'b.jpg'}") for w in warnings), warnings
    assert sorted(p.name for p in out.iterdir()) == ["a_pose.png", "c_pose.png", "keypoints_photos_results.json"]
    assert sorted({r["file_name"] for r in load_results(out, "photos")}) == ["a.png", "c.png"]


# ------------------------------------------------------------------------------------------------
# a custom joint set: the 5-joint synthetic faces ("Train on your own keypoints")

FACE_YAML = REPO / "experiments" / "synthetic" / "res18_128x128_face.yaml"


@pytest.mark.slow
def test_folder_of_a_five_joint_set_draws_its_skeleton(tmp_path: Path) -> None:
    from dataset.keypoints import COCO_KEYPOINTS

    root = generate_keypoint_set(tmp_path / "data", "face", num_train=1, num_val=3, seed=3, workers=1)
    opts = ["DATASET.ROOT", str(root), *SMALL, "MODEL.NUM_JOINTS", "5"]
    torch.manual_seed(0)
    model_file = tmp_path / "face.pth"
    torch.save(build_pose_net(load_config(FACE_YAML, opts), is_train=False).state_dict(), model_file)
    # An untrained network (its joint scores are near 0, some negative: --kpt-thr -1 shows every joint).
    # Lossless copies of the generated pictures, so that every pixel the demo changes is a drawing.
    inputs = tmp_path / "faces"
    inputs.mkdir()
    for jpg in sorted((root / "images" / "val2017").glob("*.jpg")):
        cv2.imwrite(str(inputs / f"{jpg.stem}.png"), cv2.imread(str(jpg)))
    gt = json.loads((root / "person_detection_results" / "val2017_gt_boxes.json").read_text())
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{**d, "file_name": f"{d['image_id']:012d}.png"} for d in gt]))
    before = digest(inputs)
    out = tmp_path / "out"

    assert demo.main(["--cfg", str(FACE_YAML), "--model-file", str(model_file), "--input", str(inputs),
                      "--output-dir", str(out), "--det-file", str(dets), "--no-flip", "--kpt-thr", "-1",
                      "--gpus", "cpu", *opts]) == 0

    assert digest(inputs) == before
    results = load_results(out, "faces")
    assert len(results) == len([d for d in gt if d["score"] >= 0.5]) >= 3
    assert all(len(r["keypoints"]) == 5 * 3 for r in results)
    est = PoseEstimator.from_config(FACE_YAML, model_file, opts=opts, flip_test=False, device="cpu")
    assert est.keypoints.names == ("nose", "left_eye", "right_eye", "mouth_left", "mouth_right")
    assert est.keypoints.skeleton == ((1, 2), (0, 1), (0, 2), (0, 3), (0, 4), (3, 4))
    face_only = [limb for limb in est.keypoints.skeleton  # limbs that COCO's skeleton does not have
                 if limb not in COCO_KEYPOINTS.skeleton and limb[::-1] not in COCO_KEYPOINTS.skeleton]
    assert face_only == [(0, 3), (0, 4), (3, 4)]
    long_limbs = 0
    for png in sorted(inputs.glob("*.png")):
        people = [r for r in results if r["file_name"] == png.name]
        predicted = est.predict(png, boxes=[r["bbox"] for r in people], box_scores=[r["score"] for r in people])
        assert [p["keypoints"].shape for p in predicted] == [(5, 3)] * len(people)  # the API: (K, 3), K = 5
        source, drawn = cv2.imread(str(png)), cv2.imread(str(out / f"{png.stem}_pose.png"))
        assert drawn.shape == source.shape
        np.testing.assert_array_equal(drawn, demo.draw_people(source, predicted, -1.0, est.keypoints))
        for entry, person in zip(people, predicted):
            kpts = np.asarray(entry["keypoints"]).reshape(5, 3)
            np.testing.assert_allclose(kpts, person["keypoints"], rtol=0, atol=1e-4)
            for a, b in face_only:  # the middle of a long face-only limb is drawn over
                if np.hypot(*(kpts[a, :2] - kpts[b, :2])) > 12:
                    x, y = np.round((kpts[a, :2] + kpts[b, :2]) / 2).astype(int)
                    assert np.abs(drawn[y, x].astype(int) - source[y, x]).max() > 20, (png.name, a, b)
                    long_limbs += 1
    assert long_limbs >= 3


# ------------------------------------------------------------------------------------------------
# an existing --output-dir holding the user's own files, failing writes, the whole-picture box


def test_existing_output_folder_keeps_the_users_own_pictures(ckpt: Path, tmp_path: Path, caplog) -> None:
    """The user's own pictures named like the inputs survive in --output-dir: the demo writes
    ``<stem>_pose<suffix>``; a second run replaces only its own ``*_pose`` pictures and JSON."""
    inputs = tmp_path / "photos"
    inputs.mkdir()
    cv2.imwrite(str(inputs / "a.png"), figure())
    cv2.imwrite(str(inputs / "b.jpg"), figure(shift=10))
    out = tmp_path / "album"
    out.mkdir()
    mine = {"a.png": cv2.imencode(".png", figure(shift=20))[1].tobytes(), "b.jpg": b"my own holiday photo"}
    for name, data in mine.items():
        (out / name).write_bytes(data)
    with caplog.at_level("INFO", logger="demo"):
        assert run(ckpt, "--input", str(inputs), "--output-dir", str(out), "--no-flip") == 0
        assert run(ckpt, "--input", str(inputs), "--output-dir", str(out), "--no-flip") == 0  # again: same files
    assert {name: (out / name).read_bytes() for name in mine} == mine
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "a_pose.png", "b.jpg", "b_pose.jpg",
                                                     "keypoints_photos_results.json"]
    assert [r["file_name"] for r in load_results(out, "photos")] == ["a.png", "b.jpg"]  # the inputs' names
    told = [r.getMessage() for r in caplog.records if "taken as one person" in r.getMessage()]
    assert told == ["=> no --det-file or --detector: each image or frame is taken as one person, its whole "
                    "picture as the box"] * 2  # once per run, not once per picture


def test_single_image_into_its_own_folder_writes_beside_it(ckpt: Path, tmp_path: Path) -> None:
    image = tmp_path / "figure.png"
    cv2.imwrite(str(image), figure())
    before = image.read_bytes()
    assert run(ckpt, "--input", str(image), "--output-dir", str(tmp_path), "--no-flip") == 0
    assert image.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png", "figure_pose.png", "keypoints_figure_results.json"]


def test_failing_picture_write_leaves_no_part_and_no_temporary(ckpt: Path, tmp_path: Path, monkeypatch) -> None:
    import errno
    import os as os_module

    inputs = tmp_path / "photos"
    inputs.mkdir()
    cv2.imwrite(str(inputs / "a.png"), figure())
    out = tmp_path / "out"

    def refuse(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os_module, "replace", refuse)
    with pytest.raises(OSError, match=f"no space left on device while writing {out / 'a_pose.png'}"):
        run(ckpt, "--input", str(inputs), "--output-dir", str(out), "--no-flip")
    assert list(out.iterdir()) == []


def test_zero_size_and_absurd_boxes_are_skipped_with_one_warning(ckpt: Path, tmp_path: Path, caplog) -> None:
    """A detector's file with a few zero-size (or broken 1e9-px) boxes among good ones: those are
    skipped and counted in one warning naming the file; the good boxes give results."""
    image = tmp_path / "figure.png"
    cv2.imwrite(str(image), figure())
    dets = tmp_path / "dets.json"
    good = [20.0, 10.0, 80.0, 140.0]
    dets.write_text(json.dumps([
        {"file_name": "figure.png", "category_id": 1, "bbox": [5, 5, 0, 30], "score": 0.9},
        {"file_name": "figure.png", "category_id": 1, "bbox": good, "score": 0.9},
        {"file_name": "figure.png", "category_id": 1, "bbox": [5, 5, 30, -4], "score": 0.9},
        {"file_name": "figure.png", "category_id": 1, "bbox": [0, 0, 1e9, 1e9], "score": 0.9},
    ]))
    out = tmp_path / "out"
    with caplog.at_level("WARNING"):
        assert run(ckpt, "--input", str(image), "--output-dir", str(out), "--det-file", str(dets), "--no-flip") == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [f"=> detection file {dets}: 3 box(es) with no width or height or beyond 100000 px skipped "
                        "(e.g. entry 0: [5, 5, 0, 30])"]
    assert [r["bbox"] for r in load_results(out, "figure")] == [good]


def test_plain_user_errors_are_one_line_without_a_traceback_file(ckpt: Path, tmp_path: Path, capsys, monkeypatch):
    from utils.cli import run_cli

    monkeypatch.setenv("SIMMRPOSE_TRACEBACK_DIR", str(tmp_path / "tb"))
    (tmp_path / "tb").mkdir()
    image = tmp_path / "figure.png"
    cv2.imwrite(str(image), figure())
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\x00not a jpeg")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["--input", str(image), "--det-file", "d.json", "--detector", "x"], "give --det-file or --detector, not both"),
        (["--input", str(image), "--detector-weights", "w.pth"], "--detector-weights needs --detector NAME"),
        (["--input", str(broken), "--output-dir", str(tmp_path / "out")], f"cannot read image {broken}"),
        (["--input", str(empty), "--output-dir", str(tmp_path / "out")], f"input folder {empty} holds no images"),
    ]
    for args, expected in cases:
        with pytest.raises(SystemExit) as info:
            run_cli(lambda: run(ckpt, *args))  # noqa: B023  (called at once, in this iteration)
        assert info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err
    assert list((tmp_path / "tb").iterdir()) == []
