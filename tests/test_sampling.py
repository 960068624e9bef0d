import math

import numpy as np
import pytest
from scipy import stats

import fastrmt
from fastrmt import PackedSymmetric, wigner, wigner_spec
from fastrmt.packed import packed_size

from . import reference as ref

LAWS = [("gaussian", {}), ("rademacher", {}), ("uniform", {}), ("sparse", {"p": 0.3}),
        ("student_t", {"df": 5.0})]


@pytest.mark.parametrize("dist,kw", LAWS, ids=[d for d, _ in LAWS])
def test_matches_pure_python_reference(dist, kw, dtype):
    n = 37
    spec = wigner_spec(n, dist=dist, seed=123, sigma=1.7, **kw)
    expected = ref.wigner_reference(n, spec, dtype)
    got = wigner(n, dist=dist, seed=123, sigma=1.7, dtype=dtype, **kw)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected)
    packed = wigner(n, dist=dist, seed=123, sigma=1.7, dtype=dtype, layout="packed", **kw)
    np.testing.assert_array_equal(packed.data, ref.packed_from_dense(expected))


def test_float32_is_rounded_float64():
    a64 = wigner(200, seed=5)
    a32 = wigner(200, seed=5, dtype=np.float32)
    np.testing.assert_array_equal(a32, a64.astype(np.float32))


def test_symmetric_and_scaled():
    n = 500
    a = wigner(n, seed=1, sigma=2.0)
    np.testing.assert_array_equal(a, a.T)
    off = a[np.triu_indices(n, 1)] * math.sqrt(n)
    assert abs(off.var() - 4.0) < 0.1
    assert abs(off.mean()) < 0.02


@pytest.mark.parametrize("n_threads", [1, 2, -1, None])
@pytest.mark.parametrize("layout", ["full", "packed"])
def test_bit_identical_across_thread_counts(n_threads, layout):
    n = 301  # not a multiple of the tile size
    base = wigner(n, seed=9, layout=layout, n_threads=1, dist="student_t", df=3.5)
    other = wigner(n, seed=9, layout=layout, n_threads=n_threads, dist="student_t", df=3.5)
    if layout == "packed":
        base, other = base.data, other.data
    np.testing.assert_array_equal(base, other)


def test_full_and_packed_hold_same_values(dtype):
    n = 250
    full = wigner(n, seed=3, dtype=dtype)
    packed = wigner(n, seed=3, dtype=dtype, layout="packed")
    np.testing.assert_array_equal(packed.to_dense(), full)
    for i in (0, 17, n - 1):
        np.testing.assert_array_equal(packed.row(i), full[i])


def test_rows_regenerate_alone():
    n = 120
    spec = wigner_spec(n, seed=44)
    full = wigner(n, seed=44)
    for i, j in [(0, 0), (5, 77), (77, 5), (119, 119), (64, 63)]:
        assert spec.entry(i, j) == full[i, j]


def test_seed_forms_and_reproducibility():
    a = wigner(50, seed=7)
    np.testing.assert_array_equal(a, wigner(50, seed=np.random.SeedSequence(7)))
    np.testing.assert_array_equal(a, wigner(50, seed=np.int64(7)))
    assert not np.array_equal(a, wigner(50, seed=8))
    g1, g2 = np.random.default_rng(1), np.random.default_rng(1)
    np.testing.assert_array_equal(wigner(50, seed=g1), wigner(50, seed=g2))
    # a Generator is consumed: the next draw differs
    assert not np.array_equal(wigner(50, seed=g1), wigner(50, seed=np.random.default_rng(1)))
    key = wigner_spec(50, seed=None).key
    assert key.entropy is not None
    np.testing.assert_array_equal(wigner(50, seed=key.to_seed()), wigner(50, seed=key))


def test_out_parameter(dtype):
    n = 64
    out = np.zeros((n, n), dtype=dtype)
    res = wigner(n, seed=2, dtype=dtype, out=out)
    assert res is out
    np.testing.assert_array_equal(out, wigner(n, seed=2, dtype=dtype))
    pk = np.zeros(packed_size(n), dtype=dtype)
    res = wigner(n, seed=2, dtype=dtype, layout="packed", out=pk)
    assert isinstance(res, PackedSymmetric) and res.data is pk
    ps = PackedSymmetric(np.zeros(packed_size(n), dtype=dtype), n)
    assert wigner(n, seed=2, dtype=dtype, layout="packed", out=ps) is ps
    np.testing.assert_array_equal(ps.data, pk)


@pytest.mark.parametrize("diag_var,expected", [(None, 1.0), ("goe", 2.0), (0.5, 0.5), (0.0, 0.0)])
def test_diagonal_convention(diag_var, expected):
    n = 4000
    a = wigner(n, seed=11, diag_var=diag_var, layout="packed")
    d = np.array([a.data[i * n - (i * (i - 1)) // 2] for i in range(n)]) * math.sqrt(n)
    if expected == 0.0:
        assert np.all(d == 0.0)
    else:
        assert abs(d.var() / expected - 1.0) < 0.1


# --- fixed-seed statistical checks of each law -----------------------------------------

def _entries(dist, kw, n=1500, seed=2024):
    a = wigner(n, dist=dist, seed=seed, layout="packed", **kw)
    d = a.data * math.sqrt(n)
    mask = np.ones(d.size, bool)
    offs = np.arange(n) * n - (np.arange(n) * (np.arange(n) - 1)) // 2
    mask[offs] = False
    return d[mask]


@pytest.mark.parametrize("dist,kw", LAWS, ids=[d for d, _ in LAWS])
def test_law_mean_variance(dist, kw):
    x = _entries(dist, kw)
    m = x.size
    assert abs(x.mean()) < 5 / math.sqrt(m)
    tol = 0.02 if dist != "student_t" else 0.06
    assert abs(x.var() - 1.0) < tol


@pytest.mark.parametrize("dist,kw,cdf", [
    ("gaussian", {}, stats.norm.cdf),
    ("uniform", {}, stats.uniform(loc=-math.sqrt(3), scale=2 * math.sqrt(3)).cdf),
    ("student_t", {"df": 5.0}, stats.t(df=5.0, scale=math.sqrt(3 / 5)).cdf),
])
def test_law_ks(dist, kw, cdf):
    x = _entries(dist, kw, n=700)
    res = stats.kstest(x, cdf)
    assert res.pvalue > 1e-4, res


def test_discrete_laws_exact_support():
    x = _entries("rademacher", {}, n=400)
    assert set(np.unique(x).round(12)) == {-1.0, 1.0}
    assert abs((x > 0).mean() - 0.5) < 0.01
    y = _entries("sparse", {"p": 0.2}, n=600)
    vals = np.unique(y.round(12))
    np.testing.assert_allclose(vals, [-1 / math.sqrt(0.2), 0.0, 1 / math.sqrt(0.2)])
    assert abs((y != 0).mean() - 0.2) < 0.01


def test_gaussian_tail_is_sampled():
    # the ziggurat's tail (|x| > 3.654) must appear at the right rate (2 * 1.29e-4)
    x = _entries("gaussian", {}, n=3000)
    rate = np.mean(np.abs(x) > 3.6541528853610088)
    assert abs(rate / (2 * stats.norm.sf(3.6541528853610088)) - 1) < 0.1


@pytest.mark.parametrize("dist,kw", LAWS, ids=[d for d, _ in LAWS])
def test_semicircle_moments(dist, kw):
    n = 1500
    ev = np.linalg.eigvalsh(wigner(n, dist=dist, seed=77, sigma=1.5, **kw))
    s2 = 1.5**2
    # semicircle moments: m2 = s^2, m4 = 2 s^4, m6 = 5 s^6
    for k, c in ((2, 1), (4, 2), (6, 5)):
        assert abs(np.mean(ev**k) / (c * s2 ** (k // 2)) - 1) < 0.05
    assert abs(ev.max() - 3.0) < 0.15 and abs(ev.min() + 3.0) < 0.15


# --- refused inputs: one test each ----------------------------------------------------

@pytest.mark.parametrize("kwargs,exc,match", [
    ({"n": 0}, ValueError, "n must be >= 1, got 0"),
    ({"n": -5}, ValueError, "n must be >= 1, got -5"),
    ({"n": 10.0}, TypeError, "n must be an integer, got 10.0"),
    ({"n": True}, TypeError, "n must be an integer"),
    ({"n": 10, "dist": "cauchy"}, ValueError, "dist must be one of"),
    ({"n": 10, "dist": 3}, TypeError, "dist must be one of"),
    ({"n": 10, "sigma": 0.0}, ValueError, "sigma must be > 0.0, got 0.0"),
    ({"n": 10, "sigma": float("nan")}, ValueError, "sigma must be finite"),
    ({"n": 10, "sigma": "1"}, TypeError, "sigma must be a real number"),
    ({"n": 10, "dist": "sparse"}, ValueError, "needs the dilution probability p"),
    ({"n": 10, "dist": "sparse", "p": 0.0}, ValueError, "p must be > 0.0, got 0.0"),
    ({"n": 10, "dist": "sparse", "p": 1.5}, ValueError, "p must be <= 1.0, got 1.5"),
    ({"n": 10, "p": 0.5}, ValueError, "p is only used with dist='sparse'"),
    ({"n": 10, "dist": "student_t"}, ValueError, "needs the degrees of freedom df"),
    ({"n": 10, "dist": "student_t", "df": 2.0}, ValueError, "df must be > 2.0, got 2.0"),
    ({"n": 10, "df": 4.0}, ValueError, "df is only used with dist='student_t'"),
    ({"n": 10, "diag_var": -1.0}, ValueError, "diag_var must be >= 0.0, got -1.0"),
    ({"n": 10, "diag_var": "gue"}, ValueError, "diag_var must be None, 'goe' or a number"),
    ({"n": 10, "dtype": np.int32}, TypeError, "dtype must be float32 or float64, got int32"),
    ({"n": 10, "dtype": np.complex128}, TypeError, "dtype must be float32 or float64"),
    ({"n": 10, "layout": "banded"}, ValueError, "layout must be one of"),
    ({"n": 10, "seed": -1}, ValueError, "seed must be a non-negative integer, got -1"),
    ({"n": 10, "seed": "abc"}, TypeError, "seed must be None, an int"),
    ({"n": 10, "seed": 1.5}, TypeError, "seed must be None, an int"),
    ({"n": 10, "n_threads": 0}, ValueError, "n_threads must be a positive or negative"),
    ({"n": 10, "n_threads": 1.0}, TypeError, "n_threads must be an integer"),
    ({"n": 10, "out": np.zeros((9, 9))}, ValueError, r"out must have shape \(10, 10\)"),
    ({"n": 10, "out": np.zeros((10, 10), np.float32)}, TypeError, "out must have dtype float64"),
    ({"n": 10, "out": np.zeros((10, 10), order="F")}, ValueError, "out must be a writeable C-contiguous"),
    ({"n": 10, "out": np.zeros((10, 20))[:, ::2]}, ValueError, "out must be a writeable C-contiguous"),
    ({"n": 10, "out": [[0.0] * 10] * 10}, TypeError, "out must be a numpy array"),
    ({"n": 10, "layout": "packed", "out": np.zeros(54)}, ValueError, r"out must have shape \(55,\)"),
])
def test_refused_inputs(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        wigner(**kwargs)


def test_refuses_matrix_larger_than_memory():
    with pytest.raises(ValueError, match=r"needs 2\.6 TiB but only .* available.*packed"):
        wigner(600_000)
    with pytest.raises(ValueError, match=r"needs .* TiB .*matrix-free"):
        wigner(2_000_000, layout="packed")


def test_packed_symmetric_validation():
    with pytest.raises(ValueError, match=r"data must have shape \(6,\) for n=3"):
        PackedSymmetric(np.zeros(5), 3)
    with pytest.raises(TypeError, match="data.dtype must be float32 or float64"):
        PackedSymmetric(np.zeros(6, dtype=np.int64), 3)
    with pytest.raises(TypeError, match="data must be a numpy array"):
        PackedSymmetric([0.0] * 6, 3)


def test_public_namespace():
    assert callable(fastrmt.wigner) and callable(fastrmt.warmup)
    fastrmt.warmup()


# --- extreme parameters and read-only outputs (issue 11) ------------------------------

@pytest.mark.parametrize("df", [1e6, 1e12, 1e17, 1e18, 1e300])
def test_student_t_large_df_is_gaussian_not_zero(df):
    a = wigner(300, dist="student_t", df=df, seed=3)
    off = a[np.triu_indices(300, 1)] * math.sqrt(300)
    assert np.isfinite(a).all()
    assert abs(off.var() - 1.0) < 0.05


@pytest.mark.parametrize("sigma", [1.35e154, 1e-170, 1e200, 1e-300])
def test_sigma_whose_square_overflows_is_refused(sigma):
    with pytest.raises(ValueError, match=r"sigma must be in \[1e-150, 1e\+150\].*got"):
        wigner(10, sigma=sigma)


@pytest.mark.parametrize("sigma", [1e150, 1e-150])
def test_sigma_at_the_limits_gives_finite_nonzero_diagonal(sigma):
    a = wigner(50, sigma=sigma, seed=1)
    d = np.diag(a)
    assert np.isfinite(a).all() and np.all(d != 0)
    assert 0.5 < np.std(d) * math.sqrt(50) / sigma < 1.5


def test_readonly_packed_out_is_a_value_error():
    n = 6
    data = np.zeros(packed_size(n))
    data.flags.writeable = False
    with pytest.raises(ValueError, match="out must be a PackedSymmetric with writeable"):
        wigner(n, layout="packed", out=PackedSymmetric(data, n))
    ro = np.zeros((n, n))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out must be a writeable C-contiguous"):
        wigner(n, out=ro)


# Random123's published known-answer vectors for Philox4x32-10 (its tests/kat_vectors):
# (counter, key, output); the third pair is the leading hex digits of pi.
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("ctr, key, out", PHILOX_KAT)
def test_philox_known_answer_vectors(ctr, key, out):
    from fastrmt._kernels._philox import philox_block
    got = philox_block(*ctr, *key)
    assert [int(x) for x in got] == list(out)
