"""TRAIN.LR_SCHEDULER / TRAIN.WARMUP_ITERS (the LR of every iteration, the default left alone) and TRAIN.FUSED_OPTIMIZER."""
import math

import pytest
import torch

from core.config import get_default_config, update_config_from_list
from utils.lr_policy import lr_at_epoch, lr_at_iteration, per_iteration_lr
from utils.train_state import validation_due


def _cfg(*opts):
    cfg = get_default_config()
    update_config_from_list(["TRAIN.LR", "0.002", "TRAIN.END_EPOCH", "3", "TRAIN.LR_STEP", "[1, 2]", *opts], cfg)
    return cfg


def test_the_default_is_the_original_per_epoch_schedule_only():
    cfg = _cfg()
    assert not per_iteration_lr(cfg)  # the training loop never touches the LR; MultiStepLR alone does
    assert [lr_at_iteration(cfg, e, i, 10) for e in range(3) for i in (0, 9)] == pytest.approx(
        [2e-3, 2e-3, 2e-4, 2e-4, 2e-5, 2e-5])
    assert [lr_at_epoch(cfg, e) for e in range(3)] == pytest.approx([2e-3, 2e-4, 2e-5])


def test_cosine_goes_from_lr_to_zero_over_end_epoch_epochs():
    cfg = _cfg("TRAIN.LR_SCHEDULER", "cosine")
    assert per_iteration_lr(cfg)
    lrs = [lr_at_iteration(cfg, e, i, 10) for e in range(3) for i in range(10)]
    assert lrs[0] == 2e-3 and lrs[15] == pytest.approx(1e-3)  # the middle of the run: half the LR
    assert lrs[-1] == pytest.approx(2e-3 * 0.5 * (1 + math.cos(math.pi * 29 / 30)))
    assert all(a > b for a, b in zip(lrs, lrs[1:]))  # LR_STEP is not used: a smooth, strict decrease


def test_warmup_ramps_the_first_iterations_of_either_schedule():
    for scheduler in ("multistep", "cosine"):
        cfg = _cfg("TRAIN.LR_SCHEDULER", scheduler, "TRAIN.WARMUP_ITERS", "4")
        plain = _cfg("TRAIN.LR_SCHEDULER", scheduler)
        assert per_iteration_lr(cfg)
        for step in range(12):  # across the epoch boundary of 5-iteration epochs
            e, i = divmod(step, 5)
            factor = (step + 1) / 4 if step < 4 else 1.0
            assert lr_at_iteration(cfg, e, i, 5) == pytest.approx(factor * lr_at_iteration(plain, e, i, 5))


def test_the_training_loop_sets_the_scheduled_lr_before_each_step(monkeypatch):
    """core.training.train with a real model and optimizer: the LR each optimizer step used."""
    from core import training

    cfg = _cfg("TRAIN.LR_SCHEDULER", "cosine", "TRAIN.WARMUP_ITERS", "2", "PRINT_FREQ", "100")
    model = torch.nn.Conv2d(3, 17, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.TRAIN.LR)
    used = []
    step = optimizer.step
    monkeypatch.setattr(optimizer, "step", lambda *a, **k: (used.append(optimizer.param_groups[0]["lr"]), step())[1])
    batches = [(torch.rand(2, 3, 8, 8), torch.rand(2, 17, 8, 8), torch.ones(2, 17, 1), {}) for _ in range(4)]
    monkeypatch.setattr(training, "save_debug_images", lambda *a, **k: None)
    mse = torch.nn.MSELoss()
    training.train(cfg, batches, model, lambda out, tgt, w: mse(out, tgt), optimizer, 0, "", "", None)
    assert used == pytest.approx([lr_at_iteration(cfg, 0, i, 4) for i in range(4)])
    assert used[0] < used[1] > used[2] > used[3]  # warm-up, then the cosine: not the optimizer's constant 2e-3


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_fused_optimizer_is_the_same_update_in_one_kernel(name):
    """TRAIN.FUSED_OPTIMIZER: torch's fused kernel, the default's update up to rounding; a resumed run
    takes the current setting, not the one stored in the checkpoint's parameter groups."""
    from utils.utils import get_optimizer, load_optimizer_state

    params = {}
    for fused in ("false", "true"):
        cfg = _cfg("TRAIN.OPTIMIZER", name, "TRAIN.FUSED_OPTIMIZER", fused)
        torch.manual_seed(0)
        model = torch.nn.Linear(64, 32)
        optimizer = get_optimizer(cfg, model)
        assert optimizer.param_groups[0]["fused"] is (True if fused == "true" else None)  # None: torch's default
        for _ in range(5):
            optimizer.zero_grad()
            model(torch.randn(8, 64)).square().mean().backward()
            optimizer.step()
        params[fused] = [p.detach().clone() for p in model.parameters()]
        saved = optimizer.state_dict()
    for a, b in zip(params["false"], params["true"]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    # the fused run's checkpoint, resumed without the switch
    cfg = _cfg("TRAIN.OPTIMIZER", name)
    resumed = get_optimizer(cfg, model)
    load_optimizer_state(cfg, resumed, saved)
    assert resumed.param_groups[0]["fused"] is None and saved["param_groups"][0]["fused"] is True
    assert resumed.state_dict()["state"].keys() == saved["state"].keys()


@pytest.mark.parametrize("every, end, due", [(1, 3, [0, 1, 2]), (2, 5, [1, 3, 4]), (3, 6, [2, 5]), (10, 4, [3])])
def test_validation_epochs(every, end, due):
    cfg = _cfg("TRAIN.VALIDATE_EVERY", str(every), "TRAIN.END_EPOCH", str(end))
    assert [e for e in range(end) if validation_due(cfg, e)] == due


# ------------------------------------------------------------------------------------------------
# the one LR policy (utils.lr_policy.LRPolicy) against torch's MultiStepLR used the original's way


def _policy_run(cfg, epochs, num_batches, resume_from=None):
    """The LR of every iteration as train.py drives the policy: ``at`` before each optimizer step,
    ``end_epoch`` after each epoch; ``resume_from=(epoch, lr_scheduler_last_epoch or None)`` starts
    a new optimizer and policy there, as a resumed run does."""
    from utils.lr_policy import LRPolicy, restore_original_schedule

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.TRAIN.LR)
    first, offset = 0, cfg.TRAIN.BEGIN_EPOCH
    if resume_from is not None:
        first, last_epoch = resume_from
        if last_epoch is None:  # the original's checkpoint
            offset = 0
            restore_original_schedule(cfg, optimizer, first)
        else:
            offset = first - last_epoch
            optimizer.param_groups[0]["initial_lr"] = cfg.TRAIN.LR  # what the loaded optimizer state holds
    policy = LRPolicy(cfg, optimizer, first, 0, num_batches, epoch_offset=offset)
    lrs, last_epochs = [], []
    for epoch in range(first, epochs):
        for i in range(num_batches):
            policy.at(epoch, i, num_batches)
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
        policy.end_epoch(epoch)
        last_epochs.append(policy.schedule_epoch(epoch + 1))
    return lrs, last_epochs, optimizer.param_groups[0]["lr"]


@pytest.mark.parametrize("lr,factor,steps", [("0.0003", "0.1", "[1, 2, 3]"), ("0.01", "0.1", "[2, 3, 3]"),
                                             ("0.001", "0.3", "[1, 2, 3, 4]")])
def test_multistep_policy_is_bit_identical_to_torchs_multisteplr(lr, factor, steps):
    cfg = _cfg("TRAIN.LR", lr, "TRAIN.LR_FACTOR", factor, "TRAIN.LR_STEP", steps, "TRAIN.END_EPOCH", "6")
    epochs, num_batches = 6, 3
    # the original: one MultiStepLR stepped after each epoch, the LR left alone inside an epoch
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.TRAIN.LR)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(cfg.TRAIN.LR_STEP), cfg.TRAIN.LR_FACTOR)
    expected, expected_last_epochs = [], []
    for _ in range(epochs):
        for _ in range(num_batches):
            expected.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
        scheduler.step()
        expected_last_epochs.append(scheduler.last_epoch)
    expected_end_lr = optimizer.param_groups[0]["lr"]
    assert len(set(expected)) >= 3  # the schedule drops more than once

    lrs, last_epochs, end_lr = _policy_run(cfg, epochs, num_batches)
    assert lrs == expected and end_lr == expected_end_lr  # ==, not approx: bit for bit
    assert last_epochs == expected_last_epochs  # lr_scheduler_last_epoch keeps MultiStepLR's meaning
    assert [lr_at_epoch(cfg, e) for e in range(epochs)] == expected[::num_batches]
    # resumed after epoch 3 from our checkpoint (lr_scheduler_last_epoch 3) and from the original's
    for resume_from in ((3, 3), (3, None)):
        lrs, last_epochs, _ = _policy_run(cfg, epochs, num_batches, resume_from)
        assert lrs == expected[3 * num_batches:] and last_epochs == expected_last_epochs[3:]


def test_per_iteration_policy_sets_the_pure_function_of_the_position():
    for opts in (["TRAIN.LR_SCHEDULER", "cosine", "TRAIN.WARMUP_ITERS", "4"], ["TRAIN.WARMUP_ITERS", "5"]):
        cfg = _cfg(*opts)
        lrs, _, end_lr = _policy_run(cfg, 3, 4)
        expected = [lr_at_iteration(cfg, e, i, 4) for e in range(3) for i in range(4)]
        assert lrs == expected and end_lr == expected[-1]  # the last iteration's LR stays in the checkpoint
        assert _policy_run(cfg, 3, 4, resume_from=(1, 1))[0] == expected[4:]
