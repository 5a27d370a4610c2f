"""Bad flags of the tools: one argparse ``error:`` line naming the flag and what is expected, exit 2,
before anything is loaded or written (called in-process through each tool's ``main(argv)``)."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from core.config import ConfigError

REPO = Path(__file__).resolve().parents[2]
COCO_YAML = REPO / "experiments" / "coco" / "resnet50" / "256x192_d256x3_adam_lr1e-3.yaml"


def _tool(name: str):
    """The tool ``tools/<name>.py``, or ``bench/<name>.py`` for a name starting ``bench_``."""
    folder = "bench" if name.startswith("bench_") else "tools"
    spec = importlib.util.spec_from_file_location(f"_tool_{name}", REPO / folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _usage_error(tool: str, argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as info:
        _tool(tool).main(argv)
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.match(r"\S+: error: argument ", last), last  # argparse's form: `<prog>: error: argument --flag: ...`
    return last


@pytest.mark.parametrize("flag,value", [("--threads", "-2"), ("--threads", "0"), ("--batches", "0"),
                                        ("--repeats", "0")])
def test_benchmark_counts_must_be_positive(flag, value, capsys):
    small = ["MODEL.EXTRA.NUM_LAYERS", "18", "MODEL.IMAGE_SIZE", "[64,64]", "MODEL.EXTRA.HEATMAP_SIZE", "[16,16]"]
    last = _usage_error("bench_inference", ["--cfg", str(COCO_YAML), "--skip-compile", flag, value, *small], capsys)
    assert f"argument {flag}: expected an int >= 1, got " in last and value in last


def test_benchmark_overrides_after_batches_reach_the_config():
    """``--batches 1 MODEL.NAME x``: the override is read as an override (and refused by name), not
    swallowed by --batches as an int."""
    with pytest.raises(ConfigError, match=r"MODEL.NAME = 'x' is not valid"):
        _tool("bench_inference").main(["--cfg", str(COCO_YAML), "--batches", "1", "MODEL.NAME", "x"])


def test_split_overrides_keeps_negative_values_and_paths():
    from utils.cli import split_overrides

    assert split_overrides(["--cfg", "a/B.yaml", "--batches", "1", "8", "TRAIN.LR", "-1", "GPUS", "cpu"]) == (
        ["--cfg", "a/B.yaml", "--batches", "1", "8"], ["TRAIN.LR", "-1", "GPUS", "cpu"])
    assert split_overrides(["--metric", "AP", "--x"]) == (["--metric", "AP", "--x"], [])  # AP is no config key


@pytest.mark.parametrize("device", ["gpu0", "cuda:99"])
def test_model_summary_unusable_device(device, capsys):
    last = _usage_error("model_summary", ["--cfg", str(COCO_YAML), "--device", device], capsys)
    assert f"argument --device: {device!r} cannot be used here" in last


def test_model_summary_cpu_device_still_works(capsys):
    assert _tool("model_summary").main(["--cfg", str(COCO_YAML), "--device", "meta", "MODEL.EXTRA.NUM_LAYERS", "18"]) == 0


@pytest.mark.parametrize("opset", ["99", "6", "0"])
def test_export_onnx_unsupported_opset(opset, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    last = _usage_error("export_onnx", ["--cfg", str(COCO_YAML), "--model-file", str(tmp_path / "w.pth"),
                                        "--output", str(out), "--opset", opset], capsys)
    assert f"argument --opset: {opset} is not supported" in last and "expected an int from 7 to" in last
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("tool", ["plot_history", "plot_per_joint"])
@pytest.mark.parametrize("out_name", ["curves", "curves.txt", "curves.tmp"])
def test_plot_out_without_an_image_suffix(tool, out_name, tmp_path, capsys):
    data = ([{"epoch": 0, "train_loss": 0.1, "perf": 0.5}] if tool == "plot_history"
            else {"metric": "OKS", "joints": [{"name": "nose", "value": 0.5, "count": 3}]})
    table = tmp_path / "in.json"
    table.write_text(json.dumps(data))
    out = tmp_path / out_name
    last = _usage_error(tool, [str(table), "--out", str(out)], capsys)
    assert f"argument --out: {out}: " in last and "expected a name ending in one of" in last and ".png" in last
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.json"]  # nothing written, no temporary file


@pytest.mark.parametrize("tool", ["plot_history", "plot_per_joint"])
def test_plot_with_an_image_suffix_writes_only_the_picture(tool, tmp_path, capsys):
    data = ([{"epoch": 0, "train_loss": 0.1, "perf": 0.5}] if tool == "plot_history"
            else {"metric": "OKS", "joints": [{"name": "nose", "value": 0.5, "count": 3}]})
    table = tmp_path / "in.json"
    table.write_text(json.dumps(data))
    assert _tool(tool).main([str(table), "--out", str(tmp_path / "fig.svg")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.svg", "in.json"]
    assert (tmp_path / "fig.svg").read_text().lstrip().startswith("<?xml")


def test_empty_history_and_unknown_detector_are_user_errors(tmp_path, capsys):
    from utils.cli import run_cli

    history = tmp_path / "history.json"
    history.write_text("[]")
    with pytest.raises(SystemExit) as info:
        run_cli(lambda: _tool("plot_history").main([str(history), "--out", str(tmp_path / "c.png")]))
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [f"error: {history}: no epochs recorded yet"]
    from core.detections import PersonDetector

    with pytest.raises(SystemExit) as info:
        run_cli(lambda: PersonDetector("resnet18", "w.pth", "cpu", 0.5))
    err = capsys.readouterr().err.splitlines()
    assert info.value.code == 2 and len(err) == 1 and "not a torchvision detection model" in err[0]
