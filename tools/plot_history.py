"""Plot training loss and the validation score (AP, PCK@0.2 or PCKh) per epoch from a run's ``history.json``.

    python tools/plot_history.py output/coco/pose_resnet_18/<cfg>/history.json [--out curves.png]

The score is each entry's ``perf``; its label is the name that the entries' ``metrics`` (the
validation's results table) give that value, e.g. ``val AP`` or ``val PCK@0.2`` (``--metric`` overrides).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed
import _init_paths  # noqa: F401  (puts lib/ on sys.path)
import matplotlib.pyplot as plt

from utils.cli import InputFileError, read_json, run_cli
from utils.figures import image_suffix_problem, save_figure

HISTORY = "history.json written by pose_estimation/train.py"


def score_name(history: list[dict]) -> str | None:
    """The name of ``perf`` in the entries' results tables (``AP``, ``PCK@0.2``, ``Mean``), or None
    (a history written before the tables were recorded)."""
    for h in history:
        table = h.get("metrics")
        if h.get("perf") is not None and isinstance(table, dict):
            names = [name for name, value in table.items() if value == h["perf"]]
            if names:
                return names[0]
    return None


def plot_history(history_file: str | Path, out_file: str | Path, metric_name: str | None = None) -> Path:
    history = read_json(history_file, HISTORY)
    if not isinstance(history, list) or not all(
        isinstance(h, dict) and isinstance(h.get("epoch"), int) and isinstance(h.get("train_loss"), (int, float))
        and (h.get("perf") is None or isinstance(h["perf"], (int, float)))
        for h in history
    ):
        raise InputFileError(f"{history_file}: expected a list of {{'epoch': int, 'train_loss': number, 'perf': number "
                             f"or null, ...}}, one per epoch (the {HISTORY})")
    if not history:
        raise InputFileError(f"{history_file}: no epochs recorded yet")
    if metric_name is None:
        name = score_name(history)
        metric_name = f"val {name}" if name else "val score"
    epochs = [h["epoch"] for h in history]
    fig, ax_loss = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", color="tab:blue", label="train loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("train loss (JointsMSE)", color="tab:blue")
    ax_perf = ax_loss.twinx()
    scored = [h for h in history if h.get("perf") is not None]  # TRAIN.VALIDATE_EVERY > 1 skips epochs
    ax_perf.plot([h["epoch"] for h in scored], [h["perf"] for h in scored], "s-", color="tab:red", label=metric_name)
    ax_perf.set_ylabel(metric_name, color="tab:red")
    ax_perf.set_ylim(0, max([1.0] + [h["perf"] for h in scored]))
    ax_loss.set_title("training loss and validation score per epoch")
    fig.tight_layout()
    return save_figure(fig, out_file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("history", help=HISTORY)
    parser.add_argument("--out", default=None,
                        help="picture to write; its suffix picks the format (.png, .pdf, .svg, ...); "
                             "default: curves.png beside the history")
    parser.add_argument("--metric", default=None,
                        help="label of the validation score; default: its name in the history "
                             "(val AP, val PCK@0.2, ...), else 'val score'")
    args = parser.parse_args(argv)
    out = args.out or Path(args.history).with_name("curves.png")
    if image_suffix_problem(out):
        parser.error(f"argument --out: {image_suffix_problem(out)}")
    print(plot_history(args.history, out, args.metric))
    return 0


if __name__ == "__main__":
    run_cli(main)
