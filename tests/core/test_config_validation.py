"""Bad configuration values: every one is a ConfigError naming the key, the value and what is allowed."""
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import ConfigError, get_default_config, load_config, validate_config
from helpers import run_python

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = REPO / "experiments"
SHIPPED = sorted(EXPERIMENTS.rglob("*.yaml"))
COCO = EXPERIMENTS / "coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml"


def _validated(path, opts=()):
    return validate_config(load_config(path, list(opts)), source=str(path))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(EXPERIMENTS)))
def test_every_shipped_yaml_passes_validation(path):
    _validated(path)


BAD_VALUES = [
    (["PRINT_FREQ", "0"], "PRINT_FREQ = 0", ">= 1"),
    (["TRAIN.BEGIN_EPOCH", "10", "TRAIN.END_EPOCH", "5"], "TRAIN.END_EPOCH = 5", "TRAIN.BEGIN_EPOCH (10)"),
    (["MODEL.EXTRA.SIGMA", "0"], "MODEL.EXTRA.SIGMA = 0", "> 0"),
    (["MODEL.EXTRA.SIGMA", "-1.5"], "MODEL.EXTRA.SIGMA = -1.5", "> 0"),
    (["TRAIN.BATCH_SIZE", "0"], "TRAIN.BATCH_SIZE = 0", ">= 1"),
    (["TEST.BATCH_SIZE", "-2"], "TEST.BATCH_SIZE = -2", ">= 1"),
    (["WORKERS", "-1"], "WORKERS = -1", ">= 0"),
    (["TRAIN.LR", "-0.001"], "TRAIN.LR = -0.001", ">= 0"),
    (["TRAIN.LR_FACTOR", ".nan"], "TRAIN.LR_FACTOR = nan", "finite"),
    (["TRAIN.LR", ".inf"], "TRAIN.LR = inf", "finite"),
    (["MODEL.IMAGE_SIZE", "[48,64]", "MODEL.EXTRA.HEATMAP_SIZE", "[12,16]"], "MODEL.IMAGE_SIZE = [48, 64]",
     "multiples of 32"),
    (["MODEL.EXTRA.HEATMAP_SIZE", "[64,64]"], "MODEL.EXTRA.HEATMAP_SIZE = [64, 64]", "[48, 64]"),
    (["MODEL.NUM_JOINTS", "0"], "MODEL.NUM_JOINTS = 0", ">= 1"),
    (["TRAIN.CHECKPOINT_EVERY", "0"], "TRAIN.CHECKPOINT_EVERY = 0", ">= 1"),
    (["TRAIN.CHECKPOINT_ITERS", "-5"], "TRAIN.CHECKPOINT_ITERS = -5", "an int >= 0"),
    (["TRAIN.WARMUP_ITERS", "-1"], "TRAIN.WARMUP_ITERS = -1", "an int >= 0"),
    (["TRAIN.VALIDATE_EVERY", "0"], "TRAIN.VALIDATE_EVERY = 0", "an int >= 1"),
    (["TRAIN.MOMENTUM", "-0.9"], "TRAIN.MOMENTUM = -0.9", ">= 0"),
    (["TRAIN.OPTIMIZER", "sgd", "TRAIN.NESTEROV", "true", "TRAIN.MOMENTUM", "0"], "TRAIN.MOMENTUM = 0",
     "> 0 with TRAIN.NESTEROV true"),
    (["DATASET.ROT_FACTOR", "-30"], "DATASET.ROT_FACTOR = -30", ">= 0"),
    (["DATASET.NUM_JOINTS_HALF_BODY", "-1"], "DATASET.NUM_JOINTS_HALF_BODY = -1", ">= 0"),
    (["DATASET.SCALE_FACTOR", "1"], "DATASET.SCALE_FACTOR = 1", "in [0, 1)"),
    (["DATASET.SCALE_FACTOR", "-0.25"], "DATASET.SCALE_FACTOR = -0.25", "in [0, 1)"),
    (["DATASET.PROB_HALF_BODY", "1.5"], "DATASET.PROB_HALF_BODY = 1.5", "in [0, 1]"),
    (["TEST.IN_VIS_THRE", "1.2"], "TEST.IN_VIS_THRE = 1.2", "in [0, 1]"),
    (["TEST.IN_VIS_THRE", "-0.1"], "TEST.IN_VIS_THRE = -0.1", "in [0, 1]"),
    (["TEST.OKS_THRE", "1.5"], "TEST.OKS_THRE = 1.5", "in [0, 1]"),
    (["TEST.NMS_THRE", "-0.5"], "TEST.NMS_THRE = -0.5", ">= 0"),
    (["TRAIN.LR_STEP", "[90, 0]"], "TRAIN.LR_STEP = [90, 0]", "epoch numbers >= 1"),
    (["TRAIN.LR_STEP", "[-5]"], "TRAIN.LR_STEP = [-5]", "epoch numbers >= 1"),
    (["TRAIN.LR_STEP", "[2.5]"], "TRAIN.LR_STEP = [2.5]", "whole epoch numbers"),
    (["TRAIN.BEGIN_EPOCH", "7", "TRAIN.END_EPOCH", "7"], "TRAIN.END_EPOCH = 7", "> TRAIN.BEGIN_EPOCH (7)"),
    (["TRAIN.END_EPOCH", "0"], "TRAIN.END_EPOCH = 0", "> TRAIN.BEGIN_EPOCH (0)"),
    (["GPUS", "abc"], "GPUS = 'abc'", "comma-separated CUDA device ids"),
    (["GPUS", "0;1"], "GPUS = '0;1'", "comma-separated CUDA device ids"),
]


@pytest.mark.parametrize("opts,named,allowed", BAD_VALUES, ids=[f"{o[0]}={o[1]}" if o[0] != "TRAIN.BEGIN_EPOCH" else f"END<=BEGIN-{o[1]}"
                                                                 for o, _, _ in BAD_VALUES])
def test_bad_value_is_a_config_error_naming_key_value_and_rule(opts, named, allowed):
    with pytest.raises(ConfigError) as info:
        _validated(COCO, opts)
    message = str(info.value)
    assert str(COCO) in message and named in message and allowed in message


@pytest.mark.parametrize("gpus", ["0", "0,1", "0, 1", "cpu", "CPU", "", "-1", "none", "3,"])
def test_gpus_values_the_device_code_accepts_still_validate(gpus):
    assert _validated(COCO, ["GPUS", gpus]).GPUS == gpus


@pytest.mark.parametrize("key", ["OUTPUT_DIR", "LOG_DIR"])
def test_output_folder_that_is_a_file_names_the_key(key, tmp_path, monkeypatch):
    # relative paths, as in the shipped YAMLs: short enough that the message shows the value whole
    # (long values are shortened in messages, and pytest's folder can be long)
    monkeypatch.chdir(tmp_path)
    blocker = Path("blocked")  # not "output", the default OUTPUT_DIR
    blocker.write_text("a file where the folder should be")
    for value in (blocker, blocker / "sub"):
        with pytest.raises(ConfigError) as info:
            _validated(COCO, [key, str(value)])
        assert str(info.value) == (f"{COCO}: {key} = {str(value)!r} is not allowed; expected a folder (or a path "
                                   f"where one can be made); {blocker} is a file")
    assert _validated(COCO, [key, str(Path("new") / "deeper")])[key] == str(Path("new") / "deeper")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocked"]  # validation makes no folder


FOUR_DECONVS = ["MODEL.NAME", "pose_resnet", "MODEL.EXTRA.NUM_DECONV_LAYERS", "4", "MODEL.EXTRA.NUM_DECONV_FILTERS", "[256,256,256,64]",
                "MODEL.EXTRA.NUM_DECONV_KERNELS", "[4,4,4,4]"]


def test_heatmap_size_follows_the_number_of_pose_resnet_deconvolutions():
    """pose_resnet honours NUM_DECONV_LAYERS (stride 32 / 2^L); the MR networks always upsample three times."""
    cfg = _validated(COCO, FOUR_DECONVS + ["MODEL.EXTRA.HEATMAP_SIZE", "[96,128]"])
    from models.pose_resnet import get_pose_net

    net = get_pose_net(load_config(COCO, FOUR_DECONVS + ["MODEL.EXTRA.NUM_LAYERS", "18", "MODEL.IMAGE_SIZE", "[64,96]",
                                                         "MODEL.EXTRA.HEATMAP_SIZE", "[32,48]"]), is_train=False)
    assert tuple(net(torch.zeros(1, 3, 96, 64)).shape) == (1, 17, 48, 32)  # what the check asks for
    assert cfg.MODEL.EXTRA.HEATMAP_SIZE.tolist() == [96, 128]
    with pytest.raises(ConfigError, match=r"MODEL.EXTRA.HEATMAP_SIZE = \[48, 64\].*MODEL.IMAGE_SIZE / 2 = \[96, 128\]"):
        _validated(COCO, FOUR_DECONVS)
    with pytest.raises(ConfigError, match=r"MODEL.IMAGE_SIZE / 4 = \[48, 64\]"):  # NUM_DECONV_LAYERS is not read
        _validated(COCO, FOUR_DECONVS + ["MODEL.NAME", "mrheat1_pose_resnet", "MODEL.EXTRA.HEATMAP_SIZE", "[96,128]"])


@pytest.mark.slow
def test_train_py_reports_a_bad_value_in_one_line(tmp_path):
    proc = run_python(["pose_estimation/train.py", "--cfg", COCO, "PRINT_FREQ", "0", "OUTPUT_DIR", tmp_path,
                       "LOG_DIR", tmp_path], timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {COCO}: PRINT_FREQ = 0 is not allowed; expected an int >= 1"
    ]
    assert "Traceback" not in proc.stderr and not list(tmp_path.iterdir())


def test_nested_aliases_give_a_bounded_message(tmp_path):
    # 9 anchors of 9 aliases each: under 2 KB of YAML that expands to 9**8 strings (a full repr: GBs)
    path = tmp_path / "bomb.yaml"
    text = "x0: &a0 [\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"]\n"
    for i in range(1, 9):
        text += f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n"
    # the anchors live in a list value of a real key, the value check shortens what it shows
    path.write_text("MODEL:\n  EXTRA:\n    NUM_DECONV_FILTERS:\n" +
                    "".join("      - " + line[line.index("&"):] + "\n" for line in text.splitlines()))
    assert path.stat().st_size < 2000
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "MODEL.EXTRA.NUM_DECONV_FILTERS" in message and len(message) < 1000


def test_empty_and_binary_yaml_name_the_file(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match=f"{empty}: the config file is empty"):
        load_config(empty)
    binary = tmp_path / "weights.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError, match=f"{binary}: not a text"):
        load_config(binary)


def test_config_pickles_frozen_or_not():
    cfg = load_config(COCO)
    for frozen in (False, True):
        cfg.freeze(frozen)
        back = pickle.loads(pickle.dumps(cfg))
        assert back.frozen is frozen and back.MODEL.EXTRA.frozen is frozen
        assert back.MODEL.IMAGE_SIZE.tolist() == [192, 256] and back.TRAIN.LR == cfg.TRAIN.LR
        assert yaml.safe_dump(back.to_dict()) == yaml.safe_dump(cfg.to_dict())


# ------------------------------------------------------------------------------------------------
# property: a mutated shipped YAML loads, or raises a ConfigError that names a config key

_ALL_KEYS = []


def _collect(node, prefix=""):
    for k, v in node.items():
        _ALL_KEYS.append(prefix + k)
        if isinstance(v, dict):
            _collect(v, prefix + k + ".")


_collect(get_default_config())

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
)
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                       max_leaves=8)


def _paths(node, prefix=()):
    for k, v in node.items():
        yield prefix + (k,)
        if isinstance(v, dict):
            yield from _paths(v, prefix + (k,))


@st.composite
def _mutated(draw):
    path = draw(st.sampled_from(SHIPPED))
    data = yaml.safe_load(path.read_text())
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(list(_paths(data))))
        parent = data
        for part in target[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["value", "delete", "new_key", "rename"]))
        if action == "value":
            parent[target[-1]] = draw(_values)
        elif action == "delete":
            del parent[target[-1]]
        elif action == "new_key":
            parent[draw(st.text(min_size=1, max_size=10))] = draw(_values)
        else:
            parent[target[-1] + draw(st.text(min_size=1, max_size=3))] = parent.pop(target[-1])
    return data


@settings(max_examples=300, deadline=None, database=None,  # no .hypothesis folder in the checkout
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@pytest.mark.slow
@given(data=_mutated())
def test_mutated_shipped_yaml_loads_or_names_a_key(tmp_path, data):
    path = tmp_path / "mutated.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        cfg = validate_config(load_config(path), source=str(path))
    except ConfigError as e:
        message = str(e)
        assert message.startswith(str(path)) and len(message) < 1000
        assert any(key in message for key in _ALL_KEYS) or "top level" in message, message
    else:
        assert all(math.isfinite(v) for v in (cfg.TRAIN.LR, cfg.TRAIN.LR_FACTOR, cfg.MODEL.EXTRA.SIGMA))
        assert isinstance(cfg.MODEL.IMAGE_SIZE, np.ndarray)


@pytest.mark.parametrize("kernel", ["2", "5"])
def test_final_conv_kernel_other_than_1_or_3_is_refused_at_merge(kernel):
    # padding 0 for any other kernel (the original's head) would shrink the heat-maps
    with pytest.raises(ConfigError, match=rf"MODEL.EXTRA.FINAL_CONV_KERNEL = {kernel} is not valid; expected 1 or 3"):
        load_config(COCO, ["MODEL.EXTRA.FINAL_CONV_KERNEL", kernel])
    assert load_config(COCO, ["MODEL.EXTRA.FINAL_CONV_KERNEL", "3"]).MODEL.EXTRA.FINAL_CONV_KERNEL == 3


NETWORK_AND_LOSS_RULES = [
    (["MODEL.EXTRA.NUM_LAYERS", "34", "MODEL.STYLE", "caffe"], "MODEL.STYLE='caffe' needs a Bottleneck ResNet"),
    (["MODEL.NAME", "mrfea1_pose_resnet", "MODEL.EXTRA.NUM_LAYERS", "18"], "needs a Bottleneck ResNet"),
    (["MODEL.NAME", "mrheat1_pose_resnet", "MODEL.EXTRA.NUM_DECONV_FILTERS", "[256,256]"], "needs 3 upsampling stages"),
    (["MODEL.EXTRA.NUM_DECONV_KERNELS", "[4,4,5]"], "kernel 5 is not supported"),
    (["LOSS.USE_OHKM", "true", "LOSS.TOPK", "18"], "LOSS.TOPK=18 is larger than MODEL.NUM_JOINTS=17"),
]


@pytest.mark.parametrize("opts,message", NETWORK_AND_LOSS_RULES)
def test_network_and_loss_rules_are_checked_with_the_config(opts, message):
    # the builders' rules run at validation, so every entry point refuses the config before building
    with pytest.raises(ConfigError) as info:
        _validated(COCO, opts)
    assert str(info.value).startswith(f"{COCO}: ") and message in str(info.value)
