"""Measured effect of the opt-in accuracy options on the synthetic benchmark.

    python bench/bench_accuracy_options.py [--epochs 3] [--num-train 1000] [--num-val 200] [--out output/bench_accuracy]

Generates the synthetic COCO-layout data (``tools/gen_synthetic_data.py``, seed 0) unless it is
already in ``<out>/data``, then trains the quick-start network
(``experiments/synthetic/res18_128x96_quickstart.yaml``, seed 0, ``--epochs`` epochs with the LR
divided by 10 for the last one) three times: the original recipe, ``MODEL.EXTRA.TARGET_TYPE udp``
and ``LOSS.USE_OHKM true`` (``LOSS.TOPK 8``). Every final model (``final_state.pth.tar``) is
validated with pycocotools keypoint AP on the synthetic val2017 split; the original-recipe model
also with ``TEST.DARK true`` and with detector boxes (the synthetic detection file) under OKS-NMS
and under ``TEST.SOFT_NMS true``. Prints one Markdown table (AP, AP .5, AP .75).

The training is short so that it fits on a shared 2-core CPU; the AP differences of such
under-trained models are small and noisy (one seed) - read them as "what this run measured".
"""
from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))
sys.path.insert(0, str(REPO / "pose_estimation"))

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from core.config import load_config  # noqa: E402
from core.function import validate  # noqa: E402
from core.loss import build_loss  # noqa: E402
from dataset import build_dataset, build_transform  # noqa: E402
from models import build_pose_net  # noqa: E402
from utils.checkpoint import load_model_weights  # noqa: E402

YAML = REPO / "experiments/synthetic/res18_128x96_quickstart.yaml"
DET_FILE = "person_detection_results/COCO_val2017_detections_AP_H_56_person.json"

TRAINED = {  # name -> training overrides
    "original": [],
    "UDP": ["MODEL.EXTRA.TARGET_TYPE", "udp"],
    "OHKM (top-8)": ["LOSS.USE_OHKM", "true", "LOSS.TOPK", "8"],
}
DECODED = [  # (trained model, row label, validation overrides)
    ("original", "original (GT boxes)", []),
    ("original", "+ DARK, kernel 11 (GT boxes)", ["TEST.DARK", "true"]),
    ("original", "detector boxes, OKS-NMS", ["TEST.USE_GT_BBOX", "false"]),
    ("original", "detector boxes, soft OKS-NMS", ["TEST.USE_GT_BBOX", "false", "TEST.SOFT_NMS", "true"]),
    ("UDP", "trained with UDP (GT boxes)", []),
    ("UDP", "trained with UDP + DARK (GT boxes)", ["TEST.DARK", "true"]),
    ("OHKM (top-8)", "trained with OHKM (GT boxes)", []),
]


def base_opts(root: Path, out: Path, epochs: int) -> list[str]:
    return ["DATASET.ROOT", str(root), "TEST.COCO_BBOX_FILE", str(root / DET_FILE), "OUTPUT_DIR", str(out),
            "TRAIN.END_EPOCH", str(epochs), "TRAIN.LR_STEP", f"[{max(epochs - 1, 1)}]", "PRINT_FREQ", "1000"]


def train(opts: list[str]) -> Path:
    """Train in a child process (the real entry point); returns the final-state file."""
    cmd = [sys.executable, str(REPO / "pose_estimation/train.py"), "--cfg", str(YAML), *opts]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
    cfg = load_config(YAML, opts)
    run_dir = Path(cfg.OUTPUT_DIR) / "coco" / f"{cfg.MODEL.NAME}_{cfg.MODEL.EXTRA.NUM_LAYERS}" / YAML.stem
    final = run_dir / "final_state.pth.tar"
    if not final.is_file():
        raise RuntimeError(f"training did not write {final}:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return final


def evaluate(opts: list[str], model_file: Path, work: Path) -> dict:
    cfg = load_config(YAML, [*opts, "WORKERS", "1"])
    model = build_pose_net(cfg, is_train=False)
    load_model_weights(model, str(model_file))
    model.eval()
    dataset = build_dataset(cfg, cfg.DATASET.TEST_SET, False, build_transform())
    loader = DataLoader(dataset, batch_size=cfg.TEST.BATCH_SIZE, num_workers=cfg.WORKERS)
    work.mkdir(parents=True, exist_ok=True)
    stats: dict = {}
    evaluate_split = dataset.evaluate

    def capture(*a, **k):  # keep the dataset's (name, value) table: AP, Ap .5, AP .75, ...
        name_values, perf = evaluate_split(*a, **k)
        stats.update(dict(name_values))
        return name_values, perf

    dataset.evaluate = capture
    stats["AP"] = validate(cfg, loader, dataset, model, build_loss(cfg), str(work), str(work), None, is_main=True)
    return stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--num-train", type=int, default=1000)
    parser.add_argument("--num-val", type=int, default=200)
    parser.add_argument("--out", default=str(REPO / "output/bench_accuracy"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)

    out = Path(args.out).resolve()
    data = out / "data"
    root = data / "coco"
    if not (root / "annotations").is_dir():
        subprocess.run([sys.executable, str(REPO / "tools/gen_synthetic_data.py"), "--out", str(data), "--format", "coco",
                        "--seed", "0", "--num-train", str(args.num_train), "--num-val", str(args.num_val)],
                       check=True, cwd=REPO)
    rows = []
    for name, extra in TRAINED.items():  # train one model, then validate its rows (partial runs still report)
        t0 = time.perf_counter()
        run_out = out / "runs" / name.split()[0].lower()
        model_file = train(base_opts(root, run_out, args.epochs) + extra)
        print(f"trained {name}: {time.perf_counter() - t0:.0f} s", flush=True)
        for model_name, label, val_opts in DECODED:
            if model_name != name:
                continue
            opts = base_opts(root, run_out, args.epochs) + extra + val_opts
            stats = evaluate(opts, model_file, run_out / "valid" / label.replace(" ", "_").replace(",", ""))
            rows.append((label, stats))
            print(f"{label}: " + ", ".join(f"{k} {v:.3f}" for k, v in stats.items()), flush=True)

    keys = [k for k in ("AP", "Ap .5", "AP .75") if all(k in s for _, s in rows)]
    print(f"\n{args.epochs} epochs, {args.num_train} training images, seed 0\n")
    print("| variant | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for label, stats in rows:
        print(f"| {label} | " + " | ".join(f"{stats[k]:.3f}" for k in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
