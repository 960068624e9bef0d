"""Product counts of fastrmt.eigsh against ARPACK (scipy.sparse.linalg.eigsh) for k from
10 to 500, at the same tolerance, and fastrmt's non-product share of the time.

W = X/sqrt(n) + diag(spikes), float64 dense, the k largest eigenvalues (``which="LA"``)
with ``k`` spikes in [1.2, 4] (the paper's regime: outliers down to the bulk edge).
ARPACK is run on a LinearOperator counting its matvecs (BLAS ``dsymv``-speed products).

Each k is solved twice by fastrmt: with the default block size (chosen for time: 4, or 8
above k = 128) and with blocks of 2 (fewer products, more passes over the matrix; the
``b=2`` rows).

Usage: ``python benchmarks/run_product_counts.py [n] [tol] [k ...]``
(defaults: n = 6000, tol = 1e-10, k = 10 50 110 250 500).
"""
import sys
import time

import numpy as np
import scipy.sparse.linalg as sla

import fastrmt
from fastrmt.eigensolver import eigsh


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    n = int(argv[0]) if argv else 6000
    tol = float(argv[1]) if len(argv) > 1 else 1e-10
    ks = [int(a) for a in argv[2:]] or [10, 50, 110, 250, 500]
    fastrmt.warmup()
    print(f"n = {n}, tol = {tol}, which = 'LA', float64 dense")
    print(f"{'k':>5} {'ARPACK mv':>10} {'time':>8} {'b':>3} {'fastrmt prod':>13} {'ratio':>6} "
          f"{'time':>8} {'non-product':>11} {'max |dw|/|w|':>13}")
    for k in ks:
        A = fastrmt.wigner(n, seed=1)
        A[np.arange(k), np.arange(k)] += np.linspace(1.2, 4.0, k)
        count = {"n": 0}

        def mv(x):
            count["n"] += 1
            return A @ x
        op = sla.LinearOperator((n, n), matvec=mv, dtype=np.float64)
        t0 = time.perf_counter()
        wa = np.sort(sla.eigsh(op, k, which="LA", tol=tol, return_eigenvectors=False))
        ta = time.perf_counter() - t0
        for b in (None, 2):
            t0 = time.perf_counter()
            wf, info = eigsh(A, k, which="LA", tol=tol, seed=0, return_eigenvectors=False,
                             return_info=True, block_size=b)
            tf = time.perf_counter() - t0
            err = float(np.max(np.abs(np.sort(wf) - wa) / np.abs(wa)))
            print(f"{k:5d} {count['n']:10d} {ta:7.2f}s {info.block_size:3d} "
                  f"{info.n_products:13d} {info.n_products / count['n']:6.2f} {tf:7.2f}s "
                  f"{info.non_product_share:10.0%} {err:13.1e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
