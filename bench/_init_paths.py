"""Put ``<repo>/lib`` first on ``sys.path`` for the benchmarks, as ``pose_estimation/_init_paths.py`` does for
the scripts: a benchmark starts with ``import _init_paths`` and then imports ``core``, ``dataset``, ``models``,
``nms`` and ``utils`` as top-level packages. Python puts the running benchmark's folder (``bench/``) on the
path itself, so ``reference_joints_dataset`` imports by module name; ``<repo>/tools`` goes last, so a
benchmark imports a tool by module name too (``bench_inference`` times the model that ``export_onnx`` writes)."""
import os.path as osp
import sys

_REPO = osp.normpath(osp.join(osp.dirname(osp.abspath(__file__)), ".."))
_LIB = osp.join(_REPO, "lib")
_TOOLS = osp.join(_REPO, "tools")
if _LIB not in sys.path:
    sys.path.insert(0, _LIB)
if _TOOLS not in sys.path:
    sys.path.append(_TOOLS)
