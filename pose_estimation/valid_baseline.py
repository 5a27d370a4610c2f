"""Kept for old commands: the original needed this script for checkpoints without ``module.``.

valid.py now reads both key formats, so this is the same program.
"""
import _init_paths  # noqa: F401  (puts lib/ on sys.path)
from valid import main

from utils.cli import run_cli

if __name__ == "__main__":
    run_cli(main)
