"""core.config: defaults, the 15 shipped YAMLs, strict merging and overrides."""
from pathlib import Path

import numpy as np
import pytest

from core.config import (
    ConfigError,
    get_default_config,
    get_model_name,
    load_config,
    update_config,
    update_config_from_list,
)
from core.config import config as global_config

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = REPO / "experiments"
ORIGINAL_YAMLS = sorted((EXPERIMENTS / "coco").rglob("*.yaml")) + sorted((EXPERIMENTS / "mpii").rglob("*.yaml"))

# Values read from the original repository's YAMLs, per backbone: NUM_LAYERS, STYLE, PRETRAINED,
# IMAGE_SIZE, HEATMAP_SIZE, SIGMA, TRAIN.BATCH_SIZE
TV = {50: "resnet50-19c8e357.pth", 101: "resnet101-5d3b4d8f.pth", 152: "resnet152-b121ed2d.pth"}
PER_FILE = {}
for L in (50, 101, 152):
    PER_FILE[f"coco/resnet{L}/256x192_d256x3_adam_lr1e-3.yaml"] = (L, "pytorch", f"models/pytorch/imagenet/{TV[L]}", [192, 256], [48, 64], 2, 64)
    PER_FILE[f"coco/resnet{L}/256x192_d256x3_adam_lr1e-3_caffe.yaml"] = (L, "caffe", f"models/pytorch/imagenet/resnet{L}-caffe.pth.tar", [192, 256], [48, 64], 2, 64)
    PER_FILE[f"coco/resnet{L}/384x288_d256x3_adam_lr1e-3.yaml"] = (L, "pytorch", f"models/pytorch/imagenet/{TV[L]}", [288, 384], [72, 96], 3, 32)
    PER_FILE[f"mpii/resnet{L}/256x256_d256x3_adam_lr1e-3.yaml"] = (L, "pytorch", f"models/pytorch/imagenet/{TV[L]}", [256, 256], [64, 64], 2, 64)
    PER_FILE[f"mpii/resnet{L}/384x384_d256x3_adam_lr1e-3.yaml"] = (L, "pytorch", f"models/pytorch/imagenet/{TV[L]}", [384, 384], [96, 96], 3, 24 if L == 152 else 32)


def test_the_fifteen_original_yamls_are_present():
    assert sorted(str(p.relative_to(EXPERIMENTS)) for p in ORIGINAL_YAMLS) == sorted(PER_FILE)


@pytest.mark.parametrize("rel", sorted(PER_FILE))
def test_original_yaml_resolves_to_the_original_values(rel):
    cfg = load_config(EXPERIMENTS / rel)
    layers, style, pretrained, image_size, heatmap_size, sigma, batch = PER_FILE[rel]
    coco = rel.startswith("coco")
    assert cfg.MODEL.EXTRA.NUM_LAYERS == layers
    assert cfg.MODEL.STYLE == style
    assert cfg.MODEL.PRETRAINED == pretrained
    assert isinstance(cfg.MODEL.IMAGE_SIZE, np.ndarray) and cfg.MODEL.IMAGE_SIZE.tolist() == image_size
    assert isinstance(cfg.MODEL.EXTRA.HEATMAP_SIZE, np.ndarray) and cfg.MODEL.EXTRA.HEATMAP_SIZE.tolist() == heatmap_size
    assert cfg.MODEL.EXTRA.SIGMA == sigma
    assert cfg.TRAIN.BATCH_SIZE == batch
    # identical in all 15 files of the original
    assert (cfg.GPUS, cfg.OUTPUT_DIR, cfg.LOG_DIR, cfg.WORKERS, cfg.PRINT_FREQ) == ("0", "output", "log", 4, 100)
    assert cfg.MODEL.NAME == "mrheat1_pose_resnet" and cfg.MODEL.CHECKPOINT == ""
    extra = cfg.MODEL.EXTRA
    assert (extra.TARGET_TYPE, extra.FINAL_CONV_KERNEL, extra.DECONV_WITH_BIAS, extra.NUM_DECONV_LAYERS) == ("gaussian", 1, False, 3)
    assert extra.NUM_DECONV_FILTERS == [256, 256, 256] and extra.NUM_DECONV_KERNELS == [4, 4, 4]
    t = cfg.TRAIN
    assert (t.OPTIMIZER, t.LR, t.LR_FACTOR, t.WD, t.GAMMA1, t.GAMMA2, t.MOMENTUM, t.NESTEROV) == ("adam", 0.001, 0.1, 0.0001, 0.99, 0.0, 0.9, False)
    assert (cfg.TEST.BATCH_SIZE, cfg.TEST.FLIP_TEST, cfg.TEST.POST_PROCESS, cfg.TEST.SHIFT_HEATMAP) == (32, False, True, True)
    assert cfg.DEBUG.DEBUG is False and cfg.DEBUG.SAVE_HEATMAPS_PRED is True
    # per dataset, as in the original files
    if coco:
        assert (cfg.DATASET.DATASET, cfg.DATASET.ROOT, cfg.DATASET.TRAIN_SET, cfg.DATASET.TEST_SET) == ("coco", "data/coco/", "train2017", "val2017")
        assert (cfg.DATASET.ROT_FACTOR, cfg.DATASET.SCALE_FACTOR, cfg.MODEL.NUM_JOINTS) == (40, 0.3, 17)
        assert (t.END_EPOCH, t.LR_STEP) == (170, [120, 150])
        assert cfg.TEST.COCO_BBOX_FILE == "data/coco/person_detection_results/COCO_val2017_detections_AP_H_56_person.json"
        assert (cfg.TEST.BBOX_THRE, cfg.TEST.IMAGE_THRE, cfg.TEST.IN_VIS_THRE, cfg.TEST.NMS_THRE, cfg.TEST.OKS_THRE) == (1.0, 0.0, 0.2, 1.0, 0.9)
        assert cfg.TEST.USE_GT_BBOX is True
    else:
        assert (cfg.DATASET.DATASET, cfg.DATASET.ROOT, cfg.DATASET.TRAIN_SET, cfg.DATASET.TEST_SET) == ("mpii", "data/mpii/", "train", "valid")
        assert (cfg.DATASET.ROT_FACTOR, cfg.DATASET.SCALE_FACTOR, cfg.MODEL.NUM_JOINTS) == (30, 0.25, 16)
        assert (t.END_EPOCH, t.LR_STEP) == (140, [90, 120])
        assert (cfg.TEST.OKS_THRE, cfg.TEST.IN_VIS_THRE, cfg.TEST.USE_GT_BBOX, cfg.TEST.COCO_BBOX_FILE) == (0.5, 0.0, False, "")


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.rglob("*.yaml")), ids=lambda p: str(p.relative_to(EXPERIMENTS)))
def test_every_yaml_in_experiments_loads(path):
    cfg = load_config(path)
    assert get_model_name(cfg)[0].startswith(cfg.MODEL.NAME)


def test_defaults_match_the_original():
    cfg = get_default_config()
    assert (cfg.GPUS, cfg.WORKERS, cfg.PRINT_FREQ, cfg.OUTPUT_DIR) == ("0", 4, 20, "")
    assert cfg.MODEL.NAME == "pose_resnet" and cfg.MODEL.NUM_JOINTS == 16 and cfg.MODEL.IMAGE_SIZE == [256, 256]
    assert dict(cfg.MODEL.EXTRA) == {
        "NUM_LAYERS": 50, "DECONV_WITH_BIAS": False, "NUM_DECONV_LAYERS": 3, "NUM_DECONV_FILTERS": [256, 256, 256],
        "NUM_DECONV_KERNELS": [4, 4, 4], "FINAL_CONV_KERNEL": 1, "TARGET_TYPE": "gaussian", "HEATMAP_SIZE": [64, 64], "SIGMA": 2,
    }
    assert (cfg.TRAIN.LR_STEP, cfg.TRAIN.END_EPOCH, cfg.TRAIN.BATCH_SIZE) == ([90, 110], 140, 32)
    assert (cfg.TEST.OKS_THRE, cfg.TEST.IN_VIS_THRE, cfg.TEST.USE_GT_BBOX, cfg.TEST.POST_PROCESS) == (0.5, 0.0, False, True)
    assert (cfg.DATASET.DATASET, cfg.DATASET.TRAIN_SET, cfg.DATASET.SCALE_FACTOR, cfg.DATASET.ROT_FACTOR) == ("mpii", "train", 0.25, 30)
    # the added switches default to the original behaviour
    assert cfg.DATASET.COLOR_RGB is False and cfg.DATASET.FIX_BOX_CLEANING is False and cfg.DATASET.PROB_HALF_BODY == 0.0
    assert cfg.TEST.FIX_ACCURACY_NORM is False and cfg.TRAIN.AMP is False and cfg.TRAIN.CHANNELS_LAST is False


def test_get_default_config_is_a_fresh_copy():
    a = get_default_config()
    a.MODEL.EXTRA.NUM_DECONV_FILTERS.append(1)
    assert get_default_config().MODEL.EXTRA.NUM_DECONV_FILTERS == [256, 256, 256]


def test_update_config_merges_into_the_global_config_by_default(tmp_path):
    before = global_config.MODEL.NUM_JOINTS
    path = tmp_path / "x.yaml"
    path.write_text("MODEL:\n  NUM_JOINTS: 17\n")
    try:
        assert update_config(path) is global_config and global_config.MODEL.NUM_JOINTS == 17
    finally:
        global_config.MODEL.NUM_JOINTS = before


def test_get_model_name():
    cfg = load_config(EXPERIMENTS / "coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml")
    assert get_model_name(cfg) == ("mrheat1_pose_resnet_50", "256x192_mrheat1_pose_resnet_50_d256d256d256")
    cfg.MODEL.NAME = "resnet_pose"
    with pytest.raises(ConfigError, match="resnet_pose"):
        get_model_name(cfg)


def _write(tmp_path, text, name="bad.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, key, suggestion",
    [
        ("WORKER: 2\n", "WORKER", "WORKERS"),
        ("TRAIN:\n  LR_STEPS: [1, 2]\n", "TRAIN.LR_STEPS", "TRAIN.LR_STEP"),
        ("MODEL:\n  EXTRA:\n    NUM_LAYER: 50\n", "MODEL.EXTRA.NUM_LAYER", "MODEL.EXTRA.NUM_LAYERS"),
        ("TEST:\n  FLIPTEST: true\n", "TEST.FLIPTEST", "TEST.FLIP_TEST"),
    ],
)
def test_unknown_key_names_file_key_and_closest(tmp_path, text, key, suggestion):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message and repr(key) in message and repr(suggestion) in message


@pytest.mark.parametrize(
    "text, key, expected",
    [
        ("MODEL:\n  EXTRA:\n    NUM_LAYERS: fifty\n", "MODEL.EXTRA.NUM_LAYERS", "expected int"),
        ("TEST:\n  FLIP_TEST: 1\n", "TEST.FLIP_TEST", "expected bool"),
        ("TRAIN:\n  LR: fast\n", "TRAIN.LR", "expected a number"),
        ("MODEL:\n  IMAGE_SIZE: [192]\n", "MODEL.IMAGE_SIZE", "[W, H]"),
        ("MODEL: 3\n", "MODEL", "must be a section"),
        ("TRAIN:\n  LR_STEP: 90\n", "TRAIN.LR_STEP", "a list of numbers"),
    ],
)
def test_wrong_type_names_file_and_key(tmp_path, text, key, expected):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message and key in message and expected in message


def test_unknown_model_name_lists_the_valid_names(tmp_path):
    path = _write(tmp_path, "MODEL:\n  NAME: mrheat3_pose_resnet\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "mrheat3_pose_resnet" in str(err.value) and "mrheat1_pose_resnet" in str(err.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "MODEL: [\n"))


def test_exponent_without_dot_is_a_number(tmp_path):
    # PyYAML reads 1e-3 as a string; a float-valued key takes it as the number it means
    assert load_config(_write(tmp_path, "TRAIN:\n  LR: 1e-3\n")).TRAIN.LR == 1e-3


def test_sizes_become_arrays_and_int_means_square(tmp_path):
    cfg = load_config(_write(tmp_path, "MODEL:\n  IMAGE_SIZE: 128\n  EXTRA:\n    HEATMAP_SIZE: 32\n    SIGMA: 1.5\n"))
    assert cfg.MODEL.IMAGE_SIZE.tolist() == [128, 128] and cfg.MODEL.EXTRA.HEATMAP_SIZE.tolist() == [32, 32]
    assert cfg.MODEL.EXTRA.SIGMA == 1.5
    # EXTRA keys the YAML leaves out keep their defaults
    assert cfg.MODEL.EXTRA.NUM_LAYERS == 50


def test_command_line_overrides_come_after_the_yaml():
    cfg = load_config(
        EXPERIMENTS / "coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml",
        ["TEST.FLIP_TEST", "true", "MODEL.NAME", "pose_resnet", "GPUS", "0,1", "DATASET.ROOT", "/x/coco",
         "TRAIN.LR_STEP", "[3, 4]", "MODEL.IMAGE_SIZE", "[96, 128]", "TRAIN.LR", "1e-4", "WORKERS", "0"],
    )
    assert cfg.TEST.FLIP_TEST is True and cfg.MODEL.NAME == "pose_resnet" and cfg.GPUS == "0,1"
    assert cfg.DATASET.ROOT == "/x/coco" and cfg.TRAIN.LR_STEP == [3, 4] and cfg.TRAIN.LR == 1e-4 and cfg.WORKERS == 0
    assert cfg.MODEL.IMAGE_SIZE.tolist() == [96, 128]


@pytest.mark.parametrize(
    "opts, match",
    [
        (["TEST.FLIP_TEST"], "KEY VALUE pairs"),
        (["TEST.FLIPTEST", "true"], "did you mean 'TEST.FLIP_TEST'"),
        (["TEST", "true"], "is a section"),
        (["TEST.FLIP_TEST", "maybe"], "expected bool"),
        (["MODEL.NAME", "hrnet"], "expected one of"),
        (["TRAIN.LR_SCHEDULER", "step"], r"TRAIN.LR_SCHEDULER.*expected one of \['multistep', 'cosine'\]"),
    ],
)
def test_bad_overrides(opts, match):
    with pytest.raises(ConfigError, match=match):
        update_config_from_list(opts, get_default_config())


def test_freeze():
    cfg = get_default_config().freeze()
    with pytest.raises(ConfigError, match="frozen"):
        cfg.MODEL.NAME = "x"
    cfg.freeze(False)
    cfg.MODEL.NAME = "mrfea1_pose_resnet"
    assert cfg.MODEL.NAME == "mrfea1_pose_resnet"
