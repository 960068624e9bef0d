"""Kernels of the block Lanczos eigensolver (start blocks from Philox).

Numba rather than Cython: the start block is filled by the same inlined Philox and
Gaussian ziggurat as the samplers (:mod:`fastrmt._kernels._philox`), one independent
row per ``prange`` iteration.  Everything else in the solver is BLAS-3 work done by
NumPy/SciPy (the products, the projections and the small dense eigenproblems).

Entry (r, c) of the start block is the standard normal drawn from the Philox word
stream of counter ``(r >> 1, c, t, stream)`` (the design of :mod:`fastrmt._random`,
with the column index in the role of the row), so the block is a pure function of
(seed, r, c): the same for any thread count, and column ``c`` never changes when more
columns are drawn.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from ._jit import jit
from ._philox import GAUSSIAN, gaussian_slow, law_from_word, word


@jit(parallel=True)
def gaussian_block(out, col0, stream, k0, k1):
    """out[r, c] = standard normal number (r, col0 + c) of the solver stream."""
    n, b = out.shape
    k0 = np.uint64(k0)
    k1 = np.uint64(k1)
    for r in prange(n):
        for c in range(b):
            w = word(col0 + c, r, 0, stream, k0, k1)
            x, ok = law_from_word(w, GAUSSIAN, 0.0)
            if not ok:
                x = gaussian_slow(col0 + c, r, stream, k0, k1)
            out[r, c] = x
