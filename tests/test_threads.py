import numba
import pytest
from threadpoolctl import threadpool_info

from fastrmt import resolve_n_threads, thread_limit
from fastrmt._threads import max_threads


def test_resolve_semantics():
    cap = max_threads()
    assert resolve_n_threads(None) == cap
    assert resolve_n_threads(1) == 1
    assert resolve_n_threads(10**6) == cap
    assert resolve_n_threads(-1) == cap
    assert resolve_n_threads(-(cap + 5)) == 1


@pytest.mark.parametrize("bad,exc,match", [
    (0, ValueError, "n_threads must be a positive or negative integer or None, got 0"),
    (1.5, TypeError, "n_threads must be an integer, got 1.5"),
    ("2", TypeError, "n_threads must be an integer"),
    (True, TypeError, "n_threads must be an integer"),
])
def test_resolve_refuses(bad, exc, match):
    with pytest.raises(exc, match=match):
        resolve_n_threads(bad)


def test_context_manager_restores_on_exit_and_error():
    before = numba.get_num_threads()
    with thread_limit(1) as n:
        assert n == 1
        assert numba.get_num_threads() == 1
        blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        assert all(t == 1 for t in blas)
    assert numba.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with thread_limit(1):
            raise RuntimeError("boom")
    assert numba.get_num_threads() == before


# --- the one BLAS limit (issue 11) ----------------------------------------------------
import threading  # noqa: E402

import numpy as np  # noqa: E402

from fastrmt._threads import blas_limit, blas_state  # noqa: E402


def test_blas_limit_nested_innermost_and_restored():
    before = blas_state()
    with blas_limit(1):
        assert set(blas_state()) == {1}
        with blas_limit(2):
            assert set(blas_state()) == {2}      # innermost wins within a thread
        assert set(blas_state()) == {1}
    assert blas_state() == before
    with pytest.raises(RuntimeError):
        with blas_limit(1):
            raise RuntimeError("boom")
    assert blas_state() == before


def test_blas_limit_concurrent_takes_minimum_and_restores():
    before = blas_state()
    a_in, b_in, release_a, release_b = (threading.Event() for _ in range(4))
    seen = {}

    def a():
        with blas_limit(1):
            a_in.set()
            release_a.wait(10)

    def b():
        with blas_limit(2):
            b_in.set()
            release_b.wait(10)
            seen["b_after_a_left"] = blas_state()

    ta, tb = threading.Thread(target=a), threading.Thread(target=b)
    ta.start()
    a_in.wait(10)
    tb.start()
    b_in.wait(10)
    seen["both"] = blas_state()
    release_a.set()               # the first entrant leaves first: the classic leak
    ta.join(10)
    release_b.set()
    tb.join(10)
    assert set(seen["both"]) == {1}              # min(1, 2)
    assert set(seen["b_after_a_left"]) == {2}    # b's request applies once a has left
    assert blas_state() == before                # the state before the first entry


def test_concurrent_eigsh_leaves_blas_as_it_was():
    from fastrmt import eigsh

    before = blas_state()
    rng = np.random.default_rng(0)
    A = rng.standard_normal((300, 300))
    A = A + A.T
    errors = []

    def run(nt):
        try:
            for _ in range(3):
                eigsh(A, k=3, n_threads=nt)
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(nt,)) for nt in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert blas_state() == before


def test_blas_limit_refuses_zero():
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        with blas_limit(0):
            pass


def test_stale_numba_cache_is_dropped_when_any_kernel_source_changes(tmp_path):
    from fastrmt._kernels import _drop_stale_cache

    pkg = tmp_path / "_kernels"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "b.py").write_text("y = 1\n")
    stale = pkg / "__pycache__" / "a.f-1.py311.nbi"
    stale.write_text("index")
    _drop_stale_cache(pkg)                 # first sight: no digest yet, cache dropped
    assert not stale.exists()
    fresh = pkg / "__pycache__" / "a.f-1.py311.nbc"
    fresh.write_text("code")
    _drop_stale_cache(pkg)                 # nothing changed: kept
    assert fresh.exists()
    (pkg / "b.py").write_text("y = 2\n")   # another module changed: a's cache is stale
    _drop_stale_cache(pkg)
    assert not fresh.exists()
    assert (pkg / "__pycache__" / "fastrmt-kernels.sha256").is_file()


@pytest.mark.parametrize("serial_bytes", [0, None])
def test_tall_skinny_products_fixed_chunks_any_thread_count(monkeypatch, serial_bytes):
    # the block solver's Gram matrices / projections: row chunks fixed by n, summed in
    # chunk order -> the same bits for 1, 2 or 3 threads, and numpy's values; on the
    # OpenMP threads (serial_bytes=0) or, for small operands, serially (the default)
    from fastrmt import _gemm
    if serial_bytes is not None:
        monkeypatch.setattr(_gemm, "_SERIAL_BYTES", serial_bytes)
    from fastrmt._threads import blas_limit
    rng = np.random.default_rng(0)
    for n in (5, 1024, 5000):
        V = rng.standard_normal((n, 37))
        X = rng.standard_normal((n, 6))
        C = rng.standard_normal((37, 6))
        assert _gemm.row_chunks(n)[0][0] == 0
        assert _gemm.row_chunks(n)[-1][1] == n
        with blas_limit(1):
            ref_t = [_gemm.tmm(V, X, nt) for nt in (1, 2, 3)]
            ref_m = [_gemm.mm(V, C, nt) for nt in (1, 2, 3)]
            ref_p = [_gemm.project(X.copy(), np.linalg.qr(V)[0], nt) for nt in (1, 2, 3)]
        for got in (ref_t, ref_m, ref_p):
            for g in got[1:]:
                np.testing.assert_array_equal(g, got[0])
        np.testing.assert_allclose(ref_t[0], V.T @ X, rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(ref_m[0], V @ C, rtol=1e-12, atol=1e-10)
        Qv = np.linalg.qr(V)[0]
        np.testing.assert_allclose(ref_p[0], X - Qv @ (Qv.T @ X), atol=1e-10)
        np.testing.assert_allclose(Qv.T @ ref_p[0], 0, atol=1e-10)
    # the fused two passes of the solver: the bits of project(W - V C, V), any nt
    for n in (5, 1024, 5000):
        Qv = np.linalg.qr(rng.standard_normal((n, 37)))[0]
        W = rng.standard_normal((n, 6))
        with blas_limit(1):
            C = _gemm.tmm(Qv, W, 1)
            ref = _gemm.project(_gemm.subtract_mm(W.copy(), Qv, C, 1), Qv, 1)
            np.testing.assert_allclose(_gemm.subtract_mm(W.copy(), Qv, C, 2), W - Qv @ C,
                                       atol=1e-12)
            for nt in (1, 2, 3):
                np.testing.assert_array_equal(_gemm.project_twice(W, Qv, C, nt), ref)
        np.testing.assert_allclose(Qv.T @ ref, 0, atol=1e-12)
    # a wide basis: each chunk walked in cache-sized sub-blocks (fewer rows than a chunk),
    # still the same bits for any thread count and the two passes' values
    Qv = np.linalg.qr(rng.standard_normal((5000, 600)))[0]
    W = rng.standard_normal((5000, 4))
    assert _gemm._sub_rows(600) < _gemm.row_chunks(5000)[0][1]
    with blas_limit(1):
        C = _gemm.tmm(Qv, W, 1)
        got = [_gemm.project_twice(W, Qv, C, nt, return_gram=True) for nt in (1, 2, 3)]
    for g in got[1:]:
        np.testing.assert_array_equal(g[0], got[0][0])
        np.testing.assert_array_equal(g[1], got[0][1])
    W1 = W - Qv @ C
    np.testing.assert_allclose(got[0][1], Qv.T @ W1, atol=1e-12)
    np.testing.assert_allclose(got[0][0], W1 - Qv @ (Qv.T @ W1), atol=1e-12)
    # empty basis: nothing to project, zero-width product
    X = rng.standard_normal((10, 2))
    np.testing.assert_array_equal(_gemm.project(X.copy(), np.empty((10, 0)), 2), X)
    np.testing.assert_array_equal(_gemm.mm(np.empty((10, 0)), np.empty((0, 3)), 2),
                                  np.zeros((10, 3)))


def test_tall_skinny_products_on_strided_and_converted_operands():
    # the solver passes column slices of its (n, m) basis (rows m apart), reversed small
    # matrices (zw[:, ::-1]) and, from user code paths, float32 blocks: the kernels take
    # the strided rows as they are and convert the rest; many chunks with a short last one
    from fastrmt import _gemm
    from fastrmt._threads import blas_limit
    rng = np.random.default_rng(3)
    n = 70001
    basis = rng.standard_normal((n, 50))
    V = basis[:, :33]                                 # row stride 50, unit inner stride
    X = rng.standard_normal((n, 5)).astype(np.float32)
    C = rng.standard_normal((5, 33))[:, ::-1].T       # negative strides
    with blas_limit(1):
        t = [_gemm.tmm(V, X, nt) for nt in (1, 2, 3)]
        m = [_gemm.mm(V, C, nt) for nt in (1, 2, 3)]
        Q = np.linalg.qr(V)[0]
        p = [_gemm.project(X.astype(np.float64), Q, nt) for nt in (1, 2, 3)]
    for got in (t, m, p):
        for g in got[1:]:
            np.testing.assert_array_equal(g, got[0])
    assert len(_gemm.row_chunks(n)) > 2 and t[0].dtype == np.float64
    np.testing.assert_allclose(t[0], V.T @ X.astype(np.float64), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(m[0], V @ C, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(Q.T @ p[0], 0, atol=1e-10)
    # an in-place projection of a non-float64 block writes back into it
    Y = rng.standard_normal((n, 3)).astype(np.float32)
    _gemm.project(Y, Q, 2)
    assert np.abs(Q.T @ Y.astype(np.float64)).max() < 1e-3



def test_put_columns_copies_into_the_basis():
    # the solver's copy of a new block (and its product) into its row-major basis: exact
    # for any thread count, strided and float32 sources, overlapping sources (a slice of
    # the basis itself) and refused shapes
    from fastrmt import _gemm
    from fastrmt._ext import load
    rng = np.random.default_rng(4)
    n = 70001
    for nt in (1, 2, 3):
        V = np.zeros((n, 9)); AV = np.zeros((n, 9))
        Q = rng.standard_normal((n, 6))[:, ::2]               # strided
        AQ = rng.standard_normal((n, 3)).astype(np.float32)   # converted
        _gemm.put_columns(V, AV, Q, AQ, 4, nt)
        np.testing.assert_array_equal(V[:, 4:7], Q)
        np.testing.assert_array_equal(AV[:, 4:7], AQ.astype(np.float64))
        assert not V[:, :4].any() and not V[:, 7:].any() and not AV[:, 7:].any()
        _gemm.put_columns(V, AV, V[:, 3:6], AV[:, 4:7], 4, nt)     # overlapping
        np.testing.assert_array_equal(V[:, 5:7], Q[:, :2])
        np.testing.assert_array_equal(AV[:, 4:7], AQ.astype(np.float64))
    with pytest.raises(ValueError, match="shapes do not match"):
        load("_dense").put_columns(np.zeros((10, 4)), np.zeros((10, 4)), np.zeros((10, 3)),
                                   np.zeros((10, 3)), 2, _gemm._bounds(10), 1)

def test_every_parallel_kernel_same_bits_for_1_2_3_threads():
    # n_threads never changes a result: 3 threads on a 2-core machine included
    # (oversubscribed, uneven chunk counts)
    import fastrmt
    from fastrmt import freeprob as fp
    from fastrmt.eigensolver import eigsh
    from fastrmt.measures import Atoms
    from fastrmt.operators import deformed_wigner
    from fastrmt.signals import make_signal

    def same(f):
        outs = [f(nt) for nt in (1, 2, 3)]
        outs = [o if isinstance(o, tuple) else (o,) for o in outs]
        for o in outs[1:]:
            assert len(o) == len(outs[0])
            for x, y in zip(outs[0], o):
                np.testing.assert_array_equal(x, y)

    n = 700
    for layout in ("full", "packed"):
        for dtype in (np.float32, np.float64):
            def sample(nt):
                w = fastrmt.wigner(n, seed=3, dtype=dtype, layout=layout, n_threads=nt)
                return w if layout == "full" else w.data
            same(sample)
    sig = make_signal(n, spikes=[3.0, 2.0], basis="fast", seed=1)
    V = np.random.default_rng(0).standard_normal((n, 5))
    for storage in ("dense", "packed", "matrix-free"):
        W = deformed_wigner(n, sig, storage=storage, dtype=np.float32, seed=2)
        same(lambda nt: W.matmat(V, n_threads=nt))
        if storage != "matrix-free":
            same(lambda nt: W.matmat_single(V, n_threads=nt))
    W = deformed_wigner(n, sig, storage="packed", dtype=np.float32, seed=2)
    for mixed in (False, True):
        same(lambda nt: eigsh(W, 4, which="LA", seed=0, n_threads=nt,
                              mixed_precision=mixed))
    nu = Atoms(np.concatenate([np.linspace(-1, 1, 2000), [2.5, 3.0]]))
    same(lambda nt: fp.classical_locations(nu, 1.0, 2002, 5, n_threads=nt))
    same(lambda nt: fp.phi(np.linspace(3, 4, 50), nu, 1.0, n_threads=nt))
