import math

import numpy as np
import pytest

from fastrmt.measures import (Atoms, MarchenkoPastur, Measure, Mixture, Semicircle, TwoPoint,
                              Uniform, as_measure)

from . import reference_freeprob as ref

CONTINUOUS = [
    Uniform(-1.0, 2.0),
    Semicircle(0.5, 2.0),
    MarchenkoPastur(0.3, 2.0),
    MarchenkoPastur(2.5, 0.7),
    Mixture([(0.3, Uniform(-3, -2)), (0.7, Semicircle(2.0, 0.25))]),
]
IDS = ["uniform", "semicircle", "mp<1", "mp>1", "mixture"]


def _outside_points(nu):
    sup = nu.support()
    pts = [sup[0][0] - 0.3, sup[0][0] - 7.0, sup[-1][1] + 0.2, sup[-1][1] + 50.0]
    for (a, b), (c, d) in zip(sup[:-1], sup[1:]):
        pts += [b + 0.1 * (c - b), 0.5 * (b + c), c - 0.01 * (c - b)]
    return pts


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("nu", CONTINUOUS, ids=IDS)
def test_real_moments_match_quadrature(nu):
    for u in _outside_points(nu):
        got = np.array([m.item() for m in nu.moments(u)])
        expected = np.array(ref.moments_ref(u, nu))
        np.testing.assert_allclose(got, expected, rtol=1e-11, atol=0)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("nu", CONTINUOUS, ids=IDS)
def test_complex_g_matches_quadrature(nu):
    z = np.array([0.3 + 0.1j, 1 + 2j, -2 + 0.05j, 3 - 0.5j, 0.01 + 0.02j])
    got = nu.g(z)
    expected = np.array([ref.g_ref(zz, nu) for zz in z])
    np.testing.assert_allclose(got, expected, rtol=1e-11)
    assert np.all(np.sign(got.imag) == -np.sign(z.imag))


@pytest.mark.parametrize("nu", CONTINUOUS, ids=IDS)
def test_nan_inside_support(nu):
    for lo, hi in nu.support():
        m = nu.moments(np.array([0.5 * (lo + hi), lo, hi]))
        assert np.all(np.isnan(np.array(m)))


def test_atoms_sums_and_hits():
    nu = Atoms([2.0, -1.0, 0.5, 2.0], [1.0, 2.0, 1.0, 4.0])
    np.testing.assert_array_equal(nu.values, [-1.0, 0.5, 2.0])
    np.testing.assert_allclose(nu.weights, [0.25, 0.125, 0.625])
    u = np.array([-3.0, 0.0, 1.2, 5.0])
    m1, m2, m3 = nu.moments(u)
    d = u[:, None] - nu.values
    np.testing.assert_allclose(m1, (nu.weights / d).sum(1), rtol=1e-14)
    np.testing.assert_allclose(m2, (nu.weights / d ** 2).sum(1), rtol=1e-14)
    np.testing.assert_allclose(m3, (nu.weights / d ** 3).sum(1), rtol=1e-14)
    assert np.all(np.isnan(np.array(nu.moments([0.5]))))
    assert nu.support() == [(-1.0, -1.0), (0.5, 0.5), (2.0, 2.0)]
    np.testing.assert_allclose(nu.g(np.array([1 + 1j])), [(nu.weights / (1 + 1j - nu.values)).sum()])


def test_atoms_many_lanes_match_numpy():
    rng = np.random.default_rng(3)
    v = rng.standard_normal(1003)            # not a multiple of the lane count
    nu = Atoms(v)
    u = np.array([-9.0, 4.5, 11.0])
    m1, m2, _ = nu.moments(u)
    np.testing.assert_allclose(m1, (1 / (u[:, None] - v)).mean(1), rtol=1e-13)
    np.testing.assert_allclose(m2, (1 / (u[:, None] - v) ** 2).mean(1), rtol=1e-13)


def test_two_point_and_mixture_support():
    tp = TwoPoint(1.0, -2.0, 0.25)
    assert isinstance(tp, Atoms)
    np.testing.assert_allclose(tp.weights, [0.75, 0.25])
    assert tp.mean() == pytest.approx(0.25 * 1.0 + 0.75 * -2.0)
    mix = Mixture([(1, Uniform(0, 2)), (1, Uniform(1, 3)), (2, Atoms([5.0])),
                   (1, Semicircle(-4, 0.25))])
    assert mix.support() == [(-5.0, -3.0), (0.0, 3.0), (5.0, 5.0)]
    d = mix.data()
    np.testing.assert_allclose(d.comp_mass, [0.2, 0.4, 0.4])
    mp = MarchenkoPastur(4.0, 1.0)
    assert mp.support() == [(0.0, 0.0), (1.0, 9.0)]
    np.testing.assert_allclose(mp.data().comp_mass, [0.75, 0.25])


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("nu", CONTINUOUS, ids=IDS)
def test_mean_and_variance(nu):
    mean = np.real(ref.integrate_against(nu, lambda x: x))
    var = np.real(ref.integrate_against(nu, lambda x: (x - mean) ** 2))
    assert nu.mean() == pytest.approx(mean, rel=1e-10, abs=1e-12)
    assert nu.variance() == pytest.approx(var, rel=1e-10)


def test_semicircle_radius_and_mp_mean():
    assert Semicircle(1.0, 4.0).radius == 4.0
    assert Semicircle(1.0, 4.0).support() == [(-3.0, 5.0)]
    lo, hi = MarchenkoPastur(0.25, 2.0).support()[0]
    assert (lo, hi) == pytest.approx((0.5, 4.5))
    assert math.isclose(MarchenkoPastur(0.25, 2.0).mean(), 2.0)


# --- distribution function, density, quantile ------------------------------------------
WITH_ATOMS = [
    Atoms([2.0, -1.0, 0.5], [1.0, 2.0, 5.0]),
    MarchenkoPastur(2.5, 0.7),
    Mixture([(0.2, Atoms([-4.0, 1.5])), (0.5, MarchenkoPastur(2.0)), (0.3, Semicircle(-2.5, 0.1))]),
]
ALL = CONTINUOUS + WITH_ATOMS
ALL_IDS = IDS + ["atoms", "mp-atom", "mixture-atoms"]


def _grid(nu, k=41):
    sup = nu.support()
    lo, hi = sup[0][0], sup[-1][1]
    w = hi - lo
    pts = np.linspace(lo - 0.1 * w, hi + 0.1 * w, k)
    for a, b in sup:
        pts = np.concatenate([pts, [a, b, a + 1e-3 * w, b - 1e-3 * w]])
    return pts


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("nu", ALL, ids=ALL_IDS)
def test_cdf_matches_quadrature(nu):
    x = _grid(nu)
    got = nu.cdf(x)
    expected = np.array([ref.cdf_ref(v, nu) for v in x])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-13)
    order = np.argsort(x)
    assert np.all(np.diff(got[order]) >= 0)


@pytest.mark.parametrize("nu", ALL, ids=ALL_IDS)
def test_pdf_matches_reference(nu):
    x = _grid(nu)
    got = nu.pdf(x)
    expected = np.array([ref.pdf_ref(v, nu) for v in x])
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("nu", ALL, ids=ALL_IDS)
def test_quantile_matches_brentq(nu):
    q = np.array([1e-6, 0.013, 0.1, 0.25, 0.37, 0.5, 0.61, 0.77, 0.9, 0.99, 1 - 1e-6])
    got = nu.quantile(q)
    expected = np.array([ref.quantile_ref(v, nu) for v in q])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10 * nu.data().scale)
    assert np.all(np.diff(got) >= 0)


@pytest.mark.parametrize("nu", ALL, ids=ALL_IDS)
def test_quantile_is_generalised_inverse(nu):
    q = np.linspace(0.0, 1.0, 1001)
    x = nu.quantile(q)
    # F(Q(q)) >= q and F(x) < q just left of Q(q): Q(q) = inf{x : F(x) >= q}
    assert np.all(nu.cdf(x) >= q - 1e-14)
    left = x - 1e-9 * nu.data().scale
    assert np.all(nu.cdf(left)[q > 0] < q[q > 0] + 1e-14)
    sup = nu.support()
    assert x[0] == sup[0][0] and x[-1] == sup[-1][1]


@pytest.mark.parametrize("nu", CONTINUOUS, ids=IDS)
def test_quantile_cdf_round_trips(nu):
    q = np.linspace(0.001, 0.999, 301)
    x = nu.quantile(q)
    cont = nu.pdf(x) > 0             # off the atom of mp>1
    assert cont.sum() > 100
    np.testing.assert_allclose(nu.cdf(x[cont]), q[cont], rtol=0, atol=1e-14)
    x = x[cont]
    np.testing.assert_allclose(nu.quantile(nu.cdf(x)), x, rtol=0, atol=1e-11 * nu.data().scale)


def test_closed_forms():
    u = Uniform(-1.0, 3.0)
    q = np.array([0.0, 0.25, 0.5, 1.0])
    np.testing.assert_array_equal(u.quantile(q), [-1.0, 0.0, 1.0, 3.0])
    np.testing.assert_array_equal(u.cdf([-2.0, 0.0, 3.0, 4.0]), [0.0, 0.25, 1.0, 1.0])
    np.testing.assert_array_equal(u.pdf([-2.0, 0.0, 4.0]), [0.0, 0.25, 0.0])
    sc = Semicircle(1.5, 4.0)   # radius 4
    assert float(sc.quantile(0.5)) == pytest.approx(1.5, abs=1e-15)
    assert float(sc.cdf(1.5)) == 0.5
    q = np.linspace(0.0, 1.0, 51)
    np.testing.assert_allclose(sc.quantile(q) + sc.quantile(1.0 - q), 3.0, rtol=0, atol=1e-13)
    np.testing.assert_allclose(sc.pdf(1.5), 2.0 / (math.pi * 4.0), rtol=1e-15)
    # the mean is the integral of the quantile function (midpoint rule)
    m = 200_000
    levels = (np.arange(m) + 0.5) / m
    for mp in (MarchenkoPastur(0.3, 2.0), MarchenkoPastur(1.0, 1.0), MarchenkoPastur(2.5, 0.7)):
        assert float(np.mean(mp.quantile(levels))) == pytest.approx(mp.mean(), rel=1e-7)


def test_atoms_jumps_and_gaps():
    tp = TwoPoint(1.0, -2.0, 0.25)           # 0.75 on -2, 0.25 on 1
    np.testing.assert_array_equal(tp.quantile([0.0, 0.5, 0.75, 0.7500001, 1.0]),
                                  [-2.0, -2.0, -2.0, 1.0, 1.0])
    np.testing.assert_array_equal(tp.cdf([-2.0 - 1e-12, -2.0, 0.9, 1.0]), [0.0, 0.75, 0.75, 1.0])
    np.testing.assert_array_equal(tp.pdf([-2.0, 0.0, 1.0]), [0.0, 0.0, 0.0])
    mp = MarchenkoPastur(4.0, 1.0)            # atom 0.75 at 0, continuous on [1, 9]
    np.testing.assert_array_equal(mp.quantile([0.0, 0.3, 0.75]), [0.0, 0.0, 0.0])
    assert float(mp.quantile(0.75 + 1e-12)) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_array_equal(mp.cdf([-1e-300, 0.0, 0.5]), [0.0, 0.75, 0.75])
    assert float(mp.pdf(0.0)) == 0.0
    mix = Mixture([(0.5, Atoms([0.0])), (0.5, Uniform(1.0, 2.0))])
    assert float(mix.quantile(0.5)) == 0.0     # the atom: F(0) = 0.5 >= 0.5
    assert float(mix.quantile(0.75)) == pytest.approx(1.5, abs=1e-15)
    assert float(mix.quantile(0.5 + 1e-9)) == pytest.approx(1.0, abs=1e-8)
    np.testing.assert_array_equal(mix.cdf([-1.0, 0.0, 0.5, 1.0]), [0.0, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(mix.pdf([0.0, 1.5]), [0.0, 0.5])


def test_shapes_kept():
    nu = MarchenkoPastur(0.5)
    assert nu.quantile(0.5).shape == ()
    assert nu.cdf(1.0).shape == ()
    q = np.full((3, 4), 0.3)
    for f in (nu.quantile, nu.cdf, nu.pdf, Atoms([1.0]).quantile, Atoms([1.0]).pdf,
              Mixture([(1, nu), (1, Uniform())]).quantile):
        assert f(q).shape == (3, 4)
    assert Uniform().quantile(np.empty((0, 2))).shape == (0, 2)


@pytest.mark.parametrize("method", ["cdf", "pdf"])
def test_refuse_bad_x(method):
    f = getattr(Semicircle(), method)
    with pytest.raises(TypeError, match="x must be a number or array-like"):
        f("1.0")
    with pytest.raises(TypeError, match="x must be real"):
        f(np.array([1.0 + 1j]))
    with pytest.raises(ValueError, match="x must contain only finite values"):
        f([0.0, np.inf])


@pytest.mark.parametrize("nu", [Uniform(), Semicircle(), MarchenkoPastur(2.0), Atoms([1.0]),
                                Mixture([(1, Uniform())])], ids=lambda nu: type(nu).__name__)
def test_refuse_bad_q(nu):
    with pytest.raises(ValueError, match=r"q must be in \[0, 1\], got values in \[0.2, 1.5\]"):
        nu.quantile([0.2, 1.5])
    with pytest.raises(ValueError, match=r"q must be in \[0, 1\]"):
        nu.quantile(-1e-300)
    with pytest.raises(ValueError, match="q must contain only finite values"):
        nu.quantile(np.nan)
    with pytest.raises(TypeError, match="q must be a number or array-like"):
        nu.quantile(None)


# --- refused inputs ------------------------------------------------------------------
def test_refuse_empty_atoms():
    with pytest.raises(ValueError, match="values must contain at least one atom"):
        Atoms([])


def test_refuse_nan_atoms():
    with pytest.raises(ValueError, match="values must contain only finite values"):
        Atoms([0.0, np.nan])


def test_refuse_2d_atoms():
    with pytest.raises(ValueError, match="values must be 1-D"):
        Atoms(np.zeros((2, 2)))


def test_refuse_string_atoms():
    with pytest.raises(TypeError, match="values must be array-like"):
        Atoms("abc")


def test_refuse_negative_weights():
    with pytest.raises(ValueError, match="weights must be >= 0"):
        Atoms([0.0, 1.0], [1.0, -0.5])


def test_refuse_zero_weights():
    with pytest.raises(ValueError, match="weights must have a positive sum"):
        Atoms([0.0, 1.0], [0.0, 0.0])


def test_refuse_weight_shape():
    with pytest.raises(ValueError, match="weights must have the shape of values"):
        Atoms([0.0, 1.0], [1.0])


def test_refuse_two_point_equal():
    with pytest.raises(ValueError, match="a and b must differ"):
        TwoPoint(1.0, 1.0, 0.5)


def test_refuse_two_point_p():
    with pytest.raises(ValueError, match="p must be < 1.0"):
        TwoPoint(0.0, 1.0, 1.0)


def test_refuse_uniform_order():
    with pytest.raises(ValueError, match="b must be > a"):
        Uniform(1.0, 1.0)


def test_refuse_semicircle_variance():
    with pytest.raises(ValueError, match="variance must be > 0"):
        Semicircle(0.0, 0.0)


def test_refuse_mp_ratio():
    with pytest.raises(ValueError, match="ratio must be > 0"):
        MarchenkoPastur(-1.0)


def test_refuse_mp_scale_type():
    with pytest.raises(TypeError, match="scale must be a real number"):
        MarchenkoPastur(0.5, "1")


def test_refuse_mixture_not_measure():
    with pytest.raises(TypeError, match=r"parts\[1\] measure must be a fastrmt.measures.Measure"):
        Mixture([(1.0, Uniform()), (1.0, 3.0)])


def test_refuse_mixture_not_pair():
    with pytest.raises(TypeError, match=r"parts\[0\] must be a \(weight, measure\) pair"):
        Mixture([Uniform()])


def test_refuse_mixture_empty():
    with pytest.raises(ValueError, match="at least one"):
        Mixture([])


def test_refuse_mixture_weights():
    with pytest.raises(ValueError, match="positive sum"):
        Mixture([(0.0, Uniform())])


def test_refuse_non_measure():
    with pytest.raises(TypeError, match="nu must be a fastrmt.measures.Measure"):
        as_measure("nu", [0.0, 1.0])
    assert isinstance(as_measure("nu", Uniform()), Measure)


def test_refuse_complex_on_axis():
    with pytest.raises(ValueError, match="z must be off the real axis"):
        Uniform().g(np.array([3.0 + 0j]))


# --- extreme parameters (issue 11) ----------------------------------------------------

def test_atoms_huge_weights_are_normalised_without_overflow():
    from fastrmt.freeprob import bulk_support

    nu = Atoms([0.0, 1.0], [1e308, 1e308])
    np.testing.assert_array_equal(nu.weights, [0.5, 0.5])
    edges = bulk_support(nu, 1.0)
    assert edges.shape[1] == 2 and np.isfinite(edges).all()
    np.testing.assert_allclose(Atoms([0.0, 1.0], [1e308, 5e307]).weights, [2 / 3, 1 / 3])


def test_mixture_huge_weights_are_normalised_without_overflow():
    from fastrmt.measures import Mixture, Uniform

    m = Mixture([(1e308, Uniform()), (1e308, Atoms([3.0]))])
    assert m.weights == [0.5, 0.5]


@pytest.mark.parametrize("a,b", [(-1e300, 1e300), (0.0, 1.7e308), (-1e151, 0.0)])
def test_uniform_wider_than_the_limit_is_refused(a, b):
    from fastrmt.measures import Uniform

    with pytest.raises(ValueError, match=r"b - a must be <= 1e\+150.*got a="):
        Uniform(a, b)


def test_uniform_at_the_width_limit_has_finite_support():
    from fastrmt.freeprob import bulk_support
    from fastrmt.measures import Uniform

    edges = bulk_support(Uniform(-0.5e150, 0.5e150), 1e149)
    assert np.isfinite(edges).all() and edges[0, 1] > 0.5e150
