"""ONNX export: every network exports with a dynamic batch and onnxruntime reproduces its heatmaps.

Tolerance: max |onnxruntime - PyTorch| <= 1e-4 on heatmaps of a batch of 2 (typically ~1e-7; heatmap
values here are O(0.1-1)). Networks are built small: ResNet-18 trunks with 32-wide heads for the
deconvolution/MRHeat networks, ResNet-50 (the Bottleneck trunk MRFea needs) for MRFea, 64x64 input.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.config import load_config
from export_onnx import check_onnx, export_onnx, main
from models import POSE_NETS, build_pose_net

REPO = Path(__file__).resolve().parents[2]
COCO_YAML = REPO / "experiments" / "coco" / "resnet50" / "256x192_d256x3_adam_lr1e-3.yaml"
TOOL = REPO / "tools" / "export_onnx.py"
ATOL = 1e-4


ort = pytest.importorskip("onnxruntime")


def small_opts(name: str) -> list[str]:
    """Overrides that make ``name`` small enough for a CPU test (64x64 input, 16x16 heatmaps)."""
    opts = ["MODEL.NAME", name, "MODEL.IMAGE_SIZE", "[64,64]", "MODEL.EXTRA.HEATMAP_SIZE", "[16,16]", "GPUS", "cpu"]
    if name.startswith("mrfea"):  # a Bottleneck trunk whose layer1 width (256) the head must match
        return opts + ["MODEL.EXTRA.NUM_LAYERS", "50"]
    return opts + ["MODEL.EXTRA.NUM_LAYERS", "18", "MODEL.EXTRA.NUM_DECONV_FILTERS", "[32,32,32]"]


def seeded_model(cfg, seed: int = 0) -> torch.nn.Module:
    """A network with seeded weights and non-trivial BatchNorm statistics (exercises the BN export)."""
    torch.manual_seed(seed)
    model = build_pose_net(cfg, is_train=False)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(POSE_NETS))
def test_onnx_heatmaps_match_pytorch(name: str, tmp_path: Path) -> None:
    cfg = load_config(COCO_YAML, small_opts(name))
    model = seeded_model(cfg)
    path = export_onnx(model, cfg, tmp_path / f"{name}.onnx")  # traced with batch 1
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    # Batch 2 (the batch axis is dynamic): same heatmaps as PyTorch.
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    (out2,) = session.run(["heatmaps"], {"input": x[:2].numpy()})
    with torch.no_grad():
        ref2 = model(x[:2]).numpy()
    assert out2.shape == ref2.shape == (2, 17, 16, 16)
    diff = float(np.abs(out2 - ref2).max())
    assert diff <= ATOL, f"{name}: max abs diff {diff:.3e}"
    # Another batch size runs too.
    (out3,) = session.run(["heatmaps"], {"input": x.numpy()})
    assert out3.shape == (3, 17, 16, 16)
    np.testing.assert_allclose(out3[:2], out2, atol=ATOL)

    meta = session.get_modelmeta().custom_metadata_map
    assert meta["model_name"] == name and meta["image_size_wh"] == "64,64" and meta["channel_order"] == "BGR"


@pytest.mark.slow
def test_check_onnx_reports_the_difference(tmp_path: Path) -> None:
    cfg = load_config(COCO_YAML, small_opts("pose_resnet"))
    model = seeded_model(cfg)
    path = export_onnx(model, cfg, tmp_path / "m.onnx")
    assert check_onnx(model, cfg, path, batch=2) <= ATOL
    # A different network behind the same file is caught.
    other = seeded_model(cfg, seed=1)
    assert check_onnx(other, cfg, path, batch=2) > 1e-3


@pytest.mark.slow
def test_cli_exports_prefixed_checkpoint_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    name = "mrheat1_pose_resnet"
    cfg = load_config(COCO_YAML, small_opts(name))
    model = seeded_model(cfg)
    ckpt = tmp_path / "ckpt.pth.tar"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, ckpt)
    out = tmp_path / "sub" / "model.onnx"

    assert main(["--cfg", str(COCO_YAML), "--model-file", str(ckpt), "--output", str(out), "--check", *small_opts(name)]) == 0
    text = capsys.readouterr().out
    assert out.is_file() and "max abs diff" in text
    diff = float(text.split("max abs diff ")[1].split()[0])
    assert diff <= ATOL


@pytest.mark.slow
def test_cli_mismatched_checkpoint_is_one_error_line(tmp_path: Path) -> None:
    cfg = load_config(COCO_YAML, small_opts("pose_resnet"))
    ckpt = tmp_path / "pose_resnet.pth"
    torch.save(seeded_model(cfg).state_dict(), ckpt)
    opts = small_opts("mrheat2_pose_resnet")
    proc = subprocess.run(
        [sys.executable, str(TOOL), "--cfg", str(COCO_YAML), "--model-file", str(ckpt), "--output",
         str(tmp_path / "x.onnx"), *opts],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(ckpt) in last and "do not match" in last
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.slow
def test_cli_refuses_to_write_over_the_checkpoint(tmp_path: Path) -> None:
    cfg = load_config(COCO_YAML, small_opts("pose_resnet"))
    ckpt = tmp_path / "pose_resnet.pth"
    torch.save(seeded_model(cfg).state_dict(), ckpt)
    before = ckpt.read_bytes()
    # the same file spelled another way (relative, through '..')
    same = Path("..") / tmp_path.name / ckpt.name
    proc = subprocess.run(
        [sys.executable, str(TOOL), "--cfg", str(COCO_YAML), "--model-file", str(ckpt), "--output", str(same),
         *small_opts("pose_resnet")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: --output {same} is the --model-file file; refusing to overwrite it (choose another output path)"
    ]
    # Another existing file that is not an ONNX model (e.g. a second checkpoint) is not replaced either.
    other = tmp_path / "other.pth.tar"
    other.write_bytes(before)
    proc = subprocess.run(
        [sys.executable, str(TOOL), "--cfg", str(COCO_YAML), "--model-file", str(ckpt), "--output", str(other),
         *small_opts("pose_resnet")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: --output {other} exists and is not an .onnx file; refusing to overwrite it (choose another output path)"
    ]
    assert other.read_bytes() == before
    assert ckpt.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == sorted([ckpt.name, other.name])
