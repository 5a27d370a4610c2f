#!/usr/bin/env python
"""Forward-pass speed of the network of a config, four ways, at batch 1, 8 and 32.

    python bench/bench_inference.py --cfg X.yaml [--batches 1 8 32] [--repeats 5] [--threads N] [KEY VALUE ...]

The ``KEY VALUE`` config overrides may follow any flag, ``--batches`` included.

Rows: float32 eager (the original), bf16 autocast + channels-last (``TEST.AMP true
TEST.CHANNELS_LAST true``: the network as valid.py runs it then, BatchNorm folded into the
convolutions and the heatmap layers in float32), ``torch.compile`` of the float32 network, and
ONNX Runtime on the model exported by ``tools/export_onnx.py``. Each cell is the median of
``--repeats`` timed batches after one warm-up batch: images/s and per-batch latency. Weights are the seeded random initialisation
(speed does not depend on them). A row that cannot run here (``torch.compile`` without a working
compiler, onnxruntime not installed) says why and the others go on. The header names the machine,
the thread count and the library versions.
"""
from __future__ import annotations

import argparse
import copy
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import _init_paths  # noqa: F401  (puts lib/ on sys.path)
import numpy as np
import torch

from core.amp import inference_autocast
from core.config import load_config, update_config_from_list
from core.inference_step import prepare_inference_model
from models import build_pose_net
from utils.cli import add_opts, positive_int, run_cli, split_overrides


def _time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (and compilation for torch.compile)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _runners(model: torch.nn.Module, cfg, tmp: Path,
             skip_compile: bool = False) -> list[tuple[str, Callable[[torch.Tensor], Callable[[], object]] | str]]:
    """(row name, maker of a timed call for an input batch) or (row name, why it cannot run)."""
    rows: list = []

    def fp32(x):
        return lambda: model(x)

    rows.append(("float32 eager", fp32))

    # What valid.py, the API and the demo run with the switches: prepare_inference_model (BatchNorm
    # folded, channels-last weights) and inference_autocast (heatmap layers in float32).
    fast_cfg = update_config_from_list(["TEST.AMP", "true", "TEST.AMP_DTYPE", "bf16", "TEST.CHANNELS_LAST", "true"],
                                       copy.deepcopy(cfg))
    cl_model = build_pose_net(fast_cfg, is_train=False)
    cl_model.load_state_dict(model.state_dict())
    cl_model = prepare_inference_model(fast_cfg, cl_model, torch.device("cpu"))

    def bf16_cl(x):
        x_cl = x.contiguous(memory_format=torch.channels_last)

        def call():
            with inference_autocast(fast_cfg, torch.device("cpu"), cl_model):
                return cl_model(x_cl)

        return call

    rows.append(("bf16 + channels-last", bf16_cl))

    if skip_compile:
        rows.append(("torch.compile (float32)", "skipped (--skip-compile)"))
    else:
        try:
            compiled = torch.compile(model)
            compiled(torch.zeros(1, 3, int(cfg.MODEL.IMAGE_SIZE[1]), int(cfg.MODEL.IMAGE_SIZE[0])))
            rows.append(("torch.compile (float32)", lambda x: (lambda: compiled(x))))
        except Exception as e:  # any compiler failure: report it and go on
            reason = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
            rows.append(("torch.compile (float32)", f"fails on this machine: {reason}"))
    rows.append(_onnx_row(model, cfg, tmp))
    return rows


def _onnx_row(model: torch.nn.Module, cfg, tmp: Path) -> tuple:
    """ONNX Runtime on the model exported by tools/export_onnx.py, or why it cannot run."""
    try:
        import onnxruntime as ort

        from export_onnx import export_onnx
    except ImportError as e:
        return ("ONNX Runtime", f"not available: {e}")
    path = export_onnx(model, cfg, tmp / "model.onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def onnx_run(x):
        x_np = x.numpy()
        return lambda: session.run(None, {name: x_np})

    return (f"ONNX Runtime {ort.__version__}", onnx_run)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cfg", required=True, help="experiment YAML")
    parser.add_argument("--batches", type=positive_int, nargs="+", default=[1, 8, 32], help="batch sizes (each >= 1)")
    parser.add_argument("--repeats", type=positive_int, default=5, help="timed batches per cell (median reported)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="torch threads, >= 1 (default: PyTorch's choice)")
    parser.add_argument("--skip-compile", action="store_true", help="leave out the torch.compile row (it compiles for minutes)")
    add_opts(parser)
    flags, overrides = split_overrides(argv)  # `--batches 1 MODEL.NAME x`: the overrides stay overrides
    args = parser.parse_args(flags)
    args.opts = (args.opts or []) + overrides
    cfg = load_config(args.cfg, list(args.opts or []), validate=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_pose_net(cfg, is_train=False).eval()
    width, height = (int(v) for v in cfg.MODEL.IMAGE_SIZE)
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()} {platform.release()}, "
          f"python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
          f"threads {torch.get_num_threads()}")
    print(f"network: {cfg.MODEL.NAME} (ResNet-{cfg.MODEL.EXTRA.NUM_LAYERS}), input {width}x{height} (W x H), "
          f"median of {args.repeats} batches")
    print("| way | " + " | ".join(f"batch {b}: img/s, ms/batch" for b in args.batches) + " |")
    print("|---|" + "---:|" * len(args.batches))
    rates: dict[str, list[float]] = {}
    with torch.no_grad(), tempfile.TemporaryDirectory() as tmp:
        for name, runner in _runners(model, cfg, Path(tmp), args.skip_compile):
            if isinstance(runner, str):
                print(f"| {name} | {runner} |")
                continue
            cells = []
            for batch in args.batches:
                x = torch.randn(batch, 3, height, width)
                seconds = _time(runner(x), args.repeats)
                cells.append(f"{batch / seconds:.1f}, {seconds * 1000:.1f}")
                rates.setdefault(name, []).append(batch / seconds)
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    compiled, eager = rates.get("torch.compile (float32)"), rates["float32 eager"]
    if compiled and all(c <= e for c, e in zip(compiled, eager)):
        print("note: torch.compile does not help on this machine (no batch size is faster than float32 eager)")
    return 0


if __name__ == "__main__":
    run_cli(main)
