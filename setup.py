"""Build the Cython extensions of fastrmt (everything else is declared in pyproject.toml).

OpenMP is used by the extensions, so ``-fopenmp`` is passed at compile and link time.
``-march=native`` is opt-in only: set ``FASTRMT_NATIVE=1`` in the environment before
``pip install -e .``; a binary built with it crashes on CPUs lacking the same instructions.
"""
import os
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

compile_args = ["-O3"]
link_args = []
if sys.platform != "win32":
    compile_args.append("-fopenmp")
    link_args.append("-fopenmp")
else:  # pragma: no cover - MSVC
    compile_args = ["/O2", "/openmp"]
if os.environ.get("FASTRMT_NATIVE", "") == "1":
    compile_args.append("-march=native")

ext_names = ["_packed", "_dense"]
extensions = [
    Extension(
        f"fastrmt._ext.{name}",
        [f"fastrmt/_ext/{name}.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    for name in ext_names
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )
)
