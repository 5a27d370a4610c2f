"""TRAIN.CHECKPOINT_ITERS: train.py killed with SIGKILL right after a mid-epoch (or an epoch) checkpoint
and started again ends bit-identical to an uninterrupted run: one process, 2 DDP ranks, DataLoader workers.

The kill comes from inside the real process: a small launcher wraps ``utils.utils.save_checkpoint`` so
that the process sends itself SIGKILL as soon as the chosen checkpoint is on disk.
"""
import json
import math
import os
import subprocess
from pathlib import Path

import pytest
import torch

from helpers import PYTHON, REPO, identical, write_tiny_yaml

pytestmark = pytest.mark.slow  # starts subprocesses (scripts, torchrun) or trains

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
# 19 people in the generated train set: 19 iterations of one sample per epoch (10 per rank with 2 ranks)
ONE_PER_BATCH = ("TRAIN.BATCH_SIZE", 1)
EVERY_4 = (*ONE_PER_BATCH, "TRAIN.CHECKPOINT_ITERS", 4)  # mid-epoch checkpoints after iterations 4, 8, 12, 16

KILLING_TRAIN = """
import os, runpy, signal, sys
sys.path[:0] = ["pose_estimation", "lib"]
import utils.utils

KILL_AT = tuple(int(v) for v in os.environ["KILL_AT"].split(","))  # (epoch, iteration); iteration 0: epoch end
save_checkpoint = utils.utils.save_checkpoint


def save_then_die(states, *args, **kwargs):
    save_checkpoint(states, *args, **kwargs)
    mid = states.get("mid_epoch")
    if ((mid["epoch"], mid["iteration"]) if mid else (states["epoch"], 0)) == KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)


utils.utils.save_checkpoint = save_then_die
sys.argv = ["pose_estimation/train.py", *sys.argv[1:]]
runpy.run_path("pose_estimation/train.py", run_name="__main__")
"""


def _out_dir(tmp: Path) -> Path:
    return tmp / "output" / "coco" / "pose_resnet_18" / "tiny"


def _train(cfg: Path, *opts, nproc: int = 1, kill_at: tuple[int, int] | None = None) -> subprocess.CompletedProcess:
    """train.py (under torchrun with ``nproc`` > 1); with ``kill_at`` it SIGKILLs itself after that checkpoint."""
    script = ["-c", KILLING_TRAIN] if kill_at else ["pose_estimation/train.py"]
    if nproc > 1:
        launcher = cfg.parent / "killing_train.py"
        launcher.write_text(KILLING_TRAIN)
        script = [str(launcher) if kill_at else "pose_estimation/train.py"]
        script = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc), *script]
    env = {**ENV, "KILL_AT": ",".join(map(str, kill_at))} if kill_at else ENV
    command = [PYTHON, *script, "--cfg", str(cfg), "TRAIN.LR_STEP", "[1]", *map(str, opts)]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _killed(proc: subprocess.CompletedProcess) -> None:
    """Ended by its own SIGKILL (under torchrun: rank 0's, reported by the launcher)."""
    assert proc.returncode == -9 or (proc.returncode != 0 and "exitcode  : -9" in proc.stderr), proc.stderr[-3000:]


def _finished(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stderr[-3000:]


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _assert_same_run(ref: Path, other: Path, rng: bool = True, lrs: tuple[float, ...] = (1e-3, 1e-4)) -> None:
    """Final weights, the last checkpoint's weights, optimizer, schedule and RNG states, and history.json."""
    identical(_load(_out_dir(ref) / "final_state.pth.tar"), _load(_out_dir(other) / "final_state.pth.tar"))
    a, b = _load(_out_dir(ref) / "checkpoint.pth.tar"), _load(_out_dir(other) / "checkpoint.pth.tar")
    assert "mid_epoch" not in b
    keys = ["epoch", "state_dict", "perf", "best_perf", "optimizer", "lr_scheduler_last_epoch", "sampler_seed",
            "history", "train_global_steps"] + (["rng_per_rank"] if rng else [])
    for key in keys:
        identical(a[key], b[key], key)
    hist = json.loads((_out_dir(other) / "history.json").read_text())
    assert hist == json.loads((_out_dir(ref) / "history.json").read_text())
    assert [h["lr"] for h in hist] == pytest.approx(list(lrs))  # by default LR_STEP [1]: stepped once per epoch


@pytest.fixture(scope="module")
def reference(synthetic_data, tmp_path_factory) -> Path:
    """An uninterrupted 2-epoch run with mid-epoch checkpoints every 4 iterations, WORKERS 0."""
    ref = tmp_path_factory.mktemp("ref")
    _finished(_train(write_tiny_yaml(ref / "tiny.yaml", synthetic_data, ref, epochs=2), *EVERY_4))
    return ref


def test_sigkill_after_mid_epoch_checkpoints_resumes_bit_exactly(synthetic_data, reference, tmp_path):
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=2)
    ckpt_file = _out_dir(tmp_path) / "checkpoint.pth.tar"
    _killed(_train(cfg, *EVERY_4, kill_at=(0, 8)))
    ckpt = _load(ckpt_file)  # the original's keys, plus where the epoch stopped
    assert {"epoch", "model", "state_dict", "perf", "optimizer"} <= ckpt.keys() and ckpt["epoch"] == 0
    mid = ckpt["mid_epoch"]
    assert (mid["epoch"], mid["iteration"], mid["num_batches"], mid["world_size"]) == (0, 8, 19, 1)
    assert mid["ranks"][0]["meters"]["loss"]["count"] == 8
    assert not (_out_dir(tmp_path) / "model_best.pth.tar").exists()  # a mid-epoch save is no best model

    proc = _train(cfg, *EVERY_4, kill_at=(1, 12))  # resumes, then dies in epoch 1
    _killed(proc)
    assert "=> resumed from" in proc.stderr and "epoch 0 at iteration 8" in proc.stderr
    assert "Epoch: [0][8/19]" in proc.stderr and "Epoch: [0][7/19]" not in proc.stderr  # nothing re-run
    proc = _train(cfg, *EVERY_4)
    _finished(proc)
    assert "epoch 1 at iteration 12" in proc.stderr
    _assert_same_run(reference, tmp_path)


def test_workers_and_persistent_workers_resume_bit_exactly(synthetic_data, reference, tmp_path):
    """WORKERS 2 with persistent workers, killed mid-epoch and then at an epoch end: the same run as the
    WORKERS 0 reference (every sample's augmentation is seeded by its place in the epoch)."""
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=2)
    opts = (*EVERY_4, "WORKERS", 2, "TRAIN.PERSISTENT_WORKERS", "true")
    _killed(_train(cfg, *opts, kill_at=(0, 4)))
    _killed(_train(cfg, *opts, kill_at=(1, 0)))  # after epoch 0's checkpoint
    proc = _train(cfg, *opts)
    _finished(proc)
    assert "=> resumed from" in proc.stderr
    _assert_same_run(reference, tmp_path)


@pytest.mark.parametrize("persistent", [False, True])
def test_workers_resume_at_an_epoch_end_is_exact_without_mid_epoch_checkpoints(synthetic_data, tmp_path, persistent):
    """CHECKPOINT_ITERS 0 with WORKERS 2, 4 samples a batch. Not persistent (the default stream): each
    epoch's workers are seeded from the restored torch RNG. Persistent: their streams would carry over
    from epoch to epoch, so every sample is seeded by its place instead. Either way a resume after an
    epoch's checkpoint ends as the uninterrupted run."""
    opts = ("WORKERS", 2, "TRAIN.PERSISTENT_WORKERS", str(persistent).lower())
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    ref.mkdir(), killed.mkdir()
    _finished(_train(write_tiny_yaml(ref / "tiny.yaml", synthetic_data, ref, epochs=2), *opts))
    cfg = write_tiny_yaml(killed / "tiny.yaml", synthetic_data, killed, epochs=2)
    _killed(_train(cfg, *opts, kill_at=(1, 0)))
    _finished(_train(cfg, *opts))
    _assert_same_run(ref, killed)


def test_ddp_sigkill_mid_epoch_resumes_bit_exactly(synthetic_data, tmp_path):
    """2 gloo ranks under torchrun: rank 0 dies right after the mid-epoch checkpoint (torchrun then stops
    rank 1); the job started again continues at the next iteration on both ranks."""
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    ref.mkdir(), killed.mkdir()
    # with the LR set every iteration (cosine over the epoch's 10 iterations, the first 4 warming up)
    opts = (*ONE_PER_BATCH, "TRAIN.CHECKPOINT_ITERS", 3, "TRAIN.LR_SCHEDULER", "cosine", "TRAIN.WARMUP_ITERS", 4)
    _finished(_train(write_tiny_yaml(ref / "tiny.yaml", synthetic_data, ref, epochs=1), *opts, nproc=2))
    cfg = write_tiny_yaml(killed / "tiny.yaml", synthetic_data, killed, epochs=1)
    _killed(_train(cfg, *opts, nproc=2, kill_at=(0, 6)))
    mid = _load(_out_dir(killed) / "checkpoint.pth.tar")["mid_epoch"]
    assert (mid["iteration"], mid["num_batches"], mid["world_size"], len(mid["ranks"])) == (6, 10, 2, 2)

    before = (_out_dir(killed) / "checkpoint.pth.tar").read_bytes()
    proc = _train(cfg, *opts)  # one process cannot continue two ranks' epoch: one clear line, file kept
    assert proc.returncode == 2 and "stopped in the middle of epoch 0 (iteration 6) with 2 process(es)" in proc.stderr
    assert (_out_dir(killed) / "checkpoint.pth.tar").read_bytes() == before
    proc = _train(cfg, *opts, nproc=2)
    _finished(proc)
    assert "epoch 0 at iteration 6" in proc.stderr
    _assert_same_run(ref, killed, lrs=(1e-3 / 4,))  # the epoch's first LR: warm-up step 1 of 4
    last_lr = _load(_out_dir(killed) / "checkpoint.pth.tar")["optimizer"]["param_groups"][0]["lr"]
    assert last_lr == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 9 / 10)))  # iteration 9 of 10
