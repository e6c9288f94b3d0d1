"""Builds the optional compiled CPU kernels (plain C++ shared libraries loaded with ctypes).

The fused mean-shift engine, and the base layer's row minimum (k-means' assignment).

Everything else is in pyproject.toml. The extension is optional: if it cannot be
compiled, the install still succeeds and shiftkit uses its pure-torch engines.
"""

import os

from setuptools import Extension, setup

# -march=native: the library is built on the machine that runs it (pip install
# from source); set SHIFTKIT_MARCH=x86-64-v3 (or another target) for portable builds.
march = os.environ.get("SHIFTKIT_MARCH", "native")

setup(
    ext_modules=[
        Extension(
            "shiftkit._shift._fused_lib",
            sources=["src/shiftkit/_shift/_csrc/fused_shift.cpp"],
            language="c++",
            extra_compile_args=["-std=c++17", "-O3", f"-march={march}", "-ffast-math", "-fopenmp"],
            extra_link_args=["-fopenmp"],
            optional=True,
        ),
        Extension(
            "shiftkit._ops_lib",
            sources=["src/shiftkit/_csrc/ops.cpp"],
            language="c++",
            extra_compile_args=["-std=c++17", "-O3", f"-march={march}", "-ffast-math", "-fopenmp"],
            extra_link_args=["-fopenmp"],
            optional=True,
        ),
    ]
)
