"""Sampler that splits a validation set over distributed ranks without padding or shuffling."""
from __future__ import annotations

from typing import Iterator

from torch.utils.data import Sampler


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
