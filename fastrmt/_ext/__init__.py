"""Private Cython extensions (built by ``pip install -e .``).  Not public API."""
from __future__ import annotations

import importlib
from types import ModuleType

_REBUILD = ("fastrmt's compiled extension {name!r} could not be imported ({err}). "
            "It is built when the package is installed: run `pip install -e .` in the "
            "source tree (a C compiler with OpenMP, Cython>=3 and numpy>=2 are needed).")


def load(name: str) -> ModuleType:
    """Import ``fastrmt._ext.<name>``, turning a failure into an ImportError that says how to rebuild."""
    try:
        return importlib.import_module(f"fastrmt._ext.{name}")
    except ImportError as err:
        raise ImportError(_REBUILD.format(name=name, err=err)) from err
