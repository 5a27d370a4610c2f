"""Helpers of the CUDA tier, on top of the CPU tests' own (imported from them, not copied).

The CPU test modules imported by name (from ``tests/``, ``tests/core``, ``tests/models`` and
``tests/nms``) are on the import path through ``pythonpath`` in pyproject.toml.
"""
from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

from helpers import PYTHON, REPO
from test_mid_epoch_resume import ENV, KILLING_TRAIN, _out_dir

# Prepended to test_mid_epoch_resume's self-killing launcher: the loss gets Gaussian noise drawn on
# the output's device, so that on CUDA every iteration draws from the CUDA generator and the final
# weights depend on its state. (Nothing in the default training draws from it: without the noise a
# resume that lost the CUDA generator's state would still end with the same weights.) TIER_CUDA_SEED
# reseeds the CUDA generators after train.py's seeding, to show that the weights do depend on them.
CUDA_NOISE = """
import sys
sys.path[:0] = ["lib"]
import torch
from core.loss import JointsMSELoss

_plain_forward = JointsMSELoss.forward


def _noisy_forward(self, output, target, target_weight):
    return _plain_forward(self, output + 0.01 * torch.randn_like(output), target, target_weight)


JointsMSELoss.forward = _noisy_forward

import os

if "TIER_CUDA_SEED" in os.environ:  # reseed the CUDA generators only, right after TRAIN.SEED's seeding
    import utils.train_state

    _seed_everything = utils.train_state.seed_everything

    def _seed_then_reseed_cuda(seed):
        _seed_everything(seed)
        torch.cuda.manual_seed_all(int(os.environ["TIER_CUDA_SEED"]))

    utils.train_state.seed_everything = _seed_then_reseed_cuda
"""
NEVER = (-1, -1)  # a KILL_AT no checkpoint matches


def train_with_device_noise(cfg: Path, *opts, kill_at: tuple[int, int] = NEVER, env: dict | None = None):
    """train.py (one process) with the noisy loss; with ``kill_at`` = (epoch, iteration) it SIGKILLs
    itself once that checkpoint is on disk (iteration 0: the epoch-end checkpoint). ``TRAIN.LR_STEP [1]``
    as in test_mid_epoch_resume, whose ``_assert_same_run`` compares the results."""
    command = [PYTHON, "-c", CUDA_NOISE + KILLING_TRAIN, "--cfg", str(cfg), "TRAIN.LR_STEP", "[1]", *map(str, opts)]
    full_env = {**ENV, **(env or {}), "KILL_AT": ",".join(map(str, kill_at))}
    return subprocess.run(command, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=300)


def torchrun(cfg: Path, *opts, nproc: int = 2, script: str = "train", env: dict | None = None):
    """pose_estimation/<script>.py under a standalone torchrun with ``nproc`` processes."""
    command = [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
               f"pose_estimation/{script}.py", "--cfg", str(cfg), *map(str, opts)]
    return subprocess.run(command, cwd=REPO, env={**ENV, **(env or {})}, capture_output=True, text=True, timeout=300)


def history(folder: Path) -> list[dict]:
    return json.loads((_out_dir(folder) / "history.json").read_text())


def assert_trained(folder: Path, epochs: int) -> list[dict]:
    """``epochs`` epochs in history.json, each with a finite training loss in (0, 1)."""
    hist = history(folder)
    assert [h["epoch"] for h in hist] == list(range(epochs)), hist
    assert all(math.isfinite(h["train_loss"]) and 0 < h["train_loss"] < 1 for h in hist), hist
    return hist
