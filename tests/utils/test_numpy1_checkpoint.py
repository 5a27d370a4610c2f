"""The original's checkpoint.pth.tar as NumPy-1.x users have it: legacy torch format, perf as a NumPy-1 scalar."""
import io
import pickle

import numpy as np
import pytest
import torch

from utils.checkpoint import UnsafeCheckpointError, load_checkpoint
from utils.train_state import load_training_checkpoint


def _write_numpy1_checkpoint(path):
    """torch.save in the pre-1.6 (non-zip) format; the NumPy scalar's global spelled as NumPy 1 pickles it."""
    ckpt = {
        "epoch": 3,
        "model": "pose_resnet_50",
        "state_dict": {"module.conv1.weight": torch.arange(6.0).reshape(2, 3)},
        "perf": np.float64(0.625),
        "optimizer": {"state": {}, "param_groups": [{"lr": 0.001, "params": [0]}]},
    }
    buffer = io.BytesIO()
    torch.save(ckpt, buffer, _use_new_zipfile_serialization=False, pickle_protocol=2)
    data = buffer.getvalue()
    if b"numpy._core.multiarray" in data:  # written under NumPy 2: rename the module as NumPy 1 does
        data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray\nscalar" in data and b"numpy._core" not in data
    path.write_bytes(data)


def test_numpy1_legacy_checkpoint_resumes_with_weights_only(tmp_path):
    path = tmp_path / "checkpoint.pth.tar"
    _write_numpy1_checkpoint(path)
    with pytest.raises(pickle.UnpicklingError, match="numpy.core.multiarray.scalar"):
        torch.load(path, map_location="cpu", weights_only=True)  # torch alone refuses it
    ckpt = load_training_checkpoint(path)
    assert ckpt["epoch"] == 3 and float(ckpt["perf"]) == 0.625 and isinstance(ckpt["perf"], np.floating)
    assert torch.equal(ckpt["state_dict"]["module.conv1.weight"], torch.arange(6.0).reshape(2, 3))


def test_the_allow_list_admits_numpy_scalars_only(tmp_path):
    path = tmp_path / "checkpoint.pth.tar"
    buffer = io.BytesIO()
    torch.save({"epoch": 1, "perf": np.float64(0.5), "extra": np.arange(3)}, buffer,
               _use_new_zipfile_serialization=False)
    path.write_bytes(buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    with pytest.raises(UnsafeCheckpointError, match=r"safe loading .* refuses: numpy\.core\.multiarray\._reconstruct"):
        load_checkpoint(path, allow_numpy_scalars=True)  # an ndarray needs _reconstruct: still refused
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(tmp_path / "checkpoint.pth.tar")  # without the flag not even the scalar
