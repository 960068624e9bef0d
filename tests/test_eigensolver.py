"""Tests of fastrmt.eigensolver (block Lanczos eigsh) against dense LAPACK and scipy."""
import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg as sla

import fastrmt
from fastrmt import PackedSymmetric
from fastrmt.eigensolver import (EigshInfo, EigshNoConvergence, ThresholdNotReached, eigsh,
                                 eigvals_above, top_eigenvalues)
from fastrmt.packed import packed_size

from . import reference_eigensolver as ref

WHICH = ["LA", "SA", "LM", "BE"]
# eigenvalue error allowed, relative to ||A|| (float32 storage is solved as stored, in
# float64 arithmetic, so both dtypes get the same tolerance)
EIG_TOL = 1e-11
RES_TOL = 1e-9


def _spiked(n=600, dtype=np.float64, seed=0):
    spikes = [4.0, 3.0, 2.5, -3.5, -2.6, 1.6]
    return ref.spiked_wigner(n, spikes, seed=seed, dtype=dtype)


def _check(A, w, v, k, which, with_vectors=True):
    D = ref.dense64(A)
    anorm = np.max(np.abs(np.linalg.eigvalsh(D)))
    expected = ref.eigsh_reference(D, k, which, with_vectors)
    assert w.shape == (k,) and w.dtype == np.float64
    np.testing.assert_allclose(w, expected, rtol=0, atol=EIG_TOL * anorm)
    if v is not None:
        assert v.shape == (D.shape[0], k) and v.dtype == np.float64
        assert np.max(ref.residuals(D, w, v)) <= RES_TOL * anorm
        np.testing.assert_allclose(v.T @ v, np.eye(k), atol=1e-10)


@pytest.mark.parametrize("which", WHICH)
def test_spiked_matches_eigvalsh(which, dtype):
    A = _spiked(dtype=dtype)
    w, v = eigsh(A, 5, which=which, seed=1)
    _check(A, w, v, 5, which)


@pytest.mark.parametrize("which", WHICH)
def test_values_only_order_matches_scipy(which):
    A = _spiked(n=400, seed=3)
    w = eigsh(A, 4, which=which, return_eigenvectors=False, seed=0)
    _check(A, w, None, 4, which, with_vectors=False)
    ws = sla.eigsh(A, 4, which=which, return_eigenvectors=False)
    np.testing.assert_allclose(w, ws, atol=1e-9)
    ws, vs = sla.eigsh(A, 4, which=which)
    w, v = eigsh(A, 4, which=which, seed=0)
    np.testing.assert_allclose(w, ws, atol=1e-9)
    assert v.shape == vs.shape
    np.testing.assert_allclose(np.abs(np.sum(v * vs, axis=0)), 1.0, atol=1e-8)


@pytest.mark.parametrize("which", ["LA", "SA"])
def test_pure_wigner_edge(which):
    """The hard case: no spikes, the wanted eigenvalues crowd at the bulk edge."""
    A = fastrmt.wigner(700, seed=11)
    w, v = eigsh(A, 6, which=which, seed=2)
    _check(A, w, v, 6, which)


def test_repeated_eigenvalues_up_to_block_size():
    rng = np.random.default_rng(5)
    top = [5.0] * 4 + [4.0] * 3 + [3.5]
    lam = np.concatenate([top, rng.uniform(-2, 2, 392)])
    A = ref.with_spectrum(lam, seed=6)
    w, v = eigsh(A, 8, which="LA", block_size=4, seed=0)
    np.testing.assert_allclose(w, np.sort(top), atol=1e-11)
    assert np.max(ref.residuals(A, w, v)) < 1e-10
    np.testing.assert_allclose(v.T @ v, np.eye(8), atol=1e-10)   # no spurious copies



@pytest.mark.parametrize("b", [1, 2])
def test_narrow_blocks(b):
    # blocks of 1 and 2 columns (their own product kernels: vectorized along the rows)
    # through the whole solver: float64, float32 solved as stored, float32 in mixed
    # precision, packed storage; and a multiplicity above the block size (locking)
    A = _spiked(n=500, seed=12)
    w, v = eigsh(A, 5, which="BE", block_size=b, **_no_hang())
    _check(A, w, v, 5, "BE")
    A32 = A.astype(np.float32)
    w, v = eigsh(A32, 4, which="LA", block_size=b, **_no_hang())
    _check(A32, w, v, 4, "LA")
    w, info = eigsh(A32, 3, which="LA", block_size=b, mixed_precision=True,
                    return_eigenvectors=False, return_info=True, **_no_hang())
    assert info.method == "mixed-precision block-lanczos"
    _check(A32, w, None, 3, "LA", with_vectors=False)
    P = PackedSymmetric(A[np.triu_indices(500)], 500)
    w = eigsh(P, 4, which="SA", block_size=b, return_eigenvectors=False, **_no_hang())
    _check(A, w, None, 4, "SA", with_vectors=False)
    rng = np.random.default_rng(13)
    lam = np.concatenate([[3.0] * 5, rng.uniform(-1, 1, 395)])
    B = ref.with_spectrum(lam, seed=14)
    w, v = eigsh(B, 6, which="LA", block_size=b, **_no_hang())
    _check(B, w, v, 6, "LA")


def test_default_block_size_follows_the_product_cost():
    # a dense array or a LinearOperator over one: a block is one pass (4 columns);
    # sparse matrices and other operators cost about one product per column (2)
    A = _spiked(n=400, seed=15)
    S = scipy.sparse.csr_matrix(A)
    cases = [(A, 4), (sla.aslinearoperator(A), 4), (S, 2), (sla.aslinearoperator(S), 2),
             (sla.LinearOperator(A.shape, matvec=lambda x: A @ x, dtype=np.float64), 2)]
    expected = None
    for X, b in cases:
        w, info = eigsh(X, 5, which="LA", return_eigenvectors=False, return_info=True,
                        seed=0)
        assert info.block_size == b, type(X).__name__
        expected = w if expected is None else expected
        np.testing.assert_allclose(w, expected, rtol=0, atol=1e-12)
    # an explicit block size wins; k above 128 keeps the wide blocks
    assert eigsh(S, 5, block_size=4, return_info=True, return_eigenvectors=False,
                 seed=0)[-1].block_size == 4
    B = scipy.sparse.csr_matrix(_spiked(n=700, seed=16))
    assert eigsh(B, 130, which="LA", tol=1e-6, return_info=True, return_eigenvectors=False,
                 seed=0)[-1].block_size == 8


def test_float32_linear_operator_converges_at_its_precision():
    # a user's operator computing in float32 (dtype float32): its residuals stop near
    # sqrt(n) eps32 ||A||, so the default tol=0 must not demand float64's floor (it ran all
    # 6000 restarts and raised); scipy runs such operators in float32 ARPACK
    A32 = _spiked(n=600, seed=17).astype(np.float32)
    op = sla.LinearOperator(A32.shape, matvec=lambda x: A32 @ x.astype(np.float32),
                            dtype=np.float32)
    w, v, info = eigsh(op, 4, which="LA", return_info=True, **_no_hang())
    expected = np.linalg.eigvalsh(A32.astype(np.float64))[-4:]
    np.testing.assert_allclose(w, expected, rtol=1e-5)
    assert info.converged and info.iterations < 10
    assert np.max(info.residuals) <= 16 * np.sqrt(600) * np.finfo(np.float32).eps * 6
    np.testing.assert_allclose(v.T @ v, np.eye(4), atol=1e-10)
    # the same operator in float64 keeps the float64 floor
    op64 = sla.LinearOperator(A32.shape, matvec=lambda x: A32.astype(np.float64) @ x,
                              dtype=np.float64)
    w64, info64 = eigsh(op64, 4, which="LA", return_info=True, return_eigenvectors=False,
                        **_no_hang())
    assert np.max(info64.residuals) < 1e-12

def test_multiplicity_larger_than_k_window():
    """k cuts through a multiplet: any k of the copies, no ghost."""
    rng = np.random.default_rng(7)
    lam = np.concatenate([[3.0] * 5, rng.uniform(-1, 1, 295)])
    A = ref.with_spectrum(lam, seed=8)
    w, v = eigsh(A, 3, which="LA", block_size=5, seed=0)
    np.testing.assert_allclose(w, [3.0] * 3, atol=1e-11)
    np.testing.assert_allclose(v.T @ v, np.eye(3), atol=1e-10)


def test_tight_cluster():
    rng = np.random.default_rng(9)
    top = 3.0 + 1e-7 * np.arange(6)
    lam = np.concatenate([top, rng.uniform(-2, 2, 394)])
    A = ref.with_spectrum(lam, seed=10)
    w, v = eigsh(A, 6, which="LA", seed=0)
    np.testing.assert_allclose(w, top, atol=1e-11)
    assert np.max(ref.residuals(A, w, v)) < 1e-10


def test_negative_spectrum_sa():
    A = -_spiked(n=500, seed=4) - 10.0 * np.eye(500)
    w, v = eigsh(A, 4, which="SA", seed=0)
    _check(A, w, v, 4, "SA")
    assert np.all(w < -10)


def test_float32_storage_solved_as_stored():
    """Eigenvalues of the stored float32 matrix to float64 accuracy (not to 1e-7)."""
    A = _spiked(n=800, dtype=np.float32, seed=12)
    w, v, info = eigsh(A, 6, which="LA", seed=0, return_info=True)
    exact = np.linalg.eigvalsh(A.astype(np.float64))[-6:]
    np.testing.assert_allclose(w, exact, rtol=1e-12, atol=0)
    assert np.max(ref.residuals(A, w, v)) < 1e-10
    assert info.n_accurate_products == 0 and info.refreshes == 0
    assert info.method == "block-lanczos"
    assert 0 < info.product_time < info.time


@pytest.mark.parametrize("storage", ["dense", "packed"])
def test_mixed_precision_certified_eigenvalues(storage):
    """float32 Krylov phase + float64 Rayleigh--Ritz: eigenvalues of the stored matrix
    to 1e-10 relative (certified by the quadratic bound), eigenvectors to ~1e-6."""
    A = _spiked(n=900, dtype=np.float32, seed=12)
    M = A if storage == "dense" else PackedSymmetric(A[np.triu_indices(900)], 900)
    w, v, info = eigsh(M, 3, which="LA", seed=0, return_info=True, mixed_precision=True)
    exact = np.linalg.eigvalsh(A.astype(np.float64))[-3:]
    np.testing.assert_allclose(w, exact, rtol=1e-10, atol=0)
    assert info.method == "mixed-precision block-lanczos" and info.converged
    # k + 1 vectors multiplied with float64 accumulation, at most twice more
    assert 4 <= info.n_accurate_products <= 3 * 4 + 3 * 4
    assert info.n_accurate_products < info.n_products
    res = ref.residuals(A, w, v)
    np.testing.assert_allclose(res, info.residuals, rtol=1e-6, atol=1e-13)
    assert np.all(res <= info.tolerances) and np.max(res) < 1e-4
    np.testing.assert_allclose(v.T @ v, np.eye(3), atol=1e-10)


@pytest.mark.parametrize("which", ["LA", "SA"])
def test_mixed_precision_outliers_before_the_bulk(which):
    """All k wanted values are outliers and the (k + 1)-th sits at the bulk edge: that
    pair only bounds the gap, so the float32 phase stops once its residual is a tenth
    of the gap; the values are still certified to 1e-10 (against LAPACK), without a
    fallback, and the float32 phase does not chase the bulk edge."""
    n, k = 1200, 8
    A = fastrmt.wigner(n, seed=31, dtype=np.float32)
    sign = 1.0 if which == "LA" else -1.0
    A[np.arange(k), np.arange(k)] += np.float32(sign) * np.linspace(3.0, 6.0, k).astype(np.float32)
    w, v, info = eigsh(A, k, which=which, seed=0, return_info=True, mixed_precision=True)
    _check(A, w, None, k, which)
    assert info.method == "mixed-precision block-lanczos" and info.converged
    _, plain = eigsh(A, k, which=which, seed=0, return_eigenvectors=False, return_info=True)
    assert info.n_products - info.n_accurate_products <= 2 * plain.n_products


def test_mixed_precision_falls_back_when_not_certified():
    # which="BE" is not tried in mixed precision (no single "rest of the spectrum" for
    # the bound): solved with float64 products, and says so
    B = _spiked(n=350, dtype=np.float32, seed=3)
    w, v, info = eigsh(B, 4, which="BE", seed=0, return_info=True, mixed_precision=True)
    assert info.method == "block-lanczos (after a mixed-precision attempt)"
    _check(B, w, v, 4, "BE")
    # every eigenvalue double (two equal blocks): right whichever way it is certified
    W = np.zeros((700, 700), dtype=np.float32)
    W[:350, :350] = B
    W[350:, 350:] = B
    w, v, info = eigsh(W, 3, which="LA", seed=0, return_info=True, mixed_precision=True)
    exact = np.linalg.eigvalsh(W.astype(np.float64))[-3:]
    np.testing.assert_allclose(w, exact, rtol=1e-10)


def test_mixed_precision_eigvals_above_certifies_sides():
    # the values short of the threshold need only be certified on their side
    A = _spiked(n=900, dtype=np.float32, seed=5)
    exact = np.linalg.eigvalsh(A.astype(np.float64))[::-1]
    w, info = eigvals_above(A, 2.2, k0=4, mixed_precision=True, return_info=True)
    np.testing.assert_allclose(w, exact[exact > 2.2], rtol=1e-10)
    assert info.method == "mixed-precision block-lanczos"


@pytest.mark.parametrize("which", ["SA", "BE"])
def test_mixed_precision_packed_and_ends(which):
    W = fastrmt.wigner(700, seed=23, dtype=np.float32, layout="packed")
    w, v = eigsh(W, 5, which=which, seed=0, mixed_precision=True)
    _check(W, w, None, 5, which)       # eigenvalues to 1e-10 relative
    assert np.max(ref.residuals(ref.dense64(W), w, v)) < 1e-4   # vectors: float32 level


@pytest.mark.parametrize("tol", [1e-4, 1e-8])
def test_tol_is_residual_criterion(tol):
    A = _spiked(n=500, seed=13)
    w, v, info = eigsh(A, 4, which="LA", tol=tol, seed=0, return_info=True)
    res = ref.residuals(A, w, v)
    assert np.all(res <= tol * np.abs(w) * (1 + 1e-6))
    np.testing.assert_allclose(res, info.residuals, rtol=1e-3, atol=1e-13)
    exact = np.linalg.eigvalsh(A)[-4:]
    assert np.max(np.abs(w - exact)) <= tol * 5   # eigenvalue error <= residual^2/gap


def test_linear_operator_inputs():
    A = _spiked(n=500, seed=14)
    expected = np.linalg.eigvalsh(A)[-4:]
    ops = [
        sla.aslinearoperator(A),
        sla.LinearOperator(A.shape, matvec=lambda x: A @ x, dtype=np.float64),
        scipy.sparse.csr_matrix(A),
    ]
    for op in ops:
        w, v = eigsh(op, 4, which="LA", seed=0)
        np.testing.assert_allclose(w, expected, atol=1e-11)
        assert np.max(ref.residuals(A, w, v)) < 1e-9


def test_fortran_and_int_arrays():
    A = _spiked(n=300, seed=15)
    w1 = eigsh(A, 3, which="LA", seed=0, return_eigenvectors=False)
    w2 = eigsh(np.asfortranarray(A), 3, which="LA", seed=0, return_eigenvectors=False)
    np.testing.assert_allclose(w1, w2, atol=1e-12)
    B = np.rint(A * 10).astype(np.int64)
    B = np.triu(B) + np.triu(B, 1).T
    w3 = eigsh(B, 3, which="LA", seed=0, return_eigenvectors=False)
    np.testing.assert_allclose(w3, np.linalg.eigvalsh(B.astype(float))[-3:], atol=1e-10)


def test_packed_symmetric_input(dtype):
    n = 500
    W = fastrmt.wigner(n, seed=21, dtype=dtype, layout="packed")
    D = W.to_dense()
    w, v = eigsh(W, 4, which="BE", seed=0)
    _check(D, w, v, 4, "BE")


def test_deformed_wigner_operator_input(dtype):
    operators = pytest.importorskip("fastrmt.operators")
    signals = pytest.importorskip("fastrmt.signals")
    n = 600
    S = signals.make_signal(n, spikes=[4.0, 3.0, 2.0], bulk=np.zeros(n - 3))
    for storage in ("dense", "packed", "matrix-free"):
        W = operators.deformed_wigner(n, S, storage=storage, dtype=dtype, seed=3)
        w, v = eigsh(W, 4, which="LA", seed=0)
        D = W.to_dense()
        _check(D, w, v, 4, "LA")


def test_small_matrix_dense_path():
    A = _spiked(n=60, seed=16)
    w, v, info = eigsh(A, 5, which="LM", seed=0, return_info=True)
    assert info.method == "dense"
    _check(A, w, v, 5, "LM")


@pytest.mark.parametrize("kind", ["f32", "f64", "f32-mixed"])
def test_bit_identical_across_threads_and_reproducible(kind):
    A = _spiked(n=700, dtype=np.float64 if kind == "f64" else np.float32, seed=17)
    kw = {"mixed_precision": kind.endswith("mixed")}
    w1, v1 = eigsh(A, 5, which="LA", seed=42, n_threads=1, **kw)
    w2, v2 = eigsh(A, 5, which="LA", seed=42, n_threads=2, **kw)
    w3, v3 = eigsh(A, 5, which="LA", seed=42, **kw)
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(v1, v2)
    np.testing.assert_array_equal(w1, w3)


def test_v0_and_seed_change_path_not_result():
    A = _spiked(n=500, seed=18)
    v0 = np.ones(500)
    w1 = eigsh(A, 4, which="LA", v0=v0, seed=0, return_eigenvectors=False)
    w2 = eigsh(A, 4, which="LA", seed=123, return_eigenvectors=False)
    np.testing.assert_allclose(w1, w2, atol=1e-11)


def test_info_callback_progress(capsys):
    A = fastrmt.wigner(500, seed=19)
    seen = []
    w, v, info = eigsh(A, 4, which="LA", seed=0, callback=seen.append, progress=True, return_info=True,
                       block_size=4, ncv=20)
    assert isinstance(info, EigshInfo) and info.converged and info.n_converged == 4
    assert info.iterations >= 1 and len(seen) >= 1
    assert all(isinstance(s, EigshInfo) for s in seen)
    assert info.n_products >= info.n_block_products * 1 > 0
    assert info.block_size == 4 and info.ncv == 20
    assert info.residuals.shape == (4,) and np.all(info.residuals <= info.tolerances)
    assert 0.0 < info.product_time < info.time
    assert info.non_product_share == pytest.approx(1.0 - info.product_time / info.time)
    assert EigshInfo().non_product_share == 0.0          # nothing timed: no division by 0
    assert "eigsh: restart" in capsys.readouterr().err


def test_no_convergence_carries_converged_pairs():
    A = fastrmt.wigner(600, seed=20)
    with pytest.raises(EigshNoConvergence) as exc:
        eigsh(A, 6, which="LA", maxiter=1, block_size=2, ncv=16, seed=0)
    err = exc.value
    assert isinstance(err, sla.ArpackNoConvergence)
    assert err.eigenvectors.shape == (600, err.eigenvalues.size)
    assert err.info.converged is False
    assert "no convergence" in str(err)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_no_convergence_pairs_are_those_of_a_not_of_the_scaled_matrix(scale):
    # the solver works on 2^e A: the converged pairs it carries are A's
    A = fastrmt.wigner(2000, seed=1) * (10 * scale)
    A[0, 0] += 60 * scale
    with pytest.raises(EigshNoConvergence) as exc:
        eigsh(A, 20, which="LA", maxiter=1, seed=0)
    err = exc.value
    assert err.eigenvalues.size >= 1
    top = np.linalg.eigvalsh(A)[-1]
    np.testing.assert_allclose(err.eigenvalues.max(), top, rtol=1e-10)
    r = np.linalg.norm(A @ err.eigenvectors - err.eigenvectors * err.eigenvalues, axis=0)
    assert np.all(r <= err.info.tolerances[err.info.residuals <= err.info.tolerances] * 1.01)


def test_top_eigenvalues_and_eigvals_above():
    A = ref.spiked_wigner(800, [5.0, 4.0, 3.5, 3.0, 2.5, 2.0, 1.5], seed=22)
    lam = np.linalg.eigvalsh(A)
    np.testing.assert_allclose(top_eigenvalues(A, 3), lam[::-1][:3], atol=1e-11)
    np.testing.assert_allclose(top_eigenvalues(A, 3, which="SA"), lam[:3], atol=1e-11)
    edge = 2.15   # the bulk edge is 2 (+ finite-n fluctuations)
    got = eigvals_above(A, edge, k0=2)
    expected = lam[lam > edge][::-1]
    assert got.size == expected.size >= 5
    np.testing.assert_allclose(got, expected, atol=1e-11)
    w, v = eigvals_above(A, -edge, which="SA", k0=2, return_eigenvectors=True)
    np.testing.assert_allclose(w, lam[lam < -edge], atol=1e-11)
    with pytest.raises(ThresholdNotReached, match="raise max_k") as exc:
        eigvals_above(A, 0.0, k0=2, max_k=4)
    assert exc.value.eigenvalues.size == 4


# ---------------------------------------------------------------------- rejected input

A_OK = ref.spiked_wigner(200, [3.0], seed=30)


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"M": np.eye(200)}, NotImplementedError, "M is not supported"),
    ({"sigma": 0.5}, NotImplementedError, "sigma is not supported"),
    ({"Minv": np.eye(200)}, NotImplementedError, "Minv is not supported"),
    ({"OPinv": np.eye(200)}, NotImplementedError, "OPinv is not supported"),
    ({"mode": "buckling"}, NotImplementedError, "mode='buckling' is not supported"),
    ({"which": "XX"}, ValueError, "which must be one of"),
    ({"which": 3}, TypeError, "which must be one of"),
    ({"k": 0}, ValueError, "k must be >= 1, got 0"),
    ({"k": 200}, ValueError, "k must be < n = 200"),
    ({"k": 2.0}, TypeError, "k must be an integer"),
    ({"tol": -1e-3}, ValueError, "tol must be >= 0"),
    ({"tol": "x"}, TypeError, "tol must be a real number"),
    ({"tol": float("nan")}, ValueError, "tol must be finite"),
    ({"maxiter": 0}, ValueError, "maxiter must be >= 1"),
    ({"maxiter": 1.5}, TypeError, "maxiter must be an integer"),
    ({"ncv": 3}, ValueError, "ncv must be > k = 3, got 3"),
    ({"rng": 0, "seed": 0}, ValueError, "as rng or as seed, not both"),
    ({"rng": "x"}, TypeError, "rng must be None, an int"),
    ({"ncv": 500}, ValueError, "ncv must be <= n = 200"),
    ({"block_size": 0}, ValueError, "block_size must be >= 1"),
    ({"v0": np.ones(5)}, ValueError, r"v0 must have shape \(200,\)"),
    ({"v0": np.zeros(200)}, ValueError, "v0 must be a non-zero vector"),
    ({"return_eigenvectors": 1}, TypeError, "return_eigenvectors must be a bool"),
    ({"callback": 3}, TypeError, "callback must be callable"),
    ({"mixed_precision": "yes"}, TypeError, "mixed_precision must be a bool"),
    ({"seed": -1}, ValueError, "seed must be a non-negative integer"),
    ({"n_threads": 0}, ValueError, "n_threads must be a positive or negative"),
])
def test_rejects_bad_arguments(kwargs, exc, match):
    kw = {"k": 3}
    kw.update(kwargs)
    k = kw.pop("k")
    with pytest.raises(exc, match=match):
        eigsh(A_OK, k, **kw)


def test_rejects_non_square():
    with pytest.raises(ValueError, match=r"A must be a square matrix, got shape \(3, 4\)"):
        eigsh(np.zeros((3, 4)), 1)


def test_rejects_non_square_operator():
    op = sla.LinearOperator((5, 6), matvec=lambda x: x[:5], dtype=np.float64)
    with pytest.raises(ValueError, match=r"A must be a square operator, got shape \(5, 6\)"):
        eigsh(op, 1)


def test_rejects_non_symmetric_array():
    B = A_OK.copy()
    B[0, 1] += 0.1
    with pytest.raises(ValueError, match=r"A must be symmetric: A\[0, 1\]"):
        eigsh(B, 2)


def test_rejects_non_symmetric_operator():
    rng = np.random.default_rng(0)
    B = rng.standard_normal((300, 300))
    with pytest.raises(ValueError, match="A must be symmetric: x\\^T A y"):
        eigsh(sla.aslinearoperator(B), 2)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_rejects_nan_inf_array(bad):
    B = A_OK.copy()
    B[150, 170] = B[170, 150] = bad
    with pytest.raises(ValueError, match="A must contain only finite values"):
        eigsh(B, 2)


def test_rejects_nan_operator():
    B = A_OK.copy()
    B[7, 7] = np.nan
    with pytest.raises(ValueError, match="A must contain only finite values"):
        eigsh(sla.aslinearoperator(B), 2)


def test_rejects_complex_and_non_numeric():
    with pytest.raises(TypeError, match="A must be real, got dtype complex128"):
        eigsh(A_OK.astype(complex), 2)
    with pytest.raises(TypeError, match="A must be a numpy array, a PackedSymmetric"):
        eigsh("matrix", 2)
    with pytest.raises(TypeError, match="must be an array of real numbers"):
        eigsh(np.array([["a", "b"], ["c", "d"]]), 1)


def test_rejects_bad_eigvals_above_args():
    with pytest.raises(ValueError, match="which must be one of"):
        eigvals_above(A_OK, 2.0, which="LM")
    with pytest.raises(ValueError, match="threshold must be finite"):
        eigvals_above(A_OK, float("inf"))
    with pytest.raises(ValueError, match="max_k must be >= 1"):
        eigvals_above(A_OK, 2.0, max_k=0)



@pytest.mark.parametrize("bad", ["nan", "overflow"])
def test_operator_turning_non_finite_mid_solve_raises_at_once(bad):
    # a product that becomes NaN (or overflows to inf) after the probes and the first
    # blocks is refused when it happens, not after maxiter restarts
    A = _spiked(n=500, seed=43)
    calls = {"n": 0}

    def mv(x):
        calls["n"] += 1
        y = A @ x
        if calls["n"] > 40:
            y = y * np.nan if bad == "nan" else y * 1e308 * 1e10
        return y
    op = sla.LinearOperator(A.shape, matvec=mv, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(ValueError, match="A must contain only finite values: its product"):
            eigsh(op, 3, which="LA", seed=0)
    assert calls["n"] < 60

def test_packed_nan_detected():
    n = 300
    data = np.zeros(packed_size(n))
    data[5] = np.nan
    with pytest.raises(ValueError, match="A must contain only finite values"):
        eigsh(PackedSymmetric(data, n), 2)


# ---------------------------------------------------------------------- issue 10 (correctness)

def _no_hang(**kw):
    """maxiter small enough that a stall raises quickly instead of hanging."""
    return dict(maxiter=50, seed=0, **kw)


@pytest.mark.parametrize("n", [100, 500])
def test_zero_matrix_returns_promptly(n):
    w, v, info = eigsh(np.zeros((n, n)), k=3, which="LA", return_info=True, **_no_hang())
    np.testing.assert_array_equal(w, 0.0)
    np.testing.assert_allclose(v.T @ v, np.eye(3), atol=1e-12)
    assert info.converged
    assert eigvals_above(np.zeros((n, n)), 0.0, maxiter=50).size == 0


def test_rank_deficient_matrix():
    rng = np.random.default_rng(40)
    X = rng.standard_normal((500, 3))
    A = X @ X.T
    w = eigsh(A, k=5, which="LA", return_eigenvectors=False, **_no_hang())
    np.testing.assert_allclose(w, np.linalg.eigvalsh(A)[-5:], atol=1e-10 * np.max(w))


@pytest.mark.parametrize("mult,k", [(20, 20), (10, 12)])
def test_multiplicity_above_block_size_diagonal(mult, k):
    A = np.diag(np.r_[np.zeros(500 - mult), np.full(mult, 5.0)])
    w, v = eigsh(A, k=k, which="LA", **_no_hang())
    expected = np.sort(np.linalg.eigvalsh(A))[-k:]
    assert w.shape == (k,)
    np.testing.assert_allclose(w, expected, atol=1e-12)
    np.testing.assert_allclose(v.T @ v, np.eye(k), atol=1e-10)


@pytest.mark.parametrize("which,k", [("LA", 24), ("LM", 12), ("BE", 20)])
def test_multiplicity_above_block_size_with_bulk(which, k):
    rng = np.random.default_rng(1)
    lam = np.r_[rng.uniform(-2, 2, 580), [4.0] * 20]
    A = ref.with_spectrum(lam, seed=2)
    w, v = eigsh(A, k=k, which=which, **_no_hang())
    _check(A, w, v, k, which)


@pytest.mark.parametrize("n", [60, 500])
@pytest.mark.parametrize("c", [1e-200, 1e200, 1e-300])
def test_scale_invariance(n, c):
    A = _spiked(n=n, seed=41)
    w, v = eigsh(A * c, k=3, which="LA", **_no_hang())
    exact = np.linalg.eigvalsh(A)[-3:]
    np.testing.assert_allclose(w / c, exact, rtol=1e-12)
    assert np.max(ref.residuals(A, w / c, v)) < 1e-9



@pytest.mark.parametrize("c", [1e-200, 1e200, 1e-300])
def test_scale_invariance_sparse_and_operators(c):
    # the symmetry probe of sparse matrices and operators measured its products with
    # plain norms, whose squares under- or overflow at these scales: a symmetric
    # operator was refused (1e-200) and an asymmetric one would pass (1e200)
    A = _spiked(n=500, seed=42)
    exact = np.linalg.eigvalsh(A)[-3:]
    for M in (scipy.sparse.csr_matrix(A) * c,
              sla.LinearOperator(A.shape, matvec=lambda x: (A @ x) * c, dtype=np.float64)):
        w = eigsh(M, k=3, which="LA", return_eigenvectors=False, **_no_hang())
        np.testing.assert_allclose(np.sort(w) / c, exact, rtol=1e-12)
    B = A.copy()
    B[0, 1] += 1.0
    asym = sla.LinearOperator(A.shape, matvec=lambda x: (B @ x) * c, dtype=np.float64)
    with pytest.raises(ValueError, match="A must be symmetric"):
        eigsh(asym, k=3, **_no_hang())

def test_nan_in_lower_triangle_rejected():
    B = A_OK.copy()
    B[170, 3] = np.nan          # the upper triangle alone is finite
    with pytest.raises(ValueError, match="A must contain only finite values"):
        eigsh(B, 2, which="LA")


def test_asymmetric_pair_anywhere_rejected():
    n = 500
    for i, j in [(123, 321), (498, 1), (250, 251)]:
        B = _spiked(n=n, seed=42)
        B[i, j] += 1e-3
        with pytest.raises(ValueError, match=rf"A must be symmetric: A\[{min(i, j)}, "):
            eigsh(B, 2, which="LA")


def test_sparse_asymmetric_pair_rejected():
    B = scipy.sparse.lil_matrix(A_OK)
    B[123, 57] += 1e-6
    with pytest.raises(ValueError, match="A must be symmetric"):
        eigsh(B.tocsr(), 2, which="LA")


def test_signature_and_defaults_match_scipy():
    import inspect
    ours = inspect.signature(eigsh).parameters
    theirs = inspect.signature(sla.eigsh).parameters
    assert list(ours)[:len(theirs)] == list(theirs)
    for name, p in theirs.items():
        assert ours[name].default == p.default, name
        assert ours[name].kind == p.kind, name
    assert all(p.kind == p.KEYWORD_ONLY for p in list(ours.values())[len(theirs):])


def test_default_which_is_lm_like_scipy():
    A = _spiked(n=400, seed=43)     # spikes -3.5 and 4: LM differs from LA
    w = eigsh(A, 3, return_eigenvectors=False, seed=0)
    ws = sla.eigsh(A, 3, return_eigenvectors=False)
    np.testing.assert_allclose(w, ws, atol=1e-10)
    assert np.any(w < 0)


def test_rng_argument():
    A = _spiked(n=500, seed=44)
    w1, v1 = eigsh(A, 3, which="LA", rng=5)
    w2, v2 = eigsh(A, 3, which="LA", seed=5)
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(v1, v2)
    w3 = eigsh(A, 3, which="LA", rng=np.random.default_rng(1), return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(w3), w1, atol=1e-11)


@pytest.mark.parametrize("k", [6, 10])
def test_small_ncv_is_raised_not_stalled(k):
    A = _spiked(n=600, seed=45)
    w, info = eigsh(A, k, which="LA", ncv=k + 1, return_eigenvectors=False,
                    return_info=True, seed=0, maxiter=300)
    assert info.ncv >= max(2 * k + 1, 20)
    np.testing.assert_allclose(np.sort(w), np.linalg.eigvalsh(A)[-k:], atol=1e-11)


class _BadOperator:
    def __init__(self, n, kind):
        self.shape = (n, n)
        self.dtype = np.dtype(np.float64)
        self.kind = kind
        self.A = A_OK

    def matmat(self, V):
        out = self.A @ V
        if self.kind == "short":
            return out[:-1]
        return out + 1j * out


@pytest.mark.parametrize("kind,exc,match", [
    ("short", ValueError, r"A must map a block of shape \(200, 2\) to the same shape"),
    ("complex", TypeError, "A must be real: its product returned values of dtype complex"),
])
def test_operator_bad_products_name_A(kind, exc, match):
    with pytest.raises(exc, match=match):
        eigsh(_BadOperator(200, kind), 2, which="LA")


def test_linear_operator_wrong_length_names_A():
    op = sla.LinearOperator((200, 200), matvec=lambda x: (A_OK @ x)[:-1], dtype=np.float64)
    with pytest.raises(ValueError, match="A's product failed"):
        eigsh(op, 2, which="LA")
    op = sla.LinearOperator((200, 200), matvec=lambda x: (A_OK @ x) * (1 + 1j),
                            dtype=np.float64)
    with pytest.raises(TypeError, match="A must be real"):
        eigsh(op, 2, which="LA")


def test_eigvals_above_return_info_and_messages():
    A = ref.spiked_wigner(400, [5.0, 4.0], seed=46)
    w, info = eigvals_above(A, 2.3, return_info=True)
    np.testing.assert_allclose(w, np.linalg.eigvalsh(A)[::-1][:2], atol=1e-11)
    assert isinstance(info, EigshInfo) and info.converged
    w, v, info = eigvals_above(A, 2.3, return_eigenvectors=True, return_info=True)
    assert v.shape == (400, 2)
    small = A[:20, :20]
    with pytest.raises(ThresholdNotReached, match=r"k = 19 = n - 1 is the most") as exc:
        eigvals_above(small, -100.0, max_k=512)
    assert "raise max_k" not in str(exc.value)


@pytest.mark.parametrize("with_vectors", [True, False])
def test_which_sm(with_vectors):
    A = _spiked(n=300, seed=47)
    out = eigsh(A, 4, which="SM", return_eigenvectors=with_vectors, seed=0)
    w = out[0] if with_vectors else out
    lam = np.linalg.eigvalsh(A)
    expected = lam[np.argsort(np.abs(lam))[:4]]
    np.testing.assert_allclose(np.sort(w), np.sort(expected), atol=1e-12)
    if with_vectors:
        assert np.all(np.diff(w) >= 0)
        assert np.max(ref.residuals(A, w, out[1])) < 1e-10
    else:   # scipy's order without vectors: descending magnitude
        assert np.all(np.diff(np.abs(w)) <= 0)


def test_which_sm_refused_for_large_n():
    op = sla.LinearOperator((5000, 5000), matvec=lambda x: x, dtype=np.float64)
    with pytest.raises(NotImplementedError, match="which='SM' is supported only up to"):
        eigsh(op, 2, which="SM")


@pytest.mark.parametrize("n", [1, 2, 63, 64, 65, 127, 128, 129, 200, 301])
def test_symmetry_scan_matches_reference(n, dtype):
    """The one-pass check against whole-array numpy: max |a_ij - a_ji|, max |a|, NaN/inf,
    and the entry it reports, for symmetric, perturbed and non-finite arrays."""
    from fastrmt._adapters import _check_dense
    from fastrmt._kernels import _checks
    from fastrmt._products import pair_schedule

    from . import reference as base_ref

    rng = np.random.default_rng(n)
    G = rng.standard_normal((n, n))
    S = (G + G.T).astype(dtype)
    cases = [S]
    P = S.copy()
    i, j = (n // 3, n - 1) if n > 1 else (0, 0)
    P[i, j] += dtype.type(0.5)
    cases.append(P)
    for val in (np.nan, np.inf):
        Q = S.copy()
        Q[n - 1, 0] = val
        cases.append(Q)
    R = S.copy()                    # mirrored infinities: equal, yet not finite
    R[0, n - 1] = R[n - 1, 0] = -np.inf
    cases.append(R)
    for A in cases:
        starts, rows = pair_schedule(n, _checks.TILE)
        npairs = starts.size - 1
        assert npairs == (-(-n // _checks.TILE) + 1) // 2
        diff, amax = np.empty(npairs), np.empty(npairs)
        bad = np.empty(npairs, dtype=np.int64)
        _checks.symmetry_scan(A, starts, rows, diff, amax, bad)
        finite, d_ref, a_ref = base_ref.dense_check_reference(A)
        assert bool(bad.any()) == (not finite)
        if finite:
            assert diff.max() == d_ref and amax.max() == a_ref
        # the fast path: mismatching or non-finite upper entries, counted exactly
        starts, rows = pair_schedule(n, _checks.EXACT_TILE)
        mm = np.empty(starts.size - 1, dtype=np.int64)
        _checks.mirror_mismatches(A, starts, rows, mm)
        upper = np.triu(np.ones((n, n), dtype=bool))
        with np.errstate(invalid="ignore"):
            expected = int(((A != A.T) & upper).sum() + (~np.isfinite(A) & upper).sum())
        assert int(mm.sum()) == expected
    with pytest.raises(ValueError, match="finite"):
        _check_dense(cases[2], 1e-3)
    if n > 1:
        with pytest.raises(ValueError, match=rf"A must be symmetric: A\[{i}, {j}\]"):
            _check_dense(P, 1e3 * float(np.finfo(dtype).eps))
    _check_dense(S, 0.0)


def test_krylov_state_invariants():
    """The block iteration's state: V orthonormal, AV = A V, H = V^T A V after each
    block; Ritz pairs from H; a restart keeps them with H = diag(theta)."""
    from fastrmt._krylov import _Krylov, _Random
    from fastrmt._random import Key

    rng = np.random.default_rng(5)
    n, m, b = 200, 40, 4
    G = rng.standard_normal((n, n))
    A = (G + G.T) / np.sqrt(2 * n)
    kry = _Krylov(n, m, _Random(Key(1, 2)), nt=2)
    Q = np.linalg.qr(rng.standard_normal((n, b)))[0]
    for _ in range(6):
        Q, _ = kry.extend(Q, A @ Q)
        V = kry.V[:, :kry.size]
        np.testing.assert_allclose(V.T @ V, np.eye(kry.size), atol=1e-12)
        np.testing.assert_allclose(kry.AV[:, :kry.size], A @ V, atol=1e-12)
        np.testing.assert_allclose(kry.H[:kry.size, :kry.size], V.T @ A @ V, atol=1e-12)
        assert np.abs(V.T @ Q).max() < 1e-12                 # the next block is orthogonal
    theta, S = kry.rayleigh_ritz()
    np.testing.assert_allclose(theta, np.linalg.eigvalsh(V.T @ A @ V), atol=1e-12)
    Y, AY = kry.ritz(S[:, -5:])
    np.testing.assert_allclose(AY, A @ Y, atol=1e-12)
    kry.restart(Y, AY, theta[-5:])
    assert kry.size == 5
    np.testing.assert_array_equal(kry.H[:5, :5], np.diag(theta[-5:]))
    W = kry.orthogonal(rng.standard_normal((n, 3)))
    assert np.abs(kry.V[:, :5].T @ W).max() < 1e-12
    np.testing.assert_allclose(W.T @ W, np.eye(3), atol=1e-12)

    def check():
        V = kry.V[:, :kry.size]
        np.testing.assert_allclose(V.T @ V, np.eye(kry.size), atol=1e-12)
        np.testing.assert_allclose(kry.H[:kry.size, :kry.size], V.T @ A @ V, atol=1e-12)

    # after a restart: the first block couples to every kept vector (full first pass),
    # the next ones only to the previous block (local first pass, one full pass)
    Q = np.linalg.qr(rng.standard_normal((n, b)) - kry.V[:, :5] @ (kry.V[:, :5].T @ rng.standard_normal((n, b))))[0]
    Q = kry.orthogonal(Q)
    for step in range(4):
        assert kry.full_next == (step == 0)
        Q, _ = kry.extend(Q, A @ Q)
        check()
        assert np.abs(kry.V[:, :kry.size].T @ Q).max() < 1e-12
    # a block that breaks the Krylov structure without saying so (its product has large
    # components along the whole basis): the local pass misses them, the full pass
    # removes most of the vector, and _orth's pass for an ill-conditioned block restores
    # orthogonality; H's column is still V^T A Q
    assert not kry.full_next
    V = kry.V[:, :kry.size]
    R = rng.standard_normal((n, b))
    R -= V @ (V.T @ R)
    R -= V @ (V.T @ R)
    Qr = np.linalg.qr(R)[0]
    AQ = A @ Qr + 50.0 * V[:, :b]                # a product far from Lanczos' structure
    Qn, _ = kry.extend(Qr, AQ)
    V = kry.V[:, :kry.size]
    np.testing.assert_allclose(V.T @ V, np.eye(kry.size), atol=1e-12)
    np.testing.assert_allclose(kry.H[:kry.size, kry.size - b:kry.size], V.T @ AQ, atol=1e-11)
    assert np.abs(V.T @ Qn).max() < 1e-12
