"""pose_estimation/train.py on CUDA: float32, bf16 and fp16 (with the gradient scaler) on one GPU and
under torchrun with NCCL, SyncBatchNorm, pinned-memory loading and the fused optimizers."""
from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from cuda_tier import assert_trained, history, torchrun

from helpers import write_tiny_yaml
from test_distributed import _edited_copy
from test_mid_epoch_resume import _finished, _load, _out_dir, _train
from test_train import _load_entry

pytestmark = pytest.mark.cuda

PRECISIONS = {
    "float32": (),
    "bf16": ("TRAIN.AMP", "true", "TRAIN.AMP_DTYPE", "bf16"),
    "fp16": ("TRAIN.AMP", "true", "TRAIN.AMP_DTYPE", "fp16"),
}
# Same numbers from run to run on one GPU: no cuDNN autotuning, deterministic kernels.
DETERMINISTIC = ("CUDNN.BENCHMARK", "false", "CUDNN.DETERMINISTIC", "true")


@pytest.mark.slow
@pytest.mark.parametrize("precision", list(PRECISIONS))
def test_one_gpu_trains_in_each_precision(synthetic_data, tmp_path, gpus, device, precision):
    """One epoch (5 iterations of 4 crops, then validation) on GPUS 0: it runs where it should, the loss
    stays finite, and fp16 (only fp16) checkpoints a live GradScaler state."""
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=1)
    proc = _train(cfg, "GPUS", gpus, *PRECISIONS[precision])
    _finished(proc)
    where = "cuda:0" if device.type == "cuda" else "cpu"
    assert f"=> device {where}, world size 1" in proc.stderr
    assert_trained(tmp_path, 1)
    ckpt = torch.load(_out_dir(tmp_path) / "checkpoint.pth.tar", map_location="cpu", weights_only=True)
    if precision == "fp16":
        assert ckpt["scaler"]["scale"] > 0 and ckpt["scaler"]["_growth_tracker"] >= 0
    else:
        assert ckpt["scaler"] == {}
    final = _load(_out_dir(tmp_path) / "final_state.pth.tar")
    assert all(v.dtype != torch.float16 and v.dtype != torch.bfloat16 for v in final.values())  # float32 weights
    assert all(torch.isfinite(v).all() for v in final.values() if v.is_floating_point())


@pytest.mark.slow
def test_resume_across_precisions(synthetic_data, tmp_path, gpus):
    """TRAIN.AMP and TRAIN.AMP_DTYPE may change on resume: one run continued epoch by epoch as float32,
    fp16, bf16, fp16 and float32 again (every change to and from fp16, whose gradient scaler the
    other precisions do not have). Each part resumes and trains; fp16 parts checkpoint a live scaler
    state, the others none."""
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=1)
    chain = ["float32", "fp16", "bf16", "fp16", "float32"]
    for end, precision in enumerate(chain, start=1):
        proc = _train(cfg, "GPUS", gpus, "TRAIN.END_EPOCH", end, *PRECISIONS[precision])
        _finished(proc)
        assert end == 1 or "=> resumed from" in proc.stderr and f": epoch {end - 1}, lr" in proc.stderr
        scaler = _load(_out_dir(tmp_path) / "checkpoint.pth.tar")["scaler"]
        assert scaler["scale"] > 0 if precision == "fp16" else scaler == {}, (precision, scaler)
    assert_trained(tmp_path, len(chain))


@pytest.mark.slow
@pytest.mark.parametrize("precision", list(PRECISIONS))
def test_torchrun_two_gpus_nccl_in_each_precision(synthetic_data, tmp_path, two_gpus, precision):
    """2 processes, one GPU each, NCCL: both ranks train and end with identical weights."""
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=1)
    proc = torchrun(cfg, "GPUS", "0,1", *PRECISIONS[precision])
    _finished(proc)
    assert "=> device cuda:0, world size 2" in proc.stderr
    assert "all 2 replicas hold identical weights" in proc.stderr
    assert_trained(tmp_path, 1)
    if precision == "fp16":
        assert _load(_out_dir(tmp_path) / "checkpoint.pth.tar")["scaler"]["scale"] > 0


@pytest.mark.slow
def test_sync_bn_computes_the_statistics_of_the_whole_batch(synthetic_data, tmp_path, two_gpus):
    """TRAIN.SYNC_BN under torchrun: 2 ranks of 2 crops take BatchNorm statistics over the 4 crops of both.

    No augmentation, no shuffling and LR 0 (weights stay, only the running statistics move): the
    18 crops reach the 2 ranks interleaved (0, 2 | 1, 3; 4, 6 | 5, 7; ...), so each step of the pair
    sees the crops one process sees with batches of 4. The running means and variances must then be
    those of the one process; per-process BatchNorm (rank 0's 2 crops, broadcast by DDP) gives others.
    """
    data = _edited_copy(synthetic_data, tmp_path, lambda a: a["annotations"].pop())  # 18 people: no padding
    opts = ["TRAIN.END_EPOCH", 1, "TRAIN.SHUFFLE", "false", "DATASET.FLIP", "false", "DATASET.ROT_FACTOR", 0,
            "DATASET.SCALE_FACTOR", 0, "TRAIN.LR", 0, *DETERMINISTIC]
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    _finished(_train(write_tiny_yaml(one / "tiny.yaml", data, one), *opts, "GPUS", "0", "TRAIN.BATCH_SIZE", 4))
    proc = torchrun(write_tiny_yaml(two / "tiny.yaml", data, two), *opts, "GPUS", "0,1", "TRAIN.BATCH_SIZE", 2,
                    "TRAIN.SYNC_BN", "true")
    _finished(proc)
    assert "all 2 replicas hold identical weights" in proc.stderr
    single, synced = _load(_out_dir(one) / "final_state.pth.tar"), _load(_out_dir(two) / "final_state.pth.tar")
    assert single.keys() == synced.keys()  # SyncBatchNorm is converted back to plain BatchNorm keys
    stats = [k for k in single if k.endswith(("running_mean", "running_var"))]
    assert stats
    for key in stats:
        torch.testing.assert_close(synced[key], single[key], rtol=1e-4, atol=1e-6, msg=key)
    for key in single:
        if key.endswith("num_batches_tracked"):
            assert int(synced[key]) == int(single[key]) == 5, key  # 5 steps: 4 + 4 + 4 + 4 + 2 crops


@pytest.mark.slow
def test_sync_bn_validation_under_test_amp_computes_what_valid_py_computes(synthetic_data, tmp_path, two_gpus):
    """TRAIN.SYNC_BN with TEST.AMP: the per-epoch validation of train.py folds the (synchronised)
    BatchNorms as valid.py folds the saved weights, so the last epoch's results file and valid.py's
    (the same 2 GPUs, the same shards) hold the same numbers. The CPU test of TEST.AMP checks this for
    plain BatchNorm; SyncBatchNorm is another class, which a fold of BatchNorm2d alone would miss."""
    switches = ("TEST.AMP", "true", "TEST.CHANNELS_LAST", "true", *DETERMINISTIC)
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=1)
    _finished(torchrun(cfg, "GPUS", "0,1", "TRAIN.SYNC_BN", "true", *switches))
    results = _out_dir(tmp_path) / "results" / "keypoints_val2017_results.json"
    trained = json.loads(results.read_text())
    results.unlink()
    _finished(torchrun(cfg, "--model-file", _out_dir(tmp_path) / "final_state.pth.tar", "GPUS", "0,1", *switches,
                       script="valid"))
    validated = json.loads(results.read_text())
    assert len(trained) == len(validated) > 0
    assert trained == validated


@pytest.mark.slow
def test_pinned_memory_loading(synthetic_data, tmp_path, real_cuda):
    """TRAIN.PIN_MEMORY (the default) hands the training step page-locked batches, with and without
    workers; a run with pinned memory and asynchronous copies ends bit-identical to one without."""
    train_entry = _load_entry("train")
    from core.config import load_config

    cfg_file = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=1)
    for workers in (0, 2):
        for pin in (True, False):
            cfg = load_config(cfg_file, ["WORKERS", str(workers), "TRAIN.PIN_MEMORY", str(pin)])
            loaders = train_entry.make_loaders(cfg, *train_entry.build_datasets(cfg), 1, 0, 0, torch.device("cuda", 0))
            for loader in (loaders.train, loaders.valid):
                inputs, target, target_weight, _meta = next(iter(loader))
                assert [t.is_pinned() for t in (inputs, target, target_weight)] == [pin] * 3, (workers, pin)

    runs = {}
    for pin in ("true", "false"):
        folder = tmp_path / f"pin_{pin}"
        folder.mkdir()
        cfg = write_tiny_yaml(folder / "tiny.yaml", synthetic_data, folder, epochs=2)
        _finished(_train(cfg, "GPUS", "0", "WORKERS", 2, "TRAIN.PIN_MEMORY", pin, *DETERMINISTIC))
        runs[pin] = _load(_out_dir(folder) / "final_state.pth.tar")
    assert runs["true"].keys() == runs["false"].keys()
    for key in runs["true"]:
        assert torch.equal(runs["true"][key], runs["false"][key]), key
    assert history(tmp_path / "pin_true") == history(tmp_path / "pin_false")


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_fused_optimizer_steps_match_the_default_kernel(synthetic_data, tmp_path, device, optimizer):
    """TRAIN.FUSED_OPTIMIZER: torch's fused Adam / SGD kernel, given the gradients of the real network
    on a real batch, takes the steps the default (for-each) kernel takes, up to float32 rounding: after
    5 steps with those gradients every parameter is within 1e-3 of how far the default kernel moved
    it, plus 4 units in the last place of its largest value. (The same gradients each step: over a
    real trajectory the two would drift apart through the network, not through the kernels.)"""
    from core.config import load_config
    from core.loss import JointsMSELoss
    from dataset import build_dataset, build_transform
    from models import build_pose_net
    from utils.utils import get_optimizer

    cfg = load_config(write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path),
                      ["TRAIN.OPTIMIZER", optimizer, "TRAIN.LR", "0.001"])
    torch.manual_seed(0)
    np.random.seed(0)  # the crops' augmentation
    inputs, target, target_weight, _ = next(iter(torch.utils.data.DataLoader(
        build_dataset(cfg, "train2017", True, build_transform()), batch_size=4)))
    start = build_pose_net(cfg, is_train=True).to(device).train()
    JointsMSELoss(True)(start(inputs.to(device)), target.to(device), target_weight.to(device)).backward()
    grads = {name: p.grad.clone() for name, p in start.named_parameters()}
    assert all(g.abs().max() > 0 for g in grads.values())

    params = {}
    for fused in (False, True):
        cfg.TRAIN.FUSED_OPTIMIZER = fused
        model = copy.deepcopy(start)
        opt = get_optimizer(cfg, model)
        assert opt.defaults["fused"] is (True if fused else None)
        for _ in range(5):
            for name, p in model.named_parameters():
                p.grad = grads[name].clone()
            opt.step()
        if fused and optimizer == "adam":
            steps = [s["step"] for s in opt.state.values()]
            assert steps and all(s.device == device and float(s) == 5 for s in steps)
        params[fused] = {name: p.detach().clone() for name, p in model.named_parameters()}
    eps = torch.finfo(torch.float32).eps
    for name, first in start.named_parameters():
        ref, got = params[False][name], params[True][name]
        moved = (ref - first).abs().max().item()
        assert moved > 0, name
        allowed = 1e-3 * moved + 4 * eps * ref.abs().max().item()
        assert (got - ref).abs().max().item() <= allowed, (name, (got - ref).abs().max().item(), moved)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_resume_switching_the_fused_optimizer_on_and_off(synthetic_data, tmp_path, gpus, optimizer):
    """TRAIN.FUSED_OPTIMIZER is free on resume: a run started with the default kernel continues fused
    and then unfused again; each part resumes, trains and checkpoints (the saved Adam ``step`` tensors
    must move to where the fused kernel wants them)."""
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=1)
    common = ("GPUS", gpus, "TRAIN.OPTIMIZER", optimizer)
    _finished(_train(cfg, *common, "TRAIN.FUSED_OPTIMIZER", "false"))
    for end, fused in ((2, "true"), (3, "false")):
        proc = _train(cfg, *common, "TRAIN.FUSED_OPTIMIZER", fused, "TRAIN.END_EPOCH", end)
        _finished(proc)
        assert "=> resumed from" in proc.stderr and f": epoch {end - 1}, lr" in proc.stderr
        ckpt = _load(_out_dir(tmp_path) / "checkpoint.pth.tar")
        assert ckpt["epoch"] == end
        assert all(group["fused"] is (True if fused == "true" else None) for group in ckpt["optimizer"]["param_groups"])
    hist = assert_trained(tmp_path, 3)
    assert [h["lr"] for h in hist] == pytest.approx([1e-3, 1e-4, 1e-4])  # TRAIN.LR_STEP [1]: x0.1 after epoch 0
    assert all(math.isfinite(v.float().sum().item()) for v in _load(_out_dir(tmp_path) / "final_state.pth.tar").values())
