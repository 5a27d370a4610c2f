"""Writing matplotlib figures for the plotting tools."""
from __future__ import annotations

import os
from pathlib import Path

from utils.atomic_io import atomic_path


def image_suffix_problem(out_file: str | os.PathLike) -> str | None:
    """Why matplotlib cannot write ``out_file`` (its suffix names no picture format), or None."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    suffix = Path(out_file).suffix.lower().lstrip(".")
    if suffix in formats:
        return None
    what = f"its suffix .{suffix} is not a picture format" if suffix else "it has no suffix to pick the picture format"
    listed = ", ".join("." + f for f in formats)
    return f"{out_file}: {what}; expected a name ending in one of {listed} (e.g. .png)"


def save_figure(fig, out_file: str | os.PathLike) -> Path:
    """Write ``fig`` to ``out_file`` through a temporary file beside it (see :mod:`utils.atomic_io`),
    then close it: a reader never sees a half-written picture, and a failure leaves no temporary file.
    The suffix of ``out_file`` picks the format (the temporary file keeps it)."""
    import matplotlib.pyplot as plt

    out_file = Path(out_file)
    try:
        with atomic_path(out_file) as tmp:
            fig.savefig(tmp)
    finally:
        plt.close(fig)
    return out_file
