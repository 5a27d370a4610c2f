"""Samplers: the validation shards (no padding, no shuffling) and the training order (resumable mid-epoch)."""
from __future__ import annotations

import random
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world_size, ...`` of ``range(num_samples)``.

    Unlike DistributedSampler it never repeats samples to even out the shards, so gathered
    predictions cover the dataset exactly once (each rank reports which indices it ran).
    """

    def __init__(self, num_samples: int, world_size: int = 1, rank: int = 0) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world size {world_size}")
        self.num_samples = num_samples
        self.world_size = world_size
        self.rank = rank

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.num_samples, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.num_samples, self.world_size))


class EpochSampler(DistributedSampler):
    """torch's ``DistributedSampler`` (same order for the same seed and epoch) that can start an
    epoch part-way through and can give every sample a seed of its own.

    * ``set_epoch(epoch, first=k)`` makes the next pass skip this rank's first ``k`` indices of
      the epoch's permutation, so that a run resumed at iteration ``i`` starts at sample
      ``i * batch_size`` without decoding the skipped images. Later epochs start at 0 again.
    * With ``sample_seeds`` it yields ``(index, seed)`` pairs for :class:`SeededSamples`. The
      seed is a function of (``seed``, epoch, slot) only, ``slot`` being the sample's place in the
      whole (padded) permutation, so the augmentation of a batch does not depend on the number of
      DataLoader workers, on persistent workers or on where a run was interrupted.

    Without ``first`` and ``sample_seeds`` it yields exactly what ``DistributedSampler`` yields.
    """

    def __init__(self, dataset, num_replicas: int = 1, rank: int = 0, shuffle: bool = True, seed: int = 0,
                 sample_seeds: bool = False) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed)
        self.sample_seeds = sample_seeds
        self.first = 0

    def set_epoch(self, epoch: int, first: int = 0) -> None:
        super().set_epoch(epoch)
        if not 0 <= first <= self.num_samples:
            raise ValueError(f"first sample {first} is outside this rank's {self.num_samples} samples")
        self.first = first

    def __iter__(self) -> Iterator:
        indices = list(super().__iter__())[self.first:]
        if not self.sample_seeds:
            return iter(indices)
        slots = range(self.rank + self.first * self.num_replicas, self.total_size, self.num_replicas)
        return iter([(index, sample_seed(self.seed, self.epoch, slot)) for index, slot in zip(indices, slots)])

    def __len__(self) -> int:
        return self.num_samples - self.first


def sample_seed(seed: int, epoch: int, slot: int) -> int:
    """A 32-bit seed for one sample, well mixed from (seed, epoch, slot) by NumPy's SeedSequence."""
    return int(np.random.SeedSequence([seed % 2**32, epoch, slot]).generate_state(1)[0])


class SeededSamples(Dataset):
    """``dataset[index]`` drawn with Python's, NumPy's and torch's global RNGs seeded for that
    sample; takes the ``(index, seed)`` pairs of :class:`EpochSampler`.

    The augmentation code draws from the global RNGs (NumPy and Python's random). They are seeded
    just for the call and put back afterwards, so that the process's own streams (the main
    process's with ``WORKERS 0``) are left as they were.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: tuple[int, int]):
        index, seed = item
        saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
        random.seed(seed)
        np.random.seed(seed)
        torch.default_generator.manual_seed(seed)  # the CPU generator only: CUDA streams stay untouched
        try:
            return self.dataset[index]
        finally:
            random.setstate(saved[0])
            np.random.set_state(saved[1])
            torch.set_rng_state(saved[2])
