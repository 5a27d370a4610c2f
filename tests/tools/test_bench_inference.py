"""bench/bench_inference.py on a small network: every row is measured or says why not."""
import re

import pytest

from helpers import REPO, run_python

pytestmark = pytest.mark.slow  # starts subprocesses (scripts, torchrun) or trains

SMALL = ["MODEL.EXTRA.NUM_LAYERS", "18", "MODEL.EXTRA.NUM_DECONV_FILTERS", "[32,32,32]",
         "MODEL.IMAGE_SIZE", "[64,64]", "MODEL.EXTRA.HEATMAP_SIZE", "[16,16]", "MODEL.NAME", "mrheat2_pose_resnet"]


def test_rows_for_each_way_with_rates_and_latencies():
    proc = run_python(["bench/bench_inference.py", "--cfg", REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml",
                       "--batches", "1", "2", "--repeats", "1", "--threads", "1", "--skip-compile", *SMALL], timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "threads 1" in out and "network: mrheat2_pose_resnet (ResNet-18), input 64x64" in out
    cell = r"\| ([0-9.]+), ([0-9.]+) "
    for way in ("float32 eager", "bf16 \\+ channels-last", "ONNX Runtime [0-9.]+"):
        row = re.search(rf"^\| {way} {cell}{cell}\|$", out, re.M)
        assert row, (way, out)
        rate1, ms1, rate2, ms2 = map(float, row.groups())
        # images/s and ms/batch describe the same timing: ms = 1000 * batch / rate, up to the printed
        # rounding of both numbers (0.05 each; the rate's rounding moves ms by 1000 * batch * 0.05 / rate²)
        for batch, rate, ms in ((1, rate1, ms1), (2, rate2, ms2)):
            slack = 0.05 + 1000 * batch * 0.05 / rate ** 2 + 1e-9
            assert abs(1000 * batch / rate - ms) <= slack, (row.group(0), batch)
    assert "| torch.compile (float32) | skipped (--skip-compile) |" in out
