"""Pictures of training / validation samples as the network sees them, to check a new data set.

    python tools/browse_dataset.py --cfg <yaml> [--split train|val] [--num N] [--out DIR] [--seed S] [KEY VALUE ...]

Each picture shows one sample after the data pipeline: the crop of ``MODEL.IMAGE_SIZE`` (with the
training augmentation - scale, rotation, flip, half-body - for ``--split train``; the plain crop of
the annotated box for ``val``), and beside it the same crop under the target heat-maps. The joints are drawn where the
sample has them labelled, with their index and the skeleton of the joint set. Both joints of a flip
pair share one colour: the left one filled, the right one hollow; a joint without a pair is a
diamond. So a wrong ``DATASET.FLIP_PAIRS`` shows as a pair whose colours sit on unrelated joints,
a misread annotation as joints off their places, and a flipped sample still has its filled joints
on the person's left side. Joints that fall outside the crop have no heat-map and are listed in
the title.

Pictures go to ``--out`` (default: ``<output dir of the config>/browse_<split>``) as
``<split>_<k>_<image name>.png``; samples are spread evenly over the split; ``--seed`` fixes the
augmentation. The config is read like the training scripts read it (trailing ``KEY VALUE`` pairs
override it, bad keys are one error line).
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed
import _init_paths  # noqa: F401  (puts lib/ on sys.path)
import matplotlib.pyplot as plt
import numpy as np

from core.config import ConfigError, load_config
from utils.cli import add_opts, run_cli
from utils.figures import save_figure


def joint_groups(num_joints: int, flip_pairs) -> tuple[list[int], list[str]]:
    """Colour group of every joint (a flip pair shares one) and each joint's marker role:
    ``'left'`` / ``'right'`` (first / second joint of a pair) or ``'single'``."""
    group, role = [-1] * num_joints, ["single"] * num_joints
    next_group = 0
    for left, right in flip_pairs:
        group[left] = group[right] = next_group
        role[left], role[right] = "left", "right"
        next_group += 1
    for j in range(num_joints):
        if group[j] < 0:
            group[j] = next_group
            next_group += 1
    return group, role


def _colours(count: int) -> np.ndarray:
    cmap = plt.get_cmap("tab10" if count <= 10 else "tab20" if count <= 20 else "hsv")
    n = cmap.N if count <= 20 else count + 1
    return np.array([cmap(i % n if count <= 20 else i / n)[:3] for i in range(count)])


def _heatmap_overlay(target: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """(h, w, 4) RGBA: every joint's heat-map in its colour; alpha is the strongest map."""
    target = np.clip(target, 0, 1)
    rgb = np.einsum("khw,kc->hwc", target, colours) / np.maximum(target.sum(0), 1e-6)[..., None]
    return np.concatenate([np.clip(rgb, 0, 1), 0.85 * target.max(0)[..., None]], axis=-1)


def draw_sample(crop_rgb: np.ndarray, joints: np.ndarray, labelled: np.ndarray, in_target: np.ndarray,
                target: np.ndarray, keypoints, title: str, out_file: Path) -> Path:
    """One picture: the crop with joints / skeleton / flip-pair colours, and the crop under the heat-maps."""
    k = len(keypoints.names)
    group, role = joint_groups(k, keypoints.flip_pairs)
    colours = _colours(max(group) + 1)[group]
    height, width = crop_rgb.shape[:2]
    scale = max(1.0, 320.0 / max(height, width))  # small crops are drawn larger
    fig, axes = plt.subplots(1, 2, figsize=(2 * width * scale / 100 + 0.4, height * scale / 100 + 1.4), dpi=100)
    for ax in axes:
        ax.imshow(crop_rgb, extent=(-0.5, width - 0.5, height - 0.5, -0.5))
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
        ax.set_xticks([])
        ax.set_yticks([])
    shown = labelled & in_target
    for a, b in keypoints.skeleton:
        if shown[a] and shown[b]:
            axes[0].plot(joints[[a, b], 0], joints[[a, b], 1], color="white", lw=1.5, alpha=0.8, zorder=2)
    for j in np.flatnonzero(shown):
        marker = {"left": "o", "right": "o", "single": "D"}[role[j]]
        axes[0].scatter(joints[j, 0], joints[j, 1], s=46, marker=marker, edgecolors=[colours[j]], linewidths=2.0,
                        facecolors="none" if role[j] == "right" else [colours[j]], zorder=3)
        axes[0].annotate(str(j), (joints[j, 0], joints[j, 1]), xytext=(4, -4), textcoords="offset points",
                         color="white", fontsize=7, zorder=4,
                         bbox=dict(boxstyle="round,pad=0.1", fc=colours[j], ec="none", alpha=0.8))
    # the heat-maps over the crop: heat-map cell (x, y) is centred on crop pixel (x, y) * stride
    h, w = target.shape[1:]
    sx, sy = width / w, height / h
    axes[1].imshow(_heatmap_overlay(target, colours), interpolation="bilinear",
                   extent=(-0.5 * sx, (w - 0.5) * sx, (h - 0.5) * sy, -0.5 * sy))
    axes[0].set_title("joints, skeleton, flip pairs", fontsize=8)
    axes[1].set_title("target heat-maps", fontsize=8)
    pairs = "; ".join(f"{keypoints.names[a]} (filled) / {keypoints.names[b]}" for a, b in keypoints.flip_pairs)
    missing = [keypoints.names[j] for j in np.flatnonzero(labelled & ~in_target)]
    lines = [title, f"flip pairs: {pairs or 'none'}"]
    if missing:
        lines.append("labelled but outside the crop: " + ", ".join(missing))
    fig.suptitle("\n".join(lines), fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out_file)


def _image_label(dataset, idx: int, image: Path) -> str:
    """The sample's image as its annotation file names it: the ``file_name`` (with its sub-folders),
    the image id and, where the set has several categories, the person's category."""
    folder = getattr(dataset, "image_dir", None)
    try:
        name = image.relative_to(folder).as_posix() if folder else image.name
    except ValueError:
        name = image.name
    ids = getattr(dataset, "db_image_ids", None)
    if ids is None or idx >= len(ids):
        return name
    label = f"{name} (image id {int(ids[idx])}"
    cats = getattr(dataset, "db_category_ids", None)
    coco = getattr(dataset, "coco", None)
    if cats is not None and coco is not None and len(set(cats.tolist())) > 1:
        label += f", category {coco.cats.get(int(cats[idx]), {}).get('name', int(cats[idx]))}"
    return label + ")"


def browse(cfg_file: str, split: str = "train", num: int = 8, out_dir: str | Path | None = None, seed: int = 0,
           opts: list[str] | None = None) -> list[Path]:
    """Write ``num`` pictures of the ``split`` samples of ``cfg_file``; the paths written."""
    import cv2
    import torch

    from dataset import build_dataset
    from utils.utils import output_dirs

    if num < 1:
        raise ConfigError(f"--num {num}: expected a number of samples >= 1")
    is_train = split == "train"
    # val: the GT boxes, whatever TEST.USE_GT_BBOX says (detector boxes carry no annotation to show)
    cfg = load_config(cfg_file, list(opts or []) + ([] if is_train else ["TEST.USE_GT_BBOX", "true"]), validate=True)
    image_set = cfg.DATASET.TRAIN_SET if is_train else cfg.DATASET.TEST_SET
    dataset = build_dataset(cfg, image_set, is_train, transform=None)  # the crop itself, uint8
    keypoints = dataset.keypoints
    out_dir = Path(out_dir) if out_dir is not None else output_dirs(cfg, cfg_file)[0] / f"browse_{split}"
    out_dir.mkdir(parents=True, exist_ok=True)
    random.seed(seed)  # the augmentation draws from Python's and NumPy's generators
    np.random.seed(seed)
    torch.manual_seed(seed)
    picks = np.unique(np.linspace(0, len(dataset) - 1, min(num, len(dataset))).round().astype(int))
    written = []
    for k, idx in enumerate(picks.tolist()):
        crop, target, target_weight, meta = dataset[idx]
        crop = np.asarray(crop)
        crop_rgb = crop if dataset.color_rgb else cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        joints = np.asarray(meta["joints"])[:, :2]
        labelled = np.asarray(meta["joints_vis"])[:, 0] > 0
        in_target = np.asarray(target_weight).reshape(-1) > 0
        image = Path(meta["image"])
        title = (f"{split} sample {idx} of {len(dataset)}: {_image_label(dataset, idx, image)}   "
                 f"rotation {float(meta['rotation']):.0f} deg, crop {crop.shape[1]}x{crop.shape[0]}")
        out_file = out_dir / f"{split}_{k:03d}_{image.stem}.png"
        written.append(draw_sample(crop_rgb, joints, labelled, in_target, np.asarray(target), keypoints, title,
                                   out_file))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", required=True, help="experiment YAML")
    parser.add_argument("--split", choices=("train", "val"), default="train",
                        help="train: DATASET.TRAIN_SET with its augmentation; val: DATASET.TEST_SET as validated")
    parser.add_argument("--num", type=int, default=8, help="number of samples (spread over the split)")
    parser.add_argument("--out", default=None, help="folder for the pictures (default: <output dir>/browse_<split>)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the augmentation")
    add_opts(parser)
    args = parser.parse_args(argv)
    for path in browse(args.cfg, args.split, args.num, args.out, args.seed, list(args.opts or [])):
        print(path)
    return 0


if __name__ == "__main__":
    run_cli(main)
