"""Put ``<repo>/lib`` first on ``sys.path`` for the benchmarks, as ``pose_estimation/_init_paths.py`` does for
the scripts: a benchmark starts with ``import _init_paths`` and then imports ``core``, ``dataset``, ``models``,
``nms`` and ``utils`` as top-level packages. Python puts the running benchmark's folder (``bench/``) on the
path itself, so ``reference_joints_dataset`` imports by module name."""
import os.path as osp
import sys

_LIB = osp.normpath(osp.join(osp.dirname(osp.abspath(__file__)), "..", "lib"))
if _LIB not in sys.path:
    sys.path.insert(0, _LIB)
