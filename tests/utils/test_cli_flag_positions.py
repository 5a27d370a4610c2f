"""Flags written after the trailing ``KEY VALUE`` overrides are read as flags (valid.py, train.py and
every script built with ``utils.cli.add_opts``), and every command line that worked before parses as
it did."""
from __future__ import annotations

import argparse

import pytest

from core.config import ConfigError
from helpers import REPO, load_script, run_python
from utils.cli import add_common_args, add_opts, add_test_args, config_from_args, split_overrides

COCO_YAML = REPO / "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml"


@pytest.fixture(scope="module")
def valid():
    return load_script("valid", "_valid_for_cli_tests")


@pytest.fixture(scope="module")
def train():
    return load_script("train", "_train_for_cli_tests")


def test_valid_flags_after_the_overrides(valid, tmp_path):
    model = tmp_path / "m.pth"
    args = valid.parse_args(["--cfg", str(COCO_YAML), "TEST.FLIP_TEST", "false", "--model-file", str(model),
                             "TEST.POST_PROCESS", "false", "--use-detect-bbox", "--gpus", "cpu"])
    assert args.model_file == str(model) and args.use_detect_bbox and args.gpus == "cpu"
    assert args.opts == ["TEST.FLIP_TEST", "false", "TEST.POST_PROCESS", "false"]
    cfg = config_from_args(args)
    assert cfg.TEST.MODEL_FILE == str(model) and cfg.TEST.USE_GT_BBOX is False and cfg.GPUS == "cpu"
    assert cfg.TEST.FLIP_TEST is False and cfg.TEST.POST_PROCESS is False


def test_train_flags_after_the_overrides(train):
    args = train.parse_args(["--cfg", str(COCO_YAML), "TRAIN.LR", "0.01", "--workers", "0", "TRAIN.END_EPOCH", "3",
                             "--gpus", "cpu", "--frequent", "7"])
    assert (args.workers, args.gpus, args.frequent) == (0, "cpu", 7)
    assert args.opts == ["TRAIN.LR", "0.01", "TRAIN.END_EPOCH", "3"]
    cfg = config_from_args(args)
    assert (cfg.WORKERS, cfg.GPUS, cfg.PRINT_FREQ, cfg.TRAIN.LR, cfg.TRAIN.END_EPOCH) == (0, "cpu", 7, 0.01, 3)


def test_an_override_still_wins_over_a_flag_written_after_it(valid):
    """The documented order stays: flags, then the ``KEY VALUE`` pairs, wherever the flag is written."""
    cfg = config_from_args(valid.parse_args(["--cfg", str(COCO_YAML), "TEST.MODEL_FILE", "a.pth",
                                             "--model-file", "b.pth"]))
    assert cfg.TEST.MODEL_FILE == "a.pth"


def _plain_parser() -> argparse.ArgumentParser:
    """valid.py's flags on an argparse parser without the wrapping of add_opts."""
    parser = add_test_args(add_common_args(argparse.ArgumentParser()))
    parser.add_argument("opts", nargs=argparse.REMAINDER)
    return parser


@pytest.mark.parametrize("argv", [
    ["--cfg", "x.yaml"],
    ["--cfg", "x.yaml", "--flip-test", "--model-file", "m.pth", "TEST.FLIP_TEST", "false"],
    ["--cfg", "x.yaml", "TRAIN.LR", "-1", "GPUS", "-1"],
    ["--cfg", "x.yaml", "DATASET.ROOT", "--odd-folder-name", "OUTPUT_DIR", "-o"],  # values that look like flags
    ["--cfg", "x.yaml", "MODEL.NAME", "pose_resnet", "--"],
    ["--cfg", "x.yaml", "lower.case", "1", "MODEL.NAME"],  # wrong, but for the config to report
])
def test_command_lines_that_parsed_before_parse_the_same(valid, argv):
    assert vars(valid.parse_args(argv)) == vars(_plain_parser().parse_args(argv))


def test_an_unknown_flag_after_the_overrides_is_argparse_error_line(valid, capsys):
    with pytest.raises(SystemExit) as info:
        valid.parse_args(["--cfg", "x.yaml", "TEST.FLIP_TEST", "false", "--no-such-flag", "3"])
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.endswith("error: unrecognized arguments: --no-such-flag"), last


def test_an_unknown_key_is_still_reported_by_name(valid):
    args = valid.parse_args(["--cfg", str(COCO_YAML), "TEST.FLIP_TEST", "false", "--gpus", "cpu", "TEST.NO_KEY", "1"])
    with pytest.raises(ConfigError, match="TEST.NO_KEY"):
        config_from_args(args)


def test_every_add_opts_parser_takes_flags_after_the_overrides():
    parser = add_opts(argparse.ArgumentParser())
    parser.add_argument("--batches", type=int, nargs="+")
    args = parser.parse_args(["MODEL.NAME", "x", "--batches", "1", "8", "GPUS", "cpu"])
    assert args.batches == [1, 8] and args.opts == ["MODEL.NAME", "x", "GPUS", "cpu"]


def test_split_overrides_hands_flags_after_the_overrides_back():
    assert split_overrides(["--cfg", "a.yaml", "--batches", "1", "MODEL.NAME", "x", "--threads", "2", "GPUS", "cpu"]
                           ) == (["--cfg", "a.yaml", "--batches", "1", "--threads", "2"], ["MODEL.NAME", "x", "GPUS", "cpu"])


@pytest.mark.slow
def test_valid_script_reads_a_flag_after_the_overrides(coco_root, tmp_path):
    """The user's command line: ``--model-file`` after the pairs is the model file (here a missing
    one, reported by name), not a config key."""
    proc = run_python(["pose_estimation/valid.py", "--cfg", COCO_YAML, "TEST.FLIP_TEST", "false",
                       "DATASET.ROOT", coco_root, "OUTPUT_DIR", tmp_path / "out", "LOG_DIR", tmp_path / "log",
                       "GPUS", "cpu", "WORKERS", "0", "--model-file", tmp_path / "nope.pth"], timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: model file not found") and "nope.pth" in last, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
