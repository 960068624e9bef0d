"""Sampling benchmarks: fastrmt.wigner against numpy's fastest plain recipe.

Baseline: ``A = rng.standard_normal((n, n)); (A + A.T) / sqrt(2 n)`` — what a user would
write — in the same dtype.  Two groups, timed like for like: "allocating" (both allocate
and first-touch their output inside the timing, a user's real cost) and "preallocated"
(both write into memory faulted in beforehand).  Ratios are taken from the same run (see
the README table).
"""
import gc
import math

import numpy as np
import pytest

import fastrmt

from .conftest import bench_size

N = bench_size(20000)


def numpy_recipe(n, seed, out=None, dtype=np.float64):
    """``(A + A.T) / sqrt(2 n)``, allocating (``out=None``) or into ``out``."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n), dtype=dtype, out=out)
    a += a.T  # in place: the cheapest numpy form (numpy copies a.T to a temporary)
    a /= math.sqrt(2 * n)
    return a


IMPLS = ["numpy-f64-full", "numpy-f32-full", "fastrmt-f64-full", "fastrmt-f32-full",
         "fastrmt-f64-packed", "fastrmt-f32-packed", "fastrmt-f64-full-1thread",
         "fastrmt-f64-packed-1thread"]


@pytest.mark.parametrize("memory", ["allocating", "preallocated"])
@pytest.mark.parametrize("impl", IMPLS)
def test_sample(benchmark, impl, memory):
    """Like for like: both sides allocate (and first-touch) their output inside the
    timing, or both write into memory allocated and faulted in before it."""
    benchmark.group = f"wigner n={N} {memory}"
    gc.collect()
    lib, prec, layout, *rest = impl.split("-")
    dt = np.float32 if prec == "f32" else np.float64
    nt = 1 if rest else None
    out = None
    if memory == "preallocated":
        out = np.empty((N, N) if layout == "full" else N * (N + 1) // 2, dtype=dt)
        out.fill(0)  # fault the pages in before the timing
    if lib == "numpy":
        f = lambda: numpy_recipe(N, 0, out=out, dtype=dt)  # noqa: E731
        rounds = 1
    else:
        f = lambda: fastrmt.wigner(N, dtype=dt, layout=layout, seed=0, n_threads=nt,  # noqa: E731
                                   out=out)
        rounds = 3
    benchmark.pedantic(f, rounds=rounds, iterations=1, warmup_rounds=0)
