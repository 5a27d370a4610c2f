"""Datasets by ``DATASET.DATASET`` name, and the standard input transform.

The original names stay importable: ``dataset.coco`` and ``dataset.mpii`` are the classes, so
``eval('dataset.' + cfg.DATASET.DATASET)(cfg, root, image_set, is_train, transform)`` style code keeps
working; new code uses :func:`build_dataset`.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from .coco import COCODataset
from .coco import COCODataset as coco
from .JointsDataset import IMAGENET_MEAN, IMAGENET_STD, JointsDataset
from .mpii import MPIIDataset
from .mpii import MPIIDataset as mpii

__all__ = ["DATASETS", "COCODataset", "JointsDataset", "MPIIDataset", "build_dataset", "build_transform", "coco", "mpii"]

DATASETS = {"coco": COCODataset, "mpii": MPIIDataset}


def build_dataset(cfg: Any, image_set: str, is_train: bool, transform: Optional[Callable] = None) -> JointsDataset:
    """The ``DATASET.DATASET`` dataset for ``image_set`` rooted at ``DATASET.ROOT``."""
    name = cfg.DATASET.DATASET
    if name not in DATASETS:
        raise ValueError(f"DATASET.DATASET={name!r}; expected one of {sorted(DATASETS)}")
    return DATASETS[name](cfg, cfg.DATASET.ROOT, image_set, is_train, transform)


def build_transform() -> Callable:
    """torchvision ``ToTensor()`` + ``Normalize(ImageNet mean, std)``.

    Applied to the BGR crop as in the original (channel 0, blue, gets the red statistics; the released
    weights expect this).
    The returned object is marked ``simmrpose_pixelwise = True``: each output value depends only on
    one pixel's byte value and channel, which lets ``JointsDataset`` replace it by an exact lookup
    table (built by running this very transform on all 256 byte values). The dataset also checks
    that it is still exactly ToTensor + Normalize, so appending steps to it stays correct.
    """
    import torchvision.transforms as transforms

    transform = transforms.Compose([
        transforms.ToTensor(),
        transforms.Normalize(mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD)),
    ])
    transform.simmrpose_pixelwise = True
    return transform
