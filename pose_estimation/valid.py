"""Validate a trained network: ``python pose_estimation/valid.py --cfg <yaml> --model-file <file> [KEY VALUE ...]``.

Reads checkpoints with or without the ``module.`` prefix (the original needed valid.py for one and
valid_baseline.py for the other), on the CPU or CUDA; under torchrun the split is sharded over
ranks and rank 0 evaluates. Results: ``<output dir>/results/keypoints_<TEST_SET>_results.json``
(COCO) or ``<output dir>/pred.mat`` (MPII), and the metrics table in the log.
"""
from __future__ import annotations

import argparse
import logging
import pprint
from pathlib import Path

import _init_paths  # noqa: F401  (puts lib/ on sys.path)
from torch.utils.data import DataLoader

from core.config import dump_config
from core.evaluation import validate
from core.inference_step import prepare_inference_model
from core.loss import build_loss
from dataset import build_dataset, build_transform
from dataset.sampler import ShardSampler
from models import build_pose_net
from utils.checkpoint import load_model_weights
from utils.cli import add_common_args, add_opts, add_test_args, config_from_args, run_cli
from utils.device import configure_cudnn, resolve_device
from utils.distributed import cleanup, init_distributed
from utils.utils import create_logger

logger = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Validate keypoints network")
    add_opts(add_test_args(add_common_args(parser)))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = config_from_args(args)

    device = resolve_device(cfg.GPUS)  # under torchrun: cuda:<LOCAL_RANK>
    dist_info = init_distributed(device)
    _, final_output_dir, tb_log_dir = create_logger(cfg, args.cfg, "valid", is_main=dist_info.is_main)
    logger.info(pprint.pformat(args))
    logger.info(pprint.pformat(cfg.to_dict()))
    configure_cudnn(cfg)

    model = build_pose_net(cfg, is_train=False)
    model_file = cfg.TEST.MODEL_FILE or str(Path(final_output_dir) / "model_best.pth.tar")
    if not Path(model_file).is_file():
        source = "TEST.MODEL_FILE / --model-file" if cfg.TEST.MODEL_FILE else "the default <output dir>/model_best.pth.tar"
        message = f"model file not found: {model_file} (from {source})"
        final_state = Path(model_file).with_name("final_state.pth.tar")
        if Path(model_file).name == "model_best.pth.tar" and final_state.is_file():
            # train.py (like the original) saves model_best only when the score (AP, PCK, PCKh) strictly
            # improves on 0
            message += (f"; the best validation score of the training run in {final_state.parent} never rose above 0, "
                        f"so it saved no best model; its last weights are in {final_state} (pass --model-file {final_state})")
        raise FileNotFoundError(message)
    logger.info("=> loading model from %s", model_file)
    load_model_weights(model, model_file)
    model = prepare_inference_model(cfg, model, device)  # channels-last with TEST/TRAIN.CHANNELS_LAST
    if dist_info.is_main:
        dump_config(cfg, Path(final_output_dir) / "config_valid.yaml")

    criterion = build_loss(cfg).to(device)  # the training loss, so the logged validation loss matches
    valid_dataset = build_dataset(cfg, cfg.DATASET.TEST_SET, False, build_transform())
    valid_loader = DataLoader(
        valid_dataset,
        batch_size=cfg.TEST.BATCH_SIZE,
        sampler=ShardSampler(len(valid_dataset), dist_info.world_size, dist_info.rank),
        num_workers=cfg.WORKERS,
        pin_memory=cfg.TRAIN.PIN_MEMORY and device.type == "cuda",
    )
    validate(cfg, valid_loader, valid_dataset, model, criterion, final_output_dir, tb_log_dir, None, is_main=dist_info.is_main)
    cleanup()
    return 0


if __name__ == "__main__":
    run_cli(main)
