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
