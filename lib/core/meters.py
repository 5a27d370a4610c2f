"""Running averages of the training and validation loops, and their totals over every rank."""
from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from utils.distributed import is_dist, reduce_device


class AverageMeter:
    """Running value, sum, count and average (``avg`` is 0 while ``count`` is 0)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.val = 0.0
        self.avg = 0.0
        self.sum = 0.0
        self.count = 0

    def update(self, val: float, n: int = 1) -> None:
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count if self.count != 0 else 0.0

    def state(self) -> dict[str, Any]:
        return {"sum": float(self.sum), "count": int(self.count)}

    def load(self, state: dict[str, Any]) -> None:
        self.sum, self.count = float(state["sum"]), int(state["count"])
        self.avg = self.sum / self.count if self.count != 0 else 0.0


def all_reduce_meters(*meters: AverageMeter) -> None:
    """Replace each meter's sum/count/avg with the totals over all ranks (no-op in one process)."""
    if not is_dist():
        return
    totals = torch.tensor([x for m in meters for x in (m.sum, float(m.count))], dtype=torch.float64,
                          device=reduce_device())
    dist.all_reduce(totals)
    totals = totals.cpu()
    for k, meter in enumerate(meters):
        meter.sum, meter.count = float(totals[2 * k]), int(totals[2 * k + 1])
        meter.avg = meter.sum / meter.count if meter.count else 0.0
