"""The one Numba decorator of fastrmt.

Every compiled Numba kernel is declared with :func:`jit` so the options are the same
everywhere: ``cache=True`` (the compiled code is stored beside the source, so only the
very first call on a machine pays the compile), ``nogil=True`` (kernels release the GIL
and can run from Python threads), ``error_model="numpy"`` (division by zero gives
inf/NaN instead of raising, which lets the root finders test for it), and no fastmath
(reproducibility and IEEE behaviour matter more here than the last few percent).
"""
from __future__ import annotations

import numba

__all__ = ["jit"]

_OPTIONS = dict(cache=True, nogil=True, error_model="numpy", fastmath=False)


def jit(*args, parallel: bool = False, **kwargs):
    """``numba.njit`` with fastrmt's shared options; ``parallel=True`` enables prange.

    Use as ``@jit`` or ``@jit(parallel=True)``; an optional explicit signature may be
    passed positionally as with ``numba.njit``.
    """
    options = dict(_OPTIONS)
    options.update(kwargs)
    options["parallel"] = parallel
    if len(args) == 1 and callable(args[0]) and not isinstance(args[0], (str, list, tuple)):
        return numba.njit(**options)(args[0])
    return numba.njit(*args, **options)
