"""Inference on CUDA: the five networks against the CPU on the same weights, the batched flip pass
against two passes, the API and the demo with a CUDA device, and box NMS on the GPU.

Tolerance of float32 comparisons: 1e-4 of the output's largest magnitude, with TF32 switched off
(the ``exact_float32`` fixture). CUDA and the CPU then differ only in the order of float32
additions, about 1e-6 relative per layer; TF32 would keep 10 mantissa bits (about 1e-3).
"""
from __future__ import annotations

import copy
import json

import cv2
import numpy as np
import pytest
import torch

from core.amp import inference_autocast
from core.api import PoseEstimator
from core.inference_step import inference_step, prepare_inference_model
from dataset.keypoints import COCO_KEYPOINTS
from helpers import sample_path
from models import POSE_NETS, build_pose_net
from test_api import COCO_YAML as API_YAML
from test_api import SMALL as API_SMALL
from test_api import _save_checkpoints
from test_demo import ckpt, load_results, run  # noqa: F401  (ckpt: test_demo's small checkpoint fixture)
from test_inference_switches import _cfg, _flipped_back, net_and_inputs  # noqa: F401  (a fixture too)
from test_networks import MRFEA, make_cfg

FLIP_PAIRS = [list(pair) for pair in COCO_KEYPOINTS.flip_pairs]  # COCO-17 left/right joints

pytestmark = pytest.mark.cuda

FLOAT32_TOL = 1e-4  # of the output's scale; see the module docstring


def _with_trained_bn_statistics(model: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial BatchNorm statistics, as a trained network has (fresh ones make BN nearly the identity)."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.rand(module.running_mean.shape, generator=generator) * 0.4 - 0.2)
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
    return model


@pytest.mark.parametrize("name", list(POSE_NETS))
def test_forward_on_cuda_equals_the_cpu_on_the_same_weights(name, device, exact_float32):
    """Each network (ResNet-18 trunk; ResNet-50 for MRFEA, which needs a bottleneck trunk), eval mode,
    64x64 crops: the CUDA heatmaps are the CPU's within FLOAT32_TOL of their scale."""
    torch.manual_seed(0)
    model = _with_trained_bn_statistics(build_pose_net(make_cfg(name, 50 if name in MRFEA else 18), is_train=False))
    model.eval()
    inputs = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        on_cpu = model(inputs)
        on_device = copy.deepcopy(model).to(device)(inputs.to(device))
    assert on_device.device.type == device.type and on_device.dtype == torch.float32
    on_device = on_device.cpu()
    assert on_cpu.shape == on_device.shape == (2, 17, 16, 16)
    scale = on_cpu.abs().max().item()
    assert scale > 0
    assert (on_device - on_cpu).abs().max().item() <= FLOAT32_TOL * scale


@pytest.mark.parametrize(
    "opts, tol",
    [
        (["TEST.CHANNELS_LAST", "True"], FLOAT32_TOL),  # float32
        (["TEST.AMP", "True", "TEST.AMP_DTYPE", "fp16", "TEST.CHANNELS_LAST", "True"], 1e-2),
        (["TEST.AMP", "True", "TEST.AMP_DTYPE", "bf16"], 5e-2),
    ],
    ids=["float32-channels-last", "fp16-channels-last", "bf16"],
)
def test_batched_flip_pass_equals_two_passes(net_and_inputs, device, exact_float32, opts, tol):  # noqa: F811  (the fixture)
    """With TEST.AMP or TEST.CHANNELS_LAST on CUDA the plain and mirrored crops go through the network
    as one batch of 2N; the maps equal two passes of N through the same network under the same
    switches. Tolerances: float32 as above; fp16 and bf16 as the CPU test of these switches allows
    (one batch or two may pick other kernels, whose low-precision roundings differ)."""
    model, inputs = net_and_inputs
    cfg = _cfg(*opts)
    net = prepare_inference_model(cfg, copy.deepcopy(model), device)  # folds BN under TEST.AMP
    inputs = inputs.to(device)
    sizes: list[int] = []
    handle = net.register_forward_pre_hook(lambda module, args: sizes.append(args[0].size(0)))
    try:
        out = inference_step(cfg, net, inputs, FLIP_PAIRS)
    finally:
        handle.remove()
    n = inputs.size(0)
    assert sizes == ([2 * n] if device.type == "cuda" else [n, n])  # the CPU keeps two passes
    assert out.dtype == torch.float32 and out.device.type == device.type

    x = inputs.contiguous(memory_format=torch.channels_last) if cfg.TEST.CHANNELS_LAST else inputs
    with torch.no_grad(), inference_autocast(cfg, device, net):
        two_passes = (net(x).float() + _flipped_back(cfg, net, x).float()) * 0.5
    scale = two_passes.abs().max().item()
    assert (out - two_passes).abs().max().item() <= tol * scale


def _assert_same_poses(got: list[dict], ref: list[dict], heatmap_size) -> None:
    """Joint scores (heatmap maxima) within 1e-4 relative. Positions within 1e-3 px for at least 90% of
    the joints and within half a heatmap pixel for all: where two neighbours of a maximum differ by less
    than the float32 rounding, the quarter-pixel offset may point the other way (0.5 heatmap px)."""
    assert len(got) == len(ref)
    close, total = 0, 0
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a["keypoints"][:, 2], b["keypoints"][:, 2], rtol=1e-4, atol=1e-6)
        assert a["score"] == pytest.approx(b["score"], rel=1e-4)
        half_px = 0.5 * np.asarray(b["scale"]) * 200 / np.asarray(heatmap_size)  # image px per heatmap px / 2
        diff = np.abs(np.asarray(a["keypoints"][:, :2]) - np.asarray(b["keypoints"][:, :2]))
        assert (diff <= half_px + 1e-3).all(), diff.max(axis=0)
        close += int((diff.max(axis=1) <= 1e-3).sum())
        total += len(diff)
    assert close >= 0.9 * total, (close, total)


def _real_image_and_boxes():
    """A COCO val2017 picture of the sample and its people's ground-truth boxes (x, y, w, h)."""
    anns = json.loads(sample_path("coco", "annotations", "person_keypoints_val2017.json").read_text())
    image_id = 196141
    (info,) = [i for i in anns["images"] if i["id"] == image_id]
    boxes = [a["bbox"] for a in anns["annotations"] if a["image_id"] == image_id]
    assert len(boxes) >= 3
    return cv2.imread(str(sample_path("coco", "images", "val2017", info["file_name"]))), boxes


def test_api_with_a_cuda_device(tmp_path, device, exact_float32):
    """PoseEstimator(device='cuda') on a real COCO picture with its people's boxes: the model lives on
    the GPU and the poses are the CPU estimator's; with TEST.AMP + TEST.CHANNELS_LAST (the batched flip
    pass) the person scores stay within 5% of float32's, as on the CPU."""
    bare, _ = _save_checkpoints(API_SMALL, tmp_path)
    image, boxes = _real_image_and_boxes()
    cpu = PoseEstimator.from_config(API_YAML, bare, opts=API_SMALL, device="cpu").predict(image, boxes)
    name = "cuda" if device.type == "cuda" else "cpu"
    est = PoseEstimator.from_config(API_YAML, bare, opts=API_SMALL, device=name)
    assert est.device.type == device.type and next(est.model.parameters()).device.type == device.type
    heatmap_size = est.cfg.MODEL.EXTRA.HEATMAP_SIZE
    _assert_same_poses(est.predict(image, boxes), cpu, heatmap_size)

    fast = PoseEstimator.from_config(API_YAML, bare, opts=API_SMALL + ["TEST.AMP", "True", "TEST.CHANNELS_LAST", "True"],
                                     device=name).predict(image, boxes)
    assert len(fast) == len(cpu)
    for a, b in zip(fast, cpu):
        assert a["keypoints"].dtype == b["keypoints"].dtype == np.float32
        assert a["score"] == pytest.approx(b["score"], rel=0.05)


def test_demo_with_gpus_0(ckpt, tmp_path, gpus):  # noqa: F811  (ckpt is test_demo's fixture)
    """demo.py --gpus 0 over the real COCO sample folder with the real detection file: the same people,
    boxes and poses as --gpus cpu."""
    images = sample_path("coco", "images", "val2017")
    dets = sample_path("coco", "person_detection_results", "COCO_val2017_detections_AP_H_56_person.json")
    out = {}
    for label, where in (("reference", "cpu"), ("tier", gpus)):
        folder = tmp_path / label
        assert run(ckpt, "--input", str(images), "--output-dir", str(folder), "--det-file", str(dets),
                   "--kpt-thr", "-1", "--gpus", where) == 0
        out[label] = load_results(folder, "val2017")
    ref, got = out["reference"], out["tier"]
    assert len(ref) >= 4
    assert [(r["image_id"], r["bbox"]) for r in got] == [(r["image_id"], r["bbox"]) for r in ref]
    for a, b in zip(got, ref):
        assert a["score"] == pytest.approx(b["score"], rel=1e-4)
        ka, kb = np.reshape(a["keypoints"], (-1, 3)), np.reshape(b["keypoints"], (-1, 3))
        np.testing.assert_allclose(ka[:, 2], kb[:, 2], rtol=1e-4, atol=1e-6)
        # square 64x64 crops of 1.25 x the box's longer side, 16x16 heatmaps; see _assert_same_poses
        half_heatmap_px = 0.5 * max(b["bbox"][2], b["bbox"][3]) * 1.25 / 16
        assert np.abs(ka[:, :2] - kb[:, :2]).max() <= half_heatmap_px + 1e-3


def test_gpu_box_nms_equals_the_cpu_kernel(real_cuda):
    """nms.gpu_nms_wrapper (torchvision's CUDA kernel with the original's +1 box convention) keeps the
    boxes the CPU NMS keeps: integer boxes, tied scores, three thresholds."""
    from nms.nms import gpu_nms_wrapper, nms
    from test_nms import random_boxes

    rng = np.random.default_rng(7)
    for _ in range(30):
        dets = random_boxes(rng, int(rng.integers(1, 200)), integer=True, tied_scores=True)
        for thresh in (0.25, 0.5, 0.75):
            assert gpu_nms_wrapper(thresh, 0)(dets) == nms(dets, thresh)
