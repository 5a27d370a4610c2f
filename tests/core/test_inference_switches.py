"""TEST.AMP / TEST.AMP_DTYPE / TEST.CHANNELS_LAST: the shared inference step, its checks, and core.detections."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import torch

from core.amp import check_inference_amp
from core.api import PoseEstimator
from core.config import ConfigError, load_config
from core.detections import DetectionFile
from core.inference_step import inference_heatmaps, inference_step, prepare_inference_model
from dataset.keypoints import COCO_KEYPOINTS
from helpers import load_script
from models import build_pose_net

FLIP_PAIRS = [list(pair) for pair in COCO_KEYPOINTS.flip_pairs]  # COCO-17 left/right joints

REPO = Path(__file__).resolve().parents[2]
COCO_YAML = REPO / "experiments" / "coco" / "resnet50" / "256x192_d256x3_adam_lr1e-3.yaml"
SMALL = [
    "MODEL.NAME", "mrheat1_pose_resnet", "MODEL.EXTRA.NUM_LAYERS", "18",
    "MODEL.EXTRA.NUM_DECONV_FILTERS", "[32,32,32]",
    "MODEL.IMAGE_SIZE", "[64,64]", "MODEL.EXTRA.HEATMAP_SIZE", "[16,16]",
    "GPUS", "cpu", "WORKERS", "0", "TEST.FLIP_TEST", "True",
]


def _cfg(*opts: str):
    cfg = load_config(COCO_YAML, SMALL + list(opts))
    cfg.freeze()
    return cfg


@pytest.fixture(scope="module")
def net_and_inputs():
    torch.manual_seed(0)
    model = build_pose_net(_cfg(), is_train=False).eval()
    return model, torch.randn(3, 3, 64, 64)


def test_default_step_is_the_original_two_pass_float32(net_and_inputs) -> None:
    model, inputs = net_and_inputs
    cfg = _cfg()
    out = inference_step(cfg, model, inputs, FLIP_PAIRS)
    with torch.no_grad():
        ref = (model(inputs) + _flipped_back(cfg, model, inputs)) * 0.5
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    torch.testing.assert_close(out, inference_heatmaps(cfg, model, inputs, FLIP_PAIRS), rtol=0, atol=0)


def _flipped_back(cfg, model, inputs):
    from utils.transforms import flip_back_torch

    flipped = flip_back_torch(model(torch.flip(inputs, dims=[3])), FLIP_PAIRS)
    shifted = flipped.clone()
    shifted[:, :, :, 1:] = flipped[:, :, :, :-1]
    return shifted


@pytest.mark.parametrize(
    "opts, atol",
    [
        (["TEST.CHANNELS_LAST", "True"], 1e-5),  # float32, channels-last
        (["TEST.AMP", "True", "TEST.AMP_DTYPE", "bf16"], 0.05),
        (["TEST.AMP", "True", "TEST.AMP_DTYPE", "fp16", "TEST.CHANNELS_LAST", "True"], 0.01),
    ],
)
def test_fast_switches_stay_close_to_float32(net_and_inputs, opts, atol) -> None:
    model, inputs = net_and_inputs
    ref = inference_step(_cfg(), model, inputs, FLIP_PAIRS)
    cfg = _cfg(*opts)
    # a copy: with TEST.AMP prepare_inference_model folds the BatchNorms in place
    fast_model = prepare_inference_model(cfg, copy.deepcopy(model), torch.device("cpu"))
    out = inference_step(cfg, fast_model, inputs, FLIP_PAIRS)
    assert out.dtype == torch.float32  # decoding always reads float32 maps
    scale = ref.abs().max().item()
    assert (out - ref).abs().max().item() <= atol * scale
    assert (out - ref).abs().max().item() > 0 or opts[0] == "TEST.CHANNELS_LAST"


def test_bad_dtype_and_unsupported_device_name_the_key(monkeypatch) -> None:
    with pytest.raises(ConfigError, match="TEST.AMP_DTYPE"):
        load_config(COCO_YAML, SMALL + ["TEST.AMP_DTYPE", "fp32"])
    cfg = _cfg("TEST.AMP", "True", "TEST.AMP_DTYPE", "fp16")
    check_inference_amp(cfg, torch.device("cpu"))  # PyTorch >= 2.x runs fp16 autocast on the CPU

    def refuse(*args, **kwargs):
        raise RuntimeError("fp16 autocast is not supported here")

    monkeypatch.setattr(torch, "autocast", refuse)
    with pytest.raises(ConfigError, match=r"TEST.AMP_DTYPE='fp16'.*cpu"):
        check_inference_amp(cfg, torch.device("cpu"))


def test_api_uses_the_switches(net_and_inputs, tmp_path: Path) -> None:
    model, _ = net_and_inputs
    ckpt = tmp_path / "w.pth"
    torch.save(model.state_dict(), ckpt)
    img = (torch.rand(80, 60, 3) * 255).to(torch.uint8).numpy()
    plain = PoseEstimator.from_config(COCO_YAML, ckpt, opts=SMALL).predict(img)[0]
    fast_est = PoseEstimator.from_config(COCO_YAML, ckpt, opts=SMALL + ["TEST.AMP", "True", "TEST.CHANNELS_LAST", "True"])
    assert fast_est.model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    fast = fast_est.predict(img)[0]
    assert fast["keypoints"].dtype == plain["keypoints"].dtype
    assert fast["score"] == pytest.approx(plain["score"], rel=0.05)
    with pytest.raises(ConfigError, match="TEST.AMP_DTYPE"):
        PoseEstimator.from_config(COCO_YAML, ckpt, opts=SMALL + ["TEST.AMP", "True", "TEST.AMP_DTYPE", "int8"])


def test_detection_file_lives_in_lib_and_demo_reuses_it(tmp_path: Path) -> None:
    demo = load_script("demo")

    assert demo.DetectionFile is DetectionFile
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([
        {"image_id": 785, "category_id": 1, "bbox": [1, 2, 30, 40], "score": 0.9},
        {"image_id": 785, "category_id": 1, "bbox": [5, 5, 10, 10], "score": 0.2},
        {"image_id": 785, "category_id": 3, "bbox": [0, 0, 5, 5], "score": 0.99},
    ]))
    boxes, scores = DetectionFile(path, score_thr=0.5).boxes("000000000785.jpg", 785)
    assert boxes.tolist() == [[1.0, 2.0, 30.0, 40.0]] and scores.tolist() == [0.9]


@pytest.mark.parametrize("name", ["pose_resnet", "mrheat1_pose_resnet", "mrheat2_pose_resnet"])
def test_amp_writes_the_heatmaps_in_float32_and_the_trunk_in_bf16(name) -> None:
    """Under TEST.AMP every layer with NUM_JOINTS outputs (final layer, MRHeat's side heads) runs in
    float32, the rest in bf16; the hooks are gone afterwards and nothing changes without TEST.AMP."""
    cfg = _cfg("MODEL.NAME", name, "TEST.AMP", "True", "TEST.FLIP_TEST", "False")
    torch.manual_seed(0)
    model = build_pose_net(cfg, is_train=False).eval()
    seen: dict[str, torch.dtype] = {}
    for module_name, module in model.named_modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            module.register_forward_hook(lambda m, a, out, n=module_name: seen.__setitem__(n, out.dtype))
    inputs = torch.randn(2, 3, 64, 64)
    out = inference_step(cfg, model, inputs, FLIP_PAIRS)
    heads = {n for n, m in model.named_modules()
             if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) and m.out_channels == 17}
    assert "final_layer" in heads and (len(heads) > 1) == name.startswith("mrheat")
    assert {n for n, dtype in seen.items() if dtype == torch.float32} == heads
    assert seen["conv1"] == torch.bfloat16 and out.dtype == torch.float32
    # the hooks are removed: a plain bf16 autocast forward now writes bf16 heatmaps again
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(inputs).dtype == torch.bfloat16
    # and the float32 default is untouched by it
    ref_cfg = _cfg("MODEL.NAME", name, "TEST.FLIP_TEST", "False")
    with torch.no_grad():
        torch.testing.assert_close(inference_step(ref_cfg, model, inputs, FLIP_PAIRS), model(inputs), rtol=0, atol=0)


def test_flip_test_on_the_cpu_runs_two_passes_with_the_switches(net_and_inputs) -> None:
    """One batch of 2N measured slower than two batches of N on the CPU: two forward calls of N each."""
    model, inputs = net_and_inputs
    cfg = _cfg("TEST.AMP", "True", "TEST.CHANNELS_LAST", "True")
    sizes: list[int] = []
    handle = model.register_forward_pre_hook(lambda m, args: sizes.append(args[0].size(0)))
    try:
        inference_step(cfg, model, inputs, FLIP_PAIRS)
    finally:
        handle.remove()
    assert sizes == [inputs.size(0), inputs.size(0)]


def test_detection_file_keeps_the_boxes_of_several_categories(tmp_path) -> None:
    """A dataset of several categories with one joint list (species): their boxes, not the others'."""
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([
        {"image_id": 5, "category_id": 2, "bbox": [1, 2, 30, 40], "score": 0.9},
        {"image_id": 5, "category_id": 7, "bbox": [5, 5, 10, 10], "score": 0.8},
        {"image_id": 5, "category_id": 40, "bbox": [0, 0, 5, 5], "score": 0.99},
    ]))
    dets = DetectionFile(path, 0.5, [2, 7])
    boxes, scores = dets.boxes(None, 5)
    assert boxes.tolist() == [[1, 2, 30, 40], [5, 5, 10, 10]] and scores.tolist() == [0.9, 0.8]
    assert dets.category_id == 2
    with pytest.raises(ValueError, match="none of its 3 detections is of category_id 3, 4 with score"):
        DetectionFile(path, 0.5, [3, 4])


@pytest.mark.parametrize("category", [[1], {"id": 1}])
def test_detection_file_with_a_list_or_object_as_category_id_is_one_error_naming_the_entry(tmp_path, category) -> None:
    """``"category_id": [1]`` is the user's mistake: an InputFileError naming the file and the entry, not a
    TypeError (unhashable) from deep inside the reader."""
    from utils.cli import InputFileError

    path = tmp_path / "dets.json"
    path.write_text(json.dumps([{"image_id": 5, "category_id": 1, "bbox": [1, 2, 30, 40], "score": 0.9},
                                {"image_id": 5, "category_id": category, "bbox": [5, 5, 10, 10], "score": 0.8}]))
    with pytest.raises(InputFileError, match=re.escape(f"detection file {path}, entry 1: 'category_id' must be a number")):
        DetectionFile(path, 0.5)
