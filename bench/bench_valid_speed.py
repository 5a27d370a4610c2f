"""``valid.py`` end to end, float32 (the original) against ``TEST.AMP true TEST.CHANNELS_LAST true``.

    python bench/bench_valid_speed.py [--threads 2] [--repeat 2] [--num-val 300]

What it measures, in one run on this machine:

1. **Speed.** The real ``pose_estimation/valid.py`` as a user runs it (a new process each time:
   start-up, model load, data loading, inference, OKS-NMS, results file and pycocotools all on the
   clock) for a ResNet-50 ``pose_resnet`` at 256x192 with the flip test, on a synthetic COCO-layout
   val2017 split with about 600 detector boxes (``tools/gen_synthetic_data.py --num-val 300``),
   ``OMP_NUM_THREADS=--threads``. The weights are the seeded random initialisation (``--model-file``
   for others): the time does not depend on them. The two settings alternate (A B A B ...) so that
   a drift of the machine hits both; every run is printed, and the ratio of the medians.
2. **Same people, close scores.** A random network gives every person the score 0, and no trained
   ResNet-50 can be had here (no downloads; training one takes days on a CPU), so this part uses
   the model ``make quickstart`` trained (ResNet-18, 128x96): ``valid.py`` with the detector boxes
   of the same split and the flip test, float32 against the switches. The two results files are
   matched person by person on ``(image_id, center, scale)`` (the detector box): people found by one
   setting only are counted, the largest joint-score difference is printed, and the relative
   difference of the person scores is summarised, over everyone and over the people none of whose
   joint scores changes side of ``TEST.IN_VIS_THRE`` (a joint counted by one setting only moves
   the person score by a step, see ``_compare_people``).
3. **Quickstart AP.** The same model on its own YAML (ground-truth boxes, no flip test), float32
   against the switches (the YAML's other settings, DARK included, as they are).
4. **Batched flip.** One batch of 2N (plain and mirrored crops, what the switches do on CUDA)
   against two batches of N (what they do on the CPU), ResNet-50, bf16 + channels-last.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
import _init_paths  # noqa: E402, F401  (puts lib/ on sys.path)

from core.results import read_keypoint_results  # noqa: E402

PY = sys.executable
YAML = REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml"
QUICKSTART_YAML = REPO / "experiments/synthetic/res18_128x96_quickstart.yaml"
QUICKSTART_MODEL = REPO / "output/coco/pose_resnet_18/res18_128x96_quickstart/model_best.pth.tar"
SWITCHES = ["TEST.AMP", "true", "TEST.CHANNELS_LAST", "true"]
FLOAT32 = ["TEST.AMP", "false", "TEST.CHANNELS_LAST", "false"]  # the quickstart YAML turns the switches on
DETECTIONS = "person_detection_results/COCO_val2017_detections_AP_H_56_person.json"


def _run(cmd: list[str], env: dict[str, str], log: Path) -> float:
    """Run ``cmd``; its output goes to ``log``. Returns the wall time; a failure prints the log's tail."""
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed (exit {proc.returncode}): {' '.join(cmd)}\n{log.read_text()[-3000:]}")
    return elapsed


def _ap(log: Path) -> float:
    """The AP column of the metrics table that valid.py logs."""
    lines = log.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("| Arch"):
            return float(lines[i + 2].split("|")[2])
    sys.exit(f"no metrics table in {log}")


def _people(results: Path) -> dict[tuple, tuple[float, list[float]]]:
    """(person score, joint scores) by detector box: ``(image_id, center, scale)`` rounded to 1e-3."""
    people = {}
    for r in read_keypoint_results(results):
        key = (r["image_id"], *(round(v, 3) for v in r["center"]), *(round(v, 3) for v in r["scale"]))
        people[key] = (r["score"], r["keypoints"][2::3])
    return people


def _compare_people(a: dict, b: dict, in_vis_thre: float) -> None:
    """Print how the people and their scores of two results files (float32 ``a``, switches ``b``) agree.

    A person's score is the mean of its joint scores above ``TEST.IN_VIS_THRE`` times the box score
    (COCO evaluation's rescoring, ``dataset.coco.rescore``): a joint score that lies within rounding of
    the threshold is counted by one setting and not the other, which moves the person score by a step.
    Such people are reported apart.
    """
    matched = sorted(set(a) & set(b))
    print(f"  people float32 {len(a)}, switches {len(b)}, in both {len(matched)}, "
          f"only float32 {len(set(a) - set(b))}, only switches {len(set(b) - set(a))}")
    joint_diff = max(abs(x - y) for k in matched for x, y in zip(a[k][1], b[k][1]))
    print(f"  joint scores: largest difference {joint_diff:.4f}")

    def counted(joints):
        return [j > in_vis_thre for j in joints]

    crossing = {k for k in matched if counted(a[k][1]) != counted(b[k][1])}
    rel = {k: abs(b[k][0] - a[k][0]) / abs(a[k][0]) for k in matched if a[k][0] != 0}
    if not rel:
        return
    values = sorted(rel.values())
    print(f"  person score relative difference over {len(values)} people: median {statistics.median(values) * 100:.2f}%, "
          f"95th percentile {values[int(0.95 * (len(values) - 1))] * 100:.2f}%, max {values[-1] * 100:.2f}%")
    steady = sorted(v for k, v in rel.items() if k not in crossing)
    print(f"  people with a joint score on the other side of TEST.IN_VIS_THRE ({in_vis_thre}): {len(crossing)}"
          + (f" (their score differences: {', '.join(f'{rel[k] * 100:.2f}%' for k in sorted(crossing) if k in rel)})"
             if crossing else "")
          + (f"; over the other {len(steady)}: max {steady[-1] * 100:.2f}%" if steady else ""))


def _ensure_data(work: Path, num_val: int, env: dict[str, str]) -> Path:
    root = work / "data"
    if not (root / "coco" / DETECTIONS).is_file():
        print(f"generating the synthetic data ({num_val} val images) in {root} ...", flush=True)
        _run([PY, "tools/gen_synthetic_data.py", "--out", str(root), "--format", "coco", "--num-val", str(num_val)],
             env, work / "gen.log")
    return root / "coco"


def _random_weights(work: Path) -> Path:
    """The seeded random initialisation of the ResNet-50 ``pose_resnet``, saved as a weight file."""
    path = work / "resnet50_random_init.pth"
    if not path.is_file():
        import torch

        from models import build_pose_net

        torch.manual_seed(0)
        model = build_pose_net(_resnet50_cfg(), is_train=False)
        torch.save(model.state_dict(), path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each setting (alternating)")
    parser.add_argument("--num-val", type=int, default=300, help="synthetic val images (about 2 boxes each)")
    parser.add_argument("--model-file", default="", help="ResNet-50 256x192 pose_resnet weights (default: random)")
    parser.add_argument("--work", default=str(REPO / "output" / "bench_valid_speed"))
    args = parser.parse_args()

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONUNBUFFERED="1")
    coco = _ensure_data(work, args.num_val, env)
    model = Path(args.model_file) if args.model_file else _random_weights(work)
    boxes = len(json.loads((coco / DETECTIONS).read_text()))

    import torch  # after the subprocesses' set-up, so that its thread pool does not matter to them

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{args.threads} threads per valid.py; Python {platform.python_version()}, torch {torch.__version__}")
    print(f"valid.py: ResNet-50 pose_resnet 256x192, flip test, {boxes} detector boxes, weights {model}\n")

    settings = {"float32": FLOAT32, "bf16 + channels-last": SWITCHES}
    detector_boxes = ["DATASET.ROOT", str(coco), "TEST.FLIP_TEST", "true", "TEST.USE_GT_BBOX", "false",
                      "TEST.COCO_BBOX_FILE", str(coco / DETECTIONS)]

    def valid(yaml: Path, weights: Path, name: str, opts: list[str]) -> tuple[float, Path]:
        """valid.py on ``yaml`` with ``weights`` into ``work/<name>``: wall time and the log."""
        log = work / f"{name}.log"
        seconds = _run([PY, "pose_estimation/valid.py", "--cfg", str(yaml), "--gpus", "cpu", "--model-file",
                        str(weights), "OUTPUT_DIR", str(work / name), "LOG_DIR", str(work / "valid_log"), *opts],
                       env, log)
        return seconds, log

    resnet50 = ["MODEL.NAME", "pose_resnet", "MODEL.PRETRAINED", "", "WORKERS", "2", *detector_boxes]
    times: dict[str, list[float]] = {name: [] for name in settings}
    for rep in range(args.repeat):
        for i, (name, extra) in enumerate(settings.items()):
            times[name].append(valid(YAML, model, f"valid_{i}", resnet50 + extra)[0])
            print(f"  run {rep + 1} {name:22s} {times[name][-1]:6.1f} s", flush=True)
    base, fast = (statistics.median(t) for t in times.values())
    print(f"valid.py end to end: float32 {base:.1f} s, switches {fast:.1f} s (medians of {args.repeat}): "
          f"{base / fast:.2f}x")

    _batched_flip(args.threads, torch)

    if not QUICKSTART_MODEL.is_file():
        print(f"\nquickstart model not found ({QUICKSTART_MODEL}): run `make quickstart` for the accuracy part")
        return 0
    print(f"\nthe quickstart's model ({QUICKSTART_MODEL.relative_to(REPO)}), float32 vs switches:")
    people = {}
    for i, (name, extra) in enumerate(settings.items()):
        valid(QUICKSTART_YAML, QUICKSTART_MODEL, f"quickstart_det_{i}", detector_boxes + extra)
        people[name] = _people(next((work / f"quickstart_det_{i}").rglob("keypoints_val2017_results.json")))
    print(f"  detector boxes ({boxes}), flip test:")
    _compare_people(*people.values(), in_vis_thre=_in_vis_thre())
    aps = [_ap(valid(QUICKSTART_YAML, QUICKSTART_MODEL, f"quickstart_{i}", extra)[1])
           for i, extra in enumerate(settings.values())]
    print(f"  its own YAML (GT boxes, no flip test, DARK): synthetic AP float32 {aps[0]:.3f}, switches {aps[1]:.3f}, "
          f"difference {aps[1] - aps[0]:+.3f}")
    return 0


def _resnet50_cfg():
    """The ResNet-50 ``pose_resnet`` 256x192 config the speed runs use (no ImageNet file)."""
    from core.config import load_config

    return load_config(YAML, ["MODEL.NAME", "pose_resnet", "MODEL.PRETRAINED", ""])


def _in_vis_thre() -> float:
    from core.config import load_config

    return float(load_config(QUICKSTART_YAML).TEST.IN_VIS_THRE)


def _batched_flip(threads: int, torch) -> None:
    """Forward time of one batch of 2N (plain + mirrored) against two batches of N, with the switches."""
    from models import build_pose_net

    torch.set_num_threads(threads)
    cfg = _resnet50_cfg()
    model = build_pose_net(cfg, is_train=False).eval().to(memory_format=torch.channels_last)
    n = int(cfg.TEST.BATCH_SIZE)
    x = torch.randn(n, 3, 256, 192).contiguous(memory_format=torch.channels_last)
    xf = torch.flip(x, dims=[3]).contiguous(memory_format=torch.channels_last)
    both = torch.cat([x, xf]).contiguous(memory_format=torch.channels_last)

    def timed(fn) -> float:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            fn()
            runs = []
            for _ in range(3):
                start = time.perf_counter()
                fn()
                runs.append(time.perf_counter() - start)
        return statistics.median(runs)

    one = timed(lambda: model(both))
    two = timed(lambda: (model(x), model(xf)))
    print(f"\nflip test, bf16 + channels-last, TEST.BATCH_SIZE {n}: one batch of {2 * n} {one:.2f} s, "
          f"two batches of {n} {two:.2f} s ({two / one:.2f}x)")


if __name__ == "__main__":
    sys.exit(main())
