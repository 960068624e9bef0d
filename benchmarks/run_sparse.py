"""fastrmt.eigsh on sparse matrices and LinearOperators against scipy's ARPACK.

A random sparse symmetric matrix (n rows, 10 entries per row before symmetrization,
Gaussian values scaled by 1/sqrt(10)) plus k spikes ``linspace(2, 6, k)`` on the
diagonal; ``eigsh(A, k)`` with scipy's defaults for both (``which="LM"``, tol = 0).
fastrmt runs with its default block size (2 for such operators) and with blocks of 4
(the earlier default), in the same process, alternating with scipy.

Usage: ``python benchmarks/run_sparse.py [n] [k] [sparse|linop] [repetitions]``
(defaults: n = 200000, k = 10, sparse, 3).
"""
import sys
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

import fastrmt
from fastrmt.eigensolver import eigsh


def make(n: int, k: int, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), 10)
    cols = rng.integers(0, n, n * 10)
    R = sp.csr_matrix((rng.standard_normal(n * 10) / np.sqrt(10), (rows, cols)),
                      shape=(n, n))
    return ((R + R.T) * 0.5 + sp.diags(np.r_[np.linspace(2, 6, k), np.zeros(n - k)])).tocsr()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    n = int(argv[0]) if argv else 200000
    k = int(argv[1]) if len(argv) > 1 else 10
    kind = argv[2] if len(argv) > 2 else "sparse"
    reps = int(argv[3]) if len(argv) > 3 else 3
    if kind not in ("sparse", "linop"):
        raise SystemExit(f"kind must be 'sparse' or 'linop', got {kind!r}")
    S = make(n, k)
    A = S if kind == "sparse" else sla.LinearOperator((n, n), matvec=lambda x: S @ x,
                                                      dtype=np.float64)
    fastrmt.warmup()
    times: dict[str, list[float]] = {"scipy": [], "blocks of 4": [], "default": []}
    seen: dict[str, tuple] = {}
    for _ in range(reps):
        t0 = time.perf_counter()
        ws = np.sort(sla.eigsh(A, k, return_eigenvectors=False))
        times["scipy"].append(time.perf_counter() - t0)
        for name, b in (("blocks of 4", 4), ("default", None)):
            t0 = time.perf_counter()
            w, info = eigsh(A, k, return_eigenvectors=False, return_info=True, block_size=b,
                            seed=0)
            times[name].append(time.perf_counter() - t0)
            seen[name] = (info.block_size, info.n_products, info.non_product_share,
                          float(np.max(np.abs(np.sort(w) - ws))))
    print(f"n = {n}, k = {k}, {kind}, which='LM', tol=0, medians of {reps}")
    print(f"  scipy ARPACK       {np.median(times['scipy']):7.2f} s")
    for name in ("blocks of 4", "default"):
        b, prods, share, err = seen[name]
        print(f"  fastrmt {name:11s} {np.median(times[name]):7.2f} s  b = {b}  {prods} products"
              f"  non-product {share:.0%}  max |dw| {err:.0e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
