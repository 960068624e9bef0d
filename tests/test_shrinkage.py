"""fastrmt.shrinkage: the RIE against closed forms and the oracle, the Gavish-Donoho
baselines, and the argument checks."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fastrmt import shrinkage as sh
from fastrmt.weights import optimal_shrinkage

from . import reference_weights as ref


def _oracle_rect(Y, S):
    U, s, Vt = np.linalg.svd(Y, full_matrices=False)
    return s, np.einsum("ij,ji->i", U.T @ S, Vt.T)


def _rel_rms(x, y):
    return float(np.sqrt(np.mean((x - y) ** 2)) / np.sqrt(np.mean(y ** 2)))


@pytest.mark.parametrize("eta", [0.0, 0.05, 0.7])
def test_pair_sums_match_reference(eta):
    rng = np.random.default_rng(0)
    lam = np.concatenate([rng.standard_normal(150), [0.3, 0.3]])  # a repeated value
    np.testing.assert_allclose(sh.rie_eigenvalues(lam, 0.2, eta=eta),
                               ref.rie_eigenvalues(lam, 0.2, eta) if eta > 0 else
                               _pv_no_repeats(lam, 0.2), rtol=1e-11, atol=1e-11)
    s = np.sort(np.abs(rng.standard_normal(120)) + 0.1)[::-1]
    np.testing.assert_allclose(sh.rie_singular_values(s, (120, 300), 0.05, eta=eta),
                               ref.rie_singular_values(s, (120, 300), 0.05, eta),
                               rtol=1e-11, atol=1e-11)


def _pv_no_repeats(lam, sigma):
    # eta = 0: equal values cancel in the principal value (their 1/0 terms are dropped)
    d = lam[:, None] - lam[None, :]
    with np.errstate(divide="ignore"):
        t = np.where(d != 0, 1.0 / np.where(d != 0, d, 1.0), 0.0)
    return lam - 2 * sigma ** 2 * t.sum(axis=1)


def test_results_do_not_depend_on_threads():
    rng = np.random.default_rng(1)
    s = np.sort(np.abs(rng.standard_normal(400)))[::-1]
    a = sh.rie_singular_values(s, (400, 900), 0.03, n_threads=1)
    b = sh.rie_singular_values(s, (400, 900), 0.03, n_threads=2)
    c = sh.rie_singular_values(s, (400, 900), 0.03, n_threads=3)
    assert np.array_equal(a, b) and np.array_equal(a, c)


def test_symmetric_closed_form_linear_shrinkage():
    """Semicircle signal (variance v) plus Wigner noise: xi = lambda v / (v + sigma^2 n)."""
    rng = np.random.default_rng(2)
    n, sg = 1000, 0.05
    v = sg ** 2 * n
    A = rng.standard_normal((n, n))
    S = (A + A.T) / math.sqrt(2 * n) * math.sqrt(v)
    B = rng.standard_normal((n, n))
    lam, V = np.linalg.eigh(S + (B + B.T) / math.sqrt(2) * sg)
    xi = sh.rie_eigenvalues(lam, sg)
    lin = lam * v / (v + sg ** 2 * n)
    oracle = np.einsum("ij,ji->i", V.T @ S, V)
    assert _rel_rms(xi, lin) < 0.08
    assert _rel_rms(xi, oracle) < 0.1
    # the unshrunk eigenvalues are far worse
    assert _rel_rms(lam, oracle) > 0.9


@pytest.mark.parametrize("shape", [(400, 1000), (300, 300)])
def test_rectangular_closed_form_linear_shrinkage(shape):
    """Gaussian signal (entry variance v) plus noise: xi = gamma v / (v + sigma^2)."""
    rng = np.random.default_rng(3)
    v, sg = 1.0, 0.8
    S = rng.standard_normal(shape) * math.sqrt(v)
    s, oracle = _oracle_rect(S + sg * rng.standard_normal(shape), S)
    xi = sh.rie_singular_values(s, shape, sg)
    assert _rel_rms(xi, s * v / (v + sg ** 2)) < 0.08
    assert _rel_rms(xi, oracle) < 0.08


def test_low_rank_limit_is_the_gavish_donoho_shrinker():
    rng = np.random.default_rng(4)
    p, q, sg = 400, 1000, 0.8
    S = np.zeros((p, q))
    for t in (3.0, 2.0, 1.5):
        u = rng.standard_normal(p)
        w = rng.standard_normal(q)
        S += t * math.sqrt(q) * sg * np.outer(u / np.linalg.norm(u), w / np.linalg.norm(w))
    s, oracle = _oracle_rect(S + sg * rng.standard_normal((p, q)), S)
    xi = sh.rie_singular_values(s, (p, q), sg)
    gd = sh.gd_shrink(s, (p, q), sg)
    np.testing.assert_allclose(xi[:3], gd[:3], rtol=0.02)
    np.testing.assert_allclose(xi[:3], oracle[:3], rtol=0.05)
    # gd_shrink is the weights module's Frobenius shrinker in units of sigma sqrt(q)
    np.testing.assert_allclose(gd, sg * math.sqrt(q) * optimal_shrinkage(s / (sg * math.sqrt(q)),
                                                                         p / q))


def test_shrinkage_beats_hard_thresholding_on_a_full_rank_signal():
    """MSE of the estimate of a full-rank signal: RIE < GD shrinker < GD hard threshold."""
    rng = np.random.default_rng(5)
    n, m, sg = 300, 600, 1.0
    # full rank: a decaying spectrum with a bulk, random singular vectors
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    V, _ = np.linalg.qr(rng.standard_normal((m, n)))
    vals = 40.0 * np.exp(-np.arange(n) / 60.0) + 8.0
    S = (U * vals) @ V.T
    Y = S + sg * rng.standard_normal((n, m))
    err = {meth: float(np.linalg.norm(sh.denoise(Y, method=meth, sigma=sg).matrix - S))
           for meth in ("rie", "gd-frobenius", "gd-hard")}
    err["none"] = float(np.linalg.norm(Y - S))
    assert err["rie"] < 0.9 * err["gd-hard"], err
    assert err["rie"] < err["gd-frobenius"] < err["none"]


def test_gd_threshold_known_and_unknown_sigma():
    rng = np.random.default_rng(6)
    p, q, sg = 500, 1000, 0.3
    s = np.linalg.svd(sg * rng.standard_normal((p, q)), compute_uv=False)
    beta = p / q
    lam_star = math.sqrt(2 * (beta + 1) + 8 * beta / (beta + 1 + math.sqrt(beta ** 2 + 14 * beta
                                                                           + 1)))
    assert sh.gd_threshold(s, (p, q), sg) == pytest.approx(lam_star * math.sqrt(q) * sg)
    # the median rule lands on the same threshold for pure noise; the published cubic fit
    # of omega(beta) agrees to its own accuracy (~0.02)
    t = sh.gd_threshold(s, (p, q))
    assert t == pytest.approx(lam_star * math.sqrt(q) * sg, rel=0.01)
    omega_fit = 0.56 * beta ** 3 - 0.95 * beta ** 2 + 1.82 * beta + 1.43
    assert t / np.median(s) == pytest.approx(omega_fit, abs=0.03)
    # square, known sigma: 4/sqrt(3) sigma sqrt(n)
    assert sh.gd_threshold(np.ones(10), (10, 10), 1.0) == pytest.approx(4 / math.sqrt(3)
                                                                        * math.sqrt(10))


def test_denoise_symmetric_path_and_shapes():
    rng = np.random.default_rng(7)
    n = 200
    A = rng.standard_normal((n, n))
    M = (A + A.T) / 2
    d = sh.denoise(M, sigma=1 / math.sqrt(2))
    assert d.symmetric and d.matrix.shape == (n, n)
    assert np.allclose(d.matrix, d.matrix.T)
    # pure noise at the right sigma: little is left (a few percent of the norm)
    assert np.linalg.norm(d.matrix) < 0.15 * np.linalg.norm(M)
    r = sh.denoise(rng.standard_normal((50, 80)), method="gd-hard")
    assert r.matrix.shape == (50, 80) and np.isnan(r.sigma) and r.sigma_estimated


def test_zero_singular_values_stay_zero():
    s = np.array([5.0, 1.0, 0.0, 0.0])
    xi = sh.rie_singular_values(s, (4, 10), 0.1)
    assert xi[2] == 0 and xi[3] == 0 and np.all(np.isfinite(xi))


@pytest.mark.parametrize("call, exc, msg", [
    (lambda: sh.rie_eigenvalues([[1.0]], 1.0), ValueError, "eigenvalues must be 1-D"),
    (lambda: sh.rie_eigenvalues([1.0, np.nan], 1.0), ValueError, "eigenvalues must be finite"),
    (lambda: sh.rie_eigenvalues([1.0, 2.0], -1.0), ValueError, "sigma"),
    (lambda: sh.rie_eigenvalues([1.0, 2.0], 1.0, eta=-1), ValueError, "eta"),
    (lambda: sh.rie_singular_values([1.0, -2.0], (2, 3), 1.0), ValueError, ">= 0"),
    (lambda: sh.rie_singular_values([1.0, 2.0], (3, 3), 1.0), ValueError, "min(n, m) = 3"),
    (lambda: sh.rie_singular_values([1.0, 2.0], "2x3", 1.0), TypeError, "shape"),
    (lambda: sh.rie_singular_values(["a", "b"], (2, 3), 1.0), TypeError, "real numbers"),
    (lambda: sh.gd_shrink([1.0, 2.0], (2, 3), 1.0, loss="nuclear"), ValueError, "loss"),
    (lambda: sh.denoise(np.ones(5)), ValueError, "2-D"),
    (lambda: sh.denoise(np.ones((3, 3)), method="soft"), ValueError, "method"),
    (lambda: sh.denoise(np.full((3, 3), np.inf)), ValueError, "NaN or inf"),
    (lambda: sh.denoise(np.arange(6.0).reshape(2, 3), symmetric=True), ValueError,
     "symmetric=True"),
    (lambda: sh.denoise(np.eye(3), method="gd-hard", symmetric=True), ValueError,
     "only defined"),
    (lambda: sh.denoise(np.eye(3), symmetric="yes"), TypeError, "symmetric"),
])
def test_bad_arguments(call, exc, msg):
    with pytest.raises(exc, match=pytest.importorskip("re").escape(msg)):
        call()


def test_warmup_compiles_the_pair_sums():
    from fastrmt._kernels import _shrink
    sh._warmup()
    assert _shrink.pair_sums.signatures
