"""The five pose networks: build, forward/backward, key lists, sizes, golden outputs, checks, init.

Reference numbers (parameter counts, state_dict sizes and head key lists) were measured on the
original code. Size and key
checks build on PyTorch's ``meta`` device (shapes only), so even ResNet-152 costs nothing; forward and
backward passes use 64x64 inputs.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torchvision
import yaml
from torch import nn

import models
from core.config import load_config
from models import POSE_NETS, build_pose_net
from models.resnet import (
    BasicBlock,
    Bottleneck,
    Bottleneck_CAFFE,
    ResNetBackbone,
    deconv_block,
    load_imagenet_weights,
)

REPO = Path(__file__).resolve().parents[2]
COCO_R50 = REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml"
MPII_R50 = REPO / "experiments/mpii/resnet50/256x256_d256x3_adam_lr1e-3.yaml"
TRUNK = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")
MRFEA = ("mrfea1_pose_resnet", "mrfea2_pose_resnet")


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """One intra-op thread: with these tiny inputs, thread hand-offs cost more than they save, and on a
    shared machine the waiting threads made a 0.3 s test take 10 s."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_cfg(name: str, depth: int = 50, *opts: str, yaml: Path = COCO_R50):
    return load_config(yaml, ["MODEL.NAME", name, "MODEL.EXTRA.NUM_LAYERS", str(depth), *opts])


def build_meta(cfg) -> nn.Module:
    with torch.device("meta"):
        return build_pose_net(cfg, is_train=False)


def supported() -> list[tuple[str, int]]:
    return [
        (name, depth)
        for name in POSE_NETS
        for depth in (18, 34, 50, 101, 152)
        if not (name in MRFEA and depth < 50)
    ]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def head_entries(model: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items() if k.split(".")[0] not in TRUNK]


# ------------------------------------------------------------------------------------------------
# forward / backward


def check_forward_backward(model: nn.Module, joints: int = 17) -> None:
    model.train()
    x = torch.randn(2, 3, 64, 64)
    out = model(x)
    assert out.shape == (2, joints, 16, 16)
    out.square().mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad[:5]}"


@pytest.mark.parametrize("name,depth", [pytest.param(n, d, marks=[pytest.mark.slow] if d > 50 else []) for n, d in supported()])
def test_forward_backward_every_parameter_gets_a_gradient(name, depth):
    torch.manual_seed(0)
    check_forward_backward(build_pose_net(make_cfg(name, depth), is_train=False))


@pytest.mark.parametrize("name", list(POSE_NETS))
def test_caffe_style_forward_backward(name):
    torch.manual_seed(0)
    model = build_pose_net(make_cfg(name, 50, "MODEL.STYLE", "caffe"), is_train=False)
    assert isinstance(model.layer2[0], Bottleneck_CAFFE)
    # caffe style: the stride sits on the first 1x1 convolution
    assert model.layer2[0].conv1.stride == (2, 2) and model.layer2[0].conv2.stride == (1, 1)
    check_forward_backward(model)


def test_pytorch_style_stride_on_3x3():
    model = build_meta(make_cfg("pose_resnet", 50))
    assert type(model.layer2[0]) is Bottleneck
    assert model.layer2[0].conv1.stride == (1, 1) and model.layer2[0].conv2.stride == (2, 2)
    assert type(build_meta(make_cfg("pose_resnet", 18)).layer1[0]) is BasicBlock


def test_output_is_quarter_resolution_for_rectangular_input():
    torch.manual_seed(0)
    model = build_pose_net(make_cfg("mrheat2_pose_resnet", 18), is_train=False).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 96, 64)).shape == (1, 17, 24, 16)


# ------------------------------------------------------------------------------------------------
# sizes

COCO_COUNTS = {  # (depth, name): (parameters, state_dict entries)
    (50, "pose_resnet"): (33_999_697, 338),
    (50, "mrheat1_pose_resnet"): (34_017_785, 359),
    (50, "mrheat2_pose_resnet"): (34_022_409, 360),
    (50, "mrfea1_pose_resnet"): (41_341_265, 356),
    (50, "mrfea2_pose_resnet"): (80_141_137, 356),
    (101, "pose_resnet"): (52_991_825, 644),
    (101, "mrheat1_pose_resnet"): (53_009_913, 665),
    (101, "mrheat2_pose_resnet"): (53_014_537, 666),
    (101, "mrfea1_pose_resnet"): (60_333_393, 662),
    (101, "mrfea2_pose_resnet"): (99_133_265, 662),
    (152, "pose_resnet"): (68_635_473, 950),
    (152, "mrheat1_pose_resnet"): (68_653_561, 971),
    (152, "mrheat2_pose_resnet"): (68_658_185, 972),
    (152, "mrfea1_pose_resnet"): (75_977_041, 968),
    (152, "mrfea2_pose_resnet"): (114_776_913, 968),
    # "Other checks": ResNet-18 / 34 with the COCO 256x192 config
    (18, "pose_resnet"): (15_376_721, None),
    (34, "pose_resnet"): (25_484_881, None),
    (18, "mrheat1_pose_resnet"): (15_394_809, None),
    (34, "mrheat1_pose_resnet"): (25_502_969, None),
    (18, "mrheat2_pose_resnet"): (15_399_433, None),
    (34, "mrheat2_pose_resnet"): (25_507_593, None),
}

MPII_R50_COUNTS = {
    "pose_resnet": 33_999_440,
    "mrheat1_pose_resnet": 34_015_952,
    "mrheat2_pose_resnet": 34_020_048,
    "mrfea1_pose_resnet": 41_341_008,
    "mrfea2_pose_resnet": 80_140_880,
}


@pytest.mark.parametrize("depth,name", sorted(COCO_COUNTS))
def test_coco_parameter_and_state_dict_counts(depth, name):
    params, entries = COCO_COUNTS[depth, name]
    model = build_meta(make_cfg(name, depth))
    assert n_params(model) == params
    if entries is not None:
        state_dict = model.state_dict()
        assert len(state_dict) == entries
        # PyTorch-0.4.0-era files lack num_batches_tracked: one per BatchNorm
        n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        assert sum(k.endswith("num_batches_tracked") for k in state_dict) == n_bn


@pytest.mark.parametrize("name", list(MPII_R50_COUNTS))
def test_mpii_r50_parameter_counts(name):
    assert n_params(build_meta(make_cfg(name, 50, yaml=MPII_R50))) == MPII_R50_COUNTS[name]


def test_caffe_34_would_have_been_resnet50_but_is_refused():
    # the original's caffe + 34 silently built the ResNet-50 network (33,999,697 parameters)
    with pytest.raises(ValueError, match="MODEL.STYLE"):
        build_meta(make_cfg("pose_resnet", 34, "MODEL.STYLE", "caffe"))
    assert n_params(build_meta(make_cfg("pose_resnet", 50, "MODEL.STYLE", "caffe"))) == 33_999_697


# ------------------------------------------------------------------------------------------------
# key lists (ResNet-50, COCO, 17 joints; keys outside conv1/bn1/layer1-4)


def bn(prefix: str, c: int) -> list[tuple[str, tuple[int, ...]]]:
    return [(f"{prefix}.weight", (c,)), (f"{prefix}.bias", (c,)), (f"{prefix}.running_mean", (c,)),
            (f"{prefix}.running_var", (c,)), (f"{prefix}.num_batches_tracked", ())]


def tconv(prefix: str, cin: int, cout: int) -> list[tuple[str, tuple[int, ...]]]:
    return [(f"{prefix}.weight", (cin, cout, 4, 4))]


FINAL = [("final_layer.weight", (17, 256, 1, 1)), ("final_layer.bias", (17,))]

POSE_RESNET_HEAD = (
    tconv("deconv_layers.0", 2048, 256) + bn("deconv_layers.1", 256)
    + tconv("deconv_layers.3", 256, 256) + bn("deconv_layers.4", 256)
    + tconv("deconv_layers.6", 256, 256) + bn("deconv_layers.7", 256) + FINAL
)
_MRHEAT_MAIN = (
    tconv("deconv1.0", 2048, 256) + bn("deconv1.1", 256)
    + tconv("deconv2.0", 256, 256) + bn("deconv2.1", 256)
    + tconv("deconv3.0", 256, 256) + bn("deconv3.1", 256)
    + [("s_conv1.0.weight", (17, 256, 1, 1)), ("s_conv1.0.bias", (17,))] + bn("s_conv1.1", 17)
    + tconv("s_deconv1.0", 17, 17) + bn("s_deconv1.1", 17)
)
_MRHEAT_S2 = (
    [("s_conv2.0.weight", (17, 256, 1, 1)), ("s_conv2.0.bias", (17,))] + bn("s_conv2.1", 17)
    + tconv("s_deconv2", 17, 17) + FINAL
)
MRHEAT1_HEAD = _MRHEAT_MAIN + _MRHEAT_S2
MRHEAT2_HEAD = _MRHEAT_MAIN + tconv("s_deconv12", 17, 17) + _MRHEAT_S2


def mrfea_head(w11: int, w12: int, w21: int) -> list[tuple[str, tuple[int, ...]]]:
    return (
        tconv("deconv11.0", 2048, w11) + bn("deconv11.1", w11)
        + tconv("deconv12.0", w11, w12) + bn("deconv12.1", w12)
        + tconv("deconv21.0", 1024, w21) + bn("deconv21.1", w21)
        + tconv("deconv13.0", w12, 256) + bn("deconv13.1", 256)
        + tconv("deconv22.0", w21, 256) + bn("deconv22.1", 256)
        + tconv("deconv3.0", 512, 256) + bn("deconv3.1", 256) + FINAL
    )


GOLDEN_HEADS = {
    "pose_resnet": POSE_RESNET_HEAD,
    "mrheat1_pose_resnet": MRHEAT1_HEAD,
    "mrheat2_pose_resnet": MRHEAT2_HEAD,
    "mrfea1_pose_resnet": mrfea_head(256, 256, 256),
    "mrfea2_pose_resnet": mrfea_head(1024, 512, 512),
}


def test_golden_head_entry_counts():
    assert {k: len(v) for k, v in GOLDEN_HEADS.items()} == {
        "pose_resnet": 20, "mrheat1_pose_resnet": 41, "mrheat2_pose_resnet": 42,
        "mrfea1_pose_resnet": 38, "mrfea2_pose_resnet": 38,
    }


@pytest.mark.parametrize("name", list(POSE_NETS))
def test_golden_head_keys(name):
    assert head_entries(build_meta(make_cfg(name, 50))) == GOLDEN_HEADS[name]


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_trunk_keys_equal_torchvision_without_fc(depth):
    with torch.device("meta"):
        reference = getattr(torchvision.models, f"resnet{depth}")(weights=None).state_dict()
    expected = [(k, tuple(v.shape)) for k, v in reference.items() if not k.startswith("fc.")]
    for name in POSE_NETS:
        if name in MRFEA and depth < 50:
            continue
        model = build_meta(make_cfg(name, depth))
        trunk = [(k, tuple(v.shape)) for k, v in model.state_dict().items() if k.split(".")[0] in TRUNK]
        assert trunk == expected, name
        # the trunk is registered first, so its keys lead the state_dict
        assert list(model.state_dict())[: len(trunk)] == [k for k, _ in trunk]


def test_top_level_module_order():
    trunk = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    expected = {
        "pose_resnet": ["deconv_layers", "final_layer"],
        "mrheat1_pose_resnet": ["deconv1", "deconv2", "deconv3", "s_conv1", "s_deconv1", "s_conv2", "s_deconv2",
                                "final_layer"],
        "mrheat2_pose_resnet": ["deconv1", "deconv2", "deconv3", "s_conv1", "s_deconv1", "s_deconv12", "s_conv2",
                                "s_deconv2", "final_layer"],
        "mrfea1_pose_resnet": ["deconv11", "deconv12", "deconv21", "deconv13", "deconv22", "deconv3", "final_layer"],
        "mrfea2_pose_resnet": ["deconv11", "deconv12", "deconv21", "deconv13", "deconv22", "deconv3", "final_layer"],
    }
    for name, head in expected.items():
        assert [n for n, _ in build_meta(make_cfg(name, 50)).named_children()] == trunk + head, name


def test_relu_inplace_flags():
    inplace = {
        "mrheat1_pose_resnet": {"deconv1": False, "deconv2": False, "deconv3": True, "s_conv1": True,
                                "s_deconv1": True, "s_conv2": False},
        "mrfea1_pose_resnet": dict.fromkeys(["deconv11", "deconv12", "deconv13", "deconv21", "deconv22", "deconv3"],
                                            True),
    }
    inplace["mrheat2_pose_resnet"] = inplace["mrheat1_pose_resnet"]
    inplace["mrfea2_pose_resnet"] = inplace["mrfea1_pose_resnet"]
    for name, flags in inplace.items():
        model = build_meta(make_cfg(name, 50))
        assert {k: getattr(model, k)[2].inplace for k in flags} == flags, name
    assert isinstance(build_meta(make_cfg("mrheat1_pose_resnet")).s_deconv2, nn.ConvTranspose2d)


# ------------------------------------------------------------------------------------------------
# golden outputs

# torch.manual_seed(0), default PyTorch init, eval mode, ResNet-50, COCO config (J = 17),
# input torch.randn(1, 3, 64, 64) from Generator seed 1. Values: mean, std, max |y|, and
# y.flatten()[0], [1000], [-1]. Recorded with PyTorch 2.14.1 (CPU); a change of the head arithmetic
# (order or weights of the sums, missing branch, ReLU placement) moves them far beyond the tolerance.
GOLDEN_OUTPUTS = {
    "pose_resnet": (0.00067356962, 0.039854951, 0.062438946, (0.061153278, 0.059793737, 0.017268838)),
    "mrheat1_pose_resnet": (0.0094046164, 0.034825347, 0.062433377, (0.038787533, 0.016227357, 0.042571217)),
    "mrheat2_pose_resnet": (0.0051346449, 0.043223452, 0.073792271, (-0.028126007, 0.0041097035, 0.034675367)),
    "mrfea1_pose_resnet": (-0.013732181, 0.047172509, 0.13261232, (-0.014844265, -0.07472381, -0.05838342)),
    "mrfea2_pose_resnet": (0.013878324, 0.043004449, 0.15567556, (-0.040755805, 0.049829993, -0.03275454)),
}


@pytest.mark.parametrize("name", list(POSE_NETS))
def test_seeded_golden_output(name):
    torch.manual_seed(0)
    model = build_pose_net(make_cfg(name, 50), is_train=False).eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x)
    flat = y.flatten()
    got = torch.tensor([y.mean(), y.std(), y.abs().max(), flat[0], flat[1000], flat[-1]], dtype=torch.float64)
    mean, std, amax, picks = GOLDEN_OUTPUTS[name]
    want = torch.tensor([mean, std, amax, *picks], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-5)


# How the MR heads renamed SimpleBaseline's keys: pose_resnet key -> MRHeat key
# (deconv_layers.{0,1} -> deconv1.{0,1}, {3,4} -> deconv2, {6,7} -> deconv3)
_DECONV_MAP = {"0": "deconv1.0", "1": "deconv1.1", "3": "deconv2.0", "4": "deconv2.1",
               "6": "deconv3.0", "7": "deconv3.1"}


def pose_to_mrheat(state_dict: "OrderedDict[str, torch.Tensor]") -> "OrderedDict[str, torch.Tensor]":
    out = OrderedDict()
    for k, v in state_dict.items():
        if k.startswith("deconv_layers."):
            _, index, rest = k.split(".", 2)
            k = f"{_DECONV_MAP[index]}.{rest}"
        out[k] = v
    return out


@pytest.mark.parametrize("name", ["mrheat1_pose_resnet", "mrheat2_pose_resnet"])
def test_mrheat_equals_pose_resnet_with_zeroed_side_deconvs(name):
    torch.manual_seed(0)
    baseline = build_pose_net(make_cfg("pose_resnet", 50), is_train=False)
    baseline.init_weights("")  # N(0, 0.001) head, as after training init
    for m in baseline.modules():  # non-trivial BN statistics, so copying buffers matters
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    model = build_pose_net(make_cfg(name, 50), is_train=False)
    result = model.load_state_dict(pose_to_mrheat(baseline.state_dict()), strict=False)
    assert not result.unexpected_keys
    assert all(k.startswith("s_") for k in result.missing_keys)
    with torch.no_grad():
        model.s_deconv2.weight.zero_()
        if hasattr(model, "s_deconv12"):
            model.s_deconv12.weight.zero_()
    baseline.eval()
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (model(x) - baseline(x)).abs().max().item() == 0


def test_mrfea_average_includes_raw_layer1():
    """Z = (((L1 + U2) + U3) + U4) / 4: with all upsampling branches zeroed, Z = L1 / 4."""
    torch.manual_seed(0)
    model = build_pose_net(make_cfg("mrfea1_pose_resnet", 50), is_train=False).eval()
    with torch.no_grad():
        for name in ("deconv3", "deconv22", "deconv13"):
            bn_layer = getattr(model, name)[1]
            bn_layer.weight.zero_()
            bn_layer.bias.zero_()
        x = torch.randn(1, 3, 64, 64)
        c2 = model.forward_stages(x)[0]
        torch.testing.assert_close(model(x), model.final_layer(c2 / 4), rtol=0, atol=0)


# ------------------------------------------------------------------------------------------------
# impossible combinations


BAD_CONFIGS = [
    ("pose_resnet", ["MODEL.EXTRA.NUM_LAYERS", "42"], "MODEL.EXTRA.NUM_LAYERS=42"),
    ("mrheat1_pose_resnet", ["MODEL.EXTRA.NUM_LAYERS", "26"], "MODEL.EXTRA.NUM_LAYERS=26"),
    ("pose_resnet", ["MODEL.EXTRA.NUM_LAYERS", "18", "MODEL.STYLE", "caffe"], "MODEL.STYLE='caffe'"),
    ("mrheat2_pose_resnet", ["MODEL.EXTRA.NUM_LAYERS", "34", "MODEL.STYLE", "caffe"], "MODEL.STYLE='caffe'"),
    ("mrfea1_pose_resnet", ["MODEL.EXTRA.NUM_LAYERS", "18"], "MODEL.EXTRA.NUM_LAYERS=18"),
    ("mrfea2_pose_resnet", ["MODEL.EXTRA.NUM_LAYERS", "34"], "MODEL.EXTRA.NUM_LAYERS=34"),
    ("mrfea1_pose_resnet", ["MODEL.EXTRA.NUM_DECONV_FILTERS", "[256,256,128]"],
     "MODEL.EXTRA.NUM_DECONV_FILTERS[2]=128"),
    ("mrfea2_pose_resnet", ["MODEL.EXTRA.NUM_DECONV_FILTERS", "[256,256,128]"],
     "MODEL.EXTRA.NUM_DECONV_FILTERS[2] must be 256"),
    ("mrfea1_pose_resnet", ["MODEL.IMAGE_SIZE", "[200,256]"], "MODEL.IMAGE_SIZE=[200, 256]"),
    ("mrfea2_pose_resnet", ["MODEL.IMAGE_SIZE", "[192,250]"], "MODEL.IMAGE_SIZE=[192, 250]"),
    ("mrheat1_pose_resnet", ["MODEL.EXTRA.NUM_DECONV_FILTERS", "[256,256]"], "MODEL.EXTRA.NUM_DECONV_FILTERS"),
    ("mrheat2_pose_resnet", ["MODEL.EXTRA.NUM_DECONV_KERNELS", "[4,4]"], "MODEL.EXTRA.NUM_DECONV_KERNELS"),
    ("mrfea1_pose_resnet", ["MODEL.EXTRA.NUM_DECONV_KERNELS", "[4]"], "MODEL.EXTRA.NUM_DECONV_KERNELS"),
    ("mrheat1_pose_resnet", ["MODEL.EXTRA.NUM_DECONV_FILTERS", "[256,256,256,128]",
                             "MODEL.EXTRA.NUM_DECONV_KERNELS", "[4,4,4,4]"], "MODEL.EXTRA.NUM_DECONV_FILTERS[-1]=128"),
    ("pose_resnet", ["MODEL.EXTRA.NUM_DECONV_LAYERS", "2"], "MODEL.EXTRA.NUM_DECONV_LAYERS=2"),
    ("pose_resnet", ["MODEL.EXTRA.NUM_DECONV_KERNELS", "[4,4]"], "MODEL.EXTRA.NUM_DECONV_LAYERS=3"),
    ("pose_resnet", ["MODEL.EXTRA.NUM_DECONV_KERNELS", "[4,4,5]"], "MODEL.EXTRA.NUM_DECONV_KERNELS"),
    ("mrheat1_pose_resnet", ["MODEL.EXTRA.NUM_DECONV_KERNELS", "[4,1,4]"], "MODEL.EXTRA.NUM_DECONV_KERNELS"),
    ("mrheat2_pose_resnet", ["MODEL.EXTRA.FINAL_CONV_KERNEL", "5"], "MODEL.EXTRA.FINAL_CONV_KERNEL=5"),
]


@pytest.mark.parametrize("name,opts,message", BAD_CONFIGS, ids=[f"{n}-{'-'.join(o)}" for n, o, _ in BAD_CONFIGS])
def test_impossible_combination_raises_naming_the_key(name, opts, message):
    # Set after merging: the builders' own checks, for configs made in code (merging refuses some of
    # these values already, e.g. FINAL_CONV_KERNEL 5).
    cfg = load_config(COCO_R50, ["MODEL.NAME", name])
    for key, value in zip(opts[::2], opts[1::2]):
        *parents, leaf = key.split(".")
        node = cfg
        for part in parents:
            node = node[part]
        node[leaf] = yaml.safe_load(value)
    with pytest.raises(ValueError) as info:
        build_meta(cfg)
    text = str(info.value)
    assert message in text
    assert f"MODEL.NAME={name!r}" in text


def test_mrfea_forward_rejects_input_not_multiple_of_32():
    model = build_meta(make_cfg("mrfea1_pose_resnet", 50))
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.empty(1, 3, 80, 64, device="meta"))


def test_backbone_and_builders_reject_bad_arguments():
    with pytest.raises(ValueError, match="MODEL.STYLE='tensorflow'"):
        ResNetBackbone(50, "tensorflow")
    with pytest.raises(ValueError, match="MODEL.EXTRA.NUM_LAYERS=35"):
        ResNetBackbone(35)
    with pytest.raises(ValueError, match="kernel 5"):
        deconv_block(8, 8, 5, bias=False, inplace_relu=True)


@pytest.mark.parametrize("kernel,padding,output_padding", [(4, 1, 0), (3, 1, 1), (2, 0, 0)])
def test_deconv_block_doubles_the_size(kernel, padding, output_padding):
    block = deconv_block(3, 5, kernel, bias=True, inplace_relu=False)
    tconv_layer = block[0]
    assert (tconv_layer.padding, tconv_layer.output_padding) == ((padding, padding), (output_padding, output_padding))
    assert block(torch.randn(1, 3, 6, 5)).shape == (1, 5, 12, 10)
    assert tconv_layer.bias is not None and block[2].inplace is False


def test_unknown_model_name_lists_the_valid_ones():
    cfg = make_cfg("pose_resnet", 50)
    cfg.MODEL.NAME = "hrnet"
    with pytest.raises(ValueError) as info:
        build_pose_net(cfg, is_train=False)
    assert "MODEL.NAME='hrnet'" in str(info.value)
    assert all(name in str(info.value) for name in POSE_NETS)


def test_registry_and_original_import_paths():
    assert sorted(POSE_NETS) == sorted(
        ["pose_resnet", "mrheat1_pose_resnet", "mrheat2_pose_resnet", "mrfea1_pose_resnet", "mrfea2_pose_resnet"])
    for name, builder in POSE_NETS.items():
        module = getattr(models, name)
        assert module.get_pose_net is builder
        assert issubclass(module.PoseResNet, ResNetBackbone)


# ------------------------------------------------------------------------------------------------
# init_weights and ImageNet loading


def conv_weights(module: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


@pytest.mark.parametrize("name,depth", [("pose_resnet", 18), ("mrheat1_pose_resnet", 18),
                                        ("mrheat2_pose_resnet", 18), ("mrfea1_pose_resnet", 50)])
def test_head_init_statistics(name, depth, caplog):
    torch.manual_seed(0)
    with caplog.at_level(logging.INFO):
        model = build_pose_net(make_cfg(name, depth, "MODEL.PRETRAINED", ""), is_train=True)
    assert "no ImageNet weights are loaded" in caplog.text
    head = torch.cat([w.flatten() for m in model.head_modules() for w in conv_weights(m)])
    assert head.std().item() == pytest.approx(0.001, rel=0.05)
    assert abs(head.mean().item()) < 1e-4
    for m in model.head_modules():
        for w in conv_weights(m):  # also the small s_conv*/s_deconv* layers (17 x 17 x 4 x 4, ...)
            assert w.std().item() == pytest.approx(0.001, rel=0.25)
        for sub in m.modules():
            if isinstance(sub, (nn.Conv2d, nn.ConvTranspose2d)) and sub.bias is not None:
                assert torch.all(sub.bias == 0)
            if isinstance(sub, nn.BatchNorm2d):
                assert torch.all(sub.weight == 1) and torch.all(sub.bias == 0)
    # the trunk keeps PyTorch's default init (no ImageNet file)
    assert model.conv1.weight.std().item() > 0.01


def test_head_init_is_reproducible_and_in_original_order():
    torch.manual_seed(0)
    model = build_pose_net(make_cfg("mrheat1_pose_resnet", 18), is_train=False)
    torch.manual_seed(1)
    model.init_weights("")
    torch.manual_seed(1)
    expected = torch.empty_like(model.deconv1[0].weight).normal_(std=0.001)
    assert torch.equal(model.deconv1[0].weight, expected)  # deconv1 is drawn first
    assert model.HEAD_MODULES == ("deconv1", "deconv2", "deconv3", "s_deconv1", "s_deconv2", "s_conv1", "s_conv2",
                                  "final_layer")


def assert_trunk_equal(model: nn.Module, reference: dict[str, torch.Tensor]) -> None:
    state_dict = model.state_dict()
    trunk = [k for k in state_dict if k.split(".")[0] in TRUNK]
    assert trunk == [k for k in reference if not k.startswith("fc.")]
    for k in trunk:
        assert torch.equal(state_dict[k], reference[k]), k


def test_imagenet_torchvision_file_loads_the_trunk(tmp_path, caplog):
    torch.manual_seed(3)
    reference = torchvision.models.resnet18(weights=None).state_dict()
    path = tmp_path / "resnet18.pth"
    torch.save(reference, path)
    torch.manual_seed(0)
    with caplog.at_level(logging.INFO, logger="models.resnet"):
        model = build_pose_net(make_cfg("mrheat1_pose_resnet", 18, "MODEL.PRETRAINED", str(path)), is_train=True)
    assert_trunk_equal(model, reference)
    assert "fc.weight" in caplog.text and "fc.bias" in caplog.text
    n_trunk = sum(not k.startswith("fc.") for k in reference)
    assert f"{n_trunk} of {len(reference)} file tensors taken" in caplog.text
    assert "s_deconv2.* (1)" in caplog.text  # head keys not in the file keep their init
    assert model.final_layer.weight.std().item() == pytest.approx(0.001, rel=0.1)


def test_imagenet_caffe_style_pth_tar_with_module_prefix(tmp_path, caplog):
    torch.manual_seed(4)
    reference = torchvision.models.resnet50(weights=None).state_dict()
    path = tmp_path / "resnet50-caffe.pth.tar"
    torch.save({"state_dict": OrderedDict((f"module.{k}", v) for k, v in reference.items()), "epoch": 90}, path)
    model = build_pose_net(make_cfg("pose_resnet", 50, "MODEL.STYLE", "caffe"), is_train=False)
    with caplog.at_level(logging.INFO, logger="models.resnet"):
        assert load_imagenet_weights(model, path) == len(reference) - 2
    assert_trunk_equal(model, reference)
    assert "fc.weight" in caplog.text


def test_imagenet_missing_file_names_path_and_key(tmp_path):
    missing = tmp_path / "models/pytorch/imagenet/resnet50-19c8e357.pth"
    cfg = make_cfg("pose_resnet", 18, "MODEL.PRETRAINED", str(missing))
    with pytest.raises(FileNotFoundError) as info:
        build_pose_net(cfg, is_train=True)
    assert str(missing) in str(info.value) and "MODEL.PRETRAINED" in str(info.value)
    # valid/test (is_train False) and INIT_WEIGHTS False never read the file
    build_meta(cfg)
    cfg.MODEL.INIT_WEIGHTS = False
    with torch.device("meta"):
        build_pose_net(cfg, is_train=True)


def test_imagenet_shape_mismatch_names_file_and_key(tmp_path):
    path = tmp_path / "resnet18.pth"
    with torch.device("meta"):
        shapes = torchvision.models.resnet18(weights=None).state_dict()
    torch.save({k: torch.zeros(v.shape, dtype=v.dtype) for k, v in shapes.items()}, path)
    model = build_meta(make_cfg("pose_resnet", 50))
    with pytest.raises(ValueError) as info:
        model.init_weights(path)
    assert str(path) in str(info.value) and "layer1.0.conv1.weight" in str(info.value)


def test_imagenet_file_without_matching_keys_is_an_error(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="no key of the file matches"):
        load_imagenet_weights(build_meta(make_cfg("pose_resnet", 18)), path)
