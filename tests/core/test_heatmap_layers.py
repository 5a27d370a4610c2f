"""The networks name their heat-map layers (float32 under TEST.AMP), debug pictures use the codec's
mapping, and the per-epoch validation folds SyncBatchNorm like BatchNorm2d."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from core.amp import heatmap_layers
from core.codec import encode_target, heatmap_to_input
from core.config import load_config
from core.evaluation import _validation_network
from core.inference import get_max_preds
from core.inference_step import inference_step, input_pixels
from dataset.keypoints import COCO_KEYPOINTS
from models import POSE_NETS, build_pose_net

FLIP_PAIRS = [list(pair) for pair in COCO_KEYPOINTS.flip_pairs]  # COCO-17 left/right joints

REPO = Path(__file__).resolve().parents[2]
COCO_YAML = REPO / "experiments" / "coco" / "resnet50" / "256x192_d256x3_adam_lr1e-3.yaml"

# What each network lists (submodule names); the state_dict keys are pinned in tests/models/test_networks.py.
EXPECTED = {
    "pose_resnet": ["final_layer"],
    "mrfea1_pose_resnet": ["final_layer"],
    "mrfea2_pose_resnet": ["final_layer"],
    "mrheat1_pose_resnet": ["s_conv1.0", "s_deconv1.0", "s_conv2.0", "s_deconv2", "final_layer"],
    "mrheat2_pose_resnet": ["s_conv1.0", "s_deconv1.0", "s_deconv12", "s_conv2.0", "s_deconv2", "final_layer"],
}


def _cfg(name: str, joints: int = 17, *opts: str):
    mrfea = name.startswith("mrfea")  # needs a Bottleneck trunk and 256 filters
    cfg = load_config(COCO_YAML, [
        "MODEL.NAME", name, "MODEL.NUM_JOINTS", str(joints), "MODEL.EXTRA.NUM_LAYERS", "50" if mrfea else "18",
        "MODEL.EXTRA.NUM_DECONV_FILTERS", "[256,256,256]" if mrfea else "[64,64,64]", "MODEL.IMAGE_SIZE", "[64,64]",
        "MODEL.EXTRA.HEATMAP_SIZE", "[16,16]", "GPUS", "cpu", "TEST.FLIP_TEST", "False", *opts,
    ])
    cfg.freeze()
    return cfg


def _names(model, modules):
    by_id = {id(m): n for n, m in model.named_modules()}
    return [by_id[id(m)] for m in modules]


@pytest.mark.parametrize("name", sorted(POSE_NETS))
def test_each_network_lists_its_heatmap_layers(name):
    model = build_pose_net(_cfg(name), is_train=False)
    assert _names(model, heatmap_layers(model)) == EXPECTED[name]
    # with the default 17 joints these are exactly the convolutions with 17 outputs (the former rule)
    seventeen = {n for n, m in model.named_modules()
                 if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) and m.out_channels == 17}
    assert seventeen == set(EXPECTED[name])


@pytest.mark.parametrize("joints", [64, 128, 256])
@pytest.mark.parametrize("name", ["pose_resnet", "mrheat2_pose_resnet"])
def test_trunk_layers_stay_in_bf16_whatever_the_joint_count(name, joints):
    """With 64/128/256 joints trunk convolutions have as many outputs; they are no heat-map layers."""
    cfg = _cfg(name, joints, "TEST.AMP", "True")
    torch.manual_seed(0)
    model = build_pose_net(cfg, is_train=False).eval()
    same_width = {n for n, m in model.named_modules()
                  if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) and m.out_channels == joints}
    assert same_width - set(EXPECTED[name])  # the old out_channels rule would catch trunk layers here
    seen: dict[str, torch.dtype] = {}
    for module_name, module in model.named_modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            module.register_forward_hook(lambda m, a, out, n=module_name: seen.__setitem__(n, out.dtype))
    out = inference_step(cfg, model, torch.randn(1, 3, 64, 64), FLIP_PAIRS)
    assert out.dtype == torch.float32 and out.shape[1] == joints
    assert {n for n, dtype in seen.items() if dtype == torch.float32} == set(EXPECTED[name])


@pytest.mark.parametrize("image, heatmap, target_type", [
    ((64, 64), (16, 16), "gaussian"),   # stride 4, the original
    ((64, 64), (32, 32), "gaussian"),   # stride 2
    ((64, 64), (8, 8), "gaussian"),     # stride 8
    ((64, 48), (16, 12), "udp"),        # UDP: (64 - 1) / (16 - 1)
])
def test_debug_picture_points_land_on_the_joints(image, heatmap, target_type):
    """A target drawn for an input-pixel joint, decoded by arg-max, maps back onto that joint."""
    cfg = load_config(COCO_YAML, ["MODEL.IMAGE_SIZE", str(list(image)), "MODEL.EXTRA.HEATMAP_SIZE", str(list(heatmap)),
                                  "MODEL.EXTRA.TARGET_TYPE", target_type, "MODEL.EXTRA.SIGMA", "1"])
    stride = (np.array(image) - 1.0) / (np.array(heatmap) - 1.0) if target_type == "udp" else np.array(image) / np.array(heatmap)
    # joints on heat-map pixel centres (so that the arg-max is exact), in input pixels
    cells = np.array([[1, 2], [5, 3], [heatmap[0] - 2, heatmap[1] - 2]], dtype=np.float64)
    joints = np.concatenate([cells * stride, np.zeros((3, 1))], axis=1).astype(np.float32)
    target, _ = encode_target(joints, np.ones((3, 3), np.float32), np.array(image), np.array(heatmap), 1.0, target_type)
    pred, _ = get_max_preds(target[None])
    placed = input_pixels(cfg, pred)
    np.testing.assert_allclose(placed[0], joints[:, :2], atol=1e-4)
    if tuple(stride) != (4.0, 4.0):
        assert not np.allclose(pred[0] * 4, joints[:, :2], atol=0.5)  # where the pictures put them before
    np.testing.assert_array_equal(heatmap_to_input(pred, image, heatmap, target_type).astype(np.float32), placed)


def test_default_mapping_is_the_original_times_four():
    cfg = load_config(COCO_YAML, [])
    pred = np.random.default_rng(0).uniform(0, 48, (2, 17, 2)).astype(np.float32)
    out = input_pixels(cfg, pred)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, pred * 4)


def test_per_epoch_validation_folds_sync_batchnorm_like_batchnorm():
    """TRAIN.SYNC_BN models (as train.py converts them) fold under TEST.AMP: the same network valid.py runs."""
    cfg = _cfg("mrheat1_pose_resnet", 17, "TEST.AMP", "True")
    torch.manual_seed(0)
    plain = build_pose_net(cfg, is_train=False)
    for m in plain.modules():  # non-trivial statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(plain)).eval()
    plain.eval()
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules())
    folded_plain, folded_synced = _validation_network(cfg, plain), _validation_network(cfg, synced)
    for folded in (folded_plain, folded_synced):
        assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in folded.modules())
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules())  # the training model is untouched
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(folded_synced(x), folded_plain(x), rtol=0, atol=0)
