"""DataLoader workers started with 'spawn' (the default on macOS and Windows) pickle the config and datasets."""
import json

import pytest

from helpers import run_python, write_tiny_yaml

pytestmark = pytest.mark.slow  # starts subprocesses (scripts, torchrun) or trains

# train.py run as a script, with the start method forced to spawn before anything else
SPAWNED_TRAIN = """
import multiprocessing, runpy, sys
multiprocessing.set_start_method("spawn")
sys.argv = ["pose_estimation/train.py", *sys.argv[1:]]
sys.path.insert(0, "pose_estimation")  # as when Python runs the script itself
runpy.run_path("pose_estimation/train.py", run_name="__main__")
"""


def test_training_and_validation_with_spawned_workers(synthetic_data, tmp_path):
    cfg = write_tiny_yaml(tmp_path / "tiny.yaml", synthetic_data, tmp_path, epochs=1)
    proc = run_python(["-c", SPAWNED_TRAIN, "--cfg", cfg, "WORKERS", "2"], timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "output" / "coco" / "pose_resnet_18" / "tiny"
    assert (run_dir / "final_state.pth.tar").is_file()
    results = sorted((run_dir / "results").glob("keypoints_*_results.json"))
    assert results, sorted(p.name for p in run_dir.rglob("*"))
    assert json.loads(results[0].read_text())  # validation ran through the spawned workers
