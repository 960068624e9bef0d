import numpy as np
import pytest

from fastrmt.measures import Atoms, MarchenkoPastur, Mixture, Semicircle, TwoPoint, Uniform
from fastrmt.signals import BASES, Signal, _bulk_params, bulk_law, bulk_quantiles, make_signal

from . import reference_operators as refop

LAW_PARAMS = [
    ("uniform", {"a": -0.5, "b": 2.0}),
    ("semicircle", {"center": 1.0, "variance": 2.25}),
    ("marchenko_pastur", {"ratio": 0.3, "scale": 2.0}),
    ("marchenko_pastur", {"ratio": 1.0, "scale": 1.0}),
    ("marchenko_pastur", {"ratio": 2.5, "scale": 0.5}),
    ("two_point", {"a": -1.0, "b": 4.0, "p": 0.7}),
    ("two_point", {"a": 4.0, "b": -1.0, "p": 0.3}),
]


@pytest.mark.parametrize("law,params", LAW_PARAMS,
                         ids=[f"{law}-{i}" for i, (law, _) in enumerate(LAW_PARAMS)])
def test_bulk_quantiles_match_scipy(law, params):
    m = 41
    got = bulk_quantiles(m, law, params)
    expected = refop.bulk_quantiles_reference(m, law, params)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert np.all(np.diff(got) >= 0)
    nu = bulk_law(law, params)
    np.testing.assert_array_equal(got, nu.quantile((np.arange(m) + 0.5) / m))
    s = make_signal(m, bulk=law, bulk_params=params)
    assert s.law.__class__ is nu.__class__
    np.testing.assert_array_equal(s.bulk_eigenvalues, got)


def test_shortcuts_are_the_measures():
    assert isinstance(bulk_law("uniform"), Uniform)
    sc = bulk_law("semicircle", {"center": 1.0, "variance": 4.0})
    assert isinstance(sc, Semicircle) and (sc.center, sc.variance()) == (1.0, 4.0)
    assert bulk_law("semicircle").support() == [(-1.0, 1.0)]   # default: radius 1
    mp = bulk_law("marchenko_pastur", {"ratio": 2.0, "scale": 3.0})
    assert isinstance(mp, MarchenkoPastur) and (mp.ratio, mp.scale) == (2.0, 3.0)
    tp = bulk_law("two_point", {"a": 2.0, "b": 5.0, "p": 0.25})
    assert isinstance(tp, TwoPoint) and (tp.a, tp.b, tp.p) == (2.0, 5.0, 0.25)
    for params, atom in [({"a": 2.0, "b": 2.0}, 2.0), ({"a": 2.0, "b": 5.0, "p": 1.0}, 2.0),
                         ({"a": 2.0, "b": 5.0, "p": 0.0}, 5.0)]:
        law = bulk_law("two_point", params)
        assert isinstance(law, Atoms) and law.support() == [(atom, atom)]
        np.testing.assert_array_equal(bulk_quantiles(3, "two_point", params), [atom] * 3)
    nu = Mixture([(1.0, Uniform(0.0, 1.0)), (1.0, Atoms([3.0]))])
    assert bulk_law(nu) is nu
    np.testing.assert_allclose(bulk_quantiles(4, nu), [0.25, 0.75, 3.0, 3.0], rtol=1e-15)


def test_measure_bulk():
    nu = MarchenkoPastur(4.0, 1.0)    # mass 3/4 at 0
    s = make_signal(9, bulk=nu, spikes=[20.0], seed=2)
    assert s.law is nu and s.bulk == "measure" and s.bulk_params == {}
    np.testing.assert_array_equal(s.bulk_eigenvalues[:6], 0.0)
    np.testing.assert_array_equal(s.bulk_eigenvalues, nu.quantile((np.arange(8) + 0.5) / 8))
    assert s.bulk_eigenvalues[6] > 1.0


def test_array_bulk_law_is_atoms():
    s = make_signal(4, bulk=[3.0, -1.0, 2.0], spikes=[9.0])
    assert isinstance(s.law, Atoms)
    np.testing.assert_array_equal(s.law.values, [-1.0, 2.0, 3.0])
    assert make_signal(1, bulk=[], spikes=[1.0]).law is None


def test_bulk_defaults_and_empty():
    np.testing.assert_allclose(bulk_quantiles(4), [-0.75, -0.25, 0.25, 0.75])
    assert bulk_quantiles(0, "semicircle").shape == (0,)


def test_spectrum_composition():
    s = make_signal(10, bulk="uniform", bulk_params={"a": 0.0, "b": 1.0},
                    spikes=[5.0, -3.0], seed=1)
    assert isinstance(s, Signal)
    np.testing.assert_array_equal(s.bulk_eigenvalues, bulk_quantiles(8, "uniform",
                                                                     {"a": 0.0, "b": 1.0}))
    np.testing.assert_array_equal(s.spikes, [5.0, -3.0])
    np.testing.assert_array_equal(s.eigenvalues[:8], s.bulk_eigenvalues)
    np.testing.assert_array_equal(s.eigenvalues[8:], [5.0, -3.0])
    np.testing.assert_array_equal(s.spike_indices, [8, 9])
    assert s.basis == "diagonal" and s.bulk == "uniform"
    assert s.bulk_params == {"a": 0.0, "b": 1.0}
    assert not s.eigenvalues.flags.writeable
    np.testing.assert_array_equal(s.to_dense(), np.diag(s.eigenvalues))


def test_custom_bulk_kept_in_order():
    vals = [3.0, -1.0, 2.0]
    s = make_signal(4, bulk=vals, spikes=[10.0])
    np.testing.assert_array_equal(s.eigenvalues, [3.0, -1.0, 2.0, 10.0])
    assert s.bulk == "custom"


@pytest.mark.parametrize("n", [1, 37, 64])
@pytest.mark.parametrize("basis", ["haar", "fast"])
def test_basis_orthogonal(basis, n):
    s = make_signal(n, basis=basis, seed=3)
    q = s.basis_apply(np.eye(n))
    np.testing.assert_allclose(q.T @ q, np.eye(n), atol=1e-13)
    np.testing.assert_allclose(s.basis_apply(q, transpose=True), np.eye(n), atol=1e-13)


def test_haar_matches_reference():
    n = 12
    s = make_signal(n, basis="haar", seed=8)
    np.testing.assert_allclose(s.basis_apply(np.eye(n)), refop.haar_reference(n, s.key),
                               atol=1e-12)


def test_fast_matches_reference():
    n = 21
    s = make_signal(n, basis="fast", seed=8)
    np.testing.assert_allclose(s.basis_apply(np.eye(n)),
                               refop.fast_basis_reference(n, s.key), atol=1e-13)


def test_fast_basis_is_delocalized():
    n = 4096
    s = make_signal(n, basis="fast", seed=2, spikes=[1.0, 2.0])
    u = s.spike_vectors()
    # Gaussian-like entries of size 1/sqrt(n): max over 8192 entries ~ 4.3/sqrt(n).
    assert np.abs(u).max() < 6.0 / np.sqrt(n)


@pytest.mark.parametrize("basis", BASES)
def test_apply_matches_dense_and_eigvecs(basis):
    n = 50
    s = make_signal(n, bulk="semicircle", spikes=[4.0, -3.0], basis=basis, seed=5)
    q = s.basis_apply(np.eye(n))
    sd = refop.signal_dense_reference(s.eigenvalues, q)
    np.testing.assert_allclose(s.to_dense(), sd, atol=1e-13)
    v = np.random.default_rng(0).standard_normal((n, 3))
    np.testing.assert_allclose(s.apply(v), sd @ v, atol=1e-12)
    np.testing.assert_allclose(s @ v[:, 0], sd @ v[:, 0], atol=1e-12)
    assert s.apply(v[:, 0]).shape == (n,)
    u = s.spike_vectors()
    assert u.shape == (n, 2)
    np.testing.assert_allclose(sd @ u, u * np.array([4.0, -3.0]), atol=1e-12)
    np.testing.assert_allclose(np.linalg.eigvalsh(sd), np.sort(s.eigenvalues), atol=1e-12)


@pytest.mark.parametrize("basis", ["haar", "fast"])
def test_seed_reproducible_and_thread_independent(basis):
    n = 300
    v = np.random.default_rng(1).standard_normal((n, 4))
    a = make_signal(n, basis=basis, seed=11, n_threads=1).apply(v, n_threads=1)
    b = make_signal(n, basis=basis, seed=11, n_threads=2).apply(v, n_threads=2)
    np.testing.assert_array_equal(a, b)
    c = make_signal(n, basis=basis, seed=12).apply(v)
    assert not np.allclose(a, c)


# --------------------------------------------------------------------------- refused input

def test_spikes_not_1d():
    with pytest.raises(ValueError, match=r"spikes must be 1-D, got shape \(2, 1\)"):
        make_signal(5, spikes=[[1.0], [2.0]])


def test_spikes_nan():
    with pytest.raises(ValueError, match="spikes must contain only finite values"):
        make_signal(5, spikes=[np.nan])


def test_too_many_spikes():
    with pytest.raises(ValueError, match="spikes must hold at most n=2 values, got 3"):
        make_signal(2, spikes=[1.0, 2.0, 3.0])


def test_unknown_basis():
    with pytest.raises(ValueError, match=r"basis must be one of .*got 'hadamard'"):
        make_signal(5, basis="hadamard")


def test_unknown_bulk_law():
    with pytest.raises(ValueError, match=r"bulk must be one of .*got 'cauchy'"):
        make_signal(5, bulk="cauchy")


def test_uniform_bounds_out_of_order():
    with pytest.raises(ValueError, match="needs a < b, got a=1.0, b=0.0"):
        make_signal(5, bulk="uniform", bulk_params={"a": 1.0, "b": 0.0})


def test_mp_ratio_out_of_range():
    with pytest.raises(ValueError, match=r"bulk_params\['ratio'\] must be > 0.0, got -1.0"):
        make_signal(5, bulk="marchenko_pastur", bulk_params={"ratio": -1.0})


def test_mp_scale_out_of_range():
    with pytest.raises(ValueError, match=r"bulk_params\['scale'\] must be > 0.0, got 0.0"):
        make_signal(5, bulk="marchenko_pastur", bulk_params={"scale": 0.0})


def test_semicircle_variance_nonpositive():
    with pytest.raises(ValueError, match=r"bulk_params\['variance'\] must be > 0.0, got -1.0"):
        make_signal(5, bulk="semicircle", bulk_params={"variance": -1.0})


def test_two_point_p_out_of_range():
    with pytest.raises(ValueError, match=r"bulk_params\['p'\] must be <= 1.0, got 1.5"):
        make_signal(5, bulk="two_point", bulk_params={"p": 1.5})


@pytest.mark.parametrize("bulk,key,hint", [
    ("semicircle", "radius", r"takes 'variance' \(= radius\*\*2/4\), as fastrmt.measures.Semicircle"),
    ("two_point", "low", r"takes 'a' \(was 'low'\)"),
    ("two_point", "high", r"'b' \(was 'high'\)"),
    ("two_point", "weight", r"'p', the mass on 'a' \(= 1 - weight\), as fastrmt.measures.TwoPoint"),
])
def test_old_bulk_param_keys_refused(bulk, key, hint):
    with pytest.raises(ValueError, match=rf"bulk_params key '{key}' is not accepted: .*{hint}"):
        make_signal(5, bulk=bulk, bulk_params={key: 1.0})
    with pytest.raises(ValueError, match=rf"bulk_params key '{key}' is not accepted"):
        _bulk_params(bulk, {key: 1.0})


def test_bulk_params_resolved_with_new_keys():
    assert _bulk_params("semicircle", None) == {"center": 0.0, "variance": 0.25}
    assert _bulk_params("two_point", {"p": 0.2}) == {"a": -1.0, "b": 1.0, "p": 0.2}
    assert _bulk_params("marchenko_pastur", {"ratio": 3.0}) == {"ratio": 3.0, "scale": 1.0}


def test_bulk_params_with_measure_bulk():
    with pytest.raises(ValueError, match="bulk_params is only used with a named bulk law, "
                                         "got bulk_params with a Measure bulk"):
        make_signal(5, bulk=Uniform(), bulk_params={"a": 0.0})


def test_bulk_law_wrong_type():
    with pytest.raises(TypeError, match="bulk must be one of .* or a fastrmt.measures.Measure, "
                                        "got list"):
        bulk_law([0.0, 1.0])
    with pytest.raises(ValueError, match=r"bulk must be one of .*got 'cauchy'"):
        bulk_quantiles(3, "cauchy")


def test_unknown_bulk_param_key():
    with pytest.raises(ValueError, match=r"got unknown key\(s\) \['sigma'\]"):
        make_signal(5, bulk="uniform", bulk_params={"sigma": 1.0})


def test_bulk_param_not_a_number():
    with pytest.raises(TypeError, match=r"bulk_params\['a'\] must be a real number"):
        make_signal(5, bulk="uniform", bulk_params={"a": "zero"})


def test_array_bulk_wrong_length():
    with pytest.raises(ValueError, match=r"bulk must be 1-D with n - len\(spikes\) = 4 values, "
                                         r"got shape \(5,\)"):
        make_signal(5, bulk=np.zeros(5), spikes=[1.0])


def test_bulk_params_with_array_bulk():
    with pytest.raises(ValueError, match="bulk_params is only used with a named bulk law"):
        make_signal(2, bulk=[0.0, 1.0], bulk_params={"a": 0.0})


def test_haar_too_big_for_memory():
    with pytest.raises(ValueError, match=r"Haar basis of order 1000000 .* needs .* "
                                         r"use basis='fast'"):
        make_signal(10**6, basis="haar")


def test_apply_wrong_shape():
    s = make_signal(5)
    with pytest.raises(ValueError, match=r"V must have shape \(5,\) or \(5, b\), got \(4, 2\)"):
        s.apply(np.zeros((4, 2)))


def test_eigenvectors_bad_index():
    s = make_signal(5)
    with pytest.raises(ValueError, match=r"indices must be in \[0, 4\], got 7"):
        s.eigenvectors(7)
