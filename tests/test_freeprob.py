import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastrmt
from fastrmt import freeprob as fp
from fastrmt.measures import (Atoms, MarchenkoPastur, Mixture, Semicircle, TwoPoint, Uniform)

from . import reference_freeprob as ref

DELTA0 = Atoms([0.0])


# --- closed forms -----------------------------------------------------------------------
@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.5])
def test_bbp_delta0(sigma):
    theta = np.array([-3.0, -1.2, -0.5, 0.7, 1.0, 1.5, 4.0]) * sigma
    pred = fp.predict_outliers(theta, DELTA0, sigma)
    out = np.abs(theta) > sigma
    np.testing.assert_array_equal(pred.is_outlier, out)
    np.testing.assert_allclose(pred.location[out], theta[out] + sigma ** 2 / theta[out],
                               rtol=1e-14)
    np.testing.assert_allclose(pred.overlap[out], 1 - sigma ** 2 / theta[out] ** 2, rtol=1e-13)
    assert np.all(np.isnan(pred.location[~out]))
    assert np.all(pred.overlap[~out] == 0.0)
    np.testing.assert_allclose(fp.bulk_support(DELTA0, sigma), [[-2 * sigma, 2 * sigma]],
                               rtol=1e-14)
    lo, hi = fp.outlier_threshold(DELTA0, sigma)
    assert lo == pytest.approx(-sigma, rel=1e-14) and hi == pytest.approx(sigma, rel=1e-14)
    lam = theta[out] + sigma ** 2 / theta[out]
    np.testing.assert_allclose(fp.phi_inverse(lam, DELTA0, sigma), theta[out], rtol=1e-13)
    est = fp.spikes_from_outliers(np.append(lam, 0.3 * sigma), DELTA0, sigma)
    np.testing.assert_array_equal(est.valid, np.append(np.ones(lam.size, bool), False))
    np.testing.assert_allclose(est.spikes[:-1], theta[out], rtol=1e-13)
    np.testing.assert_allclose(est.overlap[:-1], 1 - sigma ** 2 / theta[out] ** 2, rtol=1e-12)
    assert np.isnan(est.spikes[-1]) and np.isnan(est.overlap[-1])
    # density: the semicircle of variance sigma**2
    x = np.linspace(-2.2 * sigma, 2.2 * sigma, 41)
    expected = np.sqrt(np.maximum(4 * sigma ** 2 - x ** 2, 0)) / (2 * np.pi * sigma ** 2)
    np.testing.assert_allclose(fp.density(x, DELTA0, sigma), expected, atol=1e-13 / sigma)


def test_single_atom_edges_regression():
    # f(e - sigma) = 1 exactly up to rounding: the root bracket's orientation must not
    # depend on the sign of a rounding error (once returned the atom as the edge)
    sigma = 0.1386630577907727
    sup = fp.bulk_support(Atoms([-1.3]), sigma)
    np.testing.assert_allclose(sup, [[-1.3 - 2 * sigma, -1.3 + 2 * sigma]], rtol=1e-14)


def test_phi_inverse_at_edge_is_critical_point():
    om = fp.phi_inverse([2.0, -2.0], DELTA0, 1.0)
    np.testing.assert_allclose(om, [1.0, -1.0], rtol=1e-15)


@pytest.mark.parametrize("tau2,sigma", [(0.7, 0.6), (2.0, 0.1), (0.05, 1.5)])
def test_semicircle_plus_semicircle(tau2, sigma):
    nu = Semicircle(0.3, tau2)
    t = tau2 + sigma ** 2
    r = 2 * math.sqrt(t)
    np.testing.assert_allclose(fp.bulk_support(nu, sigma), [[0.3 - r, 0.3 + r]], rtol=1e-12)
    x = 0.3 + np.linspace(-1.1 * r, 1.1 * r, 57)
    expected = np.sqrt(np.maximum(4 * t - (x - 0.3) ** 2, 0)) / (2 * np.pi * t)
    np.testing.assert_allclose(fp.density(x, nu, sigma), expected, atol=1e-12)
    # subordination: G_mu(z) = g_nu(omega(z)) with G_mu the semicircle of variance t
    z = np.array([0.1 + 0.5j, 3.0 + 0.01j, -1.0 + 2.0j])
    w = fp.phi_inverse(z, nu, sigma)
    g_mu = Semicircle(0.3, t).g(z)
    np.testing.assert_allclose(nu.g(w), g_mu, rtol=1e-12)


@pytest.mark.parametrize("sigma,gap", [(0.5, True), (0.9, True), (0.99, True), (1.01, False),
                                       (1.5, False)])
def test_two_point_gap_opens_and_closes(sigma, gap):
    nu = TwoPoint(-1.0, 1.0, 0.5)       # min of f on (-1, 1) is sigma**2 at 0
    sup = fp.bulk_support(nu, sigma)
    assert sup.shape == ((2, 2) if gap else (1, 2))
    edges, crit = ref.edges_atoms(nu.values, nu.weights, sigma)
    np.testing.assert_allclose(sup, edges, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(fp.critical_points(nu, sigma), crit, rtol=1e-12, atol=1e-15)


def test_asymmetric_two_point_against_reference():
    nu = TwoPoint(-1.0, 2.0, 0.3)
    sigma = 0.8
    edges, crit = ref.edges_atoms(nu.values, nu.weights, sigma)
    np.testing.assert_allclose(fp.bulk_support(nu, sigma), edges, rtol=1e-13)
    x = np.concatenate([np.linspace(edges[0, 0] - 0.1, edges[-1, 1] + 0.1, 31),
                        edges.ravel() + 1e-7, edges.ravel() - 1e-7])
    got = fp.density(x, nu, sigma)
    for i, (xi, gi) in enumerate(zip(x, got)):
        k = [i for i in range(len(edges)) if edges[i, 0] < xi < edges[i, 1]]
        expected = ref.density_atoms(xi, nu.values, nu.weights, sigma, *crit[k[0]]) if k else 0.0
        # 1e-7 from an edge the density itself is conditioned like ulp(x) / (x - edge)
        rel = 1e-8 if i >= 31 else 1e-11
        assert gi == pytest.approx(expected, rel=rel, abs=1e-13)


def test_narrow_gap_density():
    # sigma just below the closing value 1: the gap of mu has width ~1e-3
    nu = TwoPoint(-1.0, 1.0, 0.5)
    sigma = 0.99
    sup = fp.bulk_support(nu, sigma)
    a, b = sup[0, 1], sup[1, 0]
    assert 0 < b - a < 3e-3
    x = np.array([a - 1e-4, a - 1e-9, 0.0, b + 1e-9, b + 1e-4])
    got = fp.density(x, nu, sigma)
    assert got[2] == 0.0
    crit = fp.critical_points(nu, sigma)
    for i, k in [(0, 0), (1, 0), (3, 1), (4, 1)]:
        expected = ref.density_atoms(x[i], nu.values, nu.weights, sigma, *crit[k])
        # conditioning: relative error ~ ulp(x) / (x - edge)
        assert got[i] == pytest.approx(expected, rel=1e-6 if i in (1, 3) else 1e-10, abs=1e-13)
        assert got[i] > 0


MEASURES = [
    TwoPoint(-1.0, 2.0, 0.3),
    Atoms([-2.0, -1.9, 0.0, 0.1, 3.0], [0.1, 0.2, 0.3, 0.2, 0.2]),
    Uniform(-1.0, 1.0),
    MarchenkoPastur(0.5, 1.0),
    MarchenkoPastur(3.0, 1.0),
    Mixture([(0.5, Uniform(-3, -2)), (0.5, Semicircle(2.0, 0.1))]),
    Mixture([(0.6, Semicircle(0.0, 0.5)), (0.4, Atoms([4.0]))]),
]
MIDS = ["two-point", "atoms", "uniform", "mp<1", "mp>1", "mix-cont", "mix-atom"]


@pytest.mark.parametrize("nu", MEASURES, ids=MIDS)
@pytest.mark.parametrize("sigma", [0.2, 0.7])
def test_density_integrates_to_one(nu, sigma):
    sup = fp.bulk_support(nu, sigma)
    total = 0.0
    for a, b in sup:
        # Gauss-Chebyshev (second kind) after x = mid + half cos(t): handles sqrt edges
        n = 400
        t = (np.arange(n) + 0.5) * np.pi / n
        x = 0.5 * (a + b) + 0.5 * (b - a) * np.cos(t)
        dens = fp.density(x, nu, sigma)
        total += np.sum(dens * np.sin(t)) * np.pi / n * 0.5 * (b - a)
    assert total == pytest.approx(1.0, abs=2e-5)


@pytest.mark.parametrize("nu", MEASURES, ids=MIDS)
def test_support_edges_are_critical_values(nu):
    sigma = 0.4
    sup = fp.bulk_support(nu, sigma)
    crit = fp.critical_points(nu, sigma)
    np.testing.assert_allclose(fp.phi_prime(crit.ravel(), nu, sigma), 0.0, atol=1e-10)
    np.testing.assert_allclose(fp.phi(crit.ravel(), nu, sigma), sup.ravel(), rtol=1e-14)
    assert np.all(np.diff(sup.ravel()) > 0)
    # density vanishes just outside, positive just inside every edge
    eps = 1e-6 * (sup[-1, 1] - sup[0, 0])
    assert np.all(fp.density(sup.ravel() - np.tile([eps, -eps], len(sup)), nu, sigma) == 0)
    assert np.all(fp.density(sup.ravel() + np.tile([eps, -eps], len(sup)), nu, sigma) > 0)


@pytest.mark.parametrize("nu", MEASURES, ids=MIDS)
def test_phi_matches_reference_and_nan_inside(nu):
    sigma = 0.6
    sup = nu.support()
    u = np.array([sup[0][0] - 1.0, sup[-1][1] + 0.3, sup[-1][1] + 30.0])
    m1 = np.array([ref.moments_ref(x, nu) for x in u])
    np.testing.assert_allclose(fp.phi(u, nu, sigma), u + sigma ** 2 * m1[:, 0], rtol=1e-11)
    np.testing.assert_allclose(fp.phi_prime(u, nu, sigma), 1 - sigma ** 2 * m1[:, 1], rtol=1e-10)
    inside = np.array([0.5 * (lo + hi) for lo, hi in sup])   # atoms: lo == hi
    assert np.all(np.isnan(fp.phi(inside, nu, sigma)))
    assert np.all(np.isnan(fp.phi_prime(inside, nu, sigma)))


def test_phi_shapes_and_scalar():
    nu = TwoPoint(-1, 1)
    assert fp.phi(3.0, nu, 1.0).shape == ()
    u = np.linspace(2, 5, 12).reshape(3, 4)
    assert fp.phi(u, nu, 1.0).shape == (3, 4)
    assert fp.phi_inverse(u + 3, nu, 1.0).shape == (3, 4)
    assert fp.density(u, nu, 1.0).shape == (3, 4)
    z = np.array([[1 + 1j, 2 - 1j]])
    np.testing.assert_allclose(fp.phi(z, nu, 1.0), z + nu.g(z))


# --- inverse: property-based round trips -----------------------------------------------
atoms_st = st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=6, unique=True)


@settings(max_examples=60, deadline=None)
@given(atoms=atoms_st, sigma=st.floats(0.05, 3.0), lam=st.floats(-12, 12),
       seed=st.integers(0, 2 ** 16))
def test_inverse_round_trip_atoms(atoms, sigma, lam, seed):
    w = np.random.default_rng(seed).uniform(0.1, 1.0, len(atoms))
    nu = Atoms(atoms, w)
    om, in_bulk = fp.phi_inverse(np.array([lam]), nu, sigma, return_mask=True)
    sup = fp.bulk_support(nu, sigma)
    inside = np.any((sup[:, 0] < lam) & (lam < sup[:, 1]))
    assert bool(in_bulk[0]) == inside
    if inside:
        assert np.isnan(om[0])
        assert fp.density(np.array([lam]), nu, sigma)[0] > 0
        return
    scale = max(abs(lam), sigma, np.ptp(nu.values), 1.0)
    assert abs(fp.phi(om, nu, sigma)[0] - lam) <= 1e-12 * scale
    assert fp.phi_prime(om, nu, sigma)[0] >= -1e-9     # branch Phi' > 0 (0 at an edge)
    # the same root as brentq in the component of U that holds it
    crit = fp.critical_points(nu, sigma)
    bounds = np.concatenate([[-np.inf], crit.ravel(), [np.inf]]).reshape(-1, 2)
    k = np.searchsorted(sup[:, 1], lam, side="right")
    a, b = bounds[k]
    a = lam if not np.isfinite(a) else a
    b = lam if not np.isfinite(b) else b
    if fp.phi(np.array([a]), nu, sigma)[0] < lam < fp.phi(np.array([b]), nu, sigma)[0]:
        r = ref.inverse_atoms(lam, nu.values, nu.weights, sigma, a, b)
        assert om[0] == pytest.approx(r, rel=1e-11, abs=1e-11 * scale)


@settings(max_examples=40, deadline=None)
@given(s=st.floats(-20, 20), sigma=st.floats(0.05, 2.0), which=st.integers(0, len(MEASURES) - 1))
def test_inverse_of_phi_on_outlier_branch(s, sigma, which):
    nu = MEASURES[which]
    d = fp.phi_prime(np.array([s]), nu, sigma)[0]
    if not (d > 1e-6):
        return
    lam = fp.phi(np.array([s]), nu, sigma)
    om = fp.phi_inverse(lam, nu, sigma)[0]
    assert om == pytest.approx(s, rel=1e-10, abs=1e-10 * max(sigma, 1.0))


@settings(max_examples=40, deadline=None)
@given(x=st.floats(-6, 6), y=st.floats(1e-6, 5.0), sigma=st.floats(0.1, 2.0),
       which=st.integers(0, len(MEASURES) - 1))
def test_complex_inverse_round_trip(x, y, sigma, which):
    nu = MEASURES[which]
    z = np.array([complex(x, y), complex(x, -y)])
    w = fp.phi_inverse(z, nu, sigma)
    assert w[0].imag >= y * (1 - 1e-12)
    assert w[1] == pytest.approx(np.conj(w[0]), rel=1e-14)
    res = fp.phi(w[:1], nu, sigma)[0] - z[0]
    assert abs(res) <= 1e-11 * (abs(z[0]) + 1.0)


def test_boundary_values_on_axis():
    nu = TwoPoint(-1.0, 2.0, 0.3)
    sigma = 0.8
    x = np.array([-0.5, 1.0, 5.0, -4.0])
    w = fp.phi_inverse(x + 0j, nu, sigma)
    dens = fp.density(x, nu, sigma)
    np.testing.assert_allclose(w.imag, np.pi * sigma ** 2 * dens, rtol=1e-12, atol=1e-15)
    real = fp.phi_inverse(x, nu, sigma)
    out = np.isfinite(real)
    np.testing.assert_allclose(w.real[out], real[out], rtol=1e-14)
    # approach from above
    w_eps = fp.phi_inverse(x + 1e-9j, nu, sigma)
    np.testing.assert_allclose(w_eps, w, atol=1e-6)


# --- many atoms: lanes, threads ---------------------------------------------------------
@pytest.fixture(scope="module")
def big_atoms():
    return Atoms(np.random.default_rng(11).standard_normal(4099))


def test_big_atoms_against_numpy(big_atoms):
    nu, sigma = big_atoms, 0.7
    u = np.linspace(5.0, 9.0, 50)
    np.testing.assert_allclose(fp.phi(u, nu, sigma), ref.phi_atoms(u, nu.values, nu.weights, sigma),
                               rtol=1e-13)
    np.testing.assert_allclose(fp.phi_prime(u, nu, sigma),
                               ref.phi_prime_atoms(u, nu.values, nu.weights, sigma), rtol=1e-12)
    # right edge: f(u) = 1 by brentq on the full sum
    uR = fp.critical_points(nu, sigma)[-1, 1]
    f = sigma ** 2 * np.sum(nu.weights / (uR - nu.values) ** 2)
    assert f == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("gen", ["normal", "clusters", "cauchy"])
def test_block_expansions_match_plain_sums(gen):
    # >= 4 blocks of atoms: Phi, Phi' and Phi^-1 use the far-field block expansions
    rng = np.random.default_rng(21)
    v = {"normal": lambda: rng.standard_normal(9000),
         "clusters": lambda: np.concatenate([rng.uniform(-1, 1, 6000), rng.uniform(4, 4.5, 3000),
                                             [7.0, 7.5]]),
         "cauchy": lambda: rng.standard_cauchy(9000)}[gen]()
    nu = Atoms(v)
    assert nu.data().fmm()[0].size >= 4
    sigma = 0.5
    u = np.concatenate([np.linspace(v.min() - 3, v.min() - 1e-3, 50),
                        np.linspace(v.max() + 1e-3, v.max() + 30, 50),
                        rng.uniform(v.min(), v.max(), 100)])
    d = u[:, None] - nu.values
    scale1 = np.abs(u) + sigma ** 2 * np.sum(nu.weights / np.abs(d), axis=1)
    err = np.abs(fp.phi(u, nu, sigma) - ref.phi_atoms(u, nu.values, nu.weights, sigma)) / scale1
    assert err.max() < 1e-13
    expected = ref.phi_prime_atoms(u, nu.values, nu.weights, sigma)
    err = np.abs(fp.phi_prime(u, nu, sigma) - expected) / (1 + np.abs(expected))
    assert err.max() < 1e-13
    sup = fp.bulk_support(nu, sigma)
    lam = np.concatenate([np.linspace(sup[0, 0] - 5, sup[0, 0] - 1e-4, 40),
                          np.linspace(sup[-1, 1] + 1e-4, sup[-1, 1] + 5, 40),
                          0.5 * (sup[:-1, 1] + sup[1:, 0])])
    om = fp.phi_inverse(lam, nu, sigma)
    assert np.all(np.isfinite(om))
    res = np.abs(ref.phi_atoms(om, nu.values, nu.weights, sigma) - lam)
    assert np.all(res <= 1e-12 * np.maximum(np.abs(lam), 1.0))
    # edges: f = 1 at the critical points (plain sums); density against the nested brentq
    crit = fp.critical_points(nu, sigma)
    f = sigma ** 2 * np.sum(nu.weights / (crit.ravel()[:, None] - nu.values) ** 2, axis=1)
    np.testing.assert_allclose(f, 1.0, rtol=1e-9)
    widest = np.argmax(sup[:, 1] - sup[:, 0])
    x = sup[widest, 0] + np.array([0.013, 0.5, 0.97]) * (sup[widest, 1] - sup[widest, 0])
    got = fp.density(x, nu, sigma)
    for xi, gi in zip(x, got):
        expected = ref.density_atoms(xi, nu.values, nu.weights, sigma, *crit[widest])
        assert gi == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("n_threads", [1, 2, -1])
def test_results_do_not_depend_on_threads(big_atoms, n_threads):
    nu, sigma = big_atoms, 0.7
    sup = fp.bulk_support(nu, sigma)
    lam = np.linspace(sup[-1, 1] + 0.01, sup[-1, 1] + 3, 33)
    x = np.linspace(sup[0, 0] - 0.1, sup[-1, 1] + 0.1, 101)
    base = (fp.phi(lam, nu, sigma, n_threads=1), fp.phi_inverse(lam, nu, sigma, n_threads=1),
            fp.density(x, nu, sigma, n_threads=1), fp.bulk_support(nu, sigma, n_threads=1))
    other = (fp.phi(lam, nu, sigma, n_threads=n_threads),
             fp.phi_inverse(lam, nu, sigma, n_threads=n_threads),
             fp.density(x, nu, sigma, n_threads=n_threads),
             fp.bulk_support(nu, sigma, n_threads=n_threads))
    for a, b in zip(base, other):
        np.testing.assert_array_equal(a, b)


# --- finite-n version ---------------------------------------------------------------------
def test_finite_n_matches_numpy_sums():
    rng = np.random.default_rng(5)
    bulk = rng.uniform(-1, 1, 500)
    spikes = np.array([2.0, 2.5, 2.5, -3.0, 0.3])     # a double spike and one in the bulk
    allv = np.concatenate([bulk, spikes])
    nu = Atoms(allv)
    sigma = 0.5
    pred = fp.predict_outliers(spikes, nu, sigma, version="finite-n")
    for i, s in enumerate(spikes):
        others = allv[allv != s]
        ph = s + sigma ** 2 * np.sum(1 / (s - others)) / allv.size
        dph = 1 - sigma ** 2 * np.sum(1 / (s - others) ** 2) / allv.size
        assert pred.phi_prime[i] == pytest.approx(dph, rel=1e-12)
        if dph > 0:
            assert pred.is_outlier[i]
            assert pred.location[i] == pytest.approx(ph, rel=1e-13)
    assert not pred.is_outlier[-1]
    rec = pred.to_records()
    assert rec.location[0] == pred.location[0] and rec.dtype.names[0] == "spike"


@pytest.fixture(scope="module")
def sampled():
    """One sampled spectrum: W = X/sqrt(n) + diag(s), n = 1500."""
    n = 1500
    q = (np.arange(n - 40) + 0.5) / (n - 40)
    bulk = np.where(q < 0.5, -1.5, 1.5)                # two-point bulk: mu has a gap
    spikes = np.linspace(3.0, 5.0, 40)                 # r/n = 2.7%: many outliers
    s = np.concatenate([bulk, spikes])
    w = fastrmt.wigner(n, seed=2024)
    w[np.diag_indices(n)] += s
    return s, bulk, spikes, np.linalg.eigvalsh(w)


def test_sampled_spectrum_cdf_matches_density(sampled):
    s, bulk, spikes, ev = sampled
    nu = Atoms(bulk)
    sigma = 1.0
    sup = fp.bulk_support(nu, sigma)
    assert sup.shape == (2, 2)
    x = np.linspace(sup[0, 0], sup[-1, 1], 6001)
    dens = fp.density(x, nu, sigma)
    cdf = np.concatenate([[0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(x))])
    assert cdf[-1] == pytest.approx(1.0, abs=1e-4)
    bulk_ev = np.sort(ev)[: bulk.size]
    emp = np.searchsorted(bulk_ev, x, side="right") / bulk_ev.size
    assert np.max(np.abs(emp - cdf)) < 0.02
    # histogram against the density (bins of width ~0.2)
    hist, edges = np.histogram(bulk_ev, bins=30, range=(sup[0, 0], sup[-1, 1]), density=True)
    centers = 0.5 * (edges[1:] + edges[:-1])
    avg = np.array([fp.density(np.linspace(a, b, 21), nu, sigma).mean()
                    for a, b in zip(edges[:-1], edges[1:])])
    assert np.max(np.abs(hist - avg)) < 0.08, centers


def test_sampled_edges_and_outliers(sampled):
    s, bulk, spikes, ev = sampled
    n = s.size
    sigma = 1.0
    # the finite-n law nu_N = Atoms(all eigenvalues of S): its bulk edges (the 40 spikes,
    # 0.05 apart, form a third piece [3.34, 5.31] of supp mu_N)
    sup = fp.bulk_support(Atoms(s), sigma)
    assert sup.shape == (3, 2)
    bulk_ev = np.sort(ev)[: bulk.size]
    tol = 3 * n ** (-2 / 3) + 0.02
    assert abs(bulk_ev[0] - sup[0, 0]) < tol
    assert abs(bulk_ev[-1] - sup[1, 1]) < tol
    # the gap of mu: no eigenvalue inside it (away from the edges)
    a, b = sup[0, 1], sup[1, 0]
    assert not np.any((ev > a + tol) & (ev < b - tol))
    assert np.sum(ev < a + tol) == bulk.size // 2
    # the limit law (spikes left out) gives the same picture less precisely
    sup_lim = fp.bulk_support(Atoms(bulk), sigma)
    assert abs(bulk_ev[-1] - sup_lim[-1, 1]) < 0.1
    outl = np.sort(ev)[bulk.size:]
    lim = fp.predict_outliers(spikes, Atoms(bulk), sigma, version="limit")
    fin = fp.predict_outliers(spikes, Atoms(s), sigma, version="finite-n")
    assert lim.is_outlier.all() and fin.is_outlier.all()
    err_fin = np.abs(np.sort(fin.location) - outl)
    err_lim = np.abs(np.sort(lim.location) - outl)
    assert err_fin.mean() < 0.05
    assert err_fin.mean() < err_lim.mean()


# --- refused inputs ---------------------------------------------------------------------
@pytest.mark.parametrize("sigma", [0.0, -1.0])
def test_refuse_sigma_value(sigma):
    with pytest.raises(ValueError, match="sigma must be > 0.0"):
        fp.phi([1.0], DELTA0, sigma)


def test_refuse_sigma_nan():
    with pytest.raises(ValueError, match="sigma must be finite"):
        fp.bulk_support(DELTA0, float("nan"))


def test_refuse_sigma_type():
    with pytest.raises(TypeError, match="sigma must be a real number"):
        fp.density([0.0], DELTA0, "1")


def test_refuse_non_measure():
    with pytest.raises(TypeError, match="nu must be a fastrmt.measures.Measure"):
        fp.phi_inverse([3.0], np.array([0.0, 1.0]), 1.0)


def test_refuse_nan_spikes():
    with pytest.raises(ValueError, match="spikes must contain only finite values"):
        fp.predict_outliers([1.0, np.nan], DELTA0, 1.0)


def test_refuse_string_spikes():
    with pytest.raises(TypeError, match="spikes must be a number or array-like"):
        fp.predict_outliers("3", DELTA0, 1.0)


def test_refuse_inf_lams():
    with pytest.raises(ValueError, match="lams must contain only finite values"):
        fp.spikes_from_outliers([np.inf], DELTA0, 1.0)


def test_refuse_version():
    with pytest.raises(ValueError, match="version must be one of"):
        fp.predict_outliers([3.0], DELTA0, 1.0, version="finite")


def test_refuse_finite_n_continuous():
    with pytest.raises(ValueError, match="version='finite-n' needs nu = Atoms"):
        fp.predict_outliers([3.0], Uniform(), 1.0, version="finite-n")


def test_refuse_finite_n_missing_spike():
    with pytest.raises(ValueError, match="spike 3.0 is not"):
        fp.predict_outliers([3.0], Atoms([0.0, 1.0]), 1.0, version="finite-n")


def test_refuse_complex_phi_prime():
    with pytest.raises(TypeError, match="s must be real"):
        fp.phi_prime(np.array([1 + 1j]), DELTA0, 1.0)


def test_refuse_complex_on_axis_phi():
    with pytest.raises(ValueError, match="s must be off the real axis"):
        fp.phi(np.array([1 + 0j]), DELTA0, 1.0)


def test_refuse_return_mask_type():
    with pytest.raises(TypeError, match="return_mask must be a bool"):
        fp.phi_inverse([3.0], DELTA0, 1.0, return_mask=1)


def test_refuse_return_mask_complex():
    with pytest.raises(ValueError, match="return_mask is only available for real lam"):
        fp.phi_inverse(np.array([1 + 1j]), DELTA0, 1.0, return_mask=True)


def test_refuse_n_threads():
    with pytest.raises(ValueError, match="n_threads"):
        fp.phi([3.0], DELTA0, 1.0, n_threads=0)


def test_warmup_compiles_every_entry_kernel():
    # every kernel the public functions call is compiled (or loaded from the cache) by
    # the warm-up, so a timed first call compiles nothing
    from fastrmt._kernels import _classical, _fmm, _subordination, _stieltjes
    fp._warmup()
    entry = [_classical.locate_many, _classical.mass_above_many, _classical.tail_many,
             _fmm.block_moments, _subordination.bulk_many, _fmm.g_complex_many,
             _subordination.gap_scan_many, _subordination.inverse_complex_many,
             _subordination.inverse_real, _fmm.moments_many, _stieltjes.phi_excluding,
             _fmm.phi_many, _subordination.root_f]
    assert all(k.signatures for k in entry), [k.__name__ for k in entry if not k.signatures]


@pytest.mark.parametrize("sigma", [1e-14, 1e-16, 1e-30, 1e-150])
def test_bulk_support_tiny_sigma_is_supp_nu(sigma):
    # the critical point u* = end + O(sigma^2 / width) is below an ulp of the end: the
    # edges are supp nu's to double precision (they were NaN from sigma ~ 1e-16 / width)
    from fastrmt.measures import MarchenkoPastur, Semicircle, Uniform
    for nu, (a, b) in ((Uniform(-1, 1), (-1, 1)), (Semicircle(0, 1), (-2, 2)),
                       (MarchenkoPastur(0.5, 1.0), ((1 - 0.5 ** 0.5) ** 2,
                                                    (1 + 0.5 ** 0.5) ** 2))):
        sup = fp.bulk_support(nu, sigma)
        assert sup.shape == (1, 2) and np.all(np.isfinite(sup))
        np.testing.assert_allclose(sup[0], [a, b], rtol=0, atol=1e-12)
        lo, hi = fp.outlier_threshold(nu, sigma)
        assert lo < a <= sup[0, 0] + 1e-12 and sup[0, 1] - 1e-12 <= b < hi
