"""Kill-and-recover trials: does torchrun (``--max-restarts``) plus auto-resume recover a SIGKILLed rank?

    python tools/stress_kill_recover.py [--trials 10] [--epochs 3] [--seed 0]

Each trial starts a 2-rank gloo job on the CPU the way ``scripts/*/train.sh`` does (static
rendezvous on 127.0.0.1, ``--max-restarts 1``) on a tiny generated COCO set, waits for the epoch-1
checkpoint plus a random delay, SIGKILLs a random rank and counts the trial as recovered when the job
ends with exit 0 and final weights equal, bit for bit, to an uninterrupted run's. A stress test, not
a speed benchmark, and not part of CI: ``tests/test_distributed.py`` runs one such trial (rank 1, right
after the checkpoint); this tool repeats them with random ranks and delays.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _init_paths  # noqa: F401  (puts lib/ on sys.path)
import torch

REPO = Path(__file__).resolve().parents[1]


def _load_test_helpers():
    """``tests/helpers.py``, loaded from its file: its ``write_tiny_yaml`` is the tests' tiny network and
    data config, and the tests' folder stays off ``sys.path``."""
    spec = importlib.util.spec_from_file_location("_test_helpers", REPO / "tests" / "helpers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


write_tiny_yaml = _load_test_helpers().write_tiny_yaml

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(cfg: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2", "--max-restarts", "1",
         "--node_rank", "0", "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
         "pose_estimation/train.py", "--cfg", str(cfg)],
        cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def final_weights(root: Path) -> dict:
    return torch.load(root / "output/coco/pose_resnet_18/tiny/final_state.pth.tar", map_location="cpu", weights_only=True)


def workers_of(pid: int) -> list[int]:
    return sorted(int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split())


def wait_for_epoch(ckpt: Path, epoch: int, job: subprocess.Popen, timeout: float = 300) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline and job.poll() is None:
        try:
            if torch.load(ckpt, map_location="cpu", weights_only=True)["epoch"] >= epoch:
                return True
        except Exception:  # not there yet
            pass
        time.sleep(0.05)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="kill_recover_"))
    data = work / "data"
    subprocess.run([sys.executable, "tools/gen_synthetic_data.py", "--out", str(data), "--num-train", "12",
                    "--num-val", "6", "--seed", "3", "--format", "coco"], cwd=REPO, check=True, env=ENV)
    ref = work / "ref"
    ref.mkdir()
    job = launch(write_tiny_yaml(ref / "tiny.yaml", data, ref, epochs=args.epochs))
    _, err = job.communicate()
    assert job.returncode == 0, err[-2000:]
    reference = final_weights(ref)
    recovered = 0
    for trial in range(args.trials):
        root = work / f"trial{trial}"
        root.mkdir()
        start = time.time()
        job = launch(write_tiny_yaml(root / "tiny.yaml", data, root, epochs=args.epochs))
        ok = wait_for_epoch(root / "output/coco/pose_resnet_18/tiny/checkpoint.pth.tar", 1, job)
        time.sleep(rng.uniform(0.0, 1.0))
        victims = workers_of(job.pid) if job.poll() is None else []
        if ok and victims:
            os.kill(rng.choice(victims), 9)
        try:
            _, err = job.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            job.kill()
            _, err = job.communicate()
        same = job.returncode == 0 and all(torch.equal(v, final_weights(root)[k]) for k, v in reference.items())
        recovered += bool(same and victims)
        print(f"trial {trial}: killed {'yes' if victims else 'no'}, exit {job.returncode}, "
              f"weights {'equal' if same else 'DIFFERENT'}, {time.time() - start:.0f} s", flush=True)
    print(f"recovered {recovered}/{args.trials} kill-and-restart trials")
    return 0 if recovered == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())
