"""Sampling benchmarks: fastrmt.wigner against numpy's fastest plain recipe.

Baseline: ``A = rng.standard_normal((n, n)); (A + A.T) / sqrt(2 n)`` — what a user would
write.  Ratios are taken from the same run (see the README table).
"""
import gc
import math

import numpy as np
import pytest

import fastrmt

from .conftest import bench_size

N = bench_size(20000)


def numpy_recipe(n, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n))
    a += a.T  # in place: the cheapest numpy form (still needs a temporary for a.T's copy)
    a /= math.sqrt(2 * n)
    return a


@pytest.mark.parametrize("impl", ["numpy", "fastrmt-f64-full", "fastrmt-f32-full",
                                  "fastrmt-f64-packed", "fastrmt-f32-packed",
                                  "fastrmt-f64-full-1thread", "fastrmt-f64-packed-1thread"])
def test_sample(benchmark, impl):
    benchmark.group = f"wigner n={N}"
    gc.collect()
    if impl == "numpy":
        f = lambda: numpy_recipe(N, 0)  # noqa: E731
        rounds = 1
    else:
        _, prec, layout, *rest = impl.split("-")
        dt = np.float32 if prec == "f32" else np.float64
        nt = 1 if rest else None
        if layout == "full":
            out = np.empty((N, N), dtype=dt)
        else:
            out = np.empty(N * (N + 1) // 2, dtype=dt)
        out.fill(0)  # fault the pages in: time the sampling, not the OS
        f = lambda: fastrmt.wigner(N, dtype=dt, layout=layout, seed=0, n_threads=nt, out=out)  # noqa: E731
        rounds = 3
    benchmark.pedantic(f, rounds=rounds, iterations=1, warmup_rounds=0)
