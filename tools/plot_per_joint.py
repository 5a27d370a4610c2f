"""Draw the per-joint validation table (``per_joint_<set>.json``, written by validation) as bars.

    python tools/plot_per_joint.py output/coco/<model>/<cfg>/results/per_joint_val2017.json [--out joints.png]

COCO-format sets store the per-joint OKS term (0..1), or without OKS sigmas the per-joint PCK (0..1),
MPII the per-joint PCKh@0.5 (%); see ``lib/dataset/per_joint.py``.
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


def plot_per_joint(table_file: str | Path, out_file: str | Path) -> Path:
    data = read_json(table_file, "per-joint table written by validation")
    rows = data.get("joints") if isinstance(data, dict) else None
    if not (isinstance(rows, list) and rows and all(
            isinstance(row, dict) and "name" in row and (row.get("value") is None or isinstance(row["value"], (int, float)))
            for row in rows)):
        raise InputFileError(f"{table_file}: expected {{'metric': ..., 'joints': [{{'name', 'value', 'count'}}, ...]}}")
    names = [row["name"] for row in data["joints"]]
    values = [row["value"] if row["value"] is not None else 0.0 for row in data["joints"]]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.4 * len(names) + 1.5), 3.5), dpi=100)
    ax.bar(range(len(names)), values, color="tab:blue")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel(data.get("metric", "value"))
    ax.set_title(f"per-joint {data.get('metric', '')}")
    fig.tight_layout()
    return save_figure(fig, out_file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Bar chart of a per-joint validation table.")
    parser.add_argument("table", help="per_joint_<set>.json")
    parser.add_argument("--out", default=None,
                        help="picture to write; its suffix picks the format (.png, .pdf, .svg, ...); "
                             "default: a .png beside the table")
    args = parser.parse_args(argv)
    out = args.out or str(Path(args.table).with_suffix(".png"))
    if image_suffix_problem(out):
        parser.error(f"argument --out: {image_suffix_problem(out)}")
    print(plot_per_joint(args.table, out))
    return 0


if __name__ == "__main__":
    run_cli(main)
