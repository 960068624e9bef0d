"""Random rows for the eigenbasis of the signal S (Numba).

Numba rather than Cython: the rows come from the Philox sampler (:func:`._philox.fill_row`),
which is Numba and is inlined here.

``fill_rows(out, stream, k0, k1, law)`` writes ``out[i, j]`` = the standardised value of
counter position (i, j) on ``stream`` for *every* (i, j), not only i <= j: positions
(i, j) and (j, i) use different Philox counters, so the matrix is not symmetric and all
its entries are independent.  Used for the Gaussian matrix whose QR gives the Haar
basis (stream ``STREAM_BASIS``) and for the +-1 sign diagonals of the fast basis
(``STREAM_SIGNAL``, Rademacher law, row r = round r).  Pure function of
(key, stream, i, j): bit-identical for any number of threads.
"""
from __future__ import annotations

import numba

from ._jit import jit
from ._philox import fill_row


@jit(parallel=True)
def fill_rows(out, stream, k0, k1, law):
    m, n = out.shape
    for i in numba.prange(m):
        fill_row(out[i], i, 0, n, stream, k0, k1, law, 0.0, 1.0, 1.0)
