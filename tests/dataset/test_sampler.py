"""dataset.sampler.EpochSampler / SeededSamples: torch's DistributedSampler order, a mid-epoch start,
and per-sample seeds that depend on the sample's place in the epoch only."""
import random

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from dataset.sampler import EpochSampler, SeededSamples


class Draws(torch.utils.data.Dataset):
    """Sample ``i`` is ``(i, one draw from each global RNG)``: what augmentation code would see."""

    def __len__(self):
        return 11

    def __getitem__(self, index):
        return index, random.random(), float(np.random.randn()), float(torch.rand(()))


@pytest.mark.parametrize("world,shuffle", [(1, True), (2, True), (3, False)])
def test_default_order_is_torchs_distributed_sampler(world, shuffle):
    for rank in range(world):
        ours = EpochSampler(range(11), num_replicas=world, rank=rank, shuffle=shuffle, seed=7)
        theirs = DistributedSampler(range(11), num_replicas=world, rank=rank, shuffle=shuffle, seed=7)
        ours.set_epoch(3), theirs.set_epoch(3)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_first_skips_a_prefix_of_the_same_epoch_only():
    sampler = EpochSampler(range(11), num_replicas=2, rank=1, seed=7, sample_seeds=True)
    sampler.set_epoch(4)
    whole = list(sampler)
    sampler.set_epoch(4, first=3)
    assert list(sampler) == whole[3:] and len(sampler) == len(whole) - 3
    sampler.set_epoch(5)  # the next epoch starts at its beginning again
    assert len(list(sampler)) == len(whole)
    with pytest.raises(ValueError, match="first sample 7 is outside this rank's 6 samples"):
        sampler.set_epoch(4, first=7)


def test_a_samples_seed_follows_its_slot_not_the_world_size():
    """Slot g of the (padded) permutation holds the same index with one rank or two: it gets the same seed."""
    one = EpochSampler(range(12), num_replicas=1, rank=0, seed=5, sample_seeds=True)
    two = [EpochSampler(range(12), num_replicas=2, rank=r, seed=5, sample_seeds=True) for r in (0, 1)]
    for s in (one, *two):
        s.set_epoch(2)
    whole = list(one)
    assert list(two[0]) == whole[0::2] and list(two[1]) == whole[1::2]
    assert len({seed for _, seed in whole}) == 12
    other_epoch = EpochSampler(range(12), seed=5, sample_seeds=True)
    other_epoch.set_epoch(3)
    assert {seed for _, seed in whole}.isdisjoint(seed for _, seed in other_epoch)


def test_seeded_samples_do_not_depend_on_workers_and_leave_the_callers_rng_alone():
    sampler = EpochSampler(range(11), seed=9, sample_seeds=True)
    sampler.set_epoch(1)
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    before = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
    # (a loader's own generator: without one, each iterator draws its workers' base seed from torch's RNG)
    in_process = list(DataLoader(SeededSamples(Draws()), batch_size=3, sampler=sampler, num_workers=0,
                                 generator=torch.Generator().manual_seed(1)))
    assert random.getstate() == before[0] and np.array_equal(np.random.get_state()[1], before[1])
    assert torch.equal(torch.get_rng_state(), before[2])
    in_workers = list(DataLoader(SeededSamples(Draws()), batch_size=3, sampler=sampler, num_workers=2,
                                 generator=torch.Generator().manual_seed(2)))
    for a, b in zip(in_process, in_workers, strict=True):
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x, y)
    draws = torch.stack(in_process[0][1:])
    assert len(torch.unique(draws)) == draws.numel()  # real, different draws per sample
