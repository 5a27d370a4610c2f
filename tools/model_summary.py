"""Size and cost of the pose networks for an experiment YAML.

Usage, from the repository root::

    python tools/model_summary.py --cfg experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml
    python tools/model_summary.py --cfg <yaml> MODEL.NAME mrfea2_pose_resnet
    python tools/model_summary.py --cfg <yaml> --all

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (2 x MACs for convolutions and
transposed convolutions; BatchNorm, ReLU, pooling and element-wise sums are not counted). MACs come
from forward hooks: Conv2d = output elements x C_in/groups x k^2, ConvTranspose2d = *input* elements x
C_out/groups x k^2. One image of ``MODEL.IMAGE_SIZE``, eval mode. By default the network is built on
PyTorch's ``meta`` device: shapes only, no memory for weights, no arithmetic, same counts.
"""
from __future__ import annotations

import argparse
from typing import Any, Sequence

import _init_paths  # noqa: F401  (puts lib/ on sys.path)
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import models
from core.config import load_config
from utils.cli import run_cli


def _count_macs(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """Forward ``x`` once; returns (output, Conv2d MACs, ConvTranspose2d MACs)."""
    totals = {"conv": 0, "deconv": 0}

    def conv_hook(m: nn.Conv2d, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        k = m.kernel_size[0] * m.kernel_size[1]
        totals["conv"] += out.numel() * (m.in_channels // m.groups) * k

    def deconv_hook(m: nn.ConvTranspose2d, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        k = m.kernel_size[0] * m.kernel_size[1]
        totals["deconv"] += inputs[0].numel() * (m.out_channels // m.groups) * k

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.ConvTranspose2d):
            handles.append(m.register_forward_hook(deconv_hook))
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
    return out, totals["conv"], totals["deconv"]


def summarize(cfg: Any, device: str = "meta") -> dict[str, Any]:
    """Parameters, state_dict size, output shape, FLOPs and MACs of ``cfg.MODEL.NAME`` for one image.

    Returns a dict with: name, depth, style, input (N, 3, H, W), output (N, J, H/4, W/4), params,
    state_dict, state_dict_no_nbt (without ``num_batches_tracked``), flops, macs, conv_macs, deconv_macs.
    """
    w, h = (int(v) for v in cfg.MODEL.IMAGE_SIZE)
    with torch.device(device):
        model = models.build_pose_net(cfg, is_train=False)
        x = torch.zeros(1, 3, h, w)
    model.eval()
    state_dict = model.state_dict()
    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            out = model(x)
        _, conv_macs, deconv_macs = _count_macs(model, x)
    return {
        "name": cfg.MODEL.NAME,
        "depth": int(cfg.MODEL.EXTRA.NUM_LAYERS),
        "style": cfg.MODEL.STYLE,
        "input": tuple(x.shape),
        "output": tuple(out.shape),
        "params": sum(p.numel() for p in model.parameters()),
        "state_dict": len(state_dict),
        "state_dict_no_nbt": sum(not k.endswith("num_batches_tracked") for k in state_dict),
        "flops": counter.get_total_flops(),
        "macs": conv_macs + deconv_macs,
        "conv_macs": conv_macs,
        "deconv_macs": deconv_macs,
    }


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(s) for s in shape)


def format_summary(s: dict[str, Any]) -> str:
    """Multi-line report of one :func:`summarize` result."""
    return "\n".join([
        f"MODEL.NAME   {s['name']}",
        f"depth        ResNet-{s['depth']} ({s['style']} style)",
        f"input        {_shape(s['input'])} (N x C x H x W)",
        f"output       {_shape(s['output'])}",
        f"parameters   {s['params']:,}",
        f"state_dict   {s['state_dict']} entries ({s['state_dict_no_nbt']} without num_batches_tracked)",
        f"FLOPs        {s['flops'] / 1e9:.2f} G (FlopCounterMode, 2 x MACs)",
        f"MACs         {s['macs'] / 1e9:.3f} G = {s['conv_macs'] / 1e9:.3f} conv + {s['deconv_macs'] / 1e9:.3f} deconv",
    ])


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table with one row per :func:`summarize` result (the columns the README table uses)."""
    lines = [
        "| MODEL.NAME | depth | style | input | output | params | state_dict | FLOPs | MACs = conv + deconv |",
        "|---|---:|---|---|---|---:|---:|---:|---:|",
    ]
    for s in rows:
        lines.append(
            f"| {s['name']} | {s['depth']} | {s['style']} | {_shape(s['input'])} | {_shape(s['output'])} "
            f"| {s['params']:,} | {s['state_dict']} ({s['state_dict_no_nbt']}) | {s['flops'] / 1e9:.2f} G "
            f"| {s['macs'] / 1e9:.3f} G = {s['conv_macs'] / 1e9:.3f} + {s['deconv_macs'] / 1e9:.3f} |"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Parameters, FLOPs and MACs of the SimMRPose networks")
    parser.add_argument("--cfg", required=True, help="experiment YAML, e.g. experiments/coco/resnet50/...yaml")
    parser.add_argument("--all", action="store_true", help="one table row for each of the five MODEL.NAME values")
    parser.add_argument("--device", default="meta",
                        help="where to build the network: 'meta' (default: shapes only, fast) or e.g. 'cpu'")
    parser.add_argument("opts", nargs=argparse.REMAINDER,
                        help="KEY VALUE config overrides, e.g. MODEL.NAME pose_resnet")
    return parser


def _check_device(parser: argparse.ArgumentParser, name: str) -> None:
    """``--device`` must name a device PyTorch can put a tensor on here; else one argparse error (exit 2)."""
    try:
        torch.empty(0, device=torch.device(name))
    except (RuntimeError, AssertionError) as e:  # a malformed name; CUDA not built in or no GPU
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        parser.error(f"argument --device: {name!r} cannot be used here ({reason}); expected 'meta', 'cpu' "
                     "or an available device such as 'cuda:0'")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_device(parser, args.device)
    cfg = load_config(args.cfg, args.opts, validate=True)
    print(f"config: {args.cfg}")
    if args.all:
        rows = []
        for name in models.POSE_NETS:
            cfg.MODEL.NAME = name
            rows.append(summarize(cfg, args.device))
        print(format_table(rows))
    else:
        print(format_summary(summarize(cfg, args.device)))
    return 0


if __name__ == "__main__":
    run_cli(main)
