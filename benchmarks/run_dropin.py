"""``fastrmt.eigsh`` as a drop-in for ``scipy.sparse.linalg.eigsh`` (issue 10's goal: >= 4x).

The same call for both, scipy's defaults (``which="LM"``, ``tol=0``), on a float64 dense
array: W = X/sqrt(n) with 50 diagonal spikes ``linspace(3, 8, 50)`` (float32-generated,
as in ``bench_eigensolver.py``), the 50 eigenvalues of largest magnitude.  Prints both
times, their ratio, fastrmt's product count and non-product share, and the largest
relative difference of the eigenvalues, for two alternating repetitions (the start
vectors are random in both, so the counts vary a little).

Run: ``python benchmarks/run_dropin.py [n]`` (default 6000; the issue also asks n = 20000).
"""
from __future__ import annotations

import sys
import time

import numpy as np
import scipy.sparse.linalg as sla

import fastrmt


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 6000
    k = 50
    fastrmt.warmup()
    W = fastrmt.wigner(n, seed=1, dtype=np.float32)
    W[np.arange(k), np.arange(k)] += np.linspace(3.0, 8.0, k).astype(np.float32)
    A = W.astype(np.float64)
    del W
    fastrmt.eigsh(A[:500, :500].copy(), 5)
    for _ in range(2):
        t0 = time.perf_counter()
        ws = sla.eigsh(A, k, return_eigenvectors=False)
        ts = time.perf_counter() - t0
        t0 = time.perf_counter()
        wf, info = fastrmt.eigsh(A, k, return_eigenvectors=False, return_info=True)
        tf = time.perf_counter() - t0
        err = np.max(np.abs(np.sort(wf) - np.sort(ws)) / np.abs(np.sort(ws)))
        print(f"n={n} k={k}: scipy {ts:.2f} s, fastrmt {tf:.2f} s, ratio {ts / tf:.2f}; "
              f"{info.n_products} products (b={info.block_size}), non-product share "
              f"{info.non_product_share:.0%}; eigenvalues agree to {err:.1e}",
              flush=True)


if __name__ == "__main__":
    main()
