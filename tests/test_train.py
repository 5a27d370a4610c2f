"""pose_estimation/train.py end to end on generated data: learning, exact resume, NaN stop, torchrun."""
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from helpers import PYTHON, REPO, FullDiskFile, load_script, run_python, write_tiny_yaml

pytestmark = pytest.mark.slow  # starts subprocesses (scripts, torchrun) or trains


def _load_entry(name: str):
    """Import pose_estimation/<name>.py anew as module ``entry_<name>``."""
    return load_script(name, f"entry_{name}")


def _out_dir(tmp: Path) -> Path:
    return tmp / "output" / "coco" / "pose_resnet_18" / "tiny"


def _train_cmd(cfg: Path, *opts: str) -> list:
    return ["pose_estimation/train.py", "--cfg", cfg, *opts]


def test_a_few_iterations_reduce_the_loss(synthetic_data):
    """Overfit one real batch of generated data: the JointsMSE loss must fall well below its start."""
    from core.config import load_config
    from core.loss import JointsMSELoss
    from dataset import build_dataset, build_transform
    from models import build_pose_net

    cfg_path = write_tiny_yaml(Path(synthetic_data) / "tiny_overfit.yaml", synthetic_data, synthetic_data)
    cfg = load_config(cfg_path)
    torch.manual_seed(0)
    dataset = build_dataset(cfg, "train2017", True, build_transform())
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=8)))
    model = build_pose_net(cfg, is_train=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = JointsMSELoss(True)
    losses = []
    model.train()
    for _ in range(30):
        loss = criterion(model(batch[0]), batch[1], batch[2])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses


def test_train_writes_the_original_outputs(synthetic_data, tmp_path):
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=2)
    proc = run_python(_train_cmd(cfg))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = _out_dir(tmp_path)
    for name in ("checkpoint.pth.tar", "final_state.pth.tar", "pose_resnet.py", "resnet.py", "history.json", "config_train.yaml"):
        assert (out / name).is_file(), name
    assert len(list(out.glob("tiny_*_train.log"))) == 1
    log = next(out.glob("tiny_*_train.log")).read_text()
    assert "Epoch: [1][0/" in log and "]\tTime " in log and "\tSpeed " in log and "\tAccuracy " in log
    assert "| Arch | AP | Ap .5 | AP .75 | AP (M) | AP (L) | AR | AR .5 | AR .75 | AR (M) | AR (L) |" in log
    assert list((tmp_path / "log" / "coco" / "pose_resnet_18").glob("tiny_*"))  # TensorBoard folder
    ckpt = torch.load(out / "checkpoint.pth.tar", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["model"] == ("pose_resnet_18", "64x64_pose_resnet_18_d32d32d32")
    assert all(k.startswith("module.") for k in ckpt["state_dict"])  # the original's DataParallel format
    # the best model is saved only when the score beats the previous best strictly (starting at 0.0)
    assert (out / "model_best.pth.tar").is_file() == (max(h["perf"] for h in json.loads((out / "history.json").read_text())) > 0)
    final = torch.load(out / "final_state.pth.tar", map_location="cpu", weights_only=True)
    assert not any(k.startswith("module.") for k in final)
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1] and history[0]["lr"] == pytest.approx(1e-3)


def _wait_for_epoch(path: Path, epoch: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"training ended before epoch {epoch}: {proc.stderr.read()[-2000:]}")
        if path.is_file():
            try:
                if torch.load(path, map_location="cpu", weights_only=True)["epoch"] >= epoch:
                    return
            except Exception:  # only our atomic file can be read here; retry
                pass
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint for epoch {epoch} within {timeout} s")


def test_resume_after_sigkill_equals_an_uninterrupted_run(synthetic_data, tmp_path):
    """Kill -9 twice (once before and once after the LR milestone), resume each time, compare weights."""
    env = {"OMP_NUM_THREADS": "1"}
    ref_dir, killed_dir = tmp_path / "ref", tmp_path / "killed"
    ref_dir.mkdir()
    killed_dir.mkdir()
    ref_cfg = write_tiny_yaml(ref_dir / "tiny.yaml", synthetic_data, ref_dir, epochs=4)
    killed_cfg = write_tiny_yaml(killed_dir / "tiny.yaml", synthetic_data, killed_dir, epochs=4)

    proc = run_python(_train_cmd(ref_cfg), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]

    ckpt = _out_dir(killed_dir) / "checkpoint.pth.tar"
    for kill_after_epoch in (1, 3):  # LR_STEP [2]: the second kill comes after the milestone
        full_env = {**__import__("os").environ, **env}
        p = subprocess.Popen([PYTHON, *map(str, _train_cmd(killed_cfg))], cwd=REPO, env=full_env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _wait_for_epoch(ckpt, kill_after_epoch, p)
        time.sleep(0.3)  # somewhere inside the next epoch (or its checkpoint write)
        p.send_signal(signal.SIGKILL)
        p.wait()
    proc = run_python(_train_cmd(killed_cfg), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "=> resumed from" in proc.stderr

    ref = torch.load(_out_dir(ref_dir) / "final_state.pth.tar", weights_only=True)
    resumed = torch.load(_out_dir(killed_dir) / "final_state.pth.tar", weights_only=True)
    assert ref.keys() == resumed.keys()
    for key in ref:
        assert torch.equal(ref[key], resumed[key]), key
    ref_hist = json.loads((_out_dir(ref_dir) / "history.json").read_text())
    res_hist = json.loads((_out_dir(killed_dir) / "history.json").read_text())
    assert [h["lr"] for h in res_hist] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4])
    assert [h["train_loss"] for h in res_hist] == [h["train_loss"] for h in ref_hist]


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_checkpoint(synthetic_data, tmp_path, monkeypatch, caplog):
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=1)
    train_entry = _load_entry("train")
    assert train_entry.main(["--cfg", str(cfg)]) == 0
    ckpt = _out_dir(tmp_path) / "checkpoint.pth.tar"
    before = ckpt.read_bytes()

    from core.loss import JointsMSELoss

    monkeypatch.setattr(JointsMSELoss, "forward", lambda self, o, t, w: (o * float("nan")).mean())
    caplog.set_level("ERROR")
    assert train_entry.main(["--cfg", str(cfg), "TRAIN.END_EPOCH", "2"]) == 1
    assert "training loss is nan at epoch 1, iteration 0/" in caplog.text and "stopping" in caplog.text
    assert ckpt.read_bytes() == before


@pytest.mark.slow
def test_history_rename_refused_keeps_the_previous_history_and_no_temporary(synthetic_data, tmp_path, monkeypatch):
    import errno
    import os

    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=2)
    train_entry = _load_entry("train")
    real_replace = os.replace
    history_writes = []

    def replace(src, dst):  # the history of epoch 0 is written; that of epoch 1 cannot replace it
        if Path(dst).name == "history.json":
            history_writes.append(src)
            if len(history_writes) == 2:
                raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(PermissionError):
        train_entry.main(["--cfg", str(cfg)])
    out = _out_dir(tmp_path)
    assert [h["epoch"] for h in json.loads((out / "history.json").read_text())] == [0]
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name]


@pytest.mark.slow
def test_history_on_a_full_disk_keeps_the_previous_history_and_no_temporary(synthetic_data, tmp_path, monkeypatch):
    import builtins
    import errno
    import io

    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=2)
    train_entry = _load_entry("train")
    real_open = io.open
    history_opens = []

    def open_(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if isinstance(file, (str, Path)) and Path(file).name.startswith("history") and "w" in mode:
            history_opens.append(file)
            if len(history_opens) == 2:  # the history of epoch 1
                return FullDiskFile(f)  # part of the data lands, then ENOSPC
        return f

    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)  # what pathlib's write_text calls
    with pytest.raises(OSError) as info:
        train_entry.main(["--cfg", str(cfg)])
    assert info.value.errno == errno.ENOSPC and "history.json" in str(info.value)
    out = _out_dir(tmp_path)
    assert [h["epoch"] for h in json.loads((out / "history.json").read_text())] == [0]
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name]


def test_torchrun_two_processes_gloo(synthetic_data, tmp_path):
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=1)
    proc = subprocess.run(
        [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "pose_estimation/train.py", "--cfg", str(cfg)],
        cwd=REPO, capture_output=True, text=True, timeout=600, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = _out_dir(tmp_path)
    assert "all 2 replicas hold identical weights" in proc.stderr
    assert "world size 2" in proc.stderr
    assert len(list(out.glob("*_train.log"))) == 1  # only rank 0 writes
    assert len(list((tmp_path / "log" / "coco" / "pose_resnet_18").iterdir())) == 1
    assert (out / "final_state.pth.tar").is_file() and (out / "checkpoint.pth.tar").is_file()
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 1 and 0.0 <= history[0]["perf"] <= 1.0


def test_quickstart_recipe_in_short_still_learns(tmp_path):
    """The quickstart YAML on a small generated set: the training loss falls well below its start."""
    data = tmp_path / "synthetic"
    proc = run_python(["tools/gen_synthetic_data.py", "--out", data, "--num-train", 64, "--num-val", 4,
                       "--seed", 5, "--format", "coco"])
    assert proc.returncode == 0, proc.stderr
    proc = run_python(
        ["pose_estimation/train.py", "--cfg", REPO / "experiments/synthetic/res18_128x96_quickstart.yaml",
         "DATASET.ROOT", data / "coco", "OUTPUT_DIR", tmp_path / "output", "LOG_DIR", tmp_path / "log",
         "TRAIN.END_EPOCH", "7", "TRAIN.WARMUP_ITERS", "10", "TRAIN.BATCH_SIZE", "16", "WORKERS", "0", "PRINT_FREQ", "1",
         "GPUS", "cpu"],
        env={"OMP_NUM_THREADS": "2"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    import re

    losses = [float(v) for v in re.findall(r"Epoch: \[\d+\]\[\d+/\d+\]\t.*?\tLoss ([0-9.]+) ", proc.stderr)]
    assert len(losses) >= 30, losses
    last = sum(losses[-5:]) / 5
    assert last < 0.75 * losses[0], (losses[0], last)


def test_speed_switches_run_on_the_cpu(synthetic_data, tmp_path):
    """bf16 autocast, channels_last and persistent workers: the CPU-runnable part of the CUDA switches."""
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=2)
    proc = run_python(_train_cmd(cfg, "TRAIN.AMP", "true", "TRAIN.CHANNELS_LAST", "true", "WORKERS", "1",
                                 "TRAIN.PERSISTENT_WORKERS", "true"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "TRAIN.AMP with bf16 is for CUDA" not in proc.stderr  # bf16 autocast does run on the CPU
    history = json.loads((_out_dir(tmp_path) / "history.json").read_text())
    assert len(history) == 2 and all(0 < h["train_loss"] < 1 for h in history)


def test_fp16_with_grad_scaler_trains_and_resumes_on_the_cpu(synthetic_data, tmp_path):
    """fp16 autocast + torch.amp.GradScaler('cpu'): the scaler state is checkpointed and resumed."""
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=2)
    fp16 = ("TRAIN.AMP", "true", "TRAIN.AMP_DTYPE", "fp16")
    proc = run_python(_train_cmd(cfg, *fp16))
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt_file = _out_dir(tmp_path) / "checkpoint.pth.tar"
    scaler = torch.load(ckpt_file, weights_only=False)["scaler"]
    assert scaler["scale"] > 0 and scaler["_growth_tracker"] >= 0  # a live GradScaler's state, not {}
    history = json.loads((_out_dir(tmp_path) / "history.json").read_text())
    assert len(history) == 2 and all(0 < h["train_loss"] < 1 for h in history)

    proc = run_python(_train_cmd(cfg, *fp16, "TRAIN.END_EPOCH", "3"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "=> resumed from" in proc.stderr
    resumed = torch.load(ckpt_file, weights_only=False)
    assert resumed["epoch"] == 3 and resumed["scaler"]["scale"] > 0


def test_fresh_run_from_begin_epoch_counts_milestones_from_its_first_epoch(synthetic_data, tmp_path):
    """The original builds MultiStepLR fresh: with BEGIN_EPOCH 1 the milestone 2 is reached after two steps."""
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=4)
    proc = run_python(_train_cmd(cfg, "TRAIN.BEGIN_EPOCH", "1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    history = json.loads((_out_dir(tmp_path) / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert [h["lr"] for h in history] == pytest.approx([1e-3, 1e-3, 1e-4])


def test_validate_every_skips_epochs_but_never_the_last(synthetic_data, tmp_path):
    """TRAIN.VALIDATE_EVERY 2 over epochs 0-2: validation after epochs 1 and 2 (the last), null perf for 0."""
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=3)
    proc = run_python(_train_cmd(cfg, "TRAIN.VALIDATE_EVERY", "2"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = _out_dir(tmp_path)
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1, 2]
    assert history[0]["perf"] is None and all(isinstance(h["perf"], float) for h in history[1:])
    log = next(out.glob("tiny_*_train.log")).read_text()
    assert log.count("| Arch | AP |") == 2 and "=> no validation after epoch 0 (TRAIN.VALIDATE_EVERY 2)" in log
    ckpt = torch.load(out / "checkpoint.pth.tar", map_location="cpu", weights_only=True)
    assert ckpt["perf"] == history[2]["perf"] and ckpt["best_epoch"] in (0, 1, 2)
    best = max(history[1:], key=lambda h: h["perf"])
    assert (out / "model_best.pth.tar").is_file() == (best["perf"] > 0)
    if best["perf"] > 0:
        assert ckpt["best_epoch"] == best["epoch"] and ckpt["best_perf"] == best["perf"]
    plot = run_python(["tools/plot_history.py", out / "history.json", "--out", tmp_path / "curves.png"])
    assert plot.returncode == 0, plot.stderr
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mpii_training_on_generated_data(synthetic_data, tmp_path):
    """train.sh for MPII: the MPII layout made by the generator trains and validates with PCKh."""
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=1)
    proc = subprocess.run(
        ["bash", "scripts/mpii/train.sh", cfg, "DATASET.DATASET", "mpii", "DATASET.ROOT", synthetic_data / "mpii",
         "DATASET.TRAIN_SET", "train", "DATASET.TEST_SET", "valid", "MODEL.NUM_JOINTS", "16"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| Arch | Head | Shoulder | Elbow | Wrist | Hip | Knee | Ankle | Mean | Mean@0.11 |" in proc.stderr
    out = tmp_path / "output" / "mpii" / "pose_resnet_18" / "tiny"
    assert (out / "pred.mat").is_file() and (out / "final_state.pth.tar").is_file()


def test_per_epoch_validation_under_test_amp_computes_what_valid_py_computes(synthetic_data, tmp_path):
    """With TEST.AMP, train.py validates a BatchNorm-folded copy of the training model (the model it
    trains keeps its BatchNorms), and valid.py folds the saved weights: the last epoch's results file
    and valid.py's on final_state.pth.tar hold the same numbers, digit for digit."""
    env = {"OMP_NUM_THREADS": "1"}
    switches = ["TEST.AMP", "true", "TEST.CHANNELS_LAST", "true"]
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=2)
    proc = run_python(_train_cmd(cfg, *switches), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = _out_dir(tmp_path)
    results = out / "results" / "keypoints_val2017_results.json"
    trained = json.loads(results.read_text())
    final = torch.load(out / "final_state.pth.tar", map_location="cpu", weights_only=True)
    assert any(k.endswith("bn1.running_var") for k in final)  # the trained model was not folded

    results.unlink()
    proc = run_python(["pose_estimation/valid.py", "--cfg", cfg, "--model-file", out / "final_state.pth.tar", *switches],
                      env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    validated = json.loads(results.read_text())
    assert len(trained) == len(validated) > 0
    assert trained == validated

    # the comparison is sensitive to the arithmetic: float32 inference of the same weights differs
    proc = run_python(["pose_estimation/valid.py", "--cfg", cfg, "--model-file", out / "final_state.pth.tar",
                       "TEST.CHANNELS_LAST", "true"], env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(results.read_text()) != trained
