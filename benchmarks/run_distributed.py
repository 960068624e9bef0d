"""One matrix-free product spread over a Dask LocalCluster against the single process.

Times ``W @ V`` (b columns) for the single-process matrix-free operator (all cores)
and for :func:`fastrmt.distributed.distributed_wigner` on a LocalCluster of
``workers`` one-thread workers on the same machine, checks that the two products are
bit-identical, and prints the bytes that travelled per product.

It then times one chunk task in this process on one thread (the unit of work a worker
runs), turns it into a cost per generated entry, and **projects** one product and a
top-20 ``eigsh`` at n = 10^6 on a cluster of 64 one-thread workers from that rate
(:func:`project`; the assumptions are printed with the numbers: it is a projection,
not a measurement).

Run: ``python benchmarks/run_distributed.py [n] [b] [workers]`` (defaults 50000, 8, 2).
A script, not a pytest benchmark: it starts a cluster.
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np

from fastrmt._products import n_chunks, tile_schedule
from fastrmt.distributed import _chunk_task, distributed_wigner, product_traffic
from fastrmt.operators import MATFREE_TILE, deformed_wigner

# Projection assumptions (printed with the result)
PROJ_N = 1_000_000
PROJ_WORKERS = 64
PROJ_B = 8
PROJ_BLOCK_PRODUCTS = 26     # measured: top 20 at n = 100000, tol = 1e-8 (run_matrix_free.py)
PROJ_LINK = 1.25e9           # client network link, bytes/s (10 Gbit/s)


def chunk_entries(n: int, tile: int, k: int, chunk: int) -> int:
    """Matrix entries (upper triangle, diagonal tiles counted whole) chunk ``chunk`` generates."""
    starts, rows = tile_schedule(n, tile, k)
    nb = -(-n // tile)
    total = 0
    for t in rows[starts[chunk]:starts[chunk + 1]]:
        mi = min(tile, n - t * tile)
        total += mi * (n - t * tile)          # tiles (t, t..nb-1): mi rows x the rest
    return total


def project(ns_per_entry: float, n: int = PROJ_N, workers: int = PROJ_WORKERS,
            b: int = PROJ_B, block_products: int = PROJ_BLOCK_PRODUCTS,
            link: float = PROJ_LINK) -> dict[str, float]:
    """Seconds per product and per eigsh at ``n`` on ``workers`` one-thread workers.

    Compute: the chunks run in waves of ``workers`` tasks, each wave as long as its
    largest chunk (chunks are balanced pairs of tile rows).  Transfer, counted in full
    on the client's link (not overlapped with compute): V to every worker, K (n, b)
    float64 buffers back.  The Lanczos work on the client (orthogonalization of n x ~100
    blocks) is left out: it is seconds against minutes per product.
    """
    k = n_chunks(n, b, MATFREE_TILE)
    sizes = sorted((chunk_entries(n, MATFREE_TILE, k, c) for c in range(k)), reverse=True)
    waves = [sizes[i] for i in range(0, k, workers)]           # the largest of each wave
    compute = sum(waves) * ns_per_entry * 1e-9
    traffic = product_traffic(n, b, workers)
    transfer = (traffic["to_workers"] + traffic["from_workers"]) / link
    single = sum(sizes) * ns_per_entry * 1e-9
    return {"chunks": k, "waves": len(waves), "compute": compute, "transfer": transfer,
            "product": compute + transfer, "eigsh": block_products * (compute + transfer),
            "one_core_product": single, "to_workers": traffic["to_workers"],
            "from_workers": traffic["from_workers"]}


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

    # the unit of work of a worker: one chunk task, here, on one thread
    k = n_chunks(n, b, MATFREE_TILE)
    args = tuple(local.spec.kernel_args())
    Vb = np.ascontiguousarray(V)
    _chunk_task(n, MATFREE_TILE, 0, k, Vb, True, args)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        _chunk_task(n, MATFREE_TILE, 0, k, Vb, True, args)
        times.append(time.perf_counter() - t0)
    ns = min(times) / chunk_entries(n, MATFREE_TILE, k, 0) * 1e9
    print(f"one chunk task (chunk 0 of {k}), one thread: {min(times):.2f} s, "
          f"{ns:.2f} ns per generated entry (b={b}, Gaussian, float32 values)")
    p = project(ns)
    print(f"PROJECTION (not a measurement), n={PROJ_N}, {PROJ_WORKERS} one-thread workers, "
          f"b={PROJ_B}, {ns:.2f} ns/entry as measured here, client link "
          f"{PROJ_LINK / 1e9:.2f} GB/s, {PROJ_BLOCK_PRODUCTS} block products for top 20:")
    print(f"  {p['chunks']} tasks in {p['waves']} waves: compute {p['compute']:.0f} s + "
          f"transfer {p['transfer']:.0f} s ({p['to_workers'] / 1e9:.1f} GB out, "
          f"{p['from_workers'] / 1e9:.1f} GB back) = {p['product']:.0f} s per product")
    print(f"  top 20: {p['eigsh'] / 60:.0f} min; one core alone: "
          f"{p['one_core_product'] / 3600:.1f} h per product")


if __name__ == "__main__":
    main()
