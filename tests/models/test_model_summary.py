"""tools/model_summary.py reproduces the sizes and FLOPs measured on the original code."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from core.config import load_config

REPO = Path(__file__).resolve().parents[2]
COCO_R50 = REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml"
COCO_R50_CAFFE = REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3_caffe.yaml"


@pytest.fixture(scope="module")
def summary_tool():
    spec = importlib.util.spec_from_file_location("model_summary", REPO / "tools" / "model_summary.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["model_summary"] = module
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(REPO / "tools"))  # as when Python runs the tool: its tools/_init_paths.py
        spec.loader.exec_module(module)
    yield module
    sys.modules.pop("model_summary", None)


# (yaml, MODEL.NAME): params, state_dict entries, GFLOPs, MACs in G (conv + deconv)
EXPECTED = {
    (COCO_R50, "pose_resnet"): (33_999_697, 338, 10.85, (4.017, 1.409)),
    (COCO_R50, "mrfea2_pose_resnet"): (80_141_137, 356, 27.36, (4.017, 9.664)),
    (COCO_R50_CAFFE, "pose_resnet"): (33_999_697, 338, 10.40, (3.791, 1.409)),
}


@pytest.mark.parametrize("yaml,name", list(EXPECTED), ids=[f"{y.stem}-{n}" for y, n in EXPECTED])
def test_summary_matches_spec_table(summary_tool, yaml, name):
    params, entries, gflops, (conv, deconv) = EXPECTED[yaml, name]
    s = summary_tool.summarize(load_config(yaml, ["MODEL.NAME", name]))
    assert s["params"] == params
    assert s["state_dict"] == entries
    assert s["output"] == (1, 17, 64, 48)
    assert round(s["flops"] / 1e9, 2) == gflops
    assert s["flops"] == 2 * s["macs"]
    assert (round(s["conv_macs"] / 1e9, 3), round(s["deconv_macs"] / 1e9, 3)) == (conv, deconv)


def test_cli_all_prints_every_network(summary_tool, capsys):
    assert summary_tool.main(["--cfg", str(COCO_R50), "--all"]) == 0
    out = capsys.readouterr().out
    spec_rows = [("pose_resnet", "33,999,697", "10.85 G"), ("mrheat1_pose_resnet", "34,017,785", "10.87 G"),
                 ("mrheat2_pose_resnet", "34,022,409", "10.88 G"), ("mrfea1_pose_resnet", "41,341,265", "17.30 G"),
                 ("mrfea2_pose_resnet", "80,141,137", "27.36 G")]
    for name, params, gflops in spec_rows:
        row = next(line for line in out.splitlines() if line.startswith(f"| {name} "))
        assert params in row and gflops in row


def test_cli_single_network_with_override(summary_tool, capsys):
    summary_tool.main(["--cfg", str(COCO_R50), "MODEL.NAME", "mrheat1_pose_resnet"])
    out = capsys.readouterr().out
    assert "MODEL.NAME   mrheat1_pose_resnet" in out
    assert "34,017,785" in out and "10.87 G" in out and "1x17x64x48" in out
