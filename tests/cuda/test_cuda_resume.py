"""Exact resume on CUDA: the CUDA generator's state travels through checkpoints (mid-epoch and at an
epoch end) and a run killed with SIGKILL and started again ends bit-identical to an uninterrupted
one, with cuDNN's deterministic kernels. The loss draws noise on the GPU (``cuda_tier.CUDA_NOISE``),
so a resume that lost or reseeded the CUDA generator would end with other weights."""
from __future__ import annotations

import pytest
import torch
from cuda_tier import train_with_device_noise

from helpers import identical, write_tiny_yaml
from test_mid_epoch_resume import EVERY_4, _assert_same_run, _finished, _killed, _load, _out_dir

pytestmark = [pytest.mark.cuda, pytest.mark.slow]

DETERMINISTIC = ("CUDNN.BENCHMARK", "false", "CUDNN.DETERMINISTIC", "true")


def test_sigkill_and_resume_restores_the_cuda_generator(synthetic_data, tmp_path, real_cuda):
    """2 epochs of 19 one-crop iterations, a checkpoint every 4: killed after iteration 8 of epoch 0
    (the mid-epoch path restores the RNG states in the loop) and after epoch 0's end (restored before
    the loop), then finished; weights, optimizer, RNG states and history equal the reference's."""
    opts = ("GPUS", "0", *EVERY_4, *DETERMINISTIC)
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    ref.mkdir(), killed.mkdir()
    _finished(train_with_device_noise(write_tiny_yaml(ref / "tiny.yaml", synthetic_data, ref, epochs=2), *opts))
    cuda_states = _load(_out_dir(ref) / "checkpoint.pth.tar")["rng_per_rank"][0]["cuda"]
    assert len(cuda_states) == torch.cuda.device_count()  # every visible GPU's generator is saved

    cfg = write_tiny_yaml(killed / "tiny.yaml", synthetic_data, killed, epochs=2)
    _killed(train_with_device_noise(cfg, *opts, kill_at=(0, 8)))
    proc = train_with_device_noise(cfg, *opts, kill_at=(1, 0))
    _killed(proc)
    assert "epoch 0 at iteration 8" in proc.stderr
    proc = train_with_device_noise(cfg, *opts)
    _finished(proc)
    assert "=> resumed from" in proc.stderr and ": epoch 1, lr" in proc.stderr
    _assert_same_run(ref, killed)  # rng_per_rank included: the CUDA generator's state as well


def test_the_noise_makes_the_comparison_sensitive_to_the_cuda_generator(synthetic_data, tmp_path, real_cuda):
    """The guard above is not vacuous: two runs whose CUDA generators start from other seeds (all else
    equal: TRAIN.SEED seeds the CPU generators, torch.cuda.manual_seed is changed after it) end apart."""
    opts = ("GPUS", "0", "TRAIN.END_EPOCH", 1, *DETERMINISTIC)
    finals = []
    for cuda_seed in (0, 1):
        folder = tmp_path / f"seed{cuda_seed}"
        folder.mkdir()
        cfg = write_tiny_yaml(folder / "tiny.yaml", synthetic_data, folder, epochs=1)
        proc = train_with_device_noise(cfg, *opts, env={"TIER_CUDA_SEED": str(cuda_seed)})
        _finished(proc)
        finals.append(_load(_out_dir(folder) / "final_state.pth.tar"))
    assert any(not torch.equal(finals[0][k], finals[1][k]) for k in finals[0])


def test_resume_on_fewer_visible_gpus(synthetic_data, tmp_path, two_gpus):
    """A run that saw 2 GPUs (GPUS 0) resumes where only one is visible (CUDA_VISIBLE_DEVICES=0):
    the checkpoint's CUDA states must not ask for a device that is gone, and the run ends as one that
    saw a single GPU throughout (only device 0's generator is used)."""
    opts = ("GPUS", "0", *DETERMINISTIC)
    ref, split = tmp_path / "ref", tmp_path / "split"
    ref.mkdir(), split.mkdir()
    one_gpu = {"CUDA_VISIBLE_DEVICES": "0"}
    _finished(train_with_device_noise(write_tiny_yaml(ref / "tiny.yaml", synthetic_data, ref, epochs=2), *opts,
                                      env=one_gpu))
    cfg = write_tiny_yaml(split / "tiny.yaml", synthetic_data, split, epochs=2)
    _finished(train_with_device_noise(cfg, *opts, "TRAIN.END_EPOCH", 1, env={"CUDA_VISIBLE_DEVICES": "0,1"}))
    proc = train_with_device_noise(cfg, *opts, env=one_gpu)
    _finished(proc)
    assert "=> resumed from" in proc.stderr
    _assert_same_run(ref, split, rng=False)
    ref_rng = _load(_out_dir(ref) / "checkpoint.pth.tar")["rng_per_rank"][0]
    split_rng = _load(_out_dir(split) / "checkpoint.pth.tar")["rng_per_rank"][0]
    assert len(split_rng["cuda"]) == 1 and torch.equal(ref_rng["cuda"][0], split_rng["cuda"][0])
    identical({k: v for k, v in ref_rng.items() if k != "cuda"}, {k: v for k, v in split_rng.items() if k != "cuda"})
