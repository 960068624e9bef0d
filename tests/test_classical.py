"""The prediction engine: classical locations of nu (+) semicircle, component counts,
tail mass and fluctuation scales, against closed forms and slow twins."""
import math

import numpy as np
import pytest
from scipy import integrate, optimize

from fastrmt import freeprob as fp
from fastrmt.measures import Atoms, MarchenkoPastur, Mixture, Semicircle, Uniform

from .reference_freeprob import classical_locations_roots

RTOL = 1e-10


def semicircle_quantiles(var, n, k, center=0.0, side="right"):
    """Closed form: tail mass of the semicircle at center + 2 sqrt(var) cos(th) is
    (th - sin th cos th) / pi."""
    out = []
    for j in range(1, k + 1):
        q = (j - 0.5) / n
        th = optimize.brentq(lambda t: (t - math.sin(t) * math.cos(t)) / math.pi - q, 0.0,
                             math.pi, xtol=1e-15)
        x = 2.0 * math.sqrt(var) * math.cos(th)
        out.append(center + (x if side == "right" else -x))
    return np.array(out)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("var,sigma", [(1.0, 1.0), (0.25, 0.5), (2.0, 0.1)])
def test_semicircle_nu_gives_semicircle_quantiles(var, sigma, side):
    # semicircle(var) (+) semicircle(sigma**2) = semicircle(var + sigma**2)
    n = 500
    got = fp.classical_locations(Semicircle(0.3, var), sigma, n, 40, side=side)
    want = semicircle_quantiles(var + sigma ** 2, n, 40, center=0.3, side=side)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-12)


def test_delta0_all_locations_and_order():
    n = 300
    got = fp.classical_locations(Atoms([0.0]), 2.0, n)
    assert got.shape == (n,)
    assert np.all(np.diff(got) < 0)
    np.testing.assert_allclose(got[:20], semicircle_quantiles(4.0, n, 20), rtol=RTOL)
    left = fp.classical_locations(Atoms([0.0]), 2.0, n, side="left")
    np.testing.assert_allclose(left, got[::-1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sigma", [0.4, 1.0])
def test_against_slow_twin_roots(sigma):
    rng = np.random.default_rng(3)
    atoms = np.sort(np.concatenate([rng.uniform(-1, 1, 4), [2.5, 2.52, 4.0]]))
    n = atoms.size
    w = np.full(n, 1.0 / n)
    want, edges, masses = classical_locations_roots(atoms, w, sigma, n, n)
    got = fp.classical_locations(Atoms(atoms), sigma, n)
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)
    comps = fp.spectrum_components(Atoms(atoms), sigma, n)
    np.testing.assert_allclose(comps[:, :2], edges, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(comps[:, 2], n * masses, atol=1e-7)
    wl, _, _ = classical_locations_roots(atoms, w, sigma, n, 2, side="left")
    np.testing.assert_allclose(fp.classical_locations(Atoms(atoms), sigma, n, 2, side="left"),
                               wl, rtol=1e-8, atol=1e-10)


def test_two_far_atoms():
    # two components of n/2 eigenvalues each; far apart each is a semicircle of variance
    # sigma**2 / 2 up to O(1/L**2) corrections
    n = 400
    nu = Atoms([-20.0, 20.0])
    comps = fp.spectrum_components(nu, 1.0, n)
    assert comps.shape == (2, 3)
    np.testing.assert_allclose(comps[:, 2], [200.0, 200.0], atol=1e-9)
    got = fp.classical_locations(nu, 1.0, n, 200)
    shift = 0.5 / 40.0          # sigma**2 * (1/2) / (20 - (-20)): the other atom's pull
    want = 20.0 + shift + semicircle_quantiles(0.5, 200, 200)
    np.testing.assert_allclose(got, want, atol=2e-3)
    assert got[-1] > comps[1, 0] and got[0] < comps[1, 1]


@pytest.mark.parametrize("m", [2, 5, 17])
def test_equal_spikes_form_one_component(m):
    n = 1000
    bulk = np.linspace(-1, 1, n - m)
    nu = Atoms(np.concatenate([bulk, np.full(m, 4.0)]))
    comps = fp.spectrum_components(nu, 1.0, n)
    assert comps.shape[0] == 2
    np.testing.assert_allclose(comps[:, 2], [n - m, m], atol=1e-8)
    pred = fp.predict_eigenvalues(nu, 1.0, n, m + 2)
    assert np.all(pred.component[:m] == 1) and np.all(pred.component[m:] == 0)
    assert np.all((pred.locations[:m] > comps[1, 0]) & (pred.locations[:m] < comps[1, 1]))


@pytest.mark.parametrize("nu,sigma", [
    (Atoms(np.concatenate([np.linspace(-1, 1, 200), [2.0, 2.001, 3.0, -2.5]])), 0.3),
    (Mixture([(0.5, Uniform(-1, 0)), (0.3, Semicircle(2, 0.1)), (0.2, Atoms([5.0]))]), 0.3),
    (MarchenkoPastur(2.0, 1.0), 0.2),
])
def test_density_integrates_to_component_counts(nu, sigma):
    n = 204
    comps = fp.spectrum_components(nu, sigma, n)
    for a, b, c in comps:
        mass = integrate.quad(lambda x: fp.density(x, nu, sigma), a, b, limit=400)[0]
        assert n * mass == pytest.approx(c, abs=1e-6)
    assert comps[:, 2].sum() == pytest.approx(n, rel=1e-12)


@pytest.mark.parametrize("nu", [Uniform(-1, 1), MarchenkoPastur(0.5, 1.0), MarchenkoPastur(2.0, 1.5),
                                Semicircle(1.0, 0.5)])
def test_tail_mass_matches_integrated_density(nu):
    sigma = 0.5
    sup = fp.bulk_support(nu, sigma)
    for x in np.linspace(sup[0, 0] + 1e-3, sup[-1, 1] - 1e-3, 5):
        num = sum(integrate.quad(lambda y: fp.density(y, nu, sigma), max(a, x), b, limit=200)[0]
                  for a, b in sup if b > x)
        assert fp.tail_mass(x, nu, sigma) == pytest.approx(num, abs=1e-9)
    assert fp.tail_mass(sup[-1, 1] + 1.0, nu, sigma) == 0.0
    assert fp.tail_mass(sup[0, 0] - 1.0, nu, sigma) == pytest.approx(1.0, abs=1e-15)


def test_isolated_spikes_match_second_order_phi():
    # spikes farther apart than sigma/sqrt(n): gamma = Phi_n(s) + O(1/n)
    for n in (2000, 8000):
        sp = np.linspace(2.0, 5.0, 10)
        nu = Atoms(np.concatenate([np.linspace(-1, 1, n - 10), sp]))
        got = fp.classical_locations(nu, 1.0, n, 10)[::-1]
        phin = fp.predict_outliers(sp, nu, 1.0, version="finite-n").location
        assert np.max(np.abs(got - phin)) < 2.0 / n
        pred = fp.predict_eigenvalues(nu, 1.0, n, 10)
        assert set(pred.regime) == {"isolated"}
        dphi = fp.predict_outliers(sp, nu, 1.0, version="finite-n").phi_prime
        np.testing.assert_allclose(pred.scale[::-1], np.sqrt(2 * dphi / n), rtol=1e-12)


def test_close_spikes_one_component_where_second_order_fails():
    # two spikes 1e-4 apart (far closer than sigma/sqrt(n)): the one-spike formula gives
    # Phi_n' << 0 ("absorbed"), the engine puts both eigenvalues near 3.34
    n = 1500
    nu = Atoms(np.concatenate([np.linspace(-1, 1, n - 2), [3.0, 3.0001]]))
    fin = fp.predict_outliers([3.0, 3.0001], nu, 1.0, version="finite-n")
    assert np.all(fin.phi_prime < -1000)
    comps = fp.spectrum_components(nu, 1.0, n)
    assert comps[-1, 2] == pytest.approx(2.0, abs=1e-9)
    g = fp.classical_locations(nu, 1.0, n, 2)
    assert np.all((g > 3.25) & (g < 3.42))
    lim = 3.0 + 1.0 * Uniform(-1, 1).g(3.0)
    assert abs(g.mean() - float(lim)) < 0.01


def test_thread_count_does_not_change_results():
    n = 6000
    nu = Atoms(np.concatenate([np.linspace(-1, 1, n - 30), np.linspace(1.2, 4, 30)]))
    a = fp.classical_locations(nu, 1.0, n, 60, n_threads=1)
    b = fp.classical_locations(nu, 1.0, n, 60, n_threads=2)
    c = fp.classical_locations(nu, 1.0, n, 60, n_threads=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_large_atoms_agree_with_plain_sums():
    # above 4096 atoms far blocks enter through expansions: compare with the same
    # measure split so that the plain-sum path is used (a Mixture of two Atoms halves
    # is flattened to the same atoms, so instead compare with the slow density integral)
    n = 8192
    rng = np.random.default_rng(0)
    atoms = np.concatenate([np.sort(rng.uniform(-1, 1, n - 20)), np.linspace(1.5, 4, 20)])
    nu = Atoms(atoms)
    pred = fp.predict_eigenvalues(nu, 1.0, n, 25)
    for j in (1, 10, 21, 25):
        x = pred.locations[j - 1]
        assert n * fp.tail_mass(x, nu, 1.0) == pytest.approx(j - 0.5, abs=1e-7)
    # and through the component structure of the slow path
    mass_top = integrate.quad(lambda x: fp.density(x, nu, 1.0), pred.locations[0],
                              fp.bulk_support(nu, 1.0)[-1, 1], limit=200)[0]
    assert n * mass_top == pytest.approx(0.5, abs=1e-6)


def test_tracy_widom_width_closed_form():
    assert fp.tracy_widom_width(Atoms([0.0]), 1.0, 1000) == pytest.approx(1000 ** (-2 / 3))
    assert fp.tracy_widom_width(Atoms([0.0]), 2.0, 1000, side="left") == pytest.approx(
        2 * 1000 ** (-2 / 3))
    # general nu: sigma**(4/3) (Phi''(u*)/2)**(1/3) n**(-2/3), Phi'' by finite differences
    nu, n = MarchenkoPastur(0.5), 1000
    u = fp.critical_points(nu, 1.0)[-1, 1]
    h = 1e-4
    d2 = (fp.phi_prime(u + h, nu, 1.0) - fp.phi_prime(u - h, nu, 1.0)) / (2 * h)
    w = fp.tracy_widom_width(nu, 1.0, n)
    assert w == pytest.approx((d2 / 2) ** (1 / 3) * n ** (-2 / 3), rel=1e-6)
    # the old fixed margin 4 sigma n**(-2/3) is only ~2.5 widths for this bulk
    assert 4 * n ** (-2 / 3) / w == pytest.approx(2.514, abs=0.01)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(nu=[0.0], sigma=1.0, n=10), TypeError, "nu must be"),
    (dict(nu=Atoms([0.0]), sigma=0.0, n=10), ValueError, "sigma"),
    (dict(nu=Atoms([0.0]), sigma=1.0, n=0), ValueError, "n must be >= 1"),
    (dict(nu=Atoms([0.0]), sigma=1.0, n=10.0), TypeError, "n must be an integer"),
    (dict(nu=Atoms([0.0]), sigma=1.0, n=10, k=11), ValueError, "k must be <= 10"),
    (dict(nu=Atoms([0.0]), sigma=1.0, n=10, k=0), ValueError, "k must be >= 1"),
    (dict(nu=Atoms([0.0]), sigma=1.0, n=10, side="top"), ValueError, "side"),
])
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fp.classical_locations(**kwargs)
    with pytest.raises(exc, match=match):
        fp.predict_eigenvalues(**kwargs)


def test_predict_bad_noise_parameters():
    with pytest.raises(TypeError, match="localized"):
        fp.predict_eigenvalues(Atoms([0.0]), 1.0, 10, localized="yes")
    with pytest.raises(ValueError, match="kappa4"):
        fp.predict_eigenvalues(Atoms([0.0]), 1.0, 10, kappa4=-3.0)
    with pytest.raises(ValueError, match="diag_var"):
        fp.predict_eigenvalues(Atoms([0.0]), 1.0, 10, diag_var=-1.0)
