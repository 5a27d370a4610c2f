"""train.py under a real torchrun (gloo, 2 CPU ranks, tiny network): exact resume on every rank,
NaN on one rank, global metrics, config change refusal, SYNC_BN on the CPU."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import torch

from helpers import PYTHON, REPO, run_python, write_tiny_yaml

pytestmark = pytest.mark.slow  # starts subprocesses (scripts, torchrun) or trains

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _out_dir(tmp: Path) -> Path:
    return tmp / "output" / "coco" / "pose_resnet_18" / "tiny"


def _torchrun(cfg: Path, *opts: str, nproc: int = 2, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
         "pose_estimation/train.py", "--cfg", str(cfg), *map(str, opts)],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, env=ENV,
    )


def _weights(folder: Path) -> dict:
    return torch.load(_out_dir(folder) / "final_state.pth.tar", map_location="cpu", weights_only=True)


def _assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _edited_copy(synthetic_data: Path, tmp: Path, edit) -> Path:
    """A copy of the generated data whose COCO train annotations went through ``edit(dict)``."""
    data = tmp / "data"
    subprocess.run(["cp", "-r", str(synthetic_data), str(data)], check=True)
    ann_file = data / "coco" / "annotations" / "person_keypoints_train2017.json"
    anns = json.loads(ann_file.read_text())
    edit(anns)
    ann_file.write_text(json.dumps(anns))  # json writes NaN as NaN, and pycocotools reads it back
    return data


def test_ddp_resume_on_every_rank_equals_an_uninterrupted_run(synthetic_data, tmp_path):
    """Stop a 2-rank run after epoch 1's checkpoint, resume under torchrun: the weights match bit for bit.

    Rotation/scale augmentation draws from each rank's NumPy RNG, so a rank 1 that re-seeded
    instead of restoring its state would see other augmentations and end with other weights.
    """
    ref, split = tmp_path / "ref", tmp_path / "split"
    ref.mkdir(), split.mkdir()
    proc = _torchrun(write_tiny_yaml(ref / "tiny.yaml", synthetic_data, ref, epochs=2))
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = write_tiny_yaml(split / "tiny.yaml", synthetic_data, split, epochs=2)
    proc = _torchrun(cfg, "TRAIN.END_EPOCH", 1)  # the first part of the run, then a new job
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = torch.load(_out_dir(split) / "checkpoint.pth.tar", map_location="cpu", weights_only=True)
    assert len(ckpt["rng_per_rank"]) == 2 and ckpt["config"]["TRAIN"]["LR"] == 0.001
    proc = _torchrun(cfg)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "=> resumed from" in proc.stderr
    _assert_same_weights(_weights(ref), _weights(split))
    ref_hist = json.loads((_out_dir(ref) / "history.json").read_text())
    hist = json.loads((_out_dir(split) / "history.json").read_text())
    assert [h["train_loss"] for h in hist] == [h["train_loss"] for h in ref_hist]


def test_ddp_epoch_metrics_are_over_all_ranks(synthetic_data, tmp_path):
    """No augmentation, LR 0, one sample per batch (BatchNorm's batch statistics): 2 ranks see the 12
    samples one process sees, and the logged epoch figures must be the averages over all of them."""
    data = _edited_copy(synthetic_data, tmp_path, lambda a: a["annotations"].pop())  # 18 people: no padding
    opts = ["TRAIN.END_EPOCH", 1, "TRAIN.SHUFFLE", "false", "DATASET.FLIP", "false", "DATASET.ROT_FACTOR", 0,
            "DATASET.SCALE_FACTOR", 0, "TRAIN.LR", 0]
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    proc = run_python(["pose_estimation/train.py", "--cfg", write_tiny_yaml(one / "tiny.yaml", data, one),
                       *opts, "TRAIN.BATCH_SIZE", 1], env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = _torchrun(write_tiny_yaml(two / "tiny.yaml", data, two), *opts, "TRAIN.BATCH_SIZE", 1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Epoch: [0][0/18]" in proc.stderr or "Epoch: [0][0/9]" in proc.stderr
    h1 = json.loads((_out_dir(one) / "history.json").read_text())[0]
    h2 = json.loads((_out_dir(two) / "history.json").read_text())[0]
    assert h2["train_loss"] == pytest.approx(h1["train_loss"], rel=1e-5)
    assert h2["train_acc"] == pytest.approx(h1["train_acc"], rel=1e-5, abs=1e-6)


def test_nan_from_the_data_of_one_rank_stops_every_rank(synthetic_data, tmp_path):
    """One annotation's target weight overflows to -inf: its rank's loss is NaN, both ranks stop at once."""
    def poison(anns):
        # Joint 0 unlabelled at (0, 0) with visibility -1e300: finite in the file (non-finite values
        # are refused when the file is read), -inf once the target weight is float32.
        anns["annotations"][0]["keypoints"][0:3] = [0, 0, -1e300]

    data = _edited_copy(synthetic_data, tmp_path, poison)
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", data, tmp_path, epochs=2)
    start = time.time()
    proc = _torchrun(cfg, "TRAIN.SHUFFLE", "false", timeout=200)
    assert proc.returncode != 0
    assert proc.stderr.count("training loss is nan at epoch 0, iteration 0/") == 1, proc.stderr[-3000:]
    assert "on rank 0;" in proc.stderr and "stopping" in proc.stderr  # sample 0 is in rank 0's shard
    assert not (_out_dir(tmp_path) / "checkpoint.pth.tar").exists()  # no step was taken, nothing saved
    assert time.time() - start < 200


def test_auto_resume_refuses_a_checkpoint_of_another_config(synthetic_data, tmp_path):
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=1)
    train = ["pose_estimation/train.py", "--cfg", cfg]
    assert run_python(train, env={"OMP_NUM_THREADS": "1"}).returncode == 0
    ckpt = _out_dir(tmp_path) / "checkpoint.pth.tar"
    before = ckpt.read_bytes()
    proc = run_python([*train, "TRAIN.END_EPOCH", 2, "TRAIN.LR", 0.01], env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode != 0
    assert "auto-resume refused" in proc.stderr and "TRAIN.LR: checkpoint 0.001, now 0.01" in proc.stderr
    assert "TRAIN.AUTO_RESUME false" in proc.stderr and "MODEL.CHECKPOINT" in proc.stderr
    assert ckpt.read_bytes() == before
    proc = run_python([*train, "TRAIN.END_EPOCH", 2, "TRAIN.LR", 0.01, "MODEL.CHECKPOINT", ckpt],
                      env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming with a changed config (the current value wins): TRAIN.LR" in proc.stderr
    # the checkpoint now records LR 0.01; the same run made longer (END_EPOCH is free) auto-resumes
    proc = run_python([*train, "TRAIN.END_EPOCH", 3, "TRAIN.LR", 0.01], env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "=> resumed from" in proc.stderr and "auto-resume refused" not in proc.stderr


def test_sync_bn_without_cuda_is_a_clear_error(synthetic_data, tmp_path):
    proc = _torchrun(write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=1), "TRAIN.SYNC_BN", "true")
    assert proc.returncode != 0
    assert "error: TRAIN.SYNC_BN=True needs CUDA devices" in proc.stderr


def test_one_run_per_output_folder(synthetic_data, tmp_path):
    """A second train.py into a folder in use refuses at once; a killed run's lock is taken over."""
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=30)
    out = _out_dir(tmp_path)
    first = subprocess.Popen([PYTHON, "pose_estimation/train.py", "--cfg", str(cfg)], cwd=REPO, env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not list(out.glob("*_train.log")) and time.time() < deadline:
            time.sleep(0.1)
        proc = run_python(["pose_estimation/train.py", "--cfg", cfg], env={"OMP_NUM_THREADS": "1"})
        assert proc.returncode == 2, proc.stderr[-2000:]  # a user error of run_cli: one line, no traceback
        assert "Traceback" not in proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and f"is in use by another train.py (pid {first.pid} on " in last, last
        assert "another OUTPUT_DIR" in proc.stderr
    finally:
        first.kill()
        first.wait()
    assert json.loads((out / "train.lock").read_text())["pid"] == first.pid  # left behind by the kill
    proc = run_python(["pose_estimation/train.py", "--cfg", cfg, "TRAIN.END_EPOCH", 1, "TRAIN.AUTO_RESUME", "false"],
                      env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"taking over the stale lock {out / 'train.lock'} left by a run that ended (pid {first.pid}" in proc.stderr
    assert (out / "train.lock").read_text() == ""  # released at the end


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_torchrun_restarts_a_killed_rank_and_resumes_exactly(synthetic_data, tmp_path):
    """SIGKILL rank 1 after epoch 1's checkpoint under --max-restarts 1: the job recovers by itself and
    ends with an uninterrupted 2-rank run's weights (the reference comes from a plain run)."""
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    ref.mkdir(), killed.mkdir()
    proc = _torchrun(write_tiny_yaml(ref / "tiny.yaml", synthetic_data, ref, epochs=3))
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = write_tiny_yaml(killed / "tiny.yaml", synthetic_data, killed, epochs=3)
    job = subprocess.Popen(
        [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "--max-restarts", "1",
         "pose_estimation/train.py", "--cfg", str(cfg)],
        cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    ckpt = _out_dir(killed) / "checkpoint.pth.tar"
    deadline = time.time() + 200
    while time.time() < deadline and job.poll() is None:
        try:
            if torch.load(ckpt, map_location="cpu", weights_only=True)["epoch"] >= 1:
                break
        except Exception:  # not written yet
            pass
        time.sleep(0.05)
    workers = sorted(_children(job.pid))
    assert len(workers) == 2, workers
    os.kill(workers[-1], 9)  # the rank started last (rank 1)
    _, stderr = job.communicate(timeout=300)
    assert job.returncode == 0, stderr[-3000:]
    assert "=> resumed from" in stderr
    _assert_same_weights(_weights(ref), _weights(killed))


def test_two_single_process_nodes_equal_one_node_with_two_processes(synthetic_data, tmp_path):
    """The README's NNODES/NODE_RANK recipe on one machine: two launchers of one process each."""
    one, two = tmp_path / "one_node", tmp_path / "two_nodes"
    one.mkdir(), two.mkdir()
    proc = _torchrun(write_tiny_yaml(one / "tiny.yaml", synthetic_data, one, epochs=1))
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = write_tiny_yaml(two / "tiny.yaml", synthetic_data, two, epochs=1)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    nodes = [
        subprocess.Popen(["bash", "scripts/coco2017/train.sh", str(cfg)], cwd=REPO, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True,
                         env={**ENV, "PYTHON": PYTHON, "NNODES": "2", "NODE_RANK": str(rank),
                              "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
        for rank in (0, 1)
    ]
    errors = [node.communicate(timeout=300)[1] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], errors[0][-2000:] + errors[1][-2000:]
    assert "world size 2" in errors[0]
    _assert_same_weights(_weights(one), _weights(two))
