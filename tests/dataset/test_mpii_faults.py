"""dataset.mpii on damaged copies of the real MPII sample: a truncated gt_valid.mat and a person
scale <= 0 are one error naming the file (and the record), of a type run_cli prints as one line."""
import json
import re
import shutil

import numpy as np
import pytest

from core.config import load_config
from dataset import build_dataset
from helpers import REPO
from utils.cli import USER_ERRORS

MPII_YAML = REPO / "experiments/mpii/resnet50/256x256_d256x3_adam_lr1e-3.yaml"


def _dataset(root):
    cfg = load_config(MPII_YAML, ["DATASET.ROOT", str(root)])
    return build_dataset(cfg, "valid", False), cfg


@pytest.fixture
def copy_root(mpii_root, tmp_path):
    root = tmp_path / "mpii"
    shutil.copytree(mpii_root / "annot", root / "annot")
    (root / "images").symlink_to(mpii_root / "images")
    return root


@pytest.mark.parametrize("keep", [10, 100, 1000, -10])
def test_truncated_gt_mat_names_the_file(copy_root, keep):
    ds, cfg = _dataset(copy_root)
    gt = copy_root / "annot" / "gt_valid.mat"
    data = gt.read_bytes()
    gt.write_bytes(data[:keep])  # cut short, as by an interrupted copy
    preds = np.stack([r["joints_3d"][:, :2] for r in ds.db])
    (copy_root / "out").mkdir()
    with pytest.raises(USER_ERRORS) as info:
        ds.evaluate(cfg, preds, str(copy_root / "out"))
    message = str(info.value)
    assert message.startswith(f"{gt}: cannot read this MATLAB file (truncated or not a .mat?): "), message


@pytest.mark.parametrize("scale", [0, -1.5, float("nan")])
def test_scale_not_above_zero_names_the_record(copy_root, scale):
    ann = copy_root / "annot" / "valid.json"
    records = json.loads(ann.read_text())
    records[3]["scale"] = scale
    ann.write_text(json.dumps(records))
    with pytest.raises(USER_ERRORS) as info:
        _dataset(copy_root)
    assert str(info.value).startswith(f"{ann}: record 3 has center {records[3]['center']!r} and scale {scale!r}; "
                                      "expected finite numbers and a scale > 0")


def test_pred_mat_is_written_whole_or_not_at_all(mpii_root, tmp_path, monkeypatch):
    import errno
    import os

    from scipy.io import loadmat

    ds, cfg = _dataset(mpii_root)
    preds = np.stack([r["joints_3d"][:, :2] for r in ds.db])
    out = tmp_path / "out"
    out.mkdir()
    ds.evaluate(cfg, preds, str(out))
    assert np.array_equal(loadmat(out / "pred.mat")["preds"], preds + 1.0)  # MATLAB's 1-based pixels
    before = (out / "pred.mat").read_bytes()
    names = sorted(p.name for p in out.iterdir())  # pred.mat and the per-joint table

    def refuse(src, dst):
        raise OSError(errno.EXDEV, "rename refused")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="rename refused"):
        ds.evaluate(cfg, preds * 2, str(out))
    assert sorted(p.name for p in out.iterdir()) == names and (out / "pred.mat").read_bytes() == before


@pytest.mark.parametrize("content,expected", [
    ("{not json", "MPII annotation file is not valid JSON"),
    ('{"a": 1}', "must hold a JSON list of person records"),
    ('[{"image": "a.jpg"}]', "record 0 needs 'image', 'center' [x, y] and 'scale'"),
])
def test_damaged_annotation_file_is_a_user_error(copy_root, content, expected):
    (copy_root / "annot" / "valid.json").write_text(content)
    with pytest.raises(USER_ERRORS, match=re.escape(expected)):
        _dataset(copy_root)
