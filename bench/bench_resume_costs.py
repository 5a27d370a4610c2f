"""Two costs that train.py's start-up messages and the README quote.

    OMP_NUM_THREADS=1 python bench/bench_resume_costs.py [--mb 238] [--layers 50] [--batch 2] [--iters 3]

1. The data identity of a checkpoint hashes each annotation file once per start
   (``utils.data_identity``): the time of SHA-256 over a file of ``--mb`` MB (COCO's
   ``person_keypoints_train2017.json`` is 238 MB), read in 4 MiB chunks as there, second read
   (the file in the page cache, as after pycocotools has read it once).
2. fp16 against bf16 autocast for a training iteration on the CPU (``pose_resnet`` with
   ``--layers``, 256x192 input, Adam, the fp16 step through ``torch.amp.GradScaler('cpu')``): the
   median of ``--iters`` iterations after one warm-up. Prints one line per precision and the ratio.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
import _init_paths  # noqa: E402, F401  (puts lib/ on sys.path)


def hash_seconds(megabytes: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "annotations.json"
        with open(path, "wb") as f:
            for _ in range(megabytes):
                f.write(os.urandom(1_000_000))
        times = []
        for _ in range(2):
            start = time.perf_counter()
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(4 << 20):
                    digest.update(chunk)
            times.append(time.perf_counter() - start)
        return times[-1]


def iteration_seconds(layers: int, batch: int, iters: int) -> dict[str, float]:
    import torch

    from core.config import load_config
    from core.training import backward_and_step
    from models import build_pose_net

    cfg = load_config(REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml",
                      ["MODEL.PRETRAINED", "", "MODEL.EXTRA.NUM_LAYERS", str(layers)])
    model = build_pose_net(cfg, is_train=False).train()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(batch, 3, 256, 192)
    out = {}
    for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        scaler = torch.amp.GradScaler("cpu") if dtype == torch.float16 else None
        times = []
        for _ in range(iters + 1):
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=dtype):
                loss = model(x).float().square().mean()
            backward_and_step(loss, optimizer, scaler)  # the training loop's step
            times.append(time.perf_counter() - start)
        out[name] = statistics.median(times[1:])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=238)
    parser.add_argument("--layers", type=int, default=50)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--iters", type=int, default=3)
    args = parser.parse_args()
    print(f"sha256 of a {args.mb} MB file: {hash_seconds(args.mb):.2f} s")
    times = iteration_seconds(args.layers, args.batch, args.iters)
    for name, seconds in times.items():
        print(f"{name} training iteration (ResNet-{args.layers} 256x192, batch {args.batch}): {seconds:.2f} s")
    print(f"fp16 / bf16: {times['fp16'] / times['bf16']:.1f}x")


if __name__ == "__main__":
    main()
