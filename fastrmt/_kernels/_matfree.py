"""Matrix-free block product ``X/sqrt(n) @ V`` with X regenerated from its seed (Numba).

Numba rather than Cython: the tiles are produced by the Philox sampler of
:mod:`._sampling` (``fill_upper_tile``), which is itself Numba and is inlined here;
the products use ``np.dot`` on the tile (Numba calls BLAS gemm for it).

Work split: the one schedule of ``fastrmt._products.tile_schedule``, also walked by the
packed product of ``fastrmt._ext._packed``.  The upper triangle is cut into square
tiles (I, J), I <= J; chunk k walks the tile rows ``rows[starts[k]:starts[k+1]]``, each
from its diagonal tile on.  Each tile is generated once into a thread-private buffer T
and gives ``out[I] += T @ V[J]`` and, when I < J, ``out[J] += T.T @ V[I]`` (a diagonal
tile is completed to a symmetric block first).  Each chunk accumulates into its own
(n, b) buffer in a fixed order; the buffers are summed in chunk order.  K depends on
(n, b) only, so the result is bit-identical for any number of threads.  The caller runs
the chunks group by group (``fastrmt._products.group_size``: the ``starts`` it passes
are the group's slice of the schedule) and sums each group into the output before the
next: memory is one group of (n, b) buffers plus one tile per running chunk.
"""
from __future__ import annotations

import numba
import numpy as np

from ._jit import jit
from ._sampling import fill_upper_tile


@jit
def _chunk_product(bufs, k, V, n, tile, starts, rows, round32, stream, k0, k1, law, param,
                   scale_off, scale_diag, T, tmp):
    nb = (n + tile - 1) // tile
    O = bufs[np.int64(k)]
    b = V.shape[1]
    for q in range(starts[k], starts[k + 1]):
        t = rows[q]
        i0 = t * tile
        i1 = min(i0 + tile, n)
        mi = i1 - i0
        for J in range(t, nb):
            j0 = J * tile
            j1 = min(j0 + tile, n)
            mj = j1 - j0
            Tt = T[:mi * mj].reshape((mi, mj))
            fill_upper_tile(Tt, i0, i1, j0, j1, stream, k0, k1, law, param,
                            scale_off, scale_diag)
            if round32:
                for a in range(mi):
                    for c in range(mj):
                        Tt[a, c] = np.float32(Tt[a, c])
            if J == t:
                for a in range(mi):
                    for c in range(a):
                        Tt[a, c] = Tt[c, a]
            r = tmp[:mi * b].reshape((mi, b))
            np.dot(Tt, V[j0:j1], r)
            O[i0:i1] += r
            if J != t:
                r2 = tmp[:mj * b].reshape((mj, b))
                np.dot(Tt.T, V[i0:i1], r2)
                O[j0:j1] += r2


@jit(parallel=True)
def matfree_matmat(bufs, V, n, tile, starts, rows, round32, stream, k0, k1, law, param,
                   scale_off, scale_diag):
    """bufs[k] += chunk k's part of (X/sqrt(n)) @ V; bufs zeroed, shape (K, n, b).

    ``round32``: round each generated entry to float32 first (the values of a float32
    stored X), then compute in V's dtype.
    """
    n_chunks = bufs.shape[0]
    b = V.shape[1]
    for k in numba.prange(n_chunks):
        T = np.empty(tile * tile, dtype=V.dtype)
        tmp = np.empty(tile * b, dtype=V.dtype)
        _chunk_product(bufs, k, V, n, tile, starts, rows, round32, stream, k0, k1, law,
                       param, scale_off, scale_diag, T, tmp)


@jit(parallel=True)
def sum_chunks(bufs, out, accumulate):
    """out[r] = bufs[0, r] + bufs[1, r] + ... in chunk order; parallel over rows.

    ``accumulate``: out[r] = out[r] + bufs[0, r] + ... (the next group of chunks), the
    same sequence of additions as one sum over all the chunks."""
    K, n, b = bufs.shape
    k0 = 0 if accumulate else 1
    for r in numba.prange(n):
        for c in range(b):
            s = out[r, c] if accumulate else bufs[0, r, c]
            for k in range(k0, K):
                s += bufs[k, r, c]
            out[r, c] = s
