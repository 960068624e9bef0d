"""Top eigenvalues of a matrix-free deformed Wigner operator at large n (issue 4).

W = X/sqrt(n) + S with S = diag(spikes, 0, ..., 0): the noise is never stored (a dense
float64 copy at n = 100000 would need 80 GB); every block product regenerates it tile
by tile from the seed.  Prints the wall time, the number of products and the peak
resident memory, and compares the outliers with the BBP prediction theta + 1/theta.

Run: ``python benchmarks/run_matrix_free.py [n] [k] [tol]`` (defaults 100000, 20, 0).
It is a script, not a pytest benchmark: one run takes minutes.
"""
from __future__ import annotations

import resource
import sys
import time

import numpy as np

from fastrmt.eigensolver import eigsh
from fastrmt.operators import deformed_wigner
from fastrmt.signals import make_signal


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    spikes = np.linspace(3.0, 8.0, k)
    S = make_signal(n, spikes=spikes, bulk=np.zeros(n - k))
    W = deformed_wigner(n, S, storage="matrix-free", dtype=np.float32, seed=0)
    small = deformed_wigner(1500, make_signal(1500, spikes=[3.0], bulk=np.zeros(1499)),
                            storage="matrix-free", dtype=np.float32, seed=0)
    eigsh(small, 2, which="LA", seed=0)                                        # compile / warm up
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()

    def progress(info) -> None:
        print(f"  restart {info.iterations:3d}  products {info.n_products:5d} "
              f"({info.n_block_products} blocks)  {info.time:7.1f} s", flush=True)

    w, info = eigsh(W, k, which="LA", tol=tol, seed=0, return_eigenvectors=False, return_info=True,
                    callback=progress)
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    predicted = np.sort(spikes + 1.0 / spikes)
    print(f"n={n} k={k} tol={tol} storage=matrix-free float32")
    print(f"time {elapsed:.1f} s, {info.n_products} products in {info.n_block_products} "
          f"block products (block {info.block_size}, basis {info.ncv}), "
          f"{info.iterations} restarts, converged={info.converged}")
    print(f"peak RSS {peak:.0f} MiB (before the solve: {rss0:.0f} MiB)")
    print(f"max residual {np.max(info.residuals):.2e}")
    print("largest eigenvalues:", np.array2string(w[::-1][:5], precision=6))
    print(f"max |lambda - (theta + 1/theta)| = {np.max(np.abs(np.sort(w) - predicted)):.4f} "
          f"(finite-n fluctuations O(n^-1/2) = {n ** -0.5:.4f})")


if __name__ == "__main__":
    main()
