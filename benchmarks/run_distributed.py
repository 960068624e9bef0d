"""One matrix-free product spread over a Dask LocalCluster against the single process.

Times ``W @ V`` (b columns) for the single-process matrix-free operator (all cores)
and for :func:`fastrmt.distributed.distributed_wigner` on a LocalCluster of
``workers`` one-thread workers on the same machine, checks that the two products are
bit-identical, and prints the bytes that travelled per product.

Run: ``python benchmarks/run_distributed.py [n] [b] [workers]`` (defaults 50000, 8, 2).
A script, not a pytest benchmark: it starts a cluster.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from fastrmt.distributed import distributed_wigner, product_traffic
from fastrmt.operators import deformed_wigner


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    b = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    V = np.random.default_rng(0).standard_normal((n, b))
    local = deformed_wigner(n, storage="matrix-free", dtype=np.float32, seed=0)
    deformed_wigner(600, storage="matrix-free", dtype=np.float32, seed=0).matmat(V[:600])
    t0 = time.perf_counter()
    ref = local.matmat(V)
    t_local = time.perf_counter() - t0
    with distributed_wigner(n, dtype=np.float32, seed=0, n_workers=workers) as W:
        W.matmat(V[:, :1])                        # workers import fastrmt, load the kernels
        sent0, recv0 = W.bytes_sent, W.bytes_received
        t0 = time.perf_counter()
        out = W.matmat(V)
        t_dist = time.perf_counter() - t0
        sent, recv = W.bytes_sent - sent0, W.bytes_received - recv0
    traffic = product_traffic(n, b, workers)
    print(f"n={n} b={b}: single process {t_local:.2f} s, LocalCluster of {workers} workers "
          f"{t_dist:.2f} s (ratio {t_dist / t_local:.2f})")
    print(f"bit-identical: {np.array_equal(out, ref)}")
    print(f"per product: {traffic['chunks']} tasks, {sent / 1e6:.1f} MB to the workers, "
          f"{recv / 1e6:.1f} MB back")


if __name__ == "__main__":
    main()
