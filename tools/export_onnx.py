#!/usr/bin/env python
"""Export any of the five pose networks to ONNX, with a dynamic batch size.

    python tools/export_onnx.py --cfg X.yaml --model-file ckpt.pth.tar --output model.onnx \
        [--opset 17] [--check] [KEY VALUE ...]

``--opset`` must lie within what the installed PyTorch's TorchScript exporter writes (7 to 20 for
PyTorch 2.x); another value is refused before anything is loaded.

The graph has one input ``input`` of shape (N, 3, H, W) — the normalised crop exactly as the
network sees it in validation (BGR channel order unless ``DATASET.COLOR_RGB``, ToTensor + ImageNet
mean/std; see ``core.api``) with ``[W, H] = MODEL.IMAGE_SIZE`` fixed — and one output ``heatmaps``
(N, J, H/4, W/4). Only N is dynamic. The flip test and the heatmap decoding stay outside the graph
(``core.inference_step.inference_heatmaps``, ``core.inference.get_final_preds``). The model's metadata
records the network name, input size, joint count and the channel order.

``--check`` runs the file with onnxruntime on a random batch of 2 and prints the largest absolute
difference from PyTorch's heatmaps; it fails when that exceeds ``--atol`` (default 1e-4).

The TorchScript exporter (``dynamo=False``) is used: these are plain convolutional networks, and its
``dynamic_axes`` gives the dynamic batch without tracing guards.
"""
from __future__ import annotations

import argparse
import io
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import _init_paths  # noqa: F401  (puts lib/ on sys.path)
import numpy as np
import torch
from torch import nn

from core.config import AttrDict, load_config
from models import build_pose_net
from utils.atomic_io import atomic_path
from utils.checkpoint import load_model_weights
from utils.cli import run_cli

__all__ = ["check_onnx", "export_onnx", "main"]

INPUT_NAME = "input"
OUTPUT_NAME = "heatmaps"
DEFAULT_ATOL = 1e-4


def export_onnx(model: nn.Module, cfg: AttrDict, output: str | Path, opset: int = 17) -> Path:
    """Write ``model`` (built from ``cfg``) to ``output`` with a dynamic batch axis.

    Args:
        model: one of the five networks; put in eval mode and exported on the CPU.
        cfg: its config (``MODEL.IMAGE_SIZE`` [W, H] fixes the input height and width).
        output: the ``.onnx`` file to write (parent folders are created).
        opset: ONNX opset version.

    Returns:
        The written path.
    """
    import onnx

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    width, height = (int(v) for v in cfg.MODEL.IMAGE_SIZE)
    model = model.cpu().eval()
    dummy = torch.zeros(1, 3, height, width)
    buffer = io.BytesIO()  # export to memory so the metadata is added before the one write to disk
    with warnings.catch_warnings():
        # The legacy-exporter notice is expected (we choose it on purpose), and the MRFea input-size
        # check becomes a constant in the trace, which is right because H and W are fixed.
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message=".*The feature will be removed.*")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            model,
            (dummy,),
            buffer,
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=opset,
            do_constant_folding=True,
        )
    proto = onnx.load_model_from_string(buffer.getvalue())
    _add_metadata(proto, cfg)
    with atomic_path(output) as tmp:  # checked before it replaces ``output``; a failure leaves no file
        onnx.save(proto, str(tmp))
        onnx.checker.check_model(str(tmp))  # by path: no second in-memory serialisation of the weights
    return output


def _add_metadata(proto: Any, cfg: AttrDict) -> None:
    """Record in ``proto.metadata_props`` what a consumer needs to feed the graph correctly."""
    meta = {
        "model_name": str(cfg.MODEL.NAME),
        "num_layers": str(cfg.MODEL.EXTRA.NUM_LAYERS),
        "num_joints": str(cfg.MODEL.NUM_JOINTS),
        "image_size_wh": ",".join(str(int(v)) for v in cfg.MODEL.IMAGE_SIZE),
        "channel_order": "RGB" if cfg.DATASET.COLOR_RGB else "BGR",
        "normalize_mean": "0.485,0.456,0.406",
        "normalize_std": "0.229,0.224,0.225",
    }
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def check_onnx(model: nn.Module, cfg: AttrDict, onnx_path: str | Path, batch: int = 2, seed: int = 0) -> float:
    """Largest absolute difference between PyTorch's and onnxruntime's heatmaps on a random batch.

    Args:
        model: the exported network.
        cfg: its config.
        onnx_path: the exported file.
        batch: batch size to run (different from the export's 1, to exercise the dynamic axis).
        seed: seed of the random input (standard normal, like a normalised image).

    Returns:
        ``max |onnx - torch|`` over the (batch, J, H/4, W/4) heatmaps.
    """
    import onnxruntime as ort

    width, height = (int(v) for v in cfg.MODEL.IMAGE_SIZE)
    inputs = torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected = model.cpu().eval()(inputs).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (actual,) = session.run([OUTPUT_NAME], {INPUT_NAME: inputs.numpy()})
    if actual.shape != expected.shape:
        raise RuntimeError(f"{onnx_path}: onnxruntime output shape {actual.shape} != PyTorch {expected.shape}")
    return float(np.abs(actual - expected).max())


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Export a pose network to ONNX (dynamic batch size)")
    parser.add_argument("--cfg", required=True, help="experiment YAML")
    parser.add_argument("--model-file", required=True, help="checkpoint (with or without 'module.' prefixes)")
    parser.add_argument("--output", required=True, help="the .onnx file to write")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version (default 17)")
    parser.add_argument("--check", action="store_true", help="compare onnxruntime with PyTorch on a batch of 2")
    parser.add_argument("--atol", type=float, default=DEFAULT_ATOL, help="tolerance of --check (default 1e-4)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides as KEY VALUE pairs")
    args = parser.parse_args(argv)
    low, high = _opset_range()
    if not low <= args.opset <= high:
        parser.error(f"argument --opset: {args.opset} is not supported by this PyTorch's ONNX exporter; "
                     f"expected an int from {low} to {high}")
    return args


def _opset_range() -> tuple[int, int]:
    """The opsets the TorchScript exporter of the installed PyTorch can write."""
    try:
        from torch.onnx import _constants as c

        return int(c.ONNX_MIN_OPSET), int(c.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET)
    except (ImportError, AttributeError):  # a PyTorch that moved them: the range of the 2.x releases
        return 7, 20


def _same_file(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` name one file (links and relative paths included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return Path(a).resolve() == Path(b).resolve()


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    if not Path(args.cfg).is_file():
        raise FileNotFoundError(f"config file not found: {args.cfg}")
    for flag, given in (("--model-file", args.model_file), ("--cfg", args.cfg)):
        if _same_file(given, args.output):
            raise FileExistsError(f"--output {args.output} is the {flag} file; refusing to overwrite it "
                             "(choose another output path)")
    output = Path(args.output)
    if output.exists() and (output.is_dir() or output.suffix.lower() != ".onnx"):
        raise FileExistsError(f"--output {output} exists and is not an .onnx file; refusing to overwrite it "
                              "(choose another output path)")
    cfg = load_config(args.cfg, args.opts, validate=True)
    model = build_pose_net(cfg, is_train=False)
    load_model_weights(model, args.model_file)
    path = export_onnx(model, cfg, args.output, args.opset)
    width, height = (int(v) for v in cfg.MODEL.IMAGE_SIZE)
    print(f"=> wrote {path}: {cfg.MODEL.NAME}, input (N, 3, {height}, {width}), opset {args.opset}")
    if args.check:
        diff = check_onnx(model, cfg, path)
        print(f"=> onnxruntime vs PyTorch on a batch of 2: max abs diff {diff:.3e} (tolerance {args.atol:g})")
        if not diff <= args.atol:
            raise RuntimeError(f"{path}: onnxruntime heatmaps differ from PyTorch by {diff:.3e} > {args.atol:g}")
    return 0


if __name__ == "__main__":
    run_cli(main)
