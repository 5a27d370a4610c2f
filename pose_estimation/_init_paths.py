"""Put ``<repo>/lib`` first on ``sys.path`` so ``core``, ``models``, ``dataset``, ``utils`` and ``nms``
import as top-level packages, exactly as in the original code base."""
import os.path as osp
import sys

_LIB = osp.join(osp.dirname(osp.abspath(__file__)), "..", "lib")
_LIB = osp.normpath(_LIB)
if _LIB not in sys.path:
    sys.path.insert(0, _LIB)
