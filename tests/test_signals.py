import numpy as np
import pytest

from fastrmt.signals import BASES, Signal, bulk_quantiles, make_signal

from . import reference_operators as refop

LAW_PARAMS = [
    ("uniform", {"a": -0.5, "b": 2.0}),
    ("semicircle", {"center": 1.0, "radius": 3.0}),
    ("marchenko_pastur", {"ratio": 0.3, "scale": 2.0}),
    ("marchenko_pastur", {"ratio": 1.0, "scale": 1.0}),
    ("two_point", {"low": -1.0, "high": 4.0, "weight": 0.3}),
]


@pytest.mark.parametrize("law,params", LAW_PARAMS,
                         ids=[f"{law}-{i}" for i, (law, _) in enumerate(LAW_PARAMS)])
def test_bulk_quantiles_match_scipy(law, params):
    m = 41
    got = bulk_quantiles(m, law, params)
    expected = refop.bulk_quantiles_reference(m, law, params)
    tol = 1e-7 if law == "marchenko_pastur" else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    assert np.all(np.diff(got) >= 0)


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
    with pytest.raises(ValueError, match=r"bulk_params\['ratio'\] must be in \(0, 1\], got 2.0"):
        make_signal(5, bulk="marchenko_pastur", bulk_params={"ratio": 2.0})


def test_semicircle_radius_nonpositive():
    with pytest.raises(ValueError, match=r"bulk_params\['radius'\] must be > 0, got -1.0"):
        make_signal(5, bulk="semicircle", bulk_params={"radius": -1.0})


def test_two_point_weight_out_of_range():
    with pytest.raises(ValueError, match=r"bulk_params\['weight'\] must be in \[0, 1\], got 1.5"):
        make_signal(5, bulk="two_point", bulk_params={"weight": 1.5})


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
