"""Minimal helpers for torchrun + DistributedDataParallel (ranks come from the environment)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when started by torchrun: ``nccl`` on CUDA, ``gloo`` on the CPU."""
    if not launched_by_torchrun():
        return DistInfo()
    info = DistInfo(
        rank=int(os.environ["RANK"]),
        world_size=int(os.environ["WORLD_SIZE"]),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )
    if info.world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs: dict[str, Any] = {"backend": backend, "timeout": PG_TIMEOUT}
        if device.type == "cuda":
            kwargs["device_id"] = device
        store = _attempt_store(info)
        if store is not None:
            kwargs.update(store=store, rank=info.rank, world_size=info.world_size)
        dist.init_process_group(**kwargs)
    return info


# Finite: a peer that never arrives (or a collective that never completes) fails the attempt, and
# torchrun (``--max-restarts``) can start the next one instead of waiting forever.
PG_TIMEOUT = timedelta(minutes=30)


def _attempt_store(info: DistInfo) -> dist.Store | None:
    """The rendezvous store under a prefix of its own for each torchrun attempt.

    After a restart the store may still hold the previous attempt's entries (peer addresses);
    prefixing the keys with ``TORCHELASTIC_RESTART_COUNT`` keeps the attempts apart. ``None``
    (torch's own ``env://`` rendezvous) when not started by torchrun.
    """
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT")
    if attempt is None or "MASTER_ADDR" not in os.environ or "MASTER_PORT" not in os.environ:
        return None
    agent_hosts_it = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"  # torchrun's agent serves it
    store = dist.TCPStore(
        os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), info.world_size,
        is_master=not agent_hosts_it and info.rank == 0, timeout=PG_TIMEOUT,
        **({} if agent_hosts_it else {"multi_tenant": True}),
    )
    return dist.PrefixStore(f"simmrpose/attempt{attempt}/", store)


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def reduce_device() -> torch.device:
    """Where collective tensors live: NCCL reduces CUDA tensors only, gloo CPU ones."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    if is_dist():
        dist.barrier()


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (a list of length world size); ``[obj]`` when not distributed."""
    if not is_dist():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    if not is_dist():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def cleanup() -> None:
    if is_dist():
        dist.destroy_process_group()


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (BatchNorm running statistics) to every rank.

    DDP broadcasts buffers at the start of each forward, so after the last training step every
    rank holds its own statistics; validation and checkpoints must use the same ones (rank 0's,
    which is what the original's DataParallel kept).
    """
    if not is_dist():
        return
    for buffer in module.buffers():
        dist.broadcast(buffer.data, src=src)
