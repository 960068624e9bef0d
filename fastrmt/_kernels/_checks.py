"""Input checks of dense matrices in one parallel pass (Numba).

Numba rather than Cython: a plain loop over tiles with ``prange``, specialised per dtype
at the first call, with nothing to dispatch by instruction set (the pass is bound by
memory traffic and by the transposed reads).

:func:`symmetry_scan` reads every entry of a square C-order array once: tile (I, J),
I <= J, of the upper triangle is compared with the mirrored tile (J, I), entry by entry,
in float64 (the mirrored tile is first copied transposed into a private buffer, so the
comparison runs along rows of both).  Per pair of tile rows (paired (t, nb-1-t) for
balance) it returns the largest ``|a_ij - a_ji|``, the largest ``|a_ij|`` and whether a
NaN or an infinity was seen.  Maxima do not depend on the order of the walk, so the
results are the same for any thread count.
"""
from __future__ import annotations

import numba
import numpy as np

from ._jit import jit

TILE = 64
LANES = 8           # independent running maxima (lets the compare loop vectorise)


@jit(parallel=True)
def symmetry_scan(A, diff, amax, nonfinite):
    """Fill, per pair p of tile rows: ``diff[p]`` = max |a_ij - a_ji| (float64),
    ``amax[p]`` = max |a_ij| and ``nonfinite[p]`` = 1 if a NaN or an infinity was seen
    (0 otherwise)."""
    n = A.shape[0]
    nb = (n + TILE - 1) // TILE
    npairs = (nb + 1) // 2
    for p in numba.prange(npairs):
        pp = np.int64(p)
        T = np.empty((TILE, TILE))
        dl = np.zeros(LANES)
        bl = np.zeros(LANES)
        probe = 0.0
        for side in range(2):
            t = pp if side == 0 else nb - 1 - pp
            if side == 1 and t == pp:
                break
            i0 = t * TILE
            i1 = min(i0 + TILE, n)
            for jb in range(t, nb):
                j0 = jb * TILE
                j1 = min(j0 + TILE, n)
                for j in range(j0, j1):          # T[i - i0, j - j0] = A[j, i]
                    for i in range(i0, i1):
                        T[i - i0, j - j0] = A[j, i]
                for i in range(i0, i1):
                    js = max(j0, i)
                    for q in range(j1 - js):
                        a = np.float64(A[i, js + q])
                        b = T[i - i0, js + q - j0]
                        probe += a * 0.0 + b * 0.0      # NaN once any value is NaN/inf
                        d = abs(a - b)
                        m = abs(a)
                        lane = q % LANES
                        dl[lane] = d if d > dl[lane] else dl[lane]
                        bl[lane] = m if m > bl[lane] else bl[lane]
        dm = 0.0
        bm = 0.0
        for lane in range(LANES):
            dm = dl[lane] if dl[lane] > dm else dm
            bm = bl[lane] if bl[lane] > bm else bm
        diff[p] = dm
        amax[p] = bm
        nonfinite[p] = 0 if probe == 0.0 else 1
