"""Where the time of a matrix-free product goes, per entry of the upper triangle (issue 13).

Measures, on one thread: the Philox4x32-10 words alone (one 64-bit word per entry, two
entries per block: the design every law's values are defined by), the tile generator
per law (words + transform into values), and the whole product at b columns
(generation + the tile products).  The ratios bound what any rewrite that keeps today's
values can gain: a product can never cost less than its Philox words.

Run: ``python benchmarks/run_matfree_ceiling.py [n] [b]`` (defaults 8192, 8).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best  # noqa: E402
from fastrmt import wigner_spec  # noqa: E402
from fastrmt._kernels import _matfree, _philox, _sampling  # noqa: E402
from fastrmt._products import n_chunks, tile_schedule  # noqa: E402

TILE = 256


@numba.njit
def _words(reps):
    """The Philox blocks of ``reps`` rows of 256 entries (two words each), XOR-folded."""
    s = np.uint64(0)
    z = np.uint64(0)
    for r in range(reps):
        for m in range(128):
            a, b, c, d = _philox.philox(np.uint64(r * 128 + m), np.uint64(5), z, np.uint64(3),
                                        np.uint64(1), np.uint64(2))
            s ^= (a | (b << _philox.U32)) ^ (c | (d << _philox.U32))
    return s


@numba.njit
def _tiles(T, count, stream, k0, k1, law, param, s_off, s_diag):
    for q in range(count):
        _sampling.fill_upper_tile(T, 0, TILE, TILE * (q + 1), TILE * (q + 2), stream, k0, k1,
                                  law, param, s_off, s_diag)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8192
    b = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    numba.set_num_threads(1)
    rows = []
    _words(1)
    reps = 20000
    t = best(lambda: _words(reps))
    rows.append(("Philox words (2 entries per block)", reps * 256 / t))
    T = np.empty((TILE, TILE))
    for law in ("gaussian", "rademacher"):
        args = wigner_spec(4096, seed=1, dist=law).kernel_args()
        _tiles(T, 1, *args)
        t = best(lambda: _tiles(T, 200, *args))
        rows.append((f"tile generation, {law}", 200 * TILE * TILE / t))
    V = np.random.default_rng(0).standard_normal((n, b))
    k = n_chunks(n, b, TILE)
    starts, rows_ = tile_schedule(n, TILE, k)
    for law in ("gaussian", "rademacher"):
        args = wigner_spec(n, seed=1, dist=law).kernel_args()
        bufs = np.zeros((k, n, b))
        _matfree.matfree_matmat(bufs, V, n, TILE, starts, rows_, True, *args)
        t = best(lambda: _matfree.matfree_matmat(bufs, V, n, TILE, starts, rows_, True, *args),
                  2)
        rows.append((f"product b={b}, {law} (n={n})", n * (n + 1) / 2 / t))
    print(f"{'one thread':44s} {'M entries/s':>12s} {'ns/entry':>9s}")
    for name, rate in rows:
        print(f"{name:44s} {rate / 1e6:12.0f} {1e9 / rate:9.2f}")


if __name__ == "__main__":
    main()
