"""Input checks of dense matrices in parallel passes (Numba).

Numba rather than Cython: a plain loop over tiles with ``prange``, specialised per dtype
at the first call, with nothing to dispatch by instruction set (the pass is bound by
memory traffic and by the transposed reads).

:func:`symmetry_scan` reads every entry of a square C-order array once: tile (I, J),
I <= J, of the upper triangle is compared with the mirrored tile (J, I), entry by entry,
in float64 (the mirrored tile is first copied transposed into a private buffer, so the
comparison runs along rows of both).  Per pair of tile rows (paired (t, nb-1-t) for
balance) it returns the largest ``|a_ij - a_ji|``, the largest ``|a_ij|`` and whether a
NaN or an infinity was seen.  Maxima do not depend on the order of the walk, so the
results are the same for any thread count.  Both passes walk the pairs of
``fastrmt._products.tile_schedule`` (one pair per chunk), the products' schedule.

:func:`mirror_mismatches` is the fast path run first: it only counts the pairs whose two
entries differ or are not finite (comparisons in the stored dtype, 128-wide tiles, the
compare loop on contiguous rows so that it vectorises): 1.5-2.4x faster than
:func:`symmetry_scan` on this machine (n = 20000 float64: 1.3 s -> 0.55 s).  An exactly
symmetric, finite matrix — the common case — needs nothing more; otherwise the caller
runs :func:`symmetry_scan` to measure the asymmetry against its tolerance.
"""
from __future__ import annotations

import numba
import numpy as np

from ._jit import jit

TILE = 64
LANES = 8           # independent running maxima (lets the compare loop vectorise)
EXACT_TILE = 128    # tiles of mirror_mismatches (measured: 64 -> 128 halves its time at n = 20000)


@jit
def _load_mirror(A, T, i0, i1, j0, j1):
    """T[i - i0, j - j0] = A[j, i] for the tile rows [j0, j1) x columns [i0, i1): the
    mirrored tile, transposed, so that the comparison runs along rows of both.

    Written along rows of T, read down columns of A: strided loads cost less than
    strided stores here (mirror_mismatches at n = 16000: float32 0.34-0.49 -> 0.25-0.30 s,
    float64 0.38-0.40 -> 0.28-0.31 s; n = 6000 float64 0.045-0.056 -> 0.032-0.040 s)."""
    for i in range(i1 - i0):
        for j in range(j0, j1):
            T[i, j - j0] = A[j, i0 + i]


@jit(parallel=True)
def mirror_mismatches(A, starts, rows, bad):
    """Per chunk p of 128-wide tile rows (``rows[starts[p]:starts[p+1]]``, the schedule
    of ``fastrmt._products.tile_schedule``), ``bad[p]`` = the number of entries (i, j),
    i <= j, with ``A[i, j] != A[j, i]`` plus the number with ``A[i, j]`` not finite
    (a non-finite ``A[j, i]`` differs from a finite ``A[i, j]``; two infinities are
    caught by ``x - x != 0``).  Zero everywhere: A is exactly symmetric and finite."""
    n = A.shape[0]
    nb = (n + EXACT_TILE - 1) // EXACT_TILE
    for p in numba.prange(starts.shape[0] - 1):
        T = np.empty((EXACT_TILE, EXACT_TILE), dtype=A.dtype)
        cnt = 0
        for q0 in range(starts[p], starts[p + 1]):
            t = rows[q0]
            i0 = t * EXACT_TILE
            i1 = min(i0 + EXACT_TILE, n)
            for jb in range(t, nb):
                j0 = jb * EXACT_TILE
                j1 = min(j0 + EXACT_TILE, n)
                _load_mirror(A, T, i0, i1, j0, j1)
                for i in range(i0, i1):
                    js = max(j0, i)
                    row = A[i, js:j1]
                    trow = T[i - i0, js - j0:j1 - j0]
                    c = 0
                    for q in range(row.shape[0]):
                        x = row[q]
                        c += (x != trow[q]) + ((x - x) != 0)
                    cnt += c
        bad[p] = cnt


@jit(parallel=True)
def symmetry_scan(A, starts, rows, diff, amax, nonfinite):
    """Fill, per chunk p of tile rows (``rows[starts[p]:starts[p+1]]``, the schedule of
    ``fastrmt._products.tile_schedule``): ``diff[p]`` = max |a_ij - a_ji| (float64),
    ``amax[p]`` = max |a_ij| and ``nonfinite[p]`` = 1 if a NaN or an infinity was seen
    (0 otherwise)."""
    n = A.shape[0]
    nb = (n + TILE - 1) // TILE
    for p in numba.prange(starts.shape[0] - 1):
        T = np.empty((TILE, TILE))
        dl = np.zeros(LANES)
        bl = np.zeros(LANES)
        probe = 0.0
        for q0 in range(starts[p], starts[p + 1]):
            t = rows[q0]
            i0 = t * TILE
            i1 = min(i0 + TILE, n)
            for jb in range(t, nb):
                j0 = jb * TILE
                j1 = min(j0 + TILE, n)
                _load_mirror(A, T, i0, i1, j0, j1)
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
