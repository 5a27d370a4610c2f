"""Experiment configuration: the original SimMRPose key tree and defaults, merged strictly from YAML.

The module keeps the original public names: a module-level ``config`` object, ``update_config``,
``update_dir``, ``gen_config`` and ``get_model_name``. What changed:

* YAML is read with ``yaml.safe_load``;
* merging is strict at every depth, ``MODEL.EXTRA`` included: an unknown key or a value of the
  wrong type raises :class:`ConfigError` naming the file, the dotted key and the closest valid key;
* ``MODEL.EXTRA`` keys that a YAML leaves out keep their defaults (the original dropped them; every
  shipped YAML gives all nine keys, so the resolved configs are identical);
* trailing ``KEY VALUE`` pairs from the command line (HRNet-style ``opts``) are applied after the
  YAML with :func:`update_config_from_list`;
* a few keys were added, all defaulting to the original behaviour (see ``_ADDED_KEYS``).

``MODEL.IMAGE_SIZE`` and ``MODEL.EXTRA.HEATMAP_SIZE`` become integer NumPy arrays ``[W, H]`` after a
merge, as in the original (an int ``n`` means ``[n, n]``).
"""
from __future__ import annotations

import copy
import difflib
import math
import os
import re
import reprlib
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import yaml

from utils.atomic_io import atomic_open

__all__ = [
    "AttrDict",
    "ConfigError",
    "MODEL_NAMES",
    "check_loss",
    "check_network",
    "check_resnet",
    "config",
    "dump_config",
    "gen_config",
    "get_default_config",
    "get_model_name",
    "load_config",
    "update_config",
    "update_config_from_list",
    "update_dir",
    "validate_config",
]


class ConfigError(ValueError):
    """A configuration file or override that does not fit the key tree."""


class AttrDict(dict):
    """A dict whose keys are also attributes (like EasyDict), with an optional freeze."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key, value in list(self.items()):
            if isinstance(value, dict) and not isinstance(value, AttrDict):
                dict.__setitem__(self, key, AttrDict(value))
        object.__setattr__(self, "_frozen", False)

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if self._frozen:
            raise ConfigError(f"config is frozen; cannot set {key!r} (change it before freeze())")
        if isinstance(value, dict) and not isinstance(value, AttrDict):
            value = AttrDict(value)
        super().__setitem__(key, value)

    def __reduce__(self):
        # pickle as (class, plain dict, frozen flag): the default protocol would call
        # __setitem__ before _frozen exists (spawn-started DataLoader workers pickle the config)
        return (_rebuild_attrdict, (dict(self), self._frozen))

    def __deepcopy__(self, memo: dict) -> "AttrDict":
        return AttrDict({k: copy.deepcopy(v, memo) for k, v in self.items()})

    def freeze(self, frozen: bool = True) -> "AttrDict":
        """Make this node and every sub-node read-only (or writable again with ``frozen=False``)."""
        object.__setattr__(self, "_frozen", frozen)
        for value in self.values():
            if isinstance(value, AttrDict):
                value.freeze(frozen)
        return self

    @property
    def frozen(self) -> bool:
        return self._frozen

    def to_dict(self) -> dict:
        """Plain nested dicts and lists (NumPy arrays become lists), e.g. for YAML dumps."""

        def plain(v: Any) -> Any:
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            if isinstance(v, np.ndarray):
                return v.tolist()
            if isinstance(v, (list, tuple)):
                return [plain(x) for x in v]
            if isinstance(v, np.generic):
                return v.item()
            return v

        return plain(self)


def _rebuild_attrdict(items: dict, frozen: bool) -> AttrDict:
    return AttrDict(items).freeze(frozen)


# Values in error messages are shortened: a small YAML with nested aliases can expand to megabytes.
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 80
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = 6
_SHORT.maxlevel = 3


def _short(value: Any) -> str:
    """``repr(value)`` cut to a bounded length (at most a few hundred characters)."""
    text = _SHORT.repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


# The five networks; also the whitelist of get_model_name.
MODEL_NAMES = (
    "pose_resnet",
    "mrfea1_pose_resnet",
    "mrfea2_pose_resnet",
    "mrheat1_pose_resnet",
    "mrheat2_pose_resnet",
)

# The original takes the default MODEL.EXTRA from a registry that holds only 'pose_resnet'.
POSE_RESNET_EXTRA = {
    "NUM_LAYERS": 50,
    "DECONV_WITH_BIAS": False,
    "NUM_DECONV_LAYERS": 3,
    "NUM_DECONV_FILTERS": [256, 256, 256],
    "NUM_DECONV_KERNELS": [4, 4, 4],
    "FINAL_CONV_KERNEL": 1,
    "TARGET_TYPE": "gaussian",
    "HEATMAP_SIZE": [64, 64],
    "SIGMA": 2,
}
MODEL_EXTRAS = {"pose_resnet": POSE_RESNET_EXTRA}

_DEFAULTS: dict[str, Any] = {
    "OUTPUT_DIR": "",
    "LOG_DIR": "",
    "DATA_DIR": "",
    "GPUS": "0",
    "WORKERS": 4,
    "PRINT_FREQ": 20,
    "CUDNN": {"BENCHMARK": True, "DETERMINISTIC": False, "ENABLED": True},
    "MODEL": {
        "NAME": "pose_resnet",
        "INIT_WEIGHTS": True,
        "PRETRAINED": "",
        "CHECKPOINT": "",
        "NUM_JOINTS": 16,
        "IMAGE_SIZE": [256, 256],  # [W, H]
        "STYLE": "pytorch",
        "EXTRA": copy.deepcopy(MODEL_EXTRAS["pose_resnet"]),
    },
    "LOSS": {
        "USE_TARGET_WEIGHT": True,
        # --- added (defaults = original behaviour) ---
        "USE_OHKM": False,  # HRNet's online hard keypoint mining: mean of the TOPK largest joint losses
        "TOPK": 8,  # joints kept per sample by USE_OHKM (<= MODEL.NUM_JOINTS)
        "USE_DIFFERENT_JOINTS_WEIGHT": False,  # multiply per-joint weights into target_weight (HRNet's option)
    },
    "DATASET": {
        "ROOT": "",
        "DATASET": "mpii",
        "TRAIN_SET": "train",
        "TEST_SET": "valid",
        "DATA_FORMAT": "jpg",
        "HYBRID_JOINTS_TYPE": "",
        "SELECT_DATA": False,
        "FLIP": True,
        "SCALE_FACTOR": 0.25,
        "ROT_FACTOR": 30,
        # --- added (defaults = original behaviour) ---
        "COLOR_RGB": False,  # True: convert BGR->RGB after reading (HRNet's switch; the original feeds BGR)
        "FIX_BOX_CLEANING": False,  # True: cut boxes at the image border instead of shifting them, no 1-px shrink
        "PROB_HALF_BODY": 0.0,  # HRNet half-body augmentation probability (0: off)
        "NUM_JOINTS_HALF_BODY": 8,
        # 0-based upper-body joints for half-body; []: the original's for COCO-17 / MPII-16, none otherwise
        "UPPER_BODY_IDS": [],
        # Joint-set metadata of COCO-format files (lib/dataset/keypoints.py); ~ (None) = the default:
        "FLIP_PAIRS": None,  # [[left, right], ...] 0-based; ~: original pairs / derived from names; []: none
        "OKS_SIGMAS": None,  # one sigma per joint; ~: COCO's for the COCO-17 set, else none (OKS raises)
        # A COCO-format export read where it lies (lib/dataset/coco.py); paths are relative to the working
        # directory, like ROOT. '' (default): the COCO layout under ROOT, annotations/person_keypoints_<set>.json
        # and images/<set>/ (images/<set>.zip with DATA_FORMAT zip). Images are <IMAGE_DIR>/<file_name>.
        # (TRAIN_SET / TEST_SET still name the sets, e.g. results/keypoints_<TEST_SET>_results.json)
        "TRAIN_ANN_FILE": "",  # COCO keypoint JSON of the training set
        "TEST_ANN_FILE": "",  # COCO keypoint JSON of the validation / test set
        "TRAIN_IMAGE_DIR": "",  # folder the training file's file_names are relative to (DATA_FORMAT zip: the .zip)
        "TEST_IMAGE_DIR": "",  # the same for the validation / test set
        # Keypoint categories that form the dataset (ids); []: every category whose joint names equal those of
        # the file's first keypoint category (the others are left out, one log line each)
        "CATEGORY_IDS": [],
        # Joint names for a file whose categories name none (K from the annotations); []: '0' .. 'K-1'
        "KEYPOINT_NAMES": [],
    },
    "TRAIN": {
        "LR_FACTOR": 0.1,
        "LR_STEP": [90, 110],
        "LR": 0.001,
        "OPTIMIZER": "adam",
        "MOMENTUM": 0.9,
        "WD": 0.0001,
        "NESTEROV": False,
        "GAMMA1": 0.99,
        "GAMMA2": 0.0,
        "BEGIN_EPOCH": 0,
        "END_EPOCH": 140,
        "RESUME": False,
        "CHECKPOINT": "",
        "BATCH_SIZE": 32,  # per GPU (per process under torchrun)
        "SHUFFLE": True,
        # --- added (defaults = original behaviour or a pure speed switch) ---
        "AUTO_RESUME": True,  # resume from <output dir>/checkpoint.pth.tar when it exists
        "SEED": -1,  # >= 0: seed Python, NumPy and torch (per rank) for repeatable runs
        "AMP": False,  # autocast for the training step (bf16 or fp16, on CUDA and on the CPU)
        "AMP_DTYPE": "bf16",  # 'bf16' or 'fp16' (fp16 uses a gradient scaler)
        "CHANNELS_LAST": False,
        "SYNC_BN": False,  # SyncBatchNorm under DistributedDataParallel
        "PIN_MEMORY": True,
        "PERSISTENT_WORKERS": False,
        "CHECKPOINT_EVERY": 30,  # the original's checkpoint_epoch<E> / model_best_until_epoch<E> snapshots
        # N > 0: also write checkpoint.pth.tar every N iterations with the position in the epoch, so that a run
        # killed mid-epoch resumes at the next iteration; it also seeds each sample's augmentation from
        # (seed, epoch, slot), another stream than N = 0's but one independent of WORKERS. 0: epoch ends only
        "CHECKPOINT_ITERS": 0,
        # 'multistep': the original's MultiStepLR (LR_STEP, LR_FACTOR) stepped at epoch ends; 'cosine': from LR
        # to 0 along half a cosine over END_EPOCH epochs, set every iteration (LR_STEP, LR_FACTOR unused)
        "LR_SCHEDULER": "multistep",
        "FUSED_OPTIMIZER": False,  # torch's fused Adam / SGD kernel (a speed switch; rounding differs slightly)
        "WARMUP_ITERS": 0,  # N > 0: linear warm-up, iteration k (0-based) of the run at LR * (k + 1) / N
        # validate (and pick model_best) after every N-th epoch and after the last one; 1: every epoch, as the original
        "VALIDATE_EVERY": 1,
    },
    "TEST": {
        "BATCH_SIZE": 32,
        "FLIP_TEST": False,
        "POST_PROCESS": True,
        "SHIFT_HEATMAP": True,
        "USE_GT_BBOX": False,
        "OKS_THRE": 0.5,
        "IN_VIS_THRE": 0.0,
        "COCO_BBOX_FILE": "",
        "BBOX_THRE": 1.0,
        "MODEL_FILE": "",
        "IMAGE_THRE": 0.0,
        "NMS_THRE": 1.0,
        # --- added (defaults = original behaviour) ---
        "FIX_ACCURACY_NORM": False,  # True: normalise x by W/10 and y by H/10 in core.evaluate.accuracy
        "DARK": False,  # DARK decoding (blur, log, one Newton step) instead of the quarter offset
        "BLUR_KERNEL": 11,  # DARK's Gaussian blur kernel size (odd, >= 3)
        "SOFT_NMS": False,  # soft OKS-NMS (gaussian rescoring, at most 20 kept) instead of OKS-NMS
        "AMP": False,  # autocast for the inference forward (valid/test scripts, API, demo); heatmaps decoded in float32
        "AMP_DTYPE": "bf16",  # 'bf16' (CPU and CUDA) or 'fp16' (CUDA, and CPUs whose PyTorch runs it)
        "CHANNELS_LAST": False,  # channels-last input and weights for inference; with AMP or this, one batched flip pass
        # COCO-format sets without DATASET.OKS_SIGMAS are scored with PCK / EPE / NME (core.keypoint_metrics):
        "PCK_THRESHOLD": 0.2,  # PCK@t: a joint is correct below t x the longer side of the person's bbox (> 0)
        "NME_KEYPOINTS": [],  # []: NME normalised by the bbox's longer side; [i, j]: by the GT distance of joints i, j
    },
    "DEBUG": {
        "DEBUG": False,
        "SAVE_BATCH_IMAGES_GT": False,
        "SAVE_BATCH_IMAGES_PRED": False,
        "SAVE_HEATMAPS_GT": False,
        "SAVE_HEATMAPS_PRED": False,
    },
}

# Keys that the original does not have (documented in the README).
_ADDED_KEYS = (
    "DATASET.COLOR_RGB",
    "DATASET.FIX_BOX_CLEANING",
    "DATASET.PROB_HALF_BODY",
    "DATASET.NUM_JOINTS_HALF_BODY",
    "DATASET.UPPER_BODY_IDS",
    "DATASET.FLIP_PAIRS",
    "DATASET.OKS_SIGMAS",
    "DATASET.TRAIN_ANN_FILE",
    "DATASET.TEST_ANN_FILE",
    "DATASET.TRAIN_IMAGE_DIR",
    "DATASET.TEST_IMAGE_DIR",
    "DATASET.CATEGORY_IDS",
    "DATASET.KEYPOINT_NAMES",
    "TRAIN.AUTO_RESUME",
    "TRAIN.SEED",
    "TRAIN.AMP",
    "TRAIN.AMP_DTYPE",
    "TRAIN.CHANNELS_LAST",
    "TRAIN.SYNC_BN",
    "TRAIN.PIN_MEMORY",
    "TRAIN.PERSISTENT_WORKERS",
    "TRAIN.CHECKPOINT_EVERY",
    "TRAIN.CHECKPOINT_ITERS",
    "TRAIN.LR_SCHEDULER",
    "TRAIN.WARMUP_ITERS",
    "TRAIN.FUSED_OPTIMIZER",
    "TRAIN.VALIDATE_EVERY",
    "TEST.FIX_ACCURACY_NORM",
    "TEST.DARK",
    "TEST.BLUR_KERNEL",
    "TEST.SOFT_NMS",
    "LOSS.USE_OHKM",
    "LOSS.TOPK",
    "LOSS.USE_DIFFERENT_JOINTS_WEIGHT",
    "TEST.AMP",
    "TEST.AMP_DTYPE",
    "TEST.CHANNELS_LAST",
    "TEST.PCK_THRESHOLD",
    "TEST.NME_KEYPOINTS",
)

# Integer-valued defaults that may legitimately be given as floats.
_REAL_KEYS = {"MODEL.EXTRA.SIGMA", "DATASET.ROT_FACTOR", "DATASET.SCALE_FACTOR"}
# [W, H] sizes: an int n means [n, n]; stored as integer NumPy arrays.
_SIZE_KEYS = {"MODEL.IMAGE_SIZE", "MODEL.EXTRA.HEATMAP_SIZE"}
# A final 1x1 or 3x3 convolution keeps the heat-map size (padding 0 resp. 1); any other kernel gets
# padding 0 in the original's head and shrinks the heat-maps.
FINAL_CONV_KERNELS = (1, 3)
# Allowed values of a few int keys: (check, what is expected).
_INT_CHECKS = {
    "TEST.BLUR_KERNEL": (lambda k: k >= 3 and k % 2 == 1, "an odd kernel size >= 3"),
    "LOSS.TOPK": (lambda k: k >= 1, "a joint count >= 1 (and <= MODEL.NUM_JOINTS)"),
    # Any other kernel gets padding 0 in the original's head and shrinks the heat-maps.
    "MODEL.EXTRA.FINAL_CONV_KERNEL": (lambda k: k in FINAL_CONV_KERNELS, "1 or 3 (the kernels that keep the heat-map size)"),
}
# ResNet depth (MODEL.EXTRA.NUM_LAYERS) -> residual block, "basic" or "bottleneck" (torchvision's table).
RESNET_DEPTHS = {18: "basic", 34: "basic", 50: "bottleneck", 101: "bottleneck", 152: "bottleneck"}
RESNET_STYLES = ("pytorch", "caffe")
# Kernels of a stride-2 transposed convolution that upsample by exactly 2 (see models.resnet.deconv_padding).
DECONV_KERNELS = (2, 3, 4)
# mrfea2_pose_resnet's head has hard-coded widths (models.mrfea2_pose_resnet.WIDTHS) ending in this one.
MRFEA2_LAST_WIDTH = 256
# Allowed values of a few string keys.
_CHOICES = {
    "MODEL.NAME": MODEL_NAMES,
    "MODEL.STYLE": RESNET_STYLES,
    "MODEL.EXTRA.TARGET_TYPE": ("gaussian", "udp"),
    "DATASET.DATA_FORMAT": ("jpg", "zip"),
    "TRAIN.OPTIMIZER": ("adam", "sgd"),
    "TRAIN.LR_SCHEDULER": ("multistep", "cosine"),
    "TRAIN.AMP_DTYPE": ("bf16", "fp16"),
    "TEST.AMP_DTYPE": ("bf16", "fp16"),
}


def get_default_config() -> AttrDict:
    """A fresh copy of the default key tree (lists stay lists, as in the original)."""
    return AttrDict(copy.deepcopy(_DEFAULTS))


# The module-level object that the original's entry points mutate in place.
config = get_default_config()


# ----------------------------------------------------------------------------------------------
# merging


def _all_keys(node: dict, prefix: str = "") -> list[str]:
    keys = []
    for k, v in node.items():
        dotted = f"{prefix}{k}"
        keys.append(dotted)
        if isinstance(v, dict):
            keys.extend(_all_keys(v, dotted + "."))
    return keys


def _unknown_key_error(source: str, dotted: str, root: dict, section: str) -> ConfigError:
    """``section``: the dotted section the key was found in ('' for the top level)."""
    candidates = _all_keys(root)
    close = difflib.get_close_matches(dotted, candidates, n=1, cutoff=0.5)
    if not close:  # compare within the same section
        siblings = [c for c in candidates if c.rpartition(".")[0] == section]
        close = difflib.get_close_matches(dotted, siblings, n=1, cutoff=0.0)
    where = f"in section {section}" if section else "at the top level"
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"{source}: unknown config key {dotted!r} {where}{hint}")


def _type_name(value: Any) -> str:
    return type(value).__name__


# Keys whose default None means "derive it"; otherwise a list of [a, b] int pairs / of numbers.
_OPTIONAL_LIST_KEYS = {"DATASET.FLIP_PAIRS": "pairs", "DATASET.OKS_SIGMAS": "numbers"}
# Keys that hold a list of ints: what is expected.
_INT_LIST_KEYS = {
    "DATASET.UPPER_BODY_IDS": "a list of 0-based joint indices ([] for the joint set's default)",
    "DATASET.CATEGORY_IDS": "a list of category ids ([] for the categories sharing the first one's joints)",
    "TEST.NME_KEYPOINTS": "[] or two 0-based joint indices [i, j]",
}
# Keys that hold a list of strings: what is expected.
_STR_LIST_KEYS = {"DATASET.KEYPOINT_NAMES": "a list of joint names ([] for '0' .. 'K-1')"}


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _check_optional_list(dotted: str, value: Any, fail: Any) -> Any:
    if value is None:
        return None
    if _OPTIONAL_LIST_KEYS[dotted] == "pairs":
        if isinstance(value, (list, tuple)) and all(
            isinstance(p, (list, tuple)) and len(p) == 2 and all(_is_int(j) for j in p) for p in value
        ):
            return [[int(a), int(b)] for a, b in value]
        raise fail("~ (default) or a list of [left, right] pairs of 0-based joint indices")
    if isinstance(value, (list, tuple)) and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in value
    ):
        return [float(v) for v in value]
    raise fail("~ (default) or a list of numbers (one OKS sigma per joint)")


def _check_value(source: str, dotted: str, default: Any, value: Any) -> Any:
    """Return ``value`` converted to the default's type, or raise a ConfigError that says why."""

    def fail(expected: str) -> ConfigError:
        return ConfigError(
            f"{source}: {dotted} = {_short(value)} has type {_type_name(value)}; expected {expected}"
        )

    if dotted in _OPTIONAL_LIST_KEYS:
        return _check_optional_list(dotted, value, fail)
    if dotted in _INT_LIST_KEYS:
        if isinstance(value, (list, tuple)) and all(_is_int(v) for v in value):
            return [int(v) for v in value]
        raise fail(_INT_LIST_KEYS[dotted])
    if dotted in _STR_LIST_KEYS:
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
        raise fail(_STR_LIST_KEYS[dotted])
    if dotted in _SIZE_KEYS:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return np.array([int(value), int(value)])
        if isinstance(value, (list, tuple, np.ndarray)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
        ):
            return np.array([int(v) for v in value])
        raise fail("an int or a list of two ints [W, H]")
    if isinstance(default, bool):
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise fail("bool (true/false)")
    if isinstance(default, int):
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            if dotted in _INT_CHECKS and not _INT_CHECKS[dotted][0](int(value)):
                raise ConfigError(f"{source}: {dotted} = {value!r} is not valid; expected {_INT_CHECKS[dotted][1]}")
            return int(value)
        if dotted in _REAL_KEYS and isinstance(value, (float, np.floating)):
            return float(value)
        raise fail("int" if dotted not in _REAL_KEYS else "a number")
    if isinstance(default, float):
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # PyYAML reads `1e-3` (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise fail("a number")
    if isinstance(default, str):
        if dotted == "GPUS" and isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # `GPUS: 0` is a common way to write '0'
        if not isinstance(value, str):
            raise fail("str")
        choices = _CHOICES.get(dotted)
        if choices is not None and value not in choices:
            close = difflib.get_close_matches(value, choices, n=1, cutoff=0.0)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{source}: {dotted} = {_short(value)} is not valid; expected one of {list(choices)}{hint}"
            )
        return value
    if isinstance(default, (list, tuple)):
        if isinstance(value, (list, tuple, np.ndarray)) and all(
            isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in value
        ):
            return list(value.tolist() if isinstance(value, np.ndarray) else value)
        raise fail("a list of numbers")
    return value


def _merge(source: str, dst: AttrDict, src: dict, root: AttrDict, prefix: str = "") -> None:
    if not isinstance(src, dict):
        raise ConfigError(f"{source}: expected a mapping at {prefix.rstrip('.') or 'the top level'}, got {_type_name(src)}")
    for key, value in src.items():
        dotted = f"{prefix}{key}"
        if not isinstance(key, str) or key not in dst:
            raise _unknown_key_error(source, _short(dotted) if not isinstance(key, str) else dotted, root,
                                        prefix.rstrip("."))
        default = dst[key]
        if isinstance(default, dict):
            if value is None:  # an empty section in YAML
                continue
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{source}: {dotted} must be a section (mapping), got {_type_name(value)} {_short(value)}"
                )
            _merge(source, default, value, root, dotted + ".")
        else:
            dst[key] = _check_value(source, dotted, default, value)


def _normalise_sizes(cfg: AttrDict) -> None:
    """Sizes become NumPy arrays after a merge, as in the original."""
    cfg.MODEL.IMAGE_SIZE = np.array(cfg.MODEL.IMAGE_SIZE).astype(int)
    cfg.MODEL.EXTRA.HEATMAP_SIZE = np.array(cfg.MODEL.EXTRA.HEATMAP_SIZE).astype(int)


def update_config(config_file: str | os.PathLike, cfg: AttrDict | None = None) -> AttrDict:
    """Merge a YAML experiment file into ``cfg`` (the module-level ``config`` by default).

    Raises FileNotFoundError for a missing file and ConfigError for unknown keys, wrong types or
    invalid values, naming the file and the dotted key.
    """
    cfg = config if cfg is None else cfg
    path = Path(config_file)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {_bounded(str(e))}") from e
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: not a text (UTF-8) YAML file: byte {e.start} cannot be decoded") from e
    if data is None:
        raise ConfigError(f"{path}: the config file is empty; expected a YAML mapping of config keys")
    _merge(str(path), cfg, data, cfg)
    _normalise_sizes(cfg)
    return cfg


def _bounded(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parse_override(raw: str) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def update_config_from_list(
    opts: Sequence[str], cfg: AttrDict | None = None, source: str = "command line"
) -> AttrDict:
    """Apply ``KEY VALUE`` pairs, e.g. ``["TEST.FLIP_TEST", "False", "MODEL.IMAGE_SIZE", "[192,256]"]``.

    Values are parsed as YAML scalars/lists; a string-valued key takes the raw text.
    """
    cfg = config if cfg is None else cfg
    opts = list(opts or [])
    if len(opts) % 2:
        raise ConfigError(
            f"{source}: overrides must come in KEY VALUE pairs; got {len(opts)} items: {_short(opts)}"
        )
    for dotted, raw in zip(opts[0::2], opts[1::2]):
        node: Any = cfg
        parts = dotted.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                raise _unknown_key_error(source, dotted, cfg, ".".join(parts[:i]))
            if i < len(parts) - 1:
                node = node[part]
        leaf = parts[-1]
        default = node[leaf]
        if isinstance(default, dict):
            raise ConfigError(f"{source}: {dotted} is a section; give one of its keys, e.g. {dotted}.{next(iter(default))}")
        value = raw if isinstance(default, str) and dotted != "GPUS" else _parse_override(raw)
        if dotted == "GPUS":
            value = str(raw)
        node[leaf] = _check_value(source, dotted, default, value)
    if opts:
        _normalise_sizes(cfg)
    return cfg


def load_config(
    config_file: str | os.PathLike | None = None,
    opts: Iterable[str] = (),
    cfg: AttrDict | None = None,
    validate: bool = False,
) -> AttrDict:
    """A fresh config: defaults, then the YAML (if any), then ``KEY VALUE`` overrides.

    ``validate=True`` also runs :func:`validate_config` on the result (what every entry point does:
    values that merge by type but no network can run with raise ConfigError naming the YAML).
    """
    cfg = get_default_config() if cfg is None else cfg
    if config_file is not None:
        update_config(config_file, cfg)
    update_config_from_list(list(opts), cfg)
    if validate:
        validate_config(cfg, source=str(config_file) if config_file is not None else "config")
    return cfg


# ----------------------------------------------------------------------------------------------
# value checks (after merging; the entry points call this, see utils.cli.config_from_args)

# key -> (lowest allowed value, what the message says is allowed)
_AT_LEAST = {
    "PRINT_FREQ": (1, "an int >= 1"),
    "WORKERS": (0, "an int >= 0"),
    "MODEL.NUM_JOINTS": (1, "an int >= 1"),
    "TRAIN.BEGIN_EPOCH": (0, "an int >= 0"),
    "TRAIN.BATCH_SIZE": (1, "an int >= 1"),
    "TEST.BATCH_SIZE": (1, "an int >= 1"),
    "TRAIN.CHECKPOINT_EVERY": (1, "an int >= 1"),
    "TRAIN.CHECKPOINT_ITERS": (0, "an int >= 0 (0: checkpoints at epoch ends only)"),
    "TRAIN.LR": (0, "a finite number >= 0"),
    "TRAIN.WARMUP_ITERS": (0, "an int >= 0 (0: no warm-up)"),
    "TRAIN.VALIDATE_EVERY": (1, "an int >= 1 (1: after every epoch)"),
    "TRAIN.LR_FACTOR": (0, "a finite number >= 0"),
    "TRAIN.WD": (0, "a finite number >= 0"),
    "TRAIN.MOMENTUM": (0, "a finite number >= 0"),
    "DATASET.ROT_FACTOR": (0, "a number of degrees >= 0 (0: no rotation)"),
    "DATASET.NUM_JOINTS_HALF_BODY": (0, "an int >= 0"),
}
_POSITIVE = {
    "MODEL.EXTRA.SIGMA": "a finite number > 0",
    "TEST.PCK_THRESHOLD": "a number > 0 (a fraction of the bbox's longer side, e.g. 0.2)",
}
# key -> (test, what the message says is allowed)
_IN_RANGE = {
    # the crop scale is drawn within 1 -/+ SCALE_FACTOR: 1 or more allows a crop of size 0
    "DATASET.SCALE_FACTOR": (lambda v: 0 <= v < 1, "a number in [0, 1) (crops are scaled by 1 -/+ at most this)"),
    "DATASET.PROB_HALF_BODY": (lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
    # joint scores are heat-map maxima in [0, 1]: above 1 no joint counts and every person scores 0
    "TEST.IN_VIS_THRE": (lambda v: 0 <= v <= 1, "a joint-score threshold in [0, 1]"),
    # OKS lies in [0, 1]: above 1 OKS-NMS suppresses nothing
    "TEST.OKS_THRE": (lambda v: 0 <= v <= 1, "an OKS threshold in [0, 1]"),
    "TEST.NMS_THRE": (lambda v: v >= 0, "a number >= 0"),
}
# The ResNet trunk halves the input five times; the deconvolutions double it back: NUM_DECONV_LAYERS
# times in pose_resnet, always three times in the four MR networks (they ignore that key).
_INPUT_MULTIPLE = 32


def heatmap_stride(cfg: AttrDict) -> int:
    """Input pixels per heat-map cell of the network ``MODEL.NAME`` builds (4 for the shipped configs)."""
    layers = cfg.MODEL.EXTRA.NUM_DECONV_LAYERS if cfg.MODEL.NAME == "pose_resnet" else 3
    return max(_INPUT_MULTIPLE >> max(int(layers), 0), 1)


def _leaves(node: dict, prefix: str = ""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _get(cfg: dict, dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def _file_in_the_way(folder: str) -> str | None:
    """The existing non-folder at ``folder`` or above it, which stops the folder from being made; else None."""
    if not folder:
        return None
    path = Path(folder).expanduser()
    for candidate in (path, *path.parents):
        if candidate.exists():
            return None if candidate.is_dir() else str(candidate)
    return None


def validate_config(cfg: AttrDict, source: str = "config") -> AttrDict:
    """Check values that merging accepts by type but that cannot work, e.g. ``PRINT_FREQ: 0``.

    Raises ConfigError naming ``source``, the dotted key, its value and what is allowed. Called by
    the entry points after the YAML and the overrides are merged.
    """

    def fail(dotted: str, value: Any, allowed: str) -> ConfigError:
        return ConfigError(f"{source}: {dotted} = {_short(value)} is not allowed; expected {allowed}")

    for dotted, value in _leaves(cfg):  # every number must be finite (NaN / inf never make sense)
        if isinstance(value, float) and not math.isfinite(value):
            raise fail(dotted, value, "a finite number")
        if isinstance(value, list) and any(isinstance(v, float) and not math.isfinite(v) for v in value):
            raise fail(dotted, value, "finite numbers")
    for dotted, (low, allowed) in _AT_LEAST.items():
        value = _get(cfg, dotted)
        if value < low:
            raise fail(dotted, value, allowed)
    for dotted, allowed in _POSITIVE.items():
        value = _get(cfg, dotted)
        if not value > 0:
            raise fail(dotted, value, allowed)
    for dotted, (ok, allowed) in _IN_RANGE.items():
        value = _get(cfg, dotted)
        if not ok(value):
            raise fail(dotted, value, allowed)
    if cfg.TRAIN.OPTIMIZER == "sgd" and cfg.TRAIN.NESTEROV and not cfg.TRAIN.MOMENTUM > 0:
        raise fail("TRAIN.MOMENTUM", cfg.TRAIN.MOMENTUM, "a number > 0 with TRAIN.NESTEROV true (Nesterov needs momentum)")
    nme_keypoints, k = list(cfg.TEST.NME_KEYPOINTS), cfg.MODEL.NUM_JOINTS
    if nme_keypoints and (len(nme_keypoints) != 2 or len(set(nme_keypoints)) != 2
                          or not all(0 <= j < k for j in nme_keypoints)):
        raise fail("TEST.NME_KEYPOINTS", nme_keypoints,
                   f"[] or two different 0-based joint indices [i, j] in 0..{k - 1} (MODEL.NUM_JOINTS = {k})")
    gpus = str(cfg.GPUS).strip()
    if gpus.lower() not in ("", "cpu", "none", "-1") and not re.fullmatch(r"\d+(\s*,\s*\d+)*\s*,?", gpus):
        raise fail("GPUS", cfg.GPUS, "comma-separated CUDA device ids such as '0' or '0,1', or 'cpu'")
    for dotted in ("OUTPUT_DIR", "LOG_DIR"):
        blocker = _file_in_the_way(cfg[dotted])
        if blocker is not None:
            raise fail(dotted, cfg[dotted], f"a folder (or a path where one can be made); {blocker} is a file")
    steps = cfg.TRAIN.LR_STEP
    if any(not (float(v).is_integer() and v >= 1) for v in steps):  # [] (no decay) is fine
        raise fail("TRAIN.LR_STEP", steps, "a list of whole epoch numbers >= 1 (the epochs after which LR drops)")
    begin, end = cfg.TRAIN.BEGIN_EPOCH, cfg.TRAIN.END_EPOCH
    if end <= begin:  # END == BEGIN would train nothing and still write an untrained final_state
        raise fail("TRAIN.END_EPOCH", end, f"an int > TRAIN.BEGIN_EPOCH ({begin}): at least one epoch to train")
    image_size = [int(v) for v in np.asarray(cfg.MODEL.IMAGE_SIZE).reshape(-1)]
    if any(v <= 0 or v % _INPUT_MULTIPLE for v in image_size):
        raise fail("MODEL.IMAGE_SIZE", image_size,
                   f"[W, H], both positive multiples of {_INPUT_MULTIPLE} (the networks downsample by 32)")
    heatmap_size = [int(v) for v in np.asarray(cfg.MODEL.EXTRA.HEATMAP_SIZE).reshape(-1)]
    stride = heatmap_stride(cfg)
    expected = [v // stride for v in image_size]
    if heatmap_size != expected:
        raise fail("MODEL.EXTRA.HEATMAP_SIZE", heatmap_size,
                   f"MODEL.IMAGE_SIZE / {stride} = {expected} (the network's output size)")
    try:
        check_network(cfg, cfg.MODEL.NAME)
        check_loss(cfg)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    return cfg


# ----------------------------------------------------------------------------------------------
# the rules of the networks and of the loss: validate_config runs them on every config, and the
# builders (models.*.get_pose_net, core.loss.build_loss) run the same functions for a config made
# in code, so that each rule and its message live here only. They raise ConfigError (a ValueError).


def check_resnet(depth: Any, style: Any, model_name: str = "pose_resnet") -> None:
    """``MODEL.EXTRA.NUM_LAYERS`` and ``MODEL.STYLE`` of the ResNet trunk.

    The caffe style needs a bottleneck depth (50/101/152): the original silently built a bottleneck
    network for 18/34 there; we refuse.
    """
    if depth not in RESNET_DEPTHS:
        raise ConfigError(
            f"MODEL.NAME={model_name!r}: MODEL.EXTRA.NUM_LAYERS={depth!r} is not a supported ResNet depth; "
            f"expected one of {sorted(RESNET_DEPTHS)}"
        )
    if style not in RESNET_STYLES:
        raise ConfigError(f"MODEL.NAME={model_name!r}: MODEL.STYLE={style!r}; expected one of {list(RESNET_STYLES)}")
    if style == "caffe" and RESNET_DEPTHS[depth] != "bottleneck":
        raise ConfigError(
            f"MODEL.NAME={model_name!r}: MODEL.STYLE='caffe' needs a Bottleneck ResNet "
            f"(MODEL.EXTRA.NUM_LAYERS 50, 101 or 152), got MODEL.EXTRA.NUM_LAYERS={depth}; the original "
            "silently built a bottleneck network here. Use MODEL.STYLE 'pytorch'."
        )


def check_deconv_kernel(kernel: Any, model_name: str | None = None) -> None:
    """One entry of ``MODEL.EXTRA.NUM_DECONV_KERNELS``: a kernel that upsamples by exactly 2."""
    if kernel not in DECONV_KERNELS:
        where = f"MODEL.NAME={model_name!r}: " if model_name else ""
        raise ConfigError(
            f"{where}MODEL.EXTRA.NUM_DECONV_KERNELS: kernel {kernel!r} is not supported; expected one of "
            f"{sorted(DECONV_KERNELS)} (stride-2 upsampling by exactly 2)"
        )


def _check_pose_resnet_head(cfg: Any, model_name: str) -> None:
    extra = cfg.MODEL.EXTRA
    num_layers = extra.NUM_DECONV_LAYERS
    filters = [int(f) for f in extra.NUM_DECONV_FILTERS]
    kernels = [int(k) for k in extra.NUM_DECONV_KERNELS]
    if num_layers < 1 or num_layers != len(filters) or num_layers != len(kernels):
        raise ConfigError(
            f"MODEL.NAME={model_name!r}: MODEL.EXTRA.NUM_DECONV_LAYERS={num_layers} must be >= 1 and equal the "
            f"lengths of MODEL.EXTRA.NUM_DECONV_FILTERS={filters} and MODEL.EXTRA.NUM_DECONV_KERNELS={kernels}"
        )
    for k in kernels:
        check_deconv_kernel(k, model_name)


def _check_mr_head(cfg: Any, model_name: str) -> None:
    """The MR heads read only F[0..2] and K[0..2]; ``final_layer`` takes F[-1] channels, so a longer
    list must end with F[2]."""
    extra = cfg.MODEL.EXTRA
    filters = [int(f) for f in extra.NUM_DECONV_FILTERS]
    kernels = [int(k) for k in extra.NUM_DECONV_KERNELS]
    if len(filters) < 3 or len(kernels) < 3:
        raise ConfigError(
            f"MODEL.NAME={model_name!r} needs 3 upsampling stages: MODEL.EXTRA.NUM_DECONV_FILTERS={filters} and "
            f"MODEL.EXTRA.NUM_DECONV_KERNELS={kernels} must have at least 3 entries"
        )
    if filters[-1] != filters[2]:
        raise ConfigError(
            f"MODEL.NAME={model_name!r}: final_layer takes MODEL.EXTRA.NUM_DECONV_FILTERS[-1]={filters[-1]} "
            f"channels but the head produces NUM_DECONV_FILTERS[2]={filters[2]}; they must be equal"
        )
    for k in kernels[:3]:
        check_deconv_kernel(k, model_name)


def _check_same_size_final_kernel(cfg: Any, model_name: str) -> None:
    """MRHeat adds maps produced by ``s_conv*`` and ``final_layer``: only kernels that keep the size work."""
    kernel = cfg.MODEL.EXTRA.FINAL_CONV_KERNEL
    if kernel not in FINAL_CONV_KERNELS:
        raise ConfigError(
            f"MODEL.NAME={model_name!r}: MODEL.EXTRA.FINAL_CONV_KERNEL={kernel!r} must be 1 or 3 (other kernels "
            "get padding 0, shrink the heatmaps and the side branches no longer align)"
        )


def _check_mrfea(cfg: Any, model_name: str) -> None:
    """MRFea: Bottleneck trunk, F2 == 64e (layer1 channels), H and W multiples of 32 (the four
    1/4-resolution maps must align)."""
    depth = cfg.MODEL.EXTRA.NUM_LAYERS
    if RESNET_DEPTHS[depth] != "bottleneck":
        raise ConfigError(
            f"MODEL.NAME={model_name!r} adds the raw layer1 output to the upsampled features and needs a "
            f"Bottleneck ResNet (MODEL.EXTRA.NUM_LAYERS 50, 101 or 152); got MODEL.EXTRA.NUM_LAYERS={depth}"
        )
    _check_mr_head(cfg, model_name)
    filters = [int(f) for f in cfg.MODEL.EXTRA.NUM_DECONV_FILTERS]
    expansion = 4  # a bottleneck block's output has 4x its width
    layer1_channels = 64 * expansion
    if model_name == "mrfea2_pose_resnet" and filters[2] != MRFEA2_LAST_WIDTH:
        raise ConfigError(
            f"MODEL.NAME={model_name!r} has hard-coded widths ending in {MRFEA2_LAST_WIDTH}: "
            f"MODEL.EXTRA.NUM_DECONV_FILTERS[2] must be {MRFEA2_LAST_WIDTH}, got {filters[2]}"
        )
    if filters[2] != layer1_channels:
        raise ConfigError(
            f"MODEL.NAME={model_name!r}: MODEL.EXTRA.NUM_DECONV_FILTERS[2]={filters[2]} must equal the layer1 "
            f"width 64 x {expansion} = {layer1_channels} (the features are summed with layer1's output)"
        )
    w, h = (int(v) for v in cfg.MODEL.IMAGE_SIZE)
    if w % _INPUT_MULTIPLE or h % _INPUT_MULTIPLE:
        raise ConfigError(
            f"MODEL.NAME={model_name!r}: MODEL.IMAGE_SIZE=[{w}, {h}] ([W, H]) must be multiples of 32 so that "
            "the layer1..layer4 branches align at 1/4 resolution"
        )


def check_network(cfg: Any, model_name: str) -> None:
    """Every rule the network ``model_name`` puts on ``cfg.MODEL`` (trunk, head, input size)."""
    check_resnet(cfg.MODEL.EXTRA.NUM_LAYERS, cfg.MODEL.STYLE, model_name)
    if model_name == "pose_resnet":
        _check_pose_resnet_head(cfg, model_name)
    elif model_name.startswith("mrheat"):
        _check_mr_head(cfg, model_name)
        _check_same_size_final_kernel(cfg, model_name)
    elif model_name.startswith("mrfea"):
        _check_mrfea(cfg, model_name)


def check_loss(cfg: Any) -> None:
    """``LOSS.TOPK`` (``LOSS.USE_OHKM``) keeps at most one loss per joint."""
    if cfg.LOSS.USE_OHKM and cfg.LOSS.TOPK > cfg.MODEL.NUM_JOINTS:
        raise ConfigError(f"LOSS.TOPK={cfg.LOSS.TOPK} is larger than MODEL.NUM_JOINTS={cfg.MODEL.NUM_JOINTS}; "
                          "expected at most one per joint")


# ----------------------------------------------------------------------------------------------
# helpers kept from the original module


def update_dir(model_dir: str, log_dir: str, data_dir: str, cfg: AttrDict | None = None) -> None:
    """Set OUTPUT_DIR / LOG_DIR / DATA_DIR and prefix DATA_DIR onto the data paths (unused by the scripts)."""
    cfg = config if cfg is None else cfg
    if model_dir:
        cfg.OUTPUT_DIR = model_dir
    if log_dir:
        cfg.LOG_DIR = log_dir
    if data_dir:
        cfg.DATA_DIR = data_dir
    cfg.DATASET.ROOT = os.path.join(cfg.DATA_DIR, cfg.DATASET.ROOT)
    cfg.TEST.COCO_BBOX_FILE = os.path.join(cfg.DATA_DIR, cfg.TEST.COCO_BBOX_FILE)
    cfg.MODEL.PRETRAINED = os.path.join(cfg.DATA_DIR, cfg.MODEL.PRETRAINED)


def dump_config(cfg: AttrDict, path: str | os.PathLike) -> None:
    """Write the resolved config as YAML (sizes as lists), e.g. beside the outputs of a run."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg.to_dict(), f, default_flow_style=False, sort_keys=False)


def gen_config(config_file: str | os.PathLike) -> None:
    """Write the default config to a YAML file."""
    dump_config(get_default_config(), config_file)


def get_model_name(cfg: AttrDict) -> tuple[str, str]:
    """``(name, full_name)``, e.g. ``('mrheat1_pose_resnet_50', '256x192_mrheat1_pose_resnet_50_d256d256d256')``."""
    name = cfg.MODEL.NAME
    if name not in MODEL_NAMES:
        raise ConfigError(f"MODEL.NAME={name!r}; expected one of {sorted(MODEL_NAMES)}")
    extra = cfg.MODEL.EXTRA
    name = f"{name}_{extra.NUM_LAYERS}"
    deconv_suffix = "".join(f"d{num_filters}" for num_filters in extra.NUM_DECONV_FILTERS)
    full_name = f"{cfg.MODEL.IMAGE_SIZE[1]}x{cfg.MODEL.IMAGE_SIZE[0]}_{name}_{deconv_suffix}"
    return name, full_name


if __name__ == "__main__":
    import sys

    gen_config(sys.argv[1])
