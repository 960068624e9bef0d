"""Parallel Wigner samplers (Numba).

Work is split into tasks that write disjoint parts of the output, so there are no
races and no reductions; the values come from :mod:`._philox` as pure functions of
(key, stream, i, j), so the result is the same for any number of threads.  The rows
of a triangle have unequal lengths, so task ``t`` takes rows (or row tiles) ``t`` and
``last - t`` together, which balances the work.
"""
from __future__ import annotations

import numba

from ._jit import jit
import numpy as np

from ._philox import CHUNK, fill_row_ws

TILE = 64


@jit
def packed_offset(i, n):
    """Offset of row i in the packed upper triangle (row-major, row i = (i, i..n-1))."""
    return i * n - (i * (i - 1)) // 2


@jit(parallel=True)
def fill_packed(data, n, stream, k0, k1, law, param, scale_off, scale_diag):
    """Fill the packed upper triangle, row-major: n(n+1)/2 values."""
    half = (n + 1) // 2
    for t in numba.prange(half):
        wa = np.empty(CHUNK, dtype=np.uint64)
        wb = np.empty(CHUNK, dtype=np.uint64)
        r = t
        off = packed_offset(r, n)
        fill_row_ws(data[off:off + n - r], r, r, n, stream, k0, k1, law, param,
                    scale_off, scale_diag, wa, wb)
        r = n - 1 - t
        if r != t:
            off = packed_offset(r, n)
            fill_row_ws(data[off:off + n - r], r, r, n, stream, k0, k1, law, param,
                        scale_off, scale_diag, wa, wb)


@jit
def fill_upper_tile(out, i0, i1, j0, j1, stream, k0, k1, law, param, scale_off, scale_diag):
    """out[i - i0, j - j0] = entry (i, j) for the tile, where j >= i (upper part only)."""
    wa = np.empty(CHUNK, dtype=np.uint64)
    wb = np.empty(CHUNK, dtype=np.uint64)
    for i in range(i0, i1):
        js = max(i, j0)
        if js < j1:
            fill_row_ws(out[i - i0, js - j0:j1 - j0], i, js, j1, stream, k0, k1, law, param,
                        scale_off, scale_diag, wa, wb)


@jit
def _tile_row_block(out, n, ib, stream, k0, k1, law, param, scale_off, scale_diag):
    """Fill the tiles of rows [i0, i1) right of the diagonal, mirroring each at once.

    (Generating into a private tile buffer and copying it out twice was measured no
    faster: the tile written in place is still cache-resident when it is mirrored.)
    """
    i0 = ib * TILE
    i1 = min(i0 + TILE, n)
    for j0 in range(i0, n, TILE):
        j1 = min(j0 + TILE, n)
        fill_upper_tile(out[i0:i1, j0:j1], i0, i1, j0, j1, stream, k0, k1, law, param,
                        scale_off, scale_diag)
        for j in range(j0, j1):
            for i in range(i0, min(i1, j)):
                out[j, i] = out[i, j]


@jit(parallel=True)
def fill_full(out, n, stream, k0, k1, law, param, scale_off, scale_diag):
    """Both triangles of a dense C-order matrix, one tile row (and its mirror) a task."""
    nb = (n + TILE - 1) // TILE
    half = (nb + 1) // 2
    for t in numba.prange(half):
        _tile_row_block(out, n, t, stream, k0, k1, law, param, scale_off, scale_diag)
        u = nb - 1 - t
        if u != t:
            _tile_row_block(out, n, u, stream, k0, k1, law, param, scale_off, scale_diag)
