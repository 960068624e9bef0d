import numpy as np
import pytest
from scipy.sparse.linalg import LinearOperator, eigsh

import fastrmt.operators as operators
import fastrmt._products as products_mod
from fastrmt import PackedSymmetric, wigner, wigner_spec
from fastrmt.operators import STORAGES, DeformedWigner, deformed_wigner, dense_matmat
from fastrmt.signals import make_signal

from . import reference_operators as refop

# Accumulation is float64 in every storage: the products agree with NumPy to ~1e-13.
ATOL64 = 1e-12
# Float32 arithmetic (matmat_single): relative ~1e-6 of the row norms.
ATOL32 = 2e-5

N = 601  # three 256-tiles, the last partial: exercises pairs, chunks, edges


@pytest.fixture(scope="module")
def signal():
    return make_signal(N, bulk="semicircle", spikes=[3.0, -2.5], basis="fast", seed=4)


@pytest.fixture(scope="module")
def reference(signal):
    s_dense = signal.to_dense()
    return {dt: wigner(N, seed=7, dtype=dt).astype(np.float64) + s_dense
            for dt in (np.float32, np.float64)}


@pytest.fixture(scope="module")
def ops(signal):
    return {(st, np.dtype(dt)): deformed_wigner(N, signal, storage=st, dtype=dt, seed=7)
            for st in STORAGES for dt in (np.float32, np.float64)}


@pytest.mark.parametrize("b", [1, 3, 16])
@pytest.mark.parametrize("storage", STORAGES)
def test_product_matches_numpy(ops, reference, storage, dtype, b):
    w = ops[(storage, dtype)]
    v = np.random.default_rng(b).standard_normal((N, b))
    expected = reference[dtype.type] @ v
    got = w.matmat(v)
    assert got.dtype == np.float64 and got.shape == (N, b)
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL64)
    single = w.matmat_single(v.astype(np.float32))
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, expected, rtol=0, atol=ATOL32)


def test_small_matches_pure_python_reference(dtype):
    n = 23
    sig = make_signal(n, spikes=[2.0], basis="haar", seed=1)
    spec = wigner_spec(n, seed=5, dist="student_t", df=4.0)
    expected = refop.deformed_wigner_reference(n, spec, sig.to_dense(), dtype)
    v = np.random.default_rng(0).standard_normal((n, 3))
    for storage in STORAGES:
        w = deformed_wigner(n, sig, storage=storage, dtype=dtype, seed=5, dist="student_t",
                            df=4.0)
        np.testing.assert_allclose(w.to_dense(), expected, rtol=0, atol=1e-15)
        np.testing.assert_allclose(w @ v, expected @ v, rtol=0, atol=ATOL64)


def test_storages_agree(ops):
    v = np.random.default_rng(3).standard_normal((N, 5))
    for dt in (np.float32, np.float64):
        dense = ops[("dense", np.dtype(dt))].matmat(v)
        # dense and packed run the same tiles on the same values: bit-identical.
        np.testing.assert_array_equal(ops[("packed", np.dtype(dt))].matmat(v), dense)
        np.testing.assert_allclose(ops[("matrix-free", np.dtype(dt))].matmat(v), dense,
                                   rtol=0, atol=1e-13)


@pytest.mark.parametrize("storage", STORAGES)
def test_bit_identical_across_threads(ops, storage, dtype):
    w = ops[(storage, dtype)]
    v = np.random.default_rng(9).standard_normal((N, 7))
    base = w.matmat(v, n_threads=1)
    np.testing.assert_array_equal(w.matmat(v, n_threads=2), base)
    np.testing.assert_array_equal(w.matmat(v, n_threads=-1), base)
    s1 = w.matmat_single(v, n_threads=1)
    np.testing.assert_array_equal(w.matmat_single(v, n_threads=2), s1)


@pytest.mark.parametrize("n, tile, k", [(1, 256, 1), (300, 32, 1), (301, 32, 2),
                                         (301, 32, 4), (1000, 7, 5), (257, 256, 1)])
def test_tile_schedule(n, tile, k):
    """The one schedule of both tiled products: every tile row exactly once; chunk c
    holds the pairs (p, nb-1-p) with p = c mod k, in increasing p."""
    starts, rows = products_mod.tile_schedule(n, tile, k)
    nb = -(-n // tile)
    assert starts.shape == (k + 1,) and starts[0] == 0 and starts[-1] == nb
    assert sorted(rows.tolist()) == list(range(nb))
    for c in range(k):
        expected = []
        for p in range(c, (nb + 1) // 2, k):
            expected += [p] if p == nb - 1 - p else [p, nb - 1 - p]
        assert rows[starts[c]:starts[c + 1]].tolist() == expected
    assert not rows.flags.writeable and not starts.flags.writeable
    with pytest.raises(ValueError, match="tile_schedule"):
        products_mod.tile_schedule(0, tile, k)


def test_mixed_precision_refused_by_the_fused_kernel():
    """float64 data with float32 arithmetic has no kernel: refused, not miscomputed."""
    from fastrmt._ext import load

    starts, rows = products_mod.tile_schedule(2, 256, 1)
    with pytest.raises(ValueError, match="float64 data"):
        load("_packed").sym_matmat(np.zeros(4), 2, False, np.zeros((2, 1), np.float32),
                                   np.zeros((1, 2, 1), np.float32), starts, rows, 256, 1)


@pytest.mark.parametrize("storage", ["packed", "matrix-free"])
def test_small_tiles_many_chunks(monkeypatch, storage):
    """Tiles of 32 at n=301: 10 tile rows, 5 pairs, several chunks, ragged last tile."""
    monkeypatch.setattr(products_mod, "PACKED_TILE", 32)
    monkeypatch.setattr(operators, "MATFREE_TILE", 32)
    n = 301
    w = deformed_wigner(n, storage=storage, dtype=np.float32, seed=2)
    v = np.random.default_rng(0).standard_normal((n, 9))
    expected = wigner(n, seed=2, dtype=np.float32).astype(np.float64) @ v
    got = w.matmat(v, n_threads=1)
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL64)
    np.testing.assert_array_equal(w.matmat(v, n_threads=2), got)


@pytest.mark.parametrize("storage", ["packed", "matrix-free"])
def test_chunk_groups_do_not_change_the_bits(monkeypatch, storage):
    """Buffers held group by group (a small memory budget) give the bits of one group:
    the groups are summed into the output in chunk order, the same fold."""
    monkeypatch.setattr(products_mod, "PACKED_TILE", 32)
    monkeypatch.setattr(operators, "MATFREE_TILE", 32)
    n = 301
    assert products_mod.n_chunks(n, 1, 32) == 5
    w = deformed_wigner(n, storage=storage, dtype=np.float64, seed=3)
    v = np.random.default_rng(1).standard_normal((n, 1))
    whole = w.matmat(v, n_threads=1)
    expected = wigner(n, seed=3) @ v
    np.testing.assert_allclose(whole, expected, rtol=0, atol=ATOL64)
    monkeypatch.setattr(products_mod, "_CHUNK_BUDGET", 1)
    monkeypatch.setattr(products_mod, "_MIN_CHUNKS", 1)
    for nt in (1, 2, 3):
        assert products_mod.group_size(n, 1, 5, 8, nt) == nt
        np.testing.assert_array_equal(w.matmat(v, n_threads=nt), whole)
        np.testing.assert_array_equal(w.matmat_single(v, n_threads=nt),
                                      w.matmat_single(v, n_threads=1))


def test_chunk_counts_and_groups():
    """K depends on the sizes only; from n = 262144 it grows with n (cluster tasks);
    memory bounds only the group held at once, never K."""
    assert products_mod.n_chunks(30_000, 8, 256) == 32
    assert products_mod.n_chunks(100_000, 16, 256) == 32      # no memory cap on K
    assert products_mod.n_chunks(262_143, 8, 256) == 32
    assert products_mod.n_chunks(1_000_000, 8, 256) == 122
    assert products_mod.n_chunks(16_000, 110, 256) == 4       # wide blocks: traffic bound
    assert products_mod.n_chunks(300, 1, 256) == 1
    # 10^6 x 8 float64 buffers are 64 MB: 4 fit the 256 MiB budget; 16 threads need 16
    assert products_mod.group_size(1_000_000, 8, 122, 8, 2) == 4
    assert products_mod.group_size(1_000_000, 8, 122, 8, 16) == 16
    assert products_mod.group_size(20_000, 8, 32, 8, 2) == 32
    assert products_mod.group_size(1000, 4, 3, 8, 16) == 3


def test_product_memory_check(monkeypatch):
    """Large buffers are checked against the available memory and refused with the
    estimate; small ones (< 64 MiB) are not checked (no OS query per product)."""
    monkeypatch.setenv("FASTRMT_AVAILABLE_MEMORY", str(100 << 20))
    products_mod.check_product_memory(1000, 4, 4, 8)
    with pytest.raises(ValueError, match=r"needs 305\.2 MiB but only 100\.0 MiB"):
        products_mod.check_product_memory(1_000_000, 8, 4, 8)


def test_vector_and_linear_operator_protocol(ops, reference):
    w = ops[("packed", np.dtype(np.float64))]
    assert isinstance(w, LinearOperator)
    assert w.shape == (N, N) and w.dtype == np.float64
    assert w.storage == "packed" and w.storage_dtype == np.float64 and w.n == N
    x = np.random.default_rng(1).standard_normal(N)
    expected = reference[np.float64] @ x
    for got in (w @ x, w.matvec(x), w.dot(x), w.matmat(x), w.rmatvec(x), w.H @ x):
        assert got.shape == (N,)
        np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL64)
    np.testing.assert_allclose(w.matmat(x.astype(np.float32)),
                               reference[np.float64] @ x.astype(np.float32), atol=ATOL64)
    np.testing.assert_allclose(w.matmat(np.arange(N)), reference[np.float64] @ np.arange(N),
                               rtol=0, atol=1e-12 * N)


def test_eigsh_on_operator(ops, reference):
    w = ops[("packed", np.dtype(np.float64))]
    got = np.sort(eigsh(w, k=2, which="LA", tol=1e-10, v0=np.ones(N))[0])
    np.testing.assert_allclose(got, np.linalg.eigvalsh(reference[np.float64])[-2:],
                               rtol=1e-8)


def test_no_signal():
    w = deformed_wigner(40, seed=3, storage="matrix-free")
    np.testing.assert_allclose(w.to_dense(), wigner(40, seed=3), atol=0)


@pytest.mark.parametrize("b", [1, 3, 16])
def test_dense_matmat(dtype, b):
    n = 333
    a = wigner(n, seed=1, dtype=dtype)
    v = np.random.default_rng(b).standard_normal((n, b))
    expected = refop.symmetric_product_reference(a, v)
    for sym in (True, False):
        got = dense_matmat(a, v, symmetric=sym)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL64)
        np.testing.assert_array_equal(dense_matmat(a, v, n_threads=1, symmetric=sym),
                                      dense_matmat(a, v, n_threads=2, symmetric=sym))
    assert dense_matmat(a, v[:, 0]).shape == (n,)
    # An F-ordered symmetric matrix is used through its transpose (no copy): same result.
    np.testing.assert_array_equal(dense_matmat(np.asfortranarray(a), v), dense_matmat(a, v))


def test_dense_matmat_general_matrix():
    a = np.random.default_rng(0).standard_normal((70, 70)).astype(np.float32)
    v = np.random.default_rng(1).standard_normal((70, 2))
    np.testing.assert_allclose(dense_matmat(a, v, symmetric=False),
                               a.astype(np.float64) @ v, atol=ATOL64)


@pytest.mark.parametrize("b", [1, 3, 7, 13, 16, 30])  # every panel width and scalar tail
def test_packed_matmat(dtype, b):
    n = 517
    p = wigner(n, seed=4, layout="packed", dtype=dtype)
    full = p.to_dense()
    v = np.random.default_rng(b).standard_normal((n, b))
    expected = refop.symmetric_product_reference(full, v)
    np.testing.assert_allclose(p.matmat(v), expected, rtol=0, atol=ATOL64)
    np.testing.assert_allclose(p @ v, expected, rtol=0, atol=ATOL64)
    np.testing.assert_array_equal(p.matmat(v, n_threads=1), p.matmat(v, n_threads=2))
    s = p.matmat_single(v)
    assert s.dtype == np.float32
    np.testing.assert_allclose(s, expected, rtol=0, atol=ATOL32)
    np.testing.assert_array_equal(p.matmat_single(v, n_threads=1),
                                  p.matmat_single(v, n_threads=2))


@pytest.fixture
def isa_levels():
    """The kernel versions this CPU can run (the block products dispatch to the best);
    restores the best after the test."""
    from fastrmt._ext import load
    ext = load("_packed")
    best = ext.isa()
    levels = [lv for lv in ("baseline", "avx2", "avx512") if ext._use_isa(lv) == lv]
    yield ext, levels
    assert ext._use_isa(best) == best


def test_every_instruction_set_version(isa_levels):
    # each kernel version has its own panel widths (64/32/16-byte vectors on AVX-512,
    # 32/16 on AVX2, 16 on baseline): all column counts, both dtypes, packed and dense
    ext, levels = isa_levels
    assert "baseline" in levels
    with pytest.raises(ValueError, match="name must be one of"):
        ext._use_isa("sse9")
    n = 301
    for dtype in (np.float32, np.float64):
        p = wigner(n, seed=6, layout="packed", dtype=dtype)
        full = p.to_dense()
        for b in (1, 2, 4, 5, 8, 11, 16, 19, 32, 35):
            v = np.random.default_rng(b).standard_normal((n, b))
            expected = refop.symmetric_product_reference(full, v)
            for lv in levels:
                ext._use_isa(lv)
                np.testing.assert_allclose(p.matmat(v), expected, rtol=0, atol=ATOL64,
                                           err_msg=f"{lv} b={b} {dtype}")
                np.testing.assert_allclose(dense_matmat(full, v), expected, rtol=0,
                                           atol=ATOL64, err_msg=f"{lv} b={b} {dtype}")
                if dtype == np.float32:
                    np.testing.assert_allclose(p.matmat_single(v), expected, rtol=0,
                                               atol=ATOL32, err_msg=f"{lv} b={b}")
                np.testing.assert_array_equal(p.matmat(v, n_threads=1),
                                              p.matmat(v, n_threads=2))


def test_odd_widths_padded_to_vector_panels():
    # a block of b > 2 columns is multiplied as ceil(b/4)*4 columns (zero columns added,
    # then dropped): the values are those of the padded product, for any thread count
    from fastrmt._products import padded_width, sym_product
    assert [padded_width(b) for b in (1, 2, 3, 4, 5, 8, 51, 111)] == [1, 2, 4, 4, 8, 8, 52, 112]
    n = 700
    rng = np.random.default_rng(11)
    for dtype, single in ((np.float32, True), (np.float32, False), (np.float64, False)):
        full = wigner(n, seed=12, dtype=dtype)
        flat = full.reshape(-1)
        for b in (3, 5, 7, 51):
            vdt = np.float32 if single else np.float64
            v = rng.standard_normal((n, b)).astype(vdt)
            got = sym_product(flat, n, False, v, 2, single)
            assert got.shape == (n, b) and got.flags.c_contiguous and got.dtype == vdt
            vp = np.zeros((n, padded_width(b)), dtype=vdt)
            vp[:, :b] = v
            np.testing.assert_array_equal(got, sym_product(flat, n, False, vp, 1, single)[:, :b])
            expected = refop.symmetric_product_reference(full.astype(np.float64),
                                                         v.astype(np.float64))
            np.testing.assert_allclose(got, expected, rtol=0,
                                       atol=ATOL32 if single else ATOL64)



def test_two_column_kernel(isa_levels):
    # blocks of 2 go to the column-major kernel (vectorized along the rows): every
    # instruction-set version, dense and packed, float64 / float32-accumulated-in-float64
    # / float32, orders with leftover rows and columns and several chunks; results equal
    # for any thread count, and the kernel refuses operands of the wrong shape
    from fastrmt._products import PACKED_TILE, n_chunks, sym_product, tile_schedule
    ext, levels = isa_levels
    rng = np.random.default_rng(21)
    for n in (3, 9, 263, 1031):
        for dtype, single in ((np.float64, False), (np.float32, False), (np.float32, True)):
            full = wigner(n, seed=n, dtype=dtype)
            packed = full[np.triu_indices(n)]
            vdt = np.float32 if single else np.float64
            v = rng.standard_normal((n, 2)).astype(vdt)
            expected = refop.symmetric_product_reference(full.astype(np.float64),
                                                         v.astype(np.float64))
            atol = (ATOL32 if single else ATOL64) * max(1.0, np.sqrt(n / 300))
            for lv in levels:
                ext._use_isa(lv)
                for data, pk in ((full.reshape(-1), False), (packed, True)):
                    got = sym_product(data, n, pk, v, 1, single)
                    assert got.shape == (n, 2) and got.flags.c_contiguous
                    assert got.dtype == vdt
                    np.testing.assert_allclose(got, expected, rtol=0, atol=atol,
                                               err_msg=f"{lv} n={n} {dtype} {single}")
                    np.testing.assert_array_equal(got, sym_product(data, n, pk, v, 3, single))
    n = 300
    k = n_chunks(n, 2, PACKED_TILE)
    starts, rows = tile_schedule(n, PACKED_TILE, k)
    data = np.zeros(n * n)
    with pytest.raises(ValueError, match="columns=True needs V"):
        ext.sym_matmat(data, n, False, np.zeros((n, 2)), np.zeros((k, 2, n)), starts, rows,
                       PACKED_TILE, 1, True)
    with pytest.raises(ValueError, match="V must be"):
        ext.sym_matmat(data, n, False, np.zeros((2, n)), np.zeros((k, n, 2)), starts, rows,
                       PACKED_TILE, 1)

def test_tiny_orders():
    for n in (1, 2, 5):
        a = wigner(n, seed=1)
        v = np.ones((n, 2))
        for st in STORAGES:
            np.testing.assert_allclose(deformed_wigner(n, storage=st, seed=1) @ v, a @ v,
                                       atol=1e-15)


def test_repr_and_nbytes(ops):
    w = ops[("packed", np.dtype(np.float32))]
    assert "packed" in repr(w) and w.nbytes == N * (N + 1) // 2 * 4
    assert ops[("matrix-free", np.dtype(np.float32))].nbytes == 0


# --------------------------------------------------------------------------- refused input

def test_bad_storage():
    with pytest.raises(ValueError, match=r"storage must be one of .*got 'sparse'"):
        deformed_wigner(10, storage="sparse")


def test_bad_dtype():
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got int64"):
        deformed_wigner(10, dtype=np.int64)


def test_v_wrong_shape(ops):
    w = ops[("dense", np.dtype(np.float64))]
    with pytest.raises(ValueError, match=rf"V must have shape \({N},\) or \({N}, b\) with "
                                         rf"b >= 1, got \(10, 2\)"):
        w.matmat(np.zeros((10, 2)))


def test_v_empty_block(ops):
    w = ops[("dense", np.dtype(np.float64))]
    with pytest.raises(ValueError, match=rf"got \({N}, 0\)"):
        w.matmat(np.zeros((N, 0)))


def test_v_nan(ops):
    w = ops[("packed", np.dtype(np.float32))]
    v = np.zeros((N, 2))
    v[3, 1] = np.nan
    with pytest.raises(ValueError, match="V must contain only finite values"):
        w.matmat(v)


def test_v_complex(ops):
    w = ops[("packed", np.dtype(np.float32))]
    with pytest.raises(TypeError, match="V must be real, got dtype complex128"):
        w.matmat(np.zeros((N, 2), dtype=complex))


def test_n_too_big_for_memory():
    with pytest.raises(ValueError, match=r"storage='dense' .* needs .* available; "
                                         r"use storage='matrix-free'"):
        deformed_wigner(10**7, storage="dense")


def test_packed_too_big_for_memory():
    with pytest.raises(ValueError, match=r"storage='packed' .* use storage='matrix-free'"):
        deformed_wigner(10**7, storage="packed", dtype=np.float32)


def test_signal_wrong_order():
    with pytest.raises(ValueError, match="signal must have order n=10, got a signal of order 9"):
        deformed_wigner(10, make_signal(9))


def test_signal_wrong_type():
    with pytest.raises(TypeError, match="signal must be a fastrmt Signal"):
        deformed_wigner(10, np.eye(10))


def test_dense_matmat_not_square():
    with pytest.raises(ValueError, match=r"A must be a square 2-D array, got shape \(3, 4\)"):
        dense_matmat(np.zeros((3, 4)), np.zeros(4))


def test_dense_matmat_int_matrix():
    with pytest.raises(TypeError, match="A.dtype must be float32 or float64, got int64"):
        dense_matmat(np.zeros((3, 3), dtype=np.int64), np.zeros(3))


def test_packed_matmat_wrong_shape():
    p = PackedSymmetric(np.zeros(6), 3)
    with pytest.raises(ValueError, match=r"V must have shape \(3,\) or \(3, b\)"):
        p.matmat(np.zeros(4))


def test_to_dense_too_big():
    w = deformed_wigner(10**6, storage="matrix-free", seed=0)
    assert isinstance(w, DeformedWigner)
    with pytest.raises(ValueError, match="dense 1000000 x 1000000 float64 copy of W needs"):
        w.to_dense()
