"""Benchmark: PCK / EPE / NME (``core.keypoint_metrics``) on 100k people, against the target "well under
a second".

Inputs: N people of K joints (default 100 000 x 17, float32 predictions as validation produces them,
float64 GT), 70 % of the joints labelled, box sizes 40-400 px, predictions off by ~8 px. Times
``keypoint_scores`` with the box-size NME and with ``TEST.NME_KEYPOINTS``-style joint-pair NME, and
the detector-box matching (``match_by_image``) of the same people spread over N/3 images. Reports the
median seconds per call, the machine and the thread settings, and PASS/FAIL for the metric target
(< 0.5 s for 100k people; the matching is listed for information).

    OMP_NUM_THREADS=1 python bench/bench_keypoint_metrics.py [--people 100000] [--joints 17]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import _init_paths  # noqa: F401  (puts lib/ on sys.path)
import numpy as np

from core.keypoint_metrics import keypoint_scores, match_by_image

TARGET_SECONDS = 0.5


def median_s(fn, repeats: int) -> tuple[float, float]:
    """Median wall and CPU (this process) seconds of one call; on a loaded machine wall > CPU."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--joints", type=int, default=17)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    n, k = args.people, args.joints
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 640, (n, k, 3))
    pred = (gt + rng.normal(0, 8, (n, k, 3))).astype(np.float32)
    labelled = rng.random((n, k)) < 0.7
    box = rng.uniform(40, 400, n)
    images = rng.integers(0, max(1, n // 3), n)

    t_box = median_s(lambda: keypoint_scores(pred, gt, labelled, box, 0.2), args.repeats)
    t_pair = median_s(lambda: keypoint_scores(pred, gt, labelled, box, 0.2, (1, 2)), args.repeats)
    t_match = median_s(lambda: match_by_image(images, pred, images, gt, labelled, box), 1)
    s = keypoint_scores(pred, gt, labelled, box, 0.2)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, numpy {np.__version__}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{n} people x {k} joints ({int(labelled.sum())} labelled): PCK@0.2 {s.pck:.3f}, EPE {s.epe:.2f} px, "
          f"NME {s.nme:.4f}")
    print(f"keypoint_scores, NME by box size:       {t_box[0]:.3f} s wall, {t_box[1]:.3f} s CPU (median of {args.repeats})")
    print(f"keypoint_scores, NME by a joint pair:   {t_pair[0]:.3f} s wall, {t_pair[1]:.3f} s CPU (median of {args.repeats})")
    print(f"match_by_image (detector boxes), {n // 3} images: {t_match[0]:.3f} s wall, {t_match[1]:.3f} s CPU "
          "(one call, for information)")
    ok = max(t_box[0], t_pair[0]) < TARGET_SECONDS
    print(f"{'PASS' if ok else 'FAIL'}: target < {TARGET_SECONDS} s for {n} people")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
