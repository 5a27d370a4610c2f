"""Time of one optimizer step for a config's network: torch's default kernel vs ``TRAIN.FUSED_OPTIMIZER``.

    python bench/bench_optimizer_step.py [--cfg YAML] [--threads 2] [--iters 20]

The default (what the original runs) updates the parameters one tensor at a time in small ops;
the fused kernel does the same update rule in one vectorised pass. Random gradients; the step's
time does not depend on them. Prints milliseconds per ``optimizer.step()`` for Adam and for SGD
(momentum, weight decay), with the machine and thread count.
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
import _init_paths  # noqa: E402, F401  (puts lib/ on sys.path)

from core.config import load_config  # noqa: E402
from models import build_pose_net  # noqa: E402
from utils.utils import get_optimizer  # noqa: E402


def ms_per_step(cfg, params: list[torch.nn.Parameter], iters: int) -> float:
    optimizer = get_optimizer(cfg, _Holder(params))
    for _ in range(3):  # the first steps allocate the state
        optimizer.step()
    start = time.perf_counter()
    for _ in range(iters):
        optimizer.step()
    return (time.perf_counter() - start) / iters * 1e3


class _Holder(torch.nn.Module):
    """A module whose parameters are the given ones (what get_optimizer reads)."""

    def __init__(self, params: list[torch.nn.Parameter]) -> None:
        super().__init__()
        self.params = torch.nn.ParameterList(params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", default=str(REPO / "experiments/synthetic/res18_128x96_quickstart.yaml"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = build_pose_net(load_config(args.cfg), is_train=False)
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    print(f"{platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}")
    print(f"{Path(args.cfg).name}: {sum(p.numel() for p in params) / 1e6:.1f} M parameters in {len(params)} tensors")
    for name in ("adam", "sgd"):
        row = []
        for fused in ("false", "true"):
            cfg = load_config(args.cfg, ["TRAIN.OPTIMIZER", name, "TRAIN.FUSED_OPTIMIZER", fused])
            row.append(ms_per_step(cfg, params, args.iters))
        print(f"{name:5s} step: default {row[0]:6.1f} ms   TRAIN.FUSED_OPTIMIZER {row[1]:6.1f} ms   "
              f"({row[0] / row[1]:.1f}x)")


if __name__ == "__main__":
    main()
