"""Resume pieces that change across machines and switches: the rank's CUDA RNG state and the
optimizer state under TRAIN.FUSED_OPTIMIZER."""
from __future__ import annotations

import copy

import pytest
import torch

from core.config import get_default_config, update_config_from_list
from utils import train_state
from utils.train_state import capture_rng_state, restore_rng_state
from utils.utils import get_optimizer, load_optimizer_state


class _FakeCuda:
    """Stands in for torch.cuda on a machine without a GPU: one process on ``device`` of ``count``."""

    def __init__(self, device: int, count: int) -> None:
        self.device, self.count, self.set_calls = device, count, []

    def is_available(self):
        return True

    def is_initialized(self):
        return True

    def current_device(self):
        return self.device

    def device_count(self):
        return self.count

    def get_rng_state(self, device="cuda"):
        return torch.full((4,), float(device), dtype=torch.float32).to(torch.uint8)

    def get_rng_state_all(self):  # what the former code saved: every visible device
        return [self.get_rng_state(i) for i in range(self.count)]

    def set_rng_state(self, state, device="cuda"):
        self.set_calls.append((int(state[0]), device))

    def set_rng_state_all(self, states):
        if len(states) > self.count:
            raise RuntimeError("invalid device ordinal")  # torch fails the same way with fewer GPUs
        self.set_calls.extend((int(s[0]), i) for i, s in enumerate(states))


def test_rng_state_holds_and_restores_only_this_ranks_cuda_device(monkeypatch):
    saving = _FakeCuda(device=2, count=4)
    monkeypatch.setattr(train_state.torch, "cuda", saving)
    state = capture_rng_state()
    assert "cuda" not in state and int(state["cuda_device"][0]) == 2  # one device, not four
    resumed = _FakeCuda(device=0, count=1)  # the resumed job sees one GPU
    monkeypatch.setattr(train_state.torch, "cuda", resumed)
    restore_rng_state(state)
    assert resumed.set_calls == [(2, 0)]


def test_old_checkpoints_with_every_devices_state_still_restore(monkeypatch):
    old = _FakeCuda(device=0, count=4)
    monkeypatch.setattr(train_state.torch, "cuda", old)
    state = capture_rng_state()
    del state["cuda_device"]
    state["cuda"] = old.get_rng_state_all()  # the former layout
    resumed = _FakeCuda(device=1, count=2)  # fewer GPUs: set_rng_state_all would fail here
    monkeypatch.setattr(train_state.torch, "cuda", resumed)
    restore_rng_state(state)
    assert resumed.set_calls == [(1, 1)]  # this process's own device, from the list


def _adam(fused: bool):
    cfg = get_default_config()
    update_config_from_list(["TRAIN.OPTIMIZER", "adam", "TRAIN.FUSED_OPTIMIZER", str(fused)], cfg)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    return cfg, model, get_optimizer(cfg, model)


def _step(model, optimizer):
    optimizer.zero_grad()
    model(torch.ones(2, 4)).square().sum().backward()
    optimizer.step()


@pytest.mark.parametrize("saved_fused, now_fused", [(False, True), (True, False)])
def test_fused_optimizer_switch_places_adam_steps_by_the_current_flag(monkeypatch, saved_fused, now_fused):
    """torch places ``step`` by the *loaded* groups' flags (fused: float32 on the parameter's device,
    where the fused CUDA kernels want it); the current TRAIN.FUSED_OPTIMIZER must be those flags."""
    _, model, optimizer = _adam(saved_fused)
    _step(model, optimizer)
    saved = copy.deepcopy(optimizer.state_dict())  # as read from a file: no tensor shared with `optimizer`
    cfg, model2, optimizer2 = _adam(now_fused)
    model2.load_state_dict(model.state_dict())
    seen = []
    original = torch.optim.Optimizer._process_value_according_to_param_policy

    def spy(param, value, param_id, param_groups, key=None):
        if key == "step":
            seen.append(next(bool(g.get("fused")) for g in param_groups if param_id in g["params"]))
        return original(param, value, param_id, param_groups, key)

    monkeypatch.setattr(torch.optim.Optimizer, "_process_value_according_to_param_policy", staticmethod(spy))
    load_optimizer_state(cfg, optimizer2, saved)
    assert seen and set(seen) == {now_fused}
    assert all(bool(g["fused"]) == now_fused for g in optimizer2.param_groups)
    for p, state in optimizer2.state.items():
        assert state["step"].dtype == torch.float32 and state["step"].device == p.device
    _step(model2, optimizer2)  # and the next step runs with the other implementation
    _step(model, optimizer)
    for a, b in zip(model.parameters(), model2.parameters()):
        torch.testing.assert_close(a, b)  # the same update rule either way
