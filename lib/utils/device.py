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


def cpu_has_native_fp16() -> bool:
    """Whether this CPU computes in float16 natively (AVX512-FP16 or AMX-FP16 instructions).

    Without them PyTorch's CPU kernels convert float16 to float32 and back around every operation,
    which makes fp16 autocast far slower than bf16 (which AVX512-BF16 / AMX-BF16 or plain AVX512
    kernels handle directly).
    """
    probe = getattr(torch.cpu, "_is_amx_fp16_supported", None)
    try:
        if probe is not None and probe():
            return True
    except RuntimeError:
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return any(line.startswith("flags") and "avx512_fp16" in line.split() for line in f)
    except OSError:
        return False


def warn_slow_cpu_fp16(cfg: AttrDict, device: torch.device) -> bool:
    """Warn (and return True) when ``TRAIN.AMP`` with ``TRAIN.AMP_DTYPE fp16`` runs on a CPU without native fp16."""
    if not (cfg.TRAIN.AMP and cfg.TRAIN.AMP_DTYPE == "fp16" and device.type == "cpu") or cpu_has_native_fp16():
        return False
    logger.warning(
        "=> TRAIN.AMP_DTYPE fp16 on this CPU, which has no native float16 arithmetic: training runs 10 to 25 "
        "times slower than with bf16 (a ResNet-50 256x192 training iteration on a 2-core AVX512 machine, "
        "bench/bench_resume_costs.py); set TRAIN.AMP_DTYPE bf16, the fast choice on this CPU")
    return True

