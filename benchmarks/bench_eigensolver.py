"""Benchmarks of fastrmt.eigsh (block Lanczos) against the scipy routes a user would take.

Run: ``python -m pytest benchmarks/bench_eigensolver.py --benchmark-only``
(``FASTRMT_BENCH_N`` shrinks the n = 20000 cases for a smoke run).

Cases (issue 4), W = X/sqrt(n) + S with S diagonal:

* ``spiked20k``: n = 20000, k = 50 spikes ``linspace(3, 8, 50)`` (outliers at
  theta + 1/theta, from 3.33 to 8.1, the bulk edge at 2).

  - ``fastrmt-f32``: fastrmt.eigsh on the float32-stored W (tol=0; float64-accumulated
    products; ``-mixed``: ``mixed_precision=True``) vs ``scipy-f64``:
    scipy.sparse.linalg.eigsh on the float64 dense array (tol=0);
  - ``fastrmt-f64``: fastrmt.eigsh on the same float64 array (drop-in);
  - ``*-tol1e-6`` / ``*-tol1e-9``: fastrmt on the float32 W vs scipy eigsh on a
    LinearOperator calling BLAS ``ssymv`` on the float32 matrix (the best hand-built
    route), at the same tol.

* ``spiked5k``: n = 5000, k = 20 spikes ``linspace(3, 8, 20)``: fastrmt (float64 array)
  vs ``scipy.linalg.eigh(W, subset_by_index=[n-k, n-1], eigvals_only=True)``.
* ``hard5k``: n = 5000, k = 10, no spikes (the wanted eigenvalues crowd at the bulk
  edge): fastrmt (float64 array and float32 copy) vs scipy eigsh (float64 array).

Every fastrmt result is checked against the baseline's eigenvalues (outside the timing).
Ratios: divide the means of the same run (see the report / README table).
"""
import numpy as np
import pytest
import scipy.linalg
import scipy.sparse.linalg as sla
from scipy.linalg import blas

import fastrmt
from fastrmt.eigensolver import eigsh

from .conftest import bench_size

N_BIG = bench_size(20_000)
K_BIG = 50
N_MID = 5000


def _spiked(n, k, dtype):
    W = fastrmt.wigner(n, seed=1, dtype=dtype)
    spikes = np.linspace(3.0, 8.0, k)
    W[np.arange(k), np.arange(k)] += spikes.astype(dtype)
    return W


@pytest.fixture(scope="module")
def big32():
    return _spiked(N_BIG, K_BIG, np.float32)


@pytest.fixture(scope="module")
def big64(big32):
    return big32.astype(np.float64)


@pytest.fixture(scope="module")
def reference_big(big64):
    """scipy's eigenvalues at tol=0 on the float64 upcast (the stored values)."""
    return np.sort(sla.eigsh(big64, K_BIG, which="LA", return_eigenvectors=False))


def _ssymv_operator(A32):
    n = A32.shape[0]
    AF = A32.T          # Fortran-ordered view of the symmetric matrix: no copy per call

    def mv(x):
        return blas.ssymv(1.0, AF, np.asarray(x, dtype=np.float32).ravel()).astype(np.float64)
    return sla.LinearOperator((n, n), matvec=mv, dtype=np.float64)


def _run(benchmark, f, rounds=1):
    return benchmark.pedantic(f, rounds=rounds, iterations=1, warmup_rounds=0)


@pytest.mark.parametrize("impl", ["scipy-f64", "fastrmt-f32", "fastrmt-f32-mixed",
                                  "fastrmt-f64"])
def test_spiked20k_tol0(benchmark, big32, big64, reference_big, impl):
    eigsh(big32[:300, :300].copy(), 4, which="LA", seed=0)      # warm-up of every code path
    if impl == "scipy-f64":
        w = _run(benchmark, lambda: sla.eigsh(big64, K_BIG, which="LA",
                                              return_eigenvectors=False))
    elif impl.startswith("fastrmt-f32"):
        mixed = impl.endswith("mixed")
        w = _run(benchmark, lambda: eigsh(big32, K_BIG, which="LA", seed=0, return_eigenvectors=False,
                                          mixed_precision=mixed))
    else:
        w = _run(benchmark, lambda: eigsh(big64, K_BIG, which="LA", seed=0, return_eigenvectors=False))
    err = float(np.max(np.abs(np.sort(w) - reference_big) / np.abs(reference_big)))
    benchmark.extra_info["max_rel_err_vs_scipy_tol0"] = err
    assert err < 1e-9


@pytest.mark.parametrize("tol", [1e-6, 1e-9])
@pytest.mark.parametrize("impl", ["scipy-ssymv", "fastrmt-f32"])
def test_spiked20k_vs_ssymv(benchmark, big32, reference_big, impl, tol):
    if impl == "scipy-ssymv":
        op = _ssymv_operator(big32)
        counter = {"n": 0}

        def f():
            counter["n"] = 0
            inner = op.matvec

            def mv(x):
                counter["n"] += 1
                return inner(x)
            return sla.eigsh(sla.LinearOperator(op.shape, matvec=mv, dtype=np.float64),
                             K_BIG, which="LA", tol=tol, return_eigenvectors=False)
        w = _run(benchmark, f)
        benchmark.extra_info["products"] = counter["n"]
    else:
        w, info = _run(benchmark, lambda: eigsh(big32, K_BIG, which="LA", tol=tol, seed=0,
                                                return_eigenvectors=False, return_info=True))
        benchmark.extra_info["products"] = info.n_products
        benchmark.extra_info["block_products"] = info.n_block_products
    err = float(np.max(np.abs(np.sort(w) - reference_big) / np.abs(reference_big)))
    benchmark.extra_info["max_rel_err_vs_scipy_tol0"] = err


@pytest.fixture(scope="module")
def mid64():
    return _spiked(N_MID, 20, np.float64)


@pytest.mark.parametrize("impl", ["scipy-eigh-subset", "fastrmt-f64"])
def test_spiked5k_vs_eigh_subset(benchmark, mid64, impl):
    n, k = N_MID, 20
    if impl == "scipy-eigh-subset":
        w = _run(benchmark, lambda: scipy.linalg.eigh(mid64, subset_by_index=[n - k, n - 1],
                                                      eigvals_only=True))
    else:
        eigsh(mid64[:300, :300].copy(), 4, which="LA", seed=0)
        w = _run(benchmark, lambda: eigsh(mid64, k, which="LA", seed=0, return_eigenvectors=False),
                 rounds=3)
    ref = np.linalg.eigvalsh(mid64)[-k:] if impl == "fastrmt-f64" else None
    if ref is not None:
        assert np.max(np.abs(np.sort(w) - ref)) < 1e-9 * np.max(np.abs(ref))


@pytest.fixture(scope="module")
def hard64():
    return fastrmt.wigner(N_MID, seed=2)


@pytest.mark.parametrize("impl", ["scipy-f64", "fastrmt-f64", "fastrmt-f32"])
def test_hard5k_no_spikes(benchmark, hard64, impl):
    k = 10
    if impl == "scipy-f64":
        w = _run(benchmark, lambda: sla.eigsh(hard64, k, which="LA",
                                              return_eigenvectors=False))
    else:
        A = hard64 if impl == "fastrmt-f64" else hard64.astype(np.float32)
        eigsh(A[:300, :300].copy(), 4, which="LA", seed=0)
        w = _run(benchmark, lambda: eigsh(A, k, which="LA", seed=0, return_eigenvectors=False),
                 rounds=2)
        ref = np.linalg.eigvalsh(A.astype(np.float64))[-k:]
        assert np.max(np.abs(np.sort(w) - ref)) < 1e-9 * np.max(np.abs(ref))


# ---- issue 10's headline case: n = 16000, float32, k = 110 (the paper's regime: 126
# diagonal spikes in [1.2, 4] on a uniform bulk, the 110 outliers of W wanted)
N_16K = bench_size(16_000)
K_16K = 110


@pytest.fixture(scope="module")
def many32():
    s = fastrmt.make_signal(N_16K, spikes=np.linspace(1.2, 4.0, 126), basis="diagonal")
    W = fastrmt.deformed_wigner(N_16K, s, storage="dense", dtype=np.float32, seed=0)
    A = W.noise.copy()
    A[np.arange(N_16K), np.arange(N_16K)] += np.diag(s.to_dense()).astype(np.float32)
    return A


@pytest.fixture(scope="module")
def reference_many(many32):
    """float64-accumulated fastrmt eigenvalues at tol=0 (the stored matrix's)."""
    return np.sort(eigsh(many32, K_16K, which="LA", seed=1, return_eigenvectors=False))


@pytest.mark.parametrize("impl", ["scipy-ssymv-1e-06", "fastrmt-f32-mixed",
                                  "fastrmt-f32-tol0"])
def test_many16k_k110(benchmark, many32, reference_many, impl):
    if impl.startswith("scipy"):
        op = _ssymv_operator(many32)
        counter = {"n": 0}

        def mv(x):
            counter["n"] += 1
            return op.matvec(x)
        w = _run(benchmark, lambda: sla.eigsh(
            sla.LinearOperator(op.shape, matvec=mv, dtype=np.float64), K_16K, which="LA",
            tol=1e-6, return_eigenvectors=False))
        benchmark.extra_info["products"] = counter["n"]
    else:
        mixed = impl.endswith("mixed")
        w, info = _run(benchmark, lambda: eigsh(many32, K_16K, which="LA", seed=0,
                                                mixed_precision=mixed,
                                                return_eigenvectors=False,
                                                return_info=True))
        benchmark.extra_info["products"] = info.n_products
        benchmark.extra_info["accurate_products"] = info.n_accurate_products
        benchmark.extra_info["method"] = info.method
        benchmark.extra_info["non_product_share"] = info.non_product_share
    err = float(np.max(np.abs(np.sort(w) - reference_many) / np.abs(reference_many)))
    benchmark.extra_info["max_rel_err_vs_float64"] = err
    if impl.startswith("fastrmt"):
        assert err < 1e-10
