"""train.py never continues the wrong run, and a refused run leaves its folder as it was.

Real train.py processes on the guide's face YAML (experiments/synthetic/res18_128x128_face.yaml)
shrunk to tiny images, with data from tools/gen_synthetic_data.py: other data and another joint set
(the hand variant) into the face run's folder are refused; the same data moved elsewhere resumes;
a finished run started again writes nothing; every float32 / bf16 / fp16 switch resumes.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from helpers import run_python
from utils.device import cpu_has_native_fp16

pytestmark = pytest.mark.slow

FACE_YAML = "experiments/synthetic/res18_128x128_face.yaml"
RUN = Path("coco") / "pose_resnet_18" / "res18_128x128_face"
HAND_SIGMAS = "[" + ",".join(["0.025"] * 21) + "]"


def _gen(out: Path, fmt: str, seed: int) -> Path:
    proc = run_python(["tools/gen_synthetic_data.py", "--out", out, "--num-train", 4, "--num-val", 2, "--seed", seed,
                       "--image-size", 64, "--format", fmt, "--workers", 1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out / fmt


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp("guide_data")
    return {"face": _gen(base / "a", "face", 1), "other_face": _gen(base / "b", "face", 2),
            "hand": _gen(base / "c", "hand", 1)}


def _train(tmp: Path, root: Path, *opts) -> "subprocess.CompletedProcess":  # noqa: F821
    return run_python([
        "pose_estimation/train.py", "--cfg", FACE_YAML, "GPUS", "cpu", "WORKERS", 0, "PRINT_FREQ", 100,
        "OUTPUT_DIR", tmp / "output", "LOG_DIR", tmp / "log", "DATASET.ROOT", f"{root}/",
        "MODEL.IMAGE_SIZE", "[64,64]", "MODEL.EXTRA.HEATMAP_SIZE", "[16,16]", "MODEL.EXTRA.SIGMA", 1,
        "MODEL.EXTRA.NUM_DECONV_FILTERS", "[16,16,16]", "TRAIN.BATCH_SIZE", 4, "TEST.BATCH_SIZE", 4,
        "TRAIN.END_EPOCH", 1, *opts,
    ])


def _snapshot(folder: Path) -> dict:
    """Every file of the folder with its size, modification time and content digest.

    ``train.lock`` is left out: each run takes the lock (writing its pid) and releases it (emptying
    the file again), so its time stamp moves even for a refused run.
    """
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns, hashlib.sha1(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "train.lock"}


def _error_line(proc) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), last
    return last


def test_other_data_is_refused_moved_data_resumes_a_finished_run_writes_nothing(data, tmp_path):
    out = tmp_path / "output" / RUN
    proc = _train(tmp_path, data["face"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    identity = torch.load(out / "checkpoint.pth.tar", weights_only=True)["data"]
    ann = data["face"] / "annotations" / "person_keypoints_train2017.json"
    assert identity["train"]["size"] == ann.stat().st_size
    assert identity["train"]["sha256"] == hashlib.sha256(ann.read_bytes()).hexdigest()
    assert identity["train"]["joints"] == ["nose", "left_eye", "right_eye", "mouth_left", "mouth_right"]
    assert identity["train"]["images"] == 4 and identity["valid"]["images"] == 2 and identity["train"]["people"] > 0
    before = _snapshot(out)

    # a user's own (other) face data through DATASET.ROOT: refused, in one line, naming what differs
    proc = _train(tmp_path, data["other_face"], "TRAIN.END_EPOCH", 2)
    line = _error_line(proc)
    assert "other data; auto-resume refused" in line
    assert "train split (person_keypoints_train2017.json) annotation file content (SHA-256)" in line
    assert "valid split (person_keypoints_val2017.json)" in line
    assert "another OUTPUT_DIR" in line and "MODEL.CHECKPOINT" in line and "delete the folder" in line
    assert _snapshot(out) == before

    # the same data at another path resumes (DATASET.ROOT stays free)
    moved = tmp_path / "moved" / "face"
    shutil.copytree(data["face"], moved)
    proc = _train(tmp_path, moved, "TRAIN.END_EPOCH", 2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "=> resumed from" in proc.stderr and "auto-resume refused" not in proc.stderr
    assert [h["epoch"] for h in json.loads((out / "history.json").read_text())] == [0, 1]

    # started again: nothing left to train, nothing written
    finished = _snapshot(out)
    proc = _train(tmp_path, moved, "TRAIN.END_EPOCH", 2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "nothing left to train" in proc.stderr and "has finished epoch 2 of 2" in proc.stderr
    assert "best perf" not in proc.stderr
    assert _snapshot(out) == finished

    # a stop between the last checkpoint and the end lost final_state.pth.tar: started again, the run
    # writes it from its checkpoint's weights and nothing else
    (out / "final_state.pth.tar").unlink()
    proc = _train(tmp_path, moved, "TRAIN.END_EPOCH", 2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "final_state.pth.tar was missing: written from that checkpoint's weights" in proc.stderr
    final = torch.load(out / "final_state.pth.tar", weights_only=True)
    stored = torch.load(out / "checkpoint.pth.tar", weights_only=True)["state_dict"]
    assert list(final) == [k.removeprefix("module.") for k in stored]
    assert all(torch.equal(final[k.removeprefix("module.")], v) for k, v in stored.items())
    again = _snapshot(out)
    assert {k: v for k, v in again.items() if k != "final_state.pth.tar"} == {
        k: v for k, v in finished.items() if k != "final_state.pth.tar"}


def test_a_missing_model_checkpoint_creates_nothing(data, tmp_path):
    proc = _train(tmp_path, data["face"], "MODEL.CHECKPOINT", tmp_path / "nope.pth.tar")
    line = _error_line(proc)
    assert "MODEL.CHECKPOINT=" in line and "nope.pth.tar" in line and "file not found" in line
    assert not (tmp_path / "output").exists() and not (tmp_path / "log").exists()


def test_hand_variant_into_the_face_folder_names_num_joints_and_writes_nothing(data, tmp_path):
    out = tmp_path / "output" / RUN
    proc = _train(tmp_path, data["face"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the end of the run says whether a best model was saved (not "best perf 0.0000 at epoch 0")
    best = out / "model_best.pth.tar"
    assert ("=> best perf" in proc.stderr) == best.is_file()
    assert ("no best model was saved" in proc.stderr) == (not best.is_file())
    if not best.is_file():  # valid.py on that file points to final_state.pth.tar
        valid = run_python(["pose_estimation/valid.py", "--cfg", FACE_YAML, "--model-file", best, "GPUS", "cpu",
                            "OUTPUT_DIR", tmp_path / "valid_out", "LOG_DIR", tmp_path / "log"])
        assert valid.returncode == 2 and f"--model-file {out / 'final_state.pth.tar'}" in valid.stderr
    before = _snapshot(out)
    proc = _train(tmp_path, data["hand"], "MODEL.NUM_JOINTS", 21, "DATASET.OKS_SIGMAS", HAND_SIGMAS,
                  "TRAIN.END_EPOCH", 2)
    line = _error_line(proc)
    assert "MODEL.NUM_JOINTS: checkpoint 5, now 21" in line and "another OUTPUT_DIR" in line
    assert "weights do not match" not in proc.stderr  # the config is compared before any weight is loaded
    assert "joint names: checkpoint" in line  # and the data too
    assert _snapshot(out) == before  # config_train.yaml, network sources, log: untouched


# float32 -> bf16 -> fp16 -> float32 -> fp16 -> bf16 -> float32: every one of the six transitions once
PRECISIONS = {"float32": ("TRAIN.AMP", "false"), "bf16": ("TRAIN.AMP", "true", "TRAIN.AMP_DTYPE", "bf16"),
              "fp16": ("TRAIN.AMP", "true", "TRAIN.AMP_DTYPE", "fp16")}
CHAIN = ["float32", "bf16", "fp16", "float32", "fp16", "bf16", "float32"]


def test_every_precision_switch_resumes(data, tmp_path):
    out = tmp_path / "output" / RUN
    for epoch, precision in enumerate(CHAIN, start=1):
        proc = _train(tmp_path, data["face"], *PRECISIONS[precision], "TRAIN.END_EPOCH", epoch)
        assert proc.returncode == 0, (CHAIN[epoch - 2], "->", precision, proc.stderr[-3000:])
        ckpt = torch.load(out / "checkpoint.pth.tar", weights_only=True)
        assert ckpt["epoch"] == epoch
        if epoch > 1:
            assert "=> resumed from" in proc.stderr
        if precision == "fp16":
            assert ckpt["scaler"]["scale"] > 0  # a live GradScaler state
            assert "a fresh scaler" in proc.stderr  # the previous run (bf16 / float32) saved none
            # the start-up warning where fp16 is slow (this machine: no AVX512-FP16 / AMX-FP16)
            assert ("TRAIN.AMP_DTYPE fp16 on this CPU" in proc.stderr) == (not cpu_has_native_fp16())
        else:
            assert ckpt["scaler"] == {}
            assert ("GradScaler state is not used" in proc.stderr) == (epoch > 1 and CHAIN[epoch - 2] == "fp16")
    assert len(json.loads((out / "history.json").read_text())) == len(CHAIN)


def test_fused_optimizer_switches_resume_on_the_cpu(data, tmp_path):
    """TRAIN.FUSED_OPTIMIZER (Adam in this YAML) off -> on -> off across resumes."""
    out = tmp_path / "output" / RUN
    for epoch, fused in enumerate(["false", "true", "false"], start=1):
        proc = _train(tmp_path, data["face"], "TRAIN.FUSED_OPTIMIZER", fused, "TRAIN.END_EPOCH", epoch)
        assert proc.returncode == 0, proc.stderr[-3000:]
        groups = torch.load(out / "checkpoint.pth.tar", weights_only=True)["optimizer"]["param_groups"]
        assert all(bool(g["fused"]) == (fused == "true") for g in groups)


def test_test_amp_dtype_the_device_cannot_run_is_refused_at_start(data, tmp_path, monkeypatch):
    """TEST.AMP_DTYPE is checked before the first epoch (formerly: at the first validation)."""
    import contextlib
    import importlib.util

    from core.config import ConfigError
    from helpers import REPO

    folder = str(REPO / "pose_estimation")
    monkeypatch.syspath_prepend(folder)
    spec = importlib.util.spec_from_file_location("entry_train_amp", REPO / "pose_estimation" / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    # a device whose autocast leaves fp16 unused, as check_inference_amp's probe sees it
    monkeypatch.setattr(torch, "autocast", lambda *a, **k: contextlib.nullcontext())
    with pytest.raises(ConfigError, match="TEST.AMP_DTYPE='fp16'"):
        train.main(["--cfg", FACE_YAML, "GPUS", "cpu", "WORKERS", "0", "OUTPUT_DIR", str(tmp_path / "output"),
                    "LOG_DIR", str(tmp_path / "log"), "DATASET.ROOT", f"{data['face']}/",
                    "TEST.AMP", "true", "TEST.AMP_DTYPE", "fp16"])
    assert not (tmp_path / "output").exists()  # refused before anything was created
