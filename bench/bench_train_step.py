"""Training-step and eval-forward speed on the CPU: the original's way vs our best CPU settings.

    python bench/bench_train_step.py [--names pose_resnet ...] [--batch 8] [--threads 2] [--iters 5]

"Original way": float32, NCHW, the per-joint Python loop of the original JointsMSELoss, accuracy
in NumPy — what the original train() does per iteration. "Ours": the same network with
channels_last memory and bfloat16 autocast (``TRAIN.CHANNELS_LAST True TRAIN.AMP True``), the
vectorised loss. Loss values of the two are printed side by side; they agree within bf16
precision. The eval forward runs the product's inference step (``core.inference_step.inference_step``,
no flip test) on the network as ``valid.py`` prepares it: float32 by default against
``TEST.AMP True TEST.CHANNELS_LAST True`` (bf16, channels-last, BatchNorm folded, heatmap layers in
float32). Input 256x192 (COCO), ResNet-50 trunk, random data (speed does not depend on it).
The verdict compares the two ways measured in the same run.
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import _init_paths  # noqa: F401  (puts lib/ on sys.path)
import numpy as np
import torch
import torch.nn as nn

from core.config import load_config
from core.evaluate import accuracy
from core.inference_step import inference_step, prepare_inference_model
from core.loss import JointsMSELoss
from models import POSE_NETS, build_pose_net

REPO = Path(__file__).resolve().parents[1]
CFG = REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml"
SWITCHES = ["TEST.AMP", "true", "TEST.CHANNELS_LAST", "true"]


class OriginalJointsMSELoss(nn.Module):
    """The original loss: one MSELoss call per joint in a Python loop."""

    def __init__(self) -> None:
        super().__init__()
        self.criterion = nn.MSELoss(reduction="mean")

    def forward(self, output, target, target_weight):
        batch_size, num_joints = output.size(0), output.size(1)
        pred = output.reshape((batch_size, num_joints, -1)).split(1, 1)
        gt = target.reshape((batch_size, num_joints, -1)).split(1, 1)
        loss = 0
        for idx in range(num_joints):
            p, g = pred[idx].squeeze(), gt[idx].squeeze()
            loss += 0.5 * self.criterion(p.mul(target_weight[:, idx]), g.mul(target_weight[:, idx]))
        return loss / num_joints


def time_train(model, loss_fn, batch, iters, channels_last=False, bf16=False):
    inputs, target, weight = batch
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    losses, times = [], []
    for i in range(iters + 2):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            output = model(inputs)
        loss = loss_fn(output.float(), target, weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        accuracy(output.detach().float().numpy(), target.numpy())
        if i >= 2:  # warm-up iterations excluded
            times.append(time.perf_counter() - start)
        losses.append(loss.item())
    return inputs.size(0) / float(np.median(times)), losses


def time_eval(cfg, model, inputs, iters):
    """Images/s of valid.py's inference step for ``cfg`` (TEST.AMP / TEST.CHANNELS_LAST or not)."""
    model = prepare_inference_model(cfg, model, torch.device("cpu"))
    times = []
    for i in range(iters + 1):
        start = time.perf_counter()
        inference_step(cfg, model, inputs, None)
        if i >= 1:
            times.append(time.perf_counter() - start)
    return inputs.size(0) / float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--names", nargs="*", default=sorted(POSE_NETS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine : {platform.processor() or platform.machine()}, {platform.platform()}")
    print(f"torch   : {torch.__version__}, threads {torch.get_num_threads()}, oneDNN {torch.backends.mkldnn.is_available()}")
    print(f"setting : 256x192 input, batch {args.batch}, ResNet-50 trunk, median of {args.iters} steps after warm-up")
    print()
    header = (f"{'network':22s} {'train orig':>11s} {'train ours':>11s} {'speed-up':>9s} {'eval orig':>10s} {'eval ours':>10s}"
              "  loss orig / ours (first step)")
    print(header)
    print("-" * len(header))
    results = {}
    for name in args.names:
        cfg = load_config(CFG, ["MODEL.NAME", name, "TEST.FLIP_TEST", "false"])
        cfg_ours = load_config(CFG, ["MODEL.NAME", name, "TEST.FLIP_TEST", "false", *SWITCHES])
        torch.manual_seed(0)
        model = build_pose_net(cfg, is_train=False)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        g = torch.Generator().manual_seed(1)
        inputs = torch.randn(args.batch, 3, 256, 192, generator=g)
        target = torch.rand(args.batch, 17, 64, 48, generator=g) * 0.1
        weight = torch.ones(args.batch, 17, 1)
        batch = (inputs, target, weight)

        def fresh() -> nn.Module:  # same weights, default memory format, for every measurement
            # called only in this iteration, so the loop's cfg and state are the ones meant
            m = build_pose_net(cfg, is_train=False)  # noqa: B023
            m.load_state_dict(state)  # noqa: B023
            return m

        orig_train, orig_losses = time_train(fresh(), OriginalJointsMSELoss(), batch, args.iters)
        ours_train, ours_losses = time_train(fresh(), JointsMSELoss(True), batch, args.iters, channels_last=True, bf16=True)
        orig_eval = time_eval(cfg, fresh(), inputs, args.iters)
        ours_eval = time_eval(cfg_ours, fresh(), inputs, args.iters)
        results[name] = (orig_train, ours_train)
        print(
            f"{name:22s} {orig_train:9.2f}/s {ours_train:9.2f}/s {ours_train / orig_train:8.2f}x "
            f"{orig_eval:8.2f}/s {ours_eval:8.2f}/s  {orig_losses[0]:.6f} / {ours_losses[0]:.6f}"
        )
    if "pose_resnet" in results:
        orig, ours = results["pose_resnet"]
        verdict = "PASS" if ours >= 1.3 * orig else "FAIL"
        print()
        print(f"{verdict}: pose_resnet training step {ours:.2f} img/s with our CPU settings against {orig:.2f} img/s "
              "the original's way, measured in this run (target >= 1.3x)")


if __name__ == "__main__":
    main()
