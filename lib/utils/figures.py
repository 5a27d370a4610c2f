"""Writing matplotlib figures for the plotting tools."""
from __future__ import annotations

import os
from pathlib import Path


def save_figure(fig, out_file: str | os.PathLike) -> Path:
    """Write ``fig`` to ``out_file`` through a temporary file beside it, then close it: a reader never
    sees a half-written picture. The suffix of ``out_file`` picks the format (kept by the temporary)."""
    import matplotlib.pyplot as plt

    out_file = Path(out_file)
    tmp = out_file.with_name(out_file.stem + ".tmp" + out_file.suffix)
    try:
        fig.savefig(tmp)
    finally:
        plt.close(fig)
    tmp.replace(out_file)
    return out_file
