"""Benchmarks of the Phi toolkit against the NumPy/SciPy code a user would write.

Run: ``python -m pytest benchmarks/bench_freeprob.py --benchmark-only``.
Sizes as in the issue: Phi at 10^4 points with 10^5 atoms (vs chunked NumPy
broadcasting), Phi^{-1} for 10^3 outliers with 10^5 atoms (vs a scipy.optimize.brentq
loop on the same brackets and tolerance), density on a 10^4-point grid with 10^5 atoms.
The ratios are computed from the stored means of the same run (see the report).
"""
import numpy as np
import pytest
from scipy import optimize

from fastrmt import freeprob as fp
from fastrmt.measures import Atoms

from .conftest import bench_size

N_ATOMS = bench_size(100_000)
SIGMA = 1.0


@pytest.fixture(scope="module")
def nu():
    return Atoms(np.random.default_rng(0).standard_normal(N_ATOMS))


@pytest.fixture(scope="module")
def warm(nu):
    fp._warmup()
    fp.density(np.linspace(-1, 1, 50), nu, SIGMA)
    return True


def _phi_numpy(u, atoms, weights, sigma, chunk=32):
    out = np.empty(u.size)
    for i in range(0, u.size, chunk):
        d = u[i:i + chunk, None] - atoms[None, :]
        out[i:i + chunk] = u[i:i + chunk] + sigma ** 2 * ((1.0 / d) @ weights)
    return out


@pytest.fixture(scope="module")
def nu_gap():
    """10^5 atoms in two clusters, [-3, -1] and [1, 3]: a gap for the "gap" regime."""
    x = np.random.default_rng(1).uniform(1.0, 3.0, N_ATOMS)
    x[::2] *= -1.0
    return Atoms(x)


def _phi_points(regime, nu, nu_gap):
    """(points, measure) of each regime: far from supp nu (the multipole shortcut
    applies), near it (within 0.5 of the extreme atoms, both sides), inside a gap."""
    if regime == "far":
        return np.linspace(6.0, 20.0, 10_000), nu
    if regime == "near":
        lo, hi = float(nu.values.min()), float(nu.values.max())
        d = np.linspace(1e-3, 0.5, 5_000)
        return np.concatenate([lo - d[::-1], hi + d]), nu
    x = nu_gap.values
    a, b = float(x[x < 0].max()), float(x[x > 0].min())
    return np.linspace(a + 1e-3, b - 1e-3, 10_000), nu_gap


@pytest.mark.parametrize("regime", ["far", "near", "gap"])
@pytest.mark.parametrize("impl", ["numpy", "fastrmt", "fastrmt-1thread"])
def test_phi_10k_points_100k_atoms(benchmark, nu, nu_gap, warm, impl, regime):
    benchmark.group = f"phi 10^4 points, 10^5 atoms, {regime}"
    u, meas = _phi_points(regime, nu, nu_gap)
    fp.phi(u[:10], meas, SIGMA)             # the measure's tables, outside the timing
    if impl == "numpy":
        res = benchmark.pedantic(_phi_numpy, args=(u, meas.values, meas.weights, SIGMA),
                                 rounds=2, iterations=1, warmup_rounds=0)
    else:
        kw = {"n_threads": 1} if impl.endswith("1thread") else {}
        res = benchmark.pedantic(fp.phi, args=(u, meas, SIGMA), kwargs=kw, rounds=5,
                                 iterations=1, warmup_rounds=1)
        ref = _phi_numpy(u[::97], meas.values, meas.weights, SIGMA)
        err = float(np.max(np.abs(res[::97] - ref) / np.abs(ref)))
        benchmark.extra_info["max_rel_err_vs_numpy"] = err
        assert err < 1e-9
    assert res.shape == u.shape


def _inverse_brentq(lams, nu, sigma, brackets):
    atoms, w = nu.values, nu.weights
    s2 = sigma ** 2
    out = np.empty(lams.size)
    for i, (lam, (a, b)) in enumerate(zip(lams, brackets)):
        out[i] = optimize.brentq(lambda u: u + s2 * np.sum(w / (u - atoms)) - lam, a, b,
                                 xtol=1e-12, rtol=1e-12)
    return out


@pytest.mark.parametrize("impl", ["scipy-brentq", "fastrmt", "fastrmt-1thread"])
def test_phi_inverse_1k_outliers_100k_atoms(benchmark, nu, warm, impl):
    sup = fp.bulk_support(nu, SIGMA)
    crit = fp.critical_points(nu, SIGMA)
    right = np.linspace(sup[-1, 1] + 1e-3, sup[-1, 1] + 5.0, 500)
    left = np.linspace(sup[0, 0] - 5.0, sup[0, 0] - 1e-3, 500)
    lams = np.concatenate([left, right])
    if impl.startswith("fastrmt"):
        # a fresh measure each round: nothing cached (critical points included)
        kw = {"n_threads": 1} if impl.endswith("1thread") else {}
        res = benchmark.pedantic(fp.phi_inverse,
                                 setup=lambda: ((lams, Atoms(nu.values), SIGMA), kw),
                                 rounds=3, iterations=1, warmup_rounds=1)
    else:
        # the user's brackets: [lam, u_L] left of the bulk, [u_R, lam] right of it
        brackets = [(lam, crit[0, 0]) if lam < 0 else (crit[-1, 1], lam) for lam in lams]
        res = benchmark.pedantic(_inverse_brentq, args=(lams, nu, SIGMA, brackets),
                                 rounds=1, iterations=1, warmup_rounds=0)
    np.testing.assert_allclose(fp.phi(res, nu, SIGMA), lams, rtol=1e-11)


def test_density_10k_grid_100k_atoms(benchmark, nu, warm):
    sup = fp.bulk_support(nu, SIGMA)
    x = np.linspace(sup[0, 0] - 0.1, sup[-1, 1] + 0.1, 10_000)
    res = benchmark.pedantic(fp.density, setup=lambda: ((x, Atoms(nu.values), SIGMA), {}),
                             rounds=2, iterations=1, warmup_rounds=0)
    assert abs(np.sum(res) * (x[1] - x[0]) - 1.0) < 1e-2


def test_bulk_support_100k_atoms(benchmark, nu, warm):
    res = benchmark.pedantic(fp.bulk_support, setup=lambda: ((Atoms(nu.values), SIGMA), {}),
                             rounds=3, iterations=1, warmup_rounds=1)
    assert res.shape[1] == 2


def test_finite_n_predict_1k_spikes_100k_atoms(benchmark, warm):
    s = np.random.default_rng(1).standard_normal(N_ATOMS)
    s[:1000] = np.linspace(5.0, 100.0, 1000)    # well separated: each one an outlier
    nu_n = Atoms(s)
    res = benchmark.pedantic(fp.predict_outliers, args=(s[:1000], nu_n, SIGMA),
                             kwargs={"version": "finite-n"}, rounds=3, iterations=1,
                             warmup_rounds=1)
    assert res.is_outlier.all()


def _locations_by_grid(nu, sigma, n, k, points=10_000):
    """The route a user would take: the density on a grid over supp mu, a cumulative
    trapezoid from the right, and interpolation at the targets (j - 1/2)/n."""
    sup = fp.bulk_support(nu, sigma)
    x = np.linspace(sup[0, 0], sup[-1, 1], points)
    rho = fp.density(x, nu, sigma)
    left = np.concatenate([[0.0], np.cumsum(0.5 * (rho[1:] + rho[:-1]) * np.diff(x))])
    tail = left[-1] - left                 # tail[i] ~ mu((x_i, inf)), decreasing
    targets = (np.arange(1, k + 1) - 0.5) / n
    return np.interp(targets, tail[::-1], x[::-1])


@pytest.mark.parametrize("k", [100, 300])
@pytest.mark.parametrize("impl", ["density-grid", "fastrmt", "fastrmt-1thread"])
def test_classical_locations_100k_atoms(benchmark, warm, impl, k):
    """Top-k classical locations of nu_n (+) semicircle for 10^5 atoms: a uniform bulk and
    300 spikes in [1.2, 4] (merged with each other and the bulk at this n)."""
    n = N_ATOMS
    atoms = np.concatenate([np.linspace(-1, 1, n - 300), np.linspace(1.2, 4.0, 300)])
    if impl == "density-grid":
        res = benchmark.pedantic(_locations_by_grid, setup=lambda: ((Atoms(atoms), SIGMA, n, k),
                                                                    {}),
                                 rounds=1, iterations=1, warmup_rounds=0)
    else:
        kw = {"n_threads": 1} if impl.endswith("1thread") else {}
        res = benchmark.pedantic(fp.classical_locations,
                                 setup=lambda: ((Atoms(atoms), SIGMA, n, k), kw),
                                 rounds=3, iterations=1, warmup_rounds=1)
    exact = fp.classical_locations(Atoms(atoms), SIGMA, n, k)
    benchmark.extra_info["max_abs_error_vs_exact"] = float(np.max(np.abs(res - exact)))
    assert res.shape == (k,)
