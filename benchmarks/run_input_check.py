"""Time eigsh's input check of a dense array (finite values and symmetry, one pass).

``fastrmt.eigsh`` refuses a non-symmetric or non-finite dense array before solving
(``fastrmt._adapters._check_dense``).  This prints the time of that check and of one
pass over the matrix for comparison (``A.max()``), best of three, for the sizes of
issue 10's benchmarks: on an exactly symmetric array (the fast path: one pass counting
mismatched pairs) and on one with a pair 1 ulp apart (within the tolerance: the second,
measuring pass runs too).

Run: ``python benchmarks/run_input_check.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

import fastrmt  # noqa: E402
from fastrmt._adapters import _check_dense  # noqa: E402
from _timing import best  # noqa: E402


def main() -> None:
    _check_dense(np.eye(100, dtype=np.float32), 1e-3)
    _check_dense(np.eye(100), 1e-3)
    for n, dt in ((6000, np.float64), (16000, np.float32), (20000, np.float64)):
        A = fastrmt.wigner(n, seed=0, dtype=dt)
        tol = 1e3 * float(np.finfo(dt).eps)
        t_check = best(lambda: _check_dense(A, tol))
        t_max = best(lambda: A.max())
        A[1, n - 1] = np.nextafter(A[1, n - 1], dt(np.inf))
        t_slow = best(lambda: _check_dense(A, tol))
        print(f"n={n:6d} {np.dtype(dt).name:7s} ({A.nbytes / 1e9:.2f} GB): check {t_check:.2f} s "
              f"(1 ulp asymmetric: {t_slow:.2f} s), numpy A.max() {t_max:.2f} s")
        del A


if __name__ == "__main__":
    main()
