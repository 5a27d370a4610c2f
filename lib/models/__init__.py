"""The five pose networks, selected by ``MODEL.NAME`` through a plain table (no ``eval``).

``models.<MODEL.NAME>.get_pose_net(cfg, is_train)`` stays importable for old call sites;
new code calls :func:`build_pose_net`.
"""
from __future__ import annotations

from typing import Any, Callable

from torch import nn

from . import mrfea1_pose_resnet, mrfea2_pose_resnet, mrheat1_pose_resnet, mrheat2_pose_resnet, pose_resnet

__all__ = ["POSE_NETS", "build_pose_net"]

POSE_NETS: dict[str, Callable[..., nn.Module]] = {
    "pose_resnet": pose_resnet.get_pose_net,
    "mrheat1_pose_resnet": mrheat1_pose_resnet.get_pose_net,
    "mrheat2_pose_resnet": mrheat2_pose_resnet.get_pose_net,
    "mrfea1_pose_resnet": mrfea1_pose_resnet.get_pose_net,
    "mrfea2_pose_resnet": mrfea2_pose_resnet.get_pose_net,
}


def build_pose_net(cfg: Any, is_train: bool = False) -> nn.Module:
    """The network named by ``cfg.MODEL.NAME`` (see :data:`POSE_NETS`); ``is_train`` as in ``get_pose_net``."""
    name = cfg.MODEL.NAME
    if name not in POSE_NETS:
        raise ValueError(f"MODEL.NAME={name!r}; expected one of {sorted(POSE_NETS)}")
    return POSE_NETS[name](cfg, is_train=is_train)
