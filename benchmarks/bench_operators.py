"""Block-product benchmarks: W @ V for the three storages, with the baselines in the same run.

* Packed, n = 20000, float32, b = 16: fastrmt's tiled product (float64 accumulation, and
  the float32 ``matmat_single`` path) against scipy's ``sspmv`` called once per column,
  and against the time to *read* the packed array once (a NumPy sum, and NumPy sums of
  one slice per thread in a thread pool): the target is a per-vector cost (time / b) within 2x of read time / b.
* Dense, n = 10000: ``dense_matmat`` on float32 / float64 matrices against NumPy's
  ``A @ V`` on the float64 matrix (BLAS dgemm) and ``A32 @ V32`` (sgemm).
* Matrix-free, n = 8000: entries regenerated per second per core (``extra_info``).

Run: ``python -m pytest benchmarks/bench_operators.py --benchmark-only``
(``FASTRMT_BENCH_N`` scales the packed size; the others scale with it).
"""
import gc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy.linalg import blas

import fastrmt
from fastrmt._threads import resolve_n_threads
from fastrmt.operators import deformed_wigner, dense_matmat

from .conftest import bench_size

N_PACKED = bench_size(20000)
N_DENSE = max(N_PACKED // 2, 2)
N_MATFREE = max(2 * N_PACKED // 5, 2)
B = 16


def _parallel_sum(a, n_threads):
    """A plain streaming read of ``a`` by ``n_threads`` threads (NumPy sums release the GIL)."""
    parts = np.array_split(a, n_threads)
    with ThreadPoolExecutor(n_threads) as pool:
        return sum(pool.map(np.sum, parts))


@pytest.fixture(scope="module")
def packed32():
    gc.collect()
    return fastrmt.wigner(N_PACKED, dtype=np.float32, layout="packed", seed=0)


@pytest.fixture(scope="module")
def block():
    return np.random.default_rng(1).standard_normal((N_PACKED, B))


@pytest.mark.parametrize("impl", ["read-numpy-sum", "read-parallel-sum", "fastrmt-matmat",
                                  "fastrmt-matmat_single", "fastrmt-matmat-1thread",
                                  "scipy-sspmv-loop"])
def test_packed_block_product(benchmark, packed32, block, impl):
    benchmark.group = f"packed float32 n={N_PACKED} b={B}"
    p, v = packed32, block
    v32 = v.astype(np.float32)
    if impl == "read-numpy-sum":
        f = lambda: p.data.sum()  # noqa: E731
    elif impl == "read-parallel-sum":
        nt = resolve_n_threads(None)
        f = lambda: _parallel_sum(p.data, nt)  # noqa: E731
    elif impl == "fastrmt-matmat":
        f = lambda: p.matmat(v)  # noqa: E731
    elif impl == "fastrmt-matmat_single":
        f = lambda: p.matmat_single(v32)  # noqa: E731
    elif impl == "fastrmt-matmat-1thread":
        f = lambda: p.matmat(v, n_threads=1)  # noqa: E731
    else:
        def f():
            out = np.empty((N_PACKED, B), dtype=np.float32)
            for c in range(B):
                out[:, c] = blas.sspmv(N_PACKED, 1.0, p.data, v32[:, c], lower=1)
            return out
    f()  # warm-up (compile / page in)
    benchmark.extra_info["bytes_read"] = int(p.data.nbytes)
    benchmark.pedantic(f, rounds=3, iterations=1, warmup_rounds=0)


@pytest.fixture(scope="module")
def dense_mats():
    gc.collect()
    a32 = fastrmt.wigner(N_DENSE, dtype=np.float32, seed=0)
    a64 = a32.astype(np.float64)
    return a32, a64


@pytest.mark.parametrize("impl", ["numpy-f64-A@V", "numpy-f32-A@V", "fastrmt-f32",
                                  "fastrmt-f64", "fastrmt-f32-general", "fastrmt-f32-single"])
def test_dense_block_product(benchmark, dense_mats, impl):
    benchmark.group = f"dense n={N_DENSE} b={B}"
    a32, a64 = dense_mats
    v = np.random.default_rng(2).standard_normal((N_DENSE, B))
    v32 = v.astype(np.float32)
    if impl == "numpy-f64-A@V":
        f = lambda: a64 @ v  # noqa: E731
    elif impl == "numpy-f32-A@V":
        f = lambda: a32 @ v32  # noqa: E731
    elif impl == "fastrmt-f32":
        f = lambda: dense_matmat(a32, v)  # noqa: E731
    elif impl == "fastrmt-f64":
        f = lambda: dense_matmat(a64, v)  # noqa: E731
    elif impl == "fastrmt-f32-general":
        f = lambda: dense_matmat(a32, v, symmetric=False)  # noqa: E731
    else:
        w = deformed_wigner(N_DENSE, storage="dense", dtype=np.float32, seed=0)
        f = lambda: w.matmat_single(v32)  # noqa: E731
    f()
    benchmark.pedantic(f, rounds=3, iterations=1, warmup_rounds=0)


@pytest.mark.parametrize("n_threads", [1, None])
@pytest.mark.parametrize("b", [1, B])
def test_matrix_free_product(benchmark, n_threads, b):
    benchmark.group = f"matrix-free n={N_MATFREE}"
    w = deformed_wigner(N_MATFREE, storage="matrix-free", seed=0)
    v = np.random.default_rng(3).standard_normal((N_MATFREE, b))
    f = lambda: w.matmat(v, n_threads=n_threads)  # noqa: E731
    f()
    benchmark.pedantic(f, rounds=2, iterations=1, warmup_rounds=0)
    cores = resolve_n_threads(n_threads)
    entries = N_MATFREE * (N_MATFREE + 1) / 2
    benchmark.extra_info["entries_per_s_per_core"] = entries / benchmark.stats.stats.min / cores
