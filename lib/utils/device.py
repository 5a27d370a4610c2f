"""One place that turns ``GPUS`` / ``--gpus`` and CUDA availability into a ``torch.device``."""
from __future__ import annotations

import logging
import os

import torch

from core.config import AttrDict

logger = logging.getLogger(__name__)


def parse_gpus(gpus: str) -> list[int]:
    """``'0,1'`` -> ``[0, 1]``; ``''`` or ``'cpu'`` -> ``[]`` (run on the CPU)."""
    text = str(gpus).strip()
    if text.lower() in ("", "cpu", "none", "-1"):
        return []
    try:
        return [int(part) for part in text.split(",") if part.strip() != ""]
    except ValueError:
        raise ValueError(f"GPUS={gpus!r}; expected comma-separated CUDA device ids such as '0' or '0,1', or 'cpu'") from None


def resolve_device(gpus: str, local_rank: int | None = None) -> torch.device:
    """The device this process runs on.

    Under torchrun each process takes ``cuda:<LOCAL_RANK>``; otherwise the first id of ``GPUS``.
    Without CUDA (or with ``GPUS: cpu``) everything runs on the CPU, and we say so once.
    """
    ids = parse_gpus(gpus)
    if not ids:
        logger.info("=> GPUS is empty/cpu: running on the CPU")
        return torch.device("cpu")
    if not torch.cuda.is_available():
        logger.info("=> CUDA is not available: running on the CPU (GPUS=%s ignored)", gpus)
        return torch.device("cpu")
    if local_rank is None and "LOCAL_RANK" in os.environ:
        local_rank = int(os.environ["LOCAL_RANK"])
    if local_rank is not None:
        index = ids[local_rank] if local_rank < len(ids) else local_rank
    else:
        index = ids[0]
        if len(ids) > 1:
            logger.warning(
                "=> GPUS=%s lists several devices but this is a single process: using cuda:%d only. "
                "Launch with torchrun (scripts/coco2017/train.sh does) to use all of them.",
                gpus,
                index,
            )
    if index >= torch.cuda.device_count():
        raise ValueError(f"GPUS={gpus!r}: cuda:{index} does not exist (this machine has {torch.cuda.device_count()} CUDA devices)")
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def configure_cudnn(cfg: AttrDict) -> None:
    """Apply the CUDNN section (harmless on the CPU)."""
    torch.backends.cudnn.benchmark = cfg.CUDNN.BENCHMARK
    torch.backends.cudnn.deterministic = cfg.CUDNN.DETERMINISTIC
    torch.backends.cudnn.enabled = cfg.CUDNN.ENABLED
