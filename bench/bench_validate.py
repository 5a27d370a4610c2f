"""Where end-to-end validation spends its time: model forward, image decode, and everything else.

    python bench/bench_validate.py [--dataset-root tests/data/coco] [--name pose_resnet] [--repeat 3]

Runs the real ``core.evaluation.validate`` (COCO val2017 of the given root, GT boxes, flip test,
ResNet-50 256x192 from the shipped YAML, random weights — speed does not depend on them) in one
process with ``WORKERS 0`` so that every step is on the clock, and times

* the network's forward passes (plain and flipped) with forward hooks,
* ``cv2.imread`` inside the dataset (the JPEG decode),
* everything else: cropping, normalisation, target generation, loss and accuracy, flip-back,
  post-processing, OKS-NMS, the results file and pycocotools.

Target: everything else must stay at or below 10% of the total.
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
import _init_paths  # noqa: E402, F401  (puts lib/ on sys.path)
import cv2  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from core.config import load_config  # noqa: E402
from core.evaluation import validate  # noqa: E402
from core.loss import JointsMSELoss  # noqa: E402
from dataset import build_dataset, build_transform  # noqa: E402
from models import build_pose_net  # noqa: E402

SHARED = REPO / "tests" / "data"  # the real sample shipped with the repository


class Clock:
    def __init__(self) -> None:
        self.total = 0.0
        self._start = 0.0

    def start(self, *_: object) -> None:
        self._start = time.perf_counter()

    def stop(self, *_: object) -> None:
        self.total += time.perf_counter() - self._start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset-root", default=str(SHARED / "coco"))
    parser.add_argument("--name", default="pose_resnet")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the split (the timings add up)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not Path(args.dataset_root).is_dir():
        print(f"COCO root not found: {args.dataset_root} (pass --dataset-root)")
        return 2
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)

    out = tempfile.mkdtemp(prefix="bench_validate_")
    cfg = load_config(
        REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml",
        ["MODEL.NAME", args.name, "DATASET.ROOT", args.dataset_root, "WORKERS", "0", "TEST.FLIP_TEST", "true",
         "PRINT_FREQ", "100000", "OUTPUT_DIR", out],
    )
    torch.manual_seed(0)
    model = build_pose_net(cfg, is_train=False).eval()
    forward = Clock()
    model.register_forward_pre_hook(forward.start)
    model.register_forward_hook(forward.stop)

    decode = Clock()
    real_imread = cv2.imread

    def timed_imread(*a, **k):
        decode.start()
        try:
            return real_imread(*a, **k)
        finally:
            decode.stop()

    cv2.imread = timed_imread  # the dataset calls cv2.imread through the module attribute
    data = build_dataset(cfg, cfg.DATASET.TEST_SET, False, build_transform())
    loader = DataLoader(data, batch_size=cfg.TEST.BATCH_SIZE, shuffle=False, num_workers=0)
    criterion = JointsMSELoss(True)

    validate(cfg, loader, data, model, criterion, out, out)  # warm-up (allocations, first-call costs)
    forward.total = decode.total = 0.0
    start = time.perf_counter()
    for _ in range(args.repeat):
        validate(cfg, loader, data, model, criterion, out, out)
    total = time.perf_counter() - start
    cv2.imread = real_imread

    other = total - forward.total - decode.total
    print(f"machine  : {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    print(f"workload : {len(data)} people x {args.repeat} passes, {args.name} R50 256x192, flip test, WORKERS 0")
    print(f"total    : {total:8.3f} s")
    print(f"forward  : {forward.total:8.3f} s  ({100 * forward.total / total:5.1f}%)")
    print(f"decode   : {decode.total:8.3f} s  ({100 * decode.total / total:5.1f}%)")
    print(f"other    : {other:8.3f} s  ({100 * other / total:5.1f}%)")
    verdict = "PASS" if other <= 0.10 * total else "FAIL"
    print(f"{verdict}: time outside forward and decode is {100 * other / total:.1f}% of validation (target <= 10%)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
