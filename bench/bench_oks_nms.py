"""Benchmark: compiled OKS-NMS (``nms.oks_nms``) vs the original pure-NumPy one (``oks_nms_numpy``).

Inputs mimic one COCO image at test time: N candidate poses (17 joints, float32 keypoints and areas
as produced by the validation loop) jittered around a few people, areas 1e4-1e5 px^2, OKS_THRE 0.9.
Reports the median milliseconds per call, the speed-up, whether the kept indices are identical, and
PASS/FAIL for the target "compiled >= 10x faster at 500 candidates".

    python bench/bench_oks_nms.py            # after `make -C lib`
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable, Dict, List

import _init_paths  # noqa: F401  (puts lib/ on sys.path)
import numpy as np

from nms import nms as nms_mod

TARGET_SPEEDUP = 10.0
TARGET_N = 500


def make_candidates(n: int, rng: np.random.Generator) -> List[Dict[str, Any]]:
    """n candidate poses around max(2, sqrt(n)/2) people; each a dict like the COCO evaluation's."""
    people = max(2, int(round(np.sqrt(n) / 2)))
    person_area = rng.uniform(1e4, 1e5, people)
    side = np.sqrt(person_area)
    centre = rng.uniform(200, 800, (people, 2))
    pose = centre[:, None, :] + rng.uniform(-0.5, 0.5, (people, 17, 2)) * side[:, None, None]
    owner = rng.integers(0, people, n)
    # Jitter of 0.5-8 % of the person size: close duplicates get suppressed at OKS 0.9, others survive.
    jitter = rng.uniform(0.005, 0.08, n) * side[owner]
    kpts = np.empty((n, 17, 3), dtype=np.float32)
    kpts[:, :, :2] = pose[owner] + rng.normal(0, 1, (n, 17, 2)) * jitter[:, None, None]
    kpts[:, :, 2] = rng.uniform(0.05, 0.95, (n, 17))
    areas = (person_area[owner] * rng.uniform(0.8, 1.25, n)).astype(np.float32)
    scores = rng.uniform(0.1, 1.0, n)
    return [{"score": float(scores[i]), "keypoints": kpts[i], "area": areas[i]} for i in range(n)]


def median_ms(fn: Callable[[], Any], min_repeats: int, min_seconds: float) -> float:
    """Median wall time of one call in ms, over at least min_repeats calls and min_seconds."""
    fn()  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def machine_info() -> List[str]:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    u = platform.uname()
    return [
        f"machine : {cpu or 'unknown CPU'} ({u.machine}), {u.system} {u.release}",
        f"python  : {platform.python_version()}   numpy {np.__version__}   torch {torch_version}",
        f"threads : os.cpu_count() = {os.cpu_count()}; both implementations run single-threaded "
        "(a Python loop over NumPy element-wise ops vs one C loop, no OpenMP/BLAS)",
        f"kernel  : compiled extension built = {nms_mod.HAVE_CYTHON_NMS}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100, TARGET_N])
    parser.add_argument("--thresh", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-seconds", type=float, default=2.0, help="time budget per measurement")
    args = parser.parse_args()

    for line in machine_info():
        print(line)
    if not nms_mod.HAVE_CYTHON_NMS:
        print("FAIL: compiled extension not built - run `make -C lib` first")
        return 1

    rng = np.random.default_rng(args.seed)
    print(f"\nOKS-NMS, 17 joints, thresh {args.thresh}, median ms per call")
    print(f"{'N':>6} {'kept':>6} {'numpy ms':>10} {'compiled ms':>12} {'speed-up':>9} {'same keep':>10}")
    all_same, speedups = True, {}
    for n in args.sizes:
        db = make_candidates(n, rng)
        ref = nms_mod.oks_nms_numpy(db, args.thresh)
        got = nms_mod.oks_nms(db, args.thresh)
        same = got == ref
        all_same &= same
        # the lambdas run inside median_ms, in this iteration (B023 cannot see that)
        t_np = median_ms(lambda: nms_mod.oks_nms_numpy(db, args.thresh), 5, args.min_seconds)  # noqa: B023
        t_c = median_ms(lambda: nms_mod.oks_nms(db, args.thresh), 20, args.min_seconds)  # noqa: B023
        speedups[n] = t_np / t_c
        print(f"{n:>6} {len(ref):>6} {t_np:>10.3f} {t_c:>12.4f} {speedups[n]:>8.1f}x {str(same):>10}")

    ok = all_same
    if TARGET_N in speedups:
        passed = speedups[TARGET_N] >= TARGET_SPEEDUP
        ok &= passed
        print(f"\n{'PASS' if passed else 'FAIL'}: compiled OKS-NMS is {speedups[TARGET_N]:.1f}x faster than "
              f"NumPy at {TARGET_N} candidates (target >= {TARGET_SPEEDUP:.0f}x)")
    print(f"{'PASS' if all_same else 'FAIL'}: kept indices identical for every size")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
