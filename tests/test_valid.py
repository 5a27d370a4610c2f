"""valid.py / test.py / the shell scripts end to end on the shared real COCO and MPII samples (CPU)."""
import hashlib
import json
import shutil
import subprocess
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from helpers import REPO, run_python, write_tiny_yaml

pytestmark = pytest.mark.slow  # starts subprocesses (scripts, torchrun) or trains

COCO_YAML = REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml"
MPII_YAML = REPO / "experiments/mpii/resnet50/256x256_d256x3_adam_lr1e-3.yaml"
# A small network keeps these runs to seconds; the pipeline around it is the real one.
SMALL = ["MODEL.NAME", "pose_resnet", "MODEL.EXTRA.NUM_LAYERS", "18", "WORKERS", "0", "GPUS", "cpu"]


def _checkpoint(tmp_path: Path, num_joints: int, prefixed: bool) -> Path:
    from core.config import load_config
    from models import build_pose_net

    cfg = load_config(COCO_YAML, ["MODEL.NAME", "pose_resnet", "MODEL.EXTRA.NUM_LAYERS", "18", "MODEL.NUM_JOINTS", str(num_joints)])
    torch.manual_seed(0)
    state = build_pose_net(cfg, is_train=False).state_dict()
    if prefixed:
        state = OrderedDict((f"module.{k}", v) for k, v in state.items())
        obj = {"epoch": 3, "state_dict": state}
    else:
        obj = state
    path = tmp_path / f"model_{num_joints}_{'module' if prefixed else 'bare'}.pth.tar"
    torch.save(obj, path)
    return path


def _tree_digest(folder: Path) -> dict:
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("prefixed", [False, True], ids=["bare", "module-prefixed"])
def test_coco_valid_with_gt_boxes(coco_root, tmp_path, prefixed):
    model = _checkpoint(tmp_path, 17, prefixed)
    proc = run_python(["pose_estimation/valid.py", "--cfg", COCO_YAML, "--flip-test", "--model-file", model,
                       "DATASET.ROOT", coco_root, "OUTPUT_DIR", tmp_path / "out", "LOG_DIR", tmp_path / "log",
                       "DEBUG.DEBUG", "true", *SMALL])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "out/coco/pose_resnet_18/256x192_d256x3_adam_lr1e-3"
    # DEBUG.DEBUG with the YAML's four SAVE_* flags on: the original's debug pictures
    for suffix in ("gt", "pred", "hm_gt", "hm_pred"):
        assert (out / f"val_0_{suffix}.jpg").is_file(), suffix
    results = json.loads((out / "results/keypoints_val2017_results.json").read_text())
    assert len(results) >= 1 and {"image_id", "category_id", "keypoints", "score", "center", "scale"} <= set(results[0])
    assert len(results[0]["keypoints"]) == 51
    assert "| Arch | AP | Ap .5 | AP .75 | AP (M) | AP (L) | AR | AR .5 | AR .75 | AR (M) | AR (L) |" in proc.stderr
    assert "| 256x192_pose_resnet_18_d256d256d256 | " in proc.stderr


def test_coco_valid_script_with_detector_boxes(coco_root, tmp_path):
    model = _checkpoint(tmp_path, 17, True)
    det = coco_root / "person_detection_results/COCO_val2017_detections_AP_H_56_person.json"
    proc = subprocess.run(
        ["bash", "scripts/coco2017/valid.sh", COCO_YAML, model, det, "DATASET.ROOT", coco_root,
         "OUTPUT_DIR", tmp_path / "out", "LOG_DIR", tmp_path / "log", *SMALL],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "118" in proc.stderr  # every detector box was used
    out = tmp_path / "out/coco/pose_resnet_18/256x192_d256x3_adam_lr1e-3"
    results = json.loads((out / "results/keypoints_val2017_results.json").read_text())
    assert {r["image_id"] for r in results} == {785, 40083, 196141, 197388}
    assert "| Arch | AP |" in proc.stderr


def test_mpii_valid_script(mpii_root, tmp_path):
    model = _checkpoint(tmp_path, 16, False)
    proc = subprocess.run(
        ["bash", "scripts/mpii/valid.sh", MPII_YAML, model, "DATASET.ROOT", mpii_root,
         "OUTPUT_DIR", tmp_path / "out", "LOG_DIR", tmp_path / "log", *SMALL],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| Arch | Head | Shoulder | Elbow | Wrist | Hip | Knee | Ankle | Mean | Mean@0.11 |" in proc.stderr
    assert (tmp_path / "out/mpii/pose_resnet_18/256x256_d256x3_adam_lr1e-3/pred.mat").is_file()


def test_valid_reports_a_missing_model_file(coco_root, tmp_path):
    proc = run_python(["pose_estimation/valid.py", "--cfg", COCO_YAML, "--model-file", tmp_path / "nope.pth",
                       "DATASET.ROOT", coco_root, "OUTPUT_DIR", tmp_path / "out", "LOG_DIR", tmp_path / "log",
                       *SMALL])
    assert proc.returncode == 2
    assert "model file not found" in proc.stderr and "nope.pth" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_valid_on_a_damaged_export_is_one_error_line_and_no_traceback_file(coco_root, tmp_path):
    """An annotation file with two images of one id (a hand-merged export): the user's file, so one
    ``error:`` line naming it, exit 2, and no traceback file."""
    root = tmp_path / "coco"
    shutil.copytree(coco_root / "annotations", root / "annotations")
    (root / "images").symlink_to(coco_root / "images")
    ann = root / "annotations" / "person_keypoints_val2017.json"
    data = json.loads(ann.read_text())
    data["images"][1]["id"] = data["images"][0]["id"]
    ann.write_text(json.dumps(data))
    tracebacks = tmp_path / "tracebacks"
    tracebacks.mkdir()
    proc = run_python(["pose_estimation/valid.py", "--cfg", COCO_YAML, "--model-file", _checkpoint(tmp_path, 17, False),
                       "DATASET.ROOT", root, "OUTPUT_DIR", tmp_path / "out", "LOG_DIR", tmp_path / "log", *SMALL],
                      env={"SIMMRPOSE_TRACEBACK_DIR": str(tracebacks)})
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and proc.stderr.rstrip().splitlines()[-1] == errors[0]
    assert str(ann) in errors[0] and "two images have id" in errors[0]
    assert "(traceback written to" not in proc.stderr and "Traceback" not in proc.stderr
    assert list(tracebacks.iterdir()) == []


def test_valid_reports_a_checkpoint_that_does_not_match(coco_root, tmp_path):
    model = _checkpoint(tmp_path, 16, False)  # 16 joints, the YAML says 17
    proc = run_python(["pose_estimation/valid.py", "--cfg", COCO_YAML, "--model-file", model,
                       "DATASET.ROOT", coco_root, "OUTPUT_DIR", tmp_path / "out", "LOG_DIR", tmp_path / "log",
                       *SMALL])
    assert proc.returncode == 2 and "final_layer" in proc.stderr and str(model) in proc.stderr


@pytest.mark.parametrize("script, args", [
    ("scripts/coco2017/valid.sh", []),
    ("scripts/coco2017/valid.sh", [COCO_YAML]),
    ("scripts/mpii/valid.sh", [MPII_YAML, "missing.pth"]),
    ("scripts/coco2017/test.sh", [COCO_YAML, COCO_YAML]),
    ("scripts/coco2017/train.sh", []),
])
def test_scripts_check_their_arguments(script, args):
    proc = subprocess.run(["bash", script, *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: bash ") and "error: " in proc.stderr


def test_test_py_on_a_folder_writes_pictures_and_leaves_the_folder_unchanged(coco_root, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    sources = sorted((coco_root / "images/val2017").glob("*.jpg"))
    shutil.copy(sources[0], images / "A.JPG")
    shutil.copy(sources[1], images / "b.jpeg")
    import cv2

    cv2.imwrite(str(images / "c.png"), cv2.imread(str(sources[2])))
    (images / "notes.txt").write_text("not an image")
    before = _tree_digest(images)
    model = _checkpoint(tmp_path, 17, True)
    proc = subprocess.run(
        ["bash", "scripts/coco2017/test.sh", COCO_YAML, model, images, "OUTPUT_DIR", tmp_path / "out",
         "LOG_DIR", tmp_path / "log", "TEST.BATCH_SIZE", "2", *SMALL],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _tree_digest(images) == before
    out = tmp_path / "out/coco/pose_resnet_18/256x192_d256x3_adam_lr1e-3"
    for name in ("test_0_pred.jpg", "test_0_hm_pred.jpg", "test_1_pred.jpg", "test_1_hm_pred.jpg"):
        assert (out / name).is_file(), name


def test_train_script_trains_and_validates_on_the_shared_coco_sample(coco_root, tmp_path):
    proc = subprocess.run(
        ["bash", "scripts/coco2017/train.sh", REPO / "experiments/synthetic/res18_128x96_quickstart.yaml",
         "DATASET.ROOT", coco_root, "OUTPUT_DIR", tmp_path / "out", "LOG_DIR", tmp_path / "log",
         "TRAIN.END_EPOCH", "1", "WORKERS", "0", "GPUS", "cpu"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Epoch: [0][0/1]" in proc.stderr and "| Arch | AP |" in proc.stderr
    assert (tmp_path / "out/coco/pose_resnet_18/res18_128x96_quickstart/final_state.pth.tar").is_file()


def test_missing_best_model_message_points_to_final_state(tmp_path):
    # a run whose AP never rose above 0 leaves final_state.pth.tar but (as in the original) no model_best
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", tmp_path / "data", tmp_path)
    run_dir = tmp_path / "output" / "coco" / "pose_resnet_18" / "tiny"
    run_dir.mkdir(parents=True)
    torch.save({"w": torch.zeros(1)}, run_dir / "final_state.pth.tar")
    for flags in ([], ["--model-file", run_dir / "model_best.pth.tar"]):  # the default, or named explicitly
        proc = run_python(["pose_estimation/valid.py", "--cfg", cfg, *flags], timeout=120)
        assert proc.returncode == 2
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: model file not found: {run_dir / 'model_best.pth.tar'}")
        assert f"the best validation score of the training run in {run_dir} never rose above 0, so it saved no best model" in last
        assert f"--model-file {run_dir / 'final_state.pth.tar'}" in last
