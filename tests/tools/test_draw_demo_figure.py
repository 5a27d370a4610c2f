"""tools/draw_demo_figure.py: the picture of docs/demo.png, drawn from a YAML, its weights and the
synthetic data set."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from core.config import load_config
from helpers import REPO, run_python
from models import build_pose_net

pytestmark = pytest.mark.slow  # the synthetic data set is made by a subprocess; the tool runs in one

QUICKSTART = REPO / "experiments" / "synthetic" / "res18_128x96_quickstart.yaml"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "model_best.pth.tar"
    torch.save(build_pose_net(load_config(QUICKSTART), is_train=False).state_dict(), path)
    return path


def _draw(synthetic_data, weights, out, *extra):
    return run_python(["tools/draw_demo_figure.py", "--cfg", QUICKSTART, "--model-file", weights,
                       "--data", synthetic_data, "--out", out, *extra])


def test_tiles_of_the_first_images_with_people(synthetic_data, weights, tmp_path) -> None:
    out = tmp_path / "figs" / "demo.png"
    proc = _draw(synthetic_data, weights, out, "--num", "4", "--cols", "3", "--tile", "100")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    picture = Image.open(out)
    assert picture.mode == "P" and picture.size == (300, 200)  # 2 rows of 3 tiles, palette PNG
    pixels = np.asarray(picture.convert("RGB"))
    assert pixels[100:, 100:].max() == 0 and pixels[100:, :100].max() > 0  # 4 images, 2 blank tiles
    annotations = json.loads((synthetic_data / "coco" / "annotations" / "person_keypoints_val2017.json").read_text())
    assert len({a["image_id"] for a in annotations["annotations"] if a["num_keypoints"] > 0}) >= 4
    assert sorted(p.name for p in out.parent.iterdir()) == ["demo.png"]  # no temporary file left


def test_a_suffix_that_names_no_format_is_refused(synthetic_data, weights, tmp_path) -> None:
    proc = _draw(synthetic_data, weights, tmp_path / "demo.figure")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: --out ")
    assert list(tmp_path.iterdir()) == []
