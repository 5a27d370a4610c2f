"""The original's ``core.function`` names, kept for code written against it.

The loops live in their own modules: :mod:`core.training` (one training epoch),
:mod:`core.evaluation` (validation and the results table), :mod:`core.inference_step` (the
inference step of validation, the API and the demo), :mod:`core.amp` (mixed precision) and
:mod:`core.meters` (``AverageMeter``).
"""
from core.evaluation import _print_name_value, validate
from core.meters import AverageMeter
from core.training import train

__all__ = ["AverageMeter", "_print_name_value", "train", "validate"]
