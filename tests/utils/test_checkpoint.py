"""utils.checkpoint: atomic saving, the three key layouts, strict loading with readable errors."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from utils import checkpoint
from utils.checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    UnsafeCheckpointError,
    load_checkpoint,
    load_model_weights,
    load_state_dict_file,
    save_atomic,
    strip_prefix,
    unwrap_model,
)


class TinyNet(nn.Module):
    """Conv-BN-ReLU-Conv: parameters and BatchNorm buffers, (N, 3, H, W) -> (N, 4, H, W)."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.final_layer = nn.Conv2d(width, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.relu(self.bn1(self.conv1(x))))


def trained_net(seed: int = 0) -> TinyNet:
    torch.manual_seed(seed)
    net = TinyNet()
    net.train()
    net(torch.randn(4, 3, 8, 8))  # move the BN running statistics away from 0 / 1
    return net.eval()


def outputs(net: nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return net(torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(5)))


def layouts(net: nn.Module) -> dict[str, object]:
    sd = net.state_dict()
    return {
        "bare": sd,
        "checkpoint": {"epoch": 3, "model": ("tiny", "tiny_full"), "state_dict": sd, "perf": 0.5,
                       "best_perf": 0.5, "best_epoch": 2},
        "module_prefix": nn.DataParallel(net).state_dict(),
    }


@pytest.mark.parametrize("layout", ["bare", "checkpoint", "module_prefix"])
def test_round_trip_in_every_layout(tmp_path, layout):
    source = trained_net(0)
    path = tmp_path / f"{layout}.pth.tar"
    save_atomic(layouts(source)[layout], path)
    if layout == "module_prefix":
        assert all(k.startswith("module.") for k in torch.load(path, weights_only=True))

    target = trained_net(1)
    assert not torch.equal(outputs(target), outputs(source))
    assert load_model_weights(target, path) is target
    assert torch.equal(outputs(target), outputs(source))
    assert list(load_state_dict_file(path)) == list(source.state_dict())


def test_load_into_wrapped_model(tmp_path):
    source = trained_net(0)
    path = tmp_path / "model_best.pth.tar"
    save_atomic(nn.DataParallel(source).state_dict(), path)
    wrapped = nn.DataParallel(trained_net(1))
    assert unwrap_model(wrapped) is wrapped.module
    assert load_model_weights(wrapped, path) is wrapped.module
    assert torch.equal(outputs(wrapped.module), outputs(source))


def test_mismatch_names_file_counts_and_first_keys(tmp_path):
    sd = trained_net(0).state_dict()
    sd["deconv_extra.weight"] = torch.zeros(2)
    del sd["final_layer.bias"]
    sd["conv1.weight"] = torch.zeros(8, 3, 1, 1)
    path = tmp_path / "other.pth"
    save_atomic(sd, path)
    with pytest.raises(CheckpointMismatchError) as info:
        load_model_weights(trained_net(1), path)
    message = str(info.value)
    assert str(path) in message
    assert "1 missing from the file: final_layer.bias" in message
    assert "1 unexpected in the file: deconv_extra.weight" in message
    assert "conv1.weight: file (8, 3, 1, 1) vs model (8, 3, 3, 3)" in message
    assert isinstance(info.value, RuntimeError)


def test_partial_module_prefix_is_not_stripped(tmp_path):
    sd = OrderedDict(trained_net(0).state_dict())
    sd["module.conv1.weight"] = sd.pop("conv1.weight")
    path = tmp_path / "mixed.pth"
    save_atomic(sd, path)
    with pytest.raises(CheckpointMismatchError, match="conv1.weight"):
        load_model_weights(trained_net(1), path)


def test_crash_during_save_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pth.tar"
    good = trained_net(0)
    save_atomic({"state_dict": good.state_dict(), "epoch": 1}, path)
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_atomic({"state_dict": trained_net(1).state_dict(), "epoch": 2}, path)
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no .tmp left behind
    target = trained_net(2)
    load_model_weights(target, path)
    assert torch.equal(outputs(target), outputs(good))


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "model_best.pth.tar"
    save_atomic(trained_net(0).state_dict(), path)
    newer = trained_net(1)
    save_atomic(newer.state_dict(), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left
    assert torch.equal(load_state_dict_file(path)["conv1.weight"], newer.conv1.weight)


def test_numpy_scalars_give_a_clear_error(tmp_path):
    # the original train.py stored 'perf' as a NumPy float64 in checkpoint.pth.tar
    path = tmp_path / "checkpoint.pth.tar"
    torch.save({"epoch": 4, "state_dict": trained_net(0).state_dict(), "perf": np.float64(0.71)}, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_state_dict_file(path)
    message = str(info.value)
    assert str(path) in message
    assert "weights_only=True" in message
    assert "numpy" in message.lower()
    assert "trust" in message
    assert isinstance(info.value, CheckpointError)


def test_missing_num_batches_tracked_is_tolerated(tmp_path):
    source = trained_net(0)
    sd = source.state_dict()  # keeps PyTorch's version metadata (BatchNorm version 2)
    del sd["bn1.num_batches_tracked"]
    path = tmp_path / "pytorch040.pth"
    torch.save(sd, path)
    target = trained_net(1)
    load_model_weights(target, path)
    assert torch.equal(outputs(target), outputs(source))
    assert torch.equal(target.bn1.running_mean, source.bn1.running_mean)


def test_only_num_batches_tracked_may_be_missing(tmp_path):
    sd = trained_net(0).state_dict()
    del sd["bn1.num_batches_tracked"], sd["bn1.running_var"]
    path = tmp_path / "broken.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointMismatchError) as info:
        load_model_weights(trained_net(1), path)
    assert "1 missing from the file: bn1.running_var" in str(info.value)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "model_best.pth.tar"
    for load in (load_checkpoint, load_state_dict_file):
        with pytest.raises(FileNotFoundError, match=str(path)):
            load(path)
    with pytest.raises(FileNotFoundError, match=str(path)):
        load_model_weights(trained_net(0), path)


def test_corrupt_and_non_state_dict_files(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a torch file")
    with pytest.raises(CheckpointError, match="garbage.pth"):
        load_state_dict_file(garbage)
    # Text that torch reads as a damaged pickle: torch's reason, never its advice to load unsafely.
    text = tmp_path / "results.json"
    text.write_text('{"bad": 1}')
    with pytest.raises(CheckpointError) as info:
        load_state_dict_file(text)
    assert str(info.value) == (f"{text}: not a readable PyTorch weight file (truncated or corrupt?): "
                               "Unsupported operand 123")
    listing = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], listing)
    with pytest.raises(CheckpointError, match="no state dict found"):
        load_state_dict_file(listing)
    nested = tmp_path / "nested.pth"
    torch.save({"epoch": 1, "optimizer": {}}, nested)
    with pytest.raises(CheckpointError, match="no state dict found"):
        load_state_dict_file(nested)


def test_full_checkpoint_with_plain_floats_loads_weights_only(tmp_path):
    net = trained_net(0)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(2, 3, 8, 8)).sum().backward()
    optimizer.step()
    state = {"epoch": 5, "model": ("tiny", "tiny_full"), "state_dict": net.state_dict(), "perf": 0.7,
             "best_perf": 0.7, "best_epoch": 4, "optimizer": optimizer.state_dict()}
    path = tmp_path / "checkpoint.pth.tar"
    save_atomic(state, path)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 5 and loaded["model"] == ("tiny", "tiny_full")
    assert loaded["optimizer"]["param_groups"][0]["lr"] == 1e-3


def test_strip_prefix_rules():
    sd = OrderedDict([("module.a", torch.zeros(1)), ("module.b", torch.ones(1))])
    assert list(strip_prefix(sd)) == ["a", "b"]
    mixed = OrderedDict([("module.a", torch.zeros(1)), ("b", torch.ones(1))])
    assert list(strip_prefix(mixed)) == ["module.a", "b"]
    assert list(strip_prefix(OrderedDict())) == []


def test_module_exposes_one_loader_and_saver():
    assert set(checkpoint.__all__) >= {"save_atomic", "load_state_dict_file", "load_model_weights", "unwrap_model"}


class _RunsACommand:
    def __reduce__(self):
        import os

        return (os.system, ("echo this should never run",))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_pickle_names_the_globals_it_references_without_unpickling(tmp_path, protocol, capfd):
    """A checkpoint written with pickle.dump (not torch.save): refused, naming what it would call."""
    import os
    import pickle

    path = tmp_path / f"plain{protocol}.pth.tar"
    with open(path, "wb") as f:
        pickle.dump({"epoch": 1, "state_dict": _RunsACommand()}, f, protocol=protocol)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and f"{os.system.__module__}.system" in message, message
    assert "truncated or corrupt" not in message and "Unsupported operand" not in message
    assert "this should never run" not in capfd.readouterr().out


def test_pickle_globals_follows_memoized_names_and_stops_at_damage(tmp_path):
    import os
    import pickle
    from collections import OrderedDict

    from utils.checkpoint import pickle_globals

    path = tmp_path / "two.pkl"
    # the same global twice (the second time from the memo) and another one
    path.write_bytes(pickle.dumps([OrderedDict(), OrderedDict(), _RunsACommand()], protocol=4))
    assert pickle_globals(path) == sorted({"collections.OrderedDict", f"{os.system.__module__}.system"})
    truncated = tmp_path / "cut.pkl"
    truncated.write_bytes(pickle.dumps([OrderedDict(), _RunsACommand()], protocol=4)[:40])
    assert pickle_globals(truncated) in ([], ["collections.OrderedDict"])
    text = tmp_path / "results.json"
    text.write_text('{"bad": 1}')
    assert pickle_globals(text) == []
