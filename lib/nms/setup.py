"""Build the ``cpu_nms`` Cython extension in place: ``python setup.py build_ext --inplace``.

Normally run through ``make -C lib``. Needs only a C compiler, NumPy and Cython >= 3 (no CUDA:
GPU box NMS goes through ``torchvision.ops.nms`` at run time instead).
"""
import os
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

# setuptools wants source paths relative to the directory holding setup.py.
os.chdir(os.path.dirname(os.path.abspath(__file__)))

if sys.platform == "win32":
    COMPILE_ARGS = ["/O2", "/fp:precise"]
else:
    # No FMA contraction: the OKS formula must round exactly like NumPy's separate multiply and add.
    # -O2 without debug information (both after Python's own "-g -O3"): the whole build takes about
    # 2 s less CPU (10 s instead of 12 on the 2-core machine) and the OKS-NMS kernel times the same
    # in bench/bench_oks_nms.py (12.6 against 11.7 ms at 500 candidates, within the machine's drift).
    COMPILE_ARGS = ["-O2", "-g0", "-ffp-contract=off"]

extensions = [
    Extension(
        "cpu_nms",
        ["cpu_nms.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=COMPILE_ARGS,
    )
]

setup(
    name="simmrpose-nms",
    ext_modules=cythonize(extensions, compiler_directives={"language_level": "3"}),
)
