"""models.fuse.fuse_conv_bn on the five networks, and where TEST.AMP applies it (and where it must not)."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from core.config import load_config
from core.evaluation import _validation_network
from core.inference_step import prepare_inference_model
from models import POSE_NETS, build_pose_net
from models.fuse import fuse_conv_bn

REPO = Path(__file__).resolve().parents[2]
COCO_R50 = REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml"


MRFEA = ("mrfea1_pose_resnet", "mrfea2_pose_resnet")


def _cfg(name: str, layers: int = 18, *opts: str):
    if name in MRFEA:  # a Bottleneck trunk, 256 filters where layer1's output joins, sides multiples of 32
        size = ["MODEL.EXTRA.NUM_LAYERS", "50", "MODEL.EXTRA.NUM_DECONV_FILTERS", "[32,32,256]",
                "MODEL.IMAGE_SIZE", "[64,64]", "MODEL.EXTRA.HEATMAP_SIZE", "[16,16]"]
    else:
        size = ["MODEL.EXTRA.NUM_LAYERS", str(layers), "MODEL.EXTRA.NUM_DECONV_FILTERS", "[32,32,32]",
                "MODEL.IMAGE_SIZE", "[48,64]", "MODEL.EXTRA.HEATMAP_SIZE", "[12,16]"]
    return load_config(COCO_R50, ["MODEL.NAME", name, "MODEL.PRETRAINED", "", *size, *opts])


def _net(name: str, layers: int = 18, *opts: str) -> tuple[object, nn.Module]:
    cfg = _cfg(name, layers, *opts)
    torch.manual_seed(0)
    model = build_pose_net(cfg, is_train=False)
    # BatchNorm statistics and affine terms far from the identity, so a wrong fold cannot hide.
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=generator) * 1.5 + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.rand(n, generator=generator) * 0.4 - 0.2)
    return cfg, model.eval()


@pytest.mark.parametrize("name, layers, opts", [
    *[(name, 18, ()) for name in POSE_NETS],
    pytest.param("pose_resnet", 50, (), marks=pytest.mark.slow),  # Bottleneck blocks and the downsample Sequentials
    ("pose_resnet", 18, ("MODEL.EXTRA.DECONV_WITH_BIAS", "true")),  # deconvolutions that already have a bias
])
def test_folded_network_computes_the_same_heatmaps(name, layers, opts) -> None:
    cfg, model = _net(name, layers, *opts)
    batchnorms = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    fused = copy.deepcopy(model)
    assert fuse_conv_bn(fused) == batchnorms  # every BatchNorm of the five networks follows its convolution
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert not any(".running_var" in key for key in fused.state_dict())
    width, height = (int(v) for v in cfg.MODEL.IMAGE_SIZE)
    x = torch.randn(2, 3, height, width)
    with torch.no_grad():
        ref, out = model(x), fused(x)
    scale = ref.abs().max().item()
    assert scale > 0.01
    torch.testing.assert_close(out, ref, rtol=0, atol=2e-5 * scale)
    assert fuse_conv_bn(fused) == 0  # nothing left to fold


def test_refuses_a_model_in_training_mode() -> None:
    _, model = _net("pose_resnet")
    with pytest.raises(ValueError, match=r"training mode.*model.eval\(\)"):
        fuse_conv_bn(model.train())


def test_a_batchnorm_not_after_a_matching_convolution_stays() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.BatchNorm2d(4), nn.Conv2d(4, 6, 1), nn.BatchNorm2d(5)).eval()
    assert fuse_conv_bn(model) == 0
    assert [type(m) for m in model] == [nn.Conv2d, nn.ReLU, nn.BatchNorm2d, nn.Conv2d, nn.BatchNorm2d]


def test_only_test_amp_folds_in_prepare_inference_model() -> None:
    cfg, model = _net("mrheat2_pose_resnet")
    keys = list(model.state_dict())
    plain = prepare_inference_model(cfg, copy.deepcopy(model), torch.device("cpu"))
    assert list(plain.state_dict()) == keys  # the default: the original's network, keys and all

    amp_cfg = _cfg(cfg.MODEL.NAME, 18, "TEST.AMP", "true")
    fast = prepare_inference_model(amp_cfg, copy.deepcopy(model), torch.device("cpu"))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())


def test_validation_under_amp_folds_a_copy_and_leaves_the_training_model_alone() -> None:
    cfg, model = _net("pose_resnet")
    assert _validation_network(cfg, model) is model  # float32: the model itself
    amp_cfg = _cfg(cfg.MODEL.NAME, 18, "TEST.AMP", "true")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    network = _validation_network(amp_cfg, model)
    assert network is not model and not any(isinstance(m, nn.BatchNorm2d) for m in network.modules())
    after = model.state_dict()
    assert list(after) == list(before) and all(torch.equal(after[k], before[k]) for k in before)
    assert _validation_network(amp_cfg, network) is network  # already folded (valid.py's model): no copy
