"""Everything :func:`fastrmt.eigsh` accepts, turned into one internal operator.

:func:`as_operator` checks the input (shape, dtype, finiteness, symmetry: dense arrays
whole, sparse matrices exactly, other operators with two probe vectors) and wraps it in
an :class:`_Operator` with two products, ``accurate`` (float64-accumulated) and ``fast``
(float32, for float32-stored matrices, or None), both called as ``f(V, nt)`` on a float64
(n, w) block.  fastrmt's own operators state their products through an explicit
protocol, ``_solver_products()`` (:class:`fastrmt.operators.DeformedWigner`); packed
matrices and dense arrays use fastrmt's tiled kernels; any other object with
``matmat``/``matvec``/``dot`` is a "foreign" operator whose errors are reported as A's.
(The split follows scipy.sparse.linalg, whose ``_interface`` adapters are kept apart from
the ``_eigen`` solvers.)
"""
from __future__ import annotations

import functools
import math
import time
from typing import Any, Callable

import numpy as np
import scipy.linalg
import scipy.sparse

from ._kernels import _checks, _lanczos
from ._random import STREAM_SOLVER, Key
from ._threads import blas_limit, resolve_n_threads
from .operators import dense_matmat
from ._products import pair_schedule, sym_product
from .packed import PackedSymmetric

_EPS = float(np.finfo(np.float64).eps)
_PROBE_KEY = Key(0x5EED5EED, 0x0B5E55ED)
_PROBE_COL = 1 << 30    # Philox columns used by the symmetry probes (never by start blocks)


def _blas(nt: int | None):
    """Context giving BLAS ``nt`` threads again (for products of foreign operators)."""
    return blas_limit(resolve_n_threads(nt))


class _Operator:
    """The products of the solver: ``fast`` (may be float32) and ``accurate`` (float64).

    Both are called as ``f(V, nt)`` with a float64 (n, w) block and the thread count.
    ``cost`` says what a block product costs, for the choice of the block size:
    ``"pass"`` (one read of the stored matrix, whatever the width: dense and packed),
    ``"regenerate"`` (one regeneration of the matrix: matrix-free operators) or
    ``"per_vector"`` (about one product per column: sparse matrices and other
    operators, whose ``matmat`` is a loop of ``matvec`` or a sparse product).
    """

    def __init__(self, n: int, accurate: Callable, fast: Callable | None, kind: str,
                 dense: np.ndarray | None = None, eps: float = _EPS,
                 cost: str = "pass") -> None:
        if cost not in ("pass", "regenerate", "per_vector"):
            raise ValueError(f"cost must be 'pass', 'regenerate' or 'per_vector', got {cost!r}")
        self.cost = cost
        self.n = n
        self._accurate = accurate
        self._fast = fast
        self.has_fast = fast is not None
        self.kind = kind
        self.dense = dense          # the array itself when A is a dense array
        self.eps = eps              # unit roundoff of the stored values
        # unit roundoff of the products' own arithmetic: float64 for every product
        # fastrmt makes (float32 data is accumulated in float64); float32 for a user's
        # operator declaring dtype float32, whose residuals cannot go below ~eps32
        self.product_eps = _EPS
        self.nt: int | None = None
        self.n_vectors = 0
        self.n_blocks = 0
        self.n_accurate = 0
        self.time = 0.0             # seconds spent in products
        self.scale = 1.0            # power of 2 applied to every product (see _scale_of)
        self.foreign = False        # a user's operator: its errors are reported as A's

    def product(self, V: np.ndarray, accurate: bool) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return self._product(V, accurate)
        finally:
            self.time += time.perf_counter() - t0

    def _product(self, V: np.ndarray, accurate: bool) -> np.ndarray:
        self.n_blocks += 1
        self.n_vectors += V.shape[1]
        try:
            if accurate or not self.has_fast:
                if self.has_fast:
                    self.n_accurate += V.shape[1]
                out = self._accurate(V, self.nt)
            else:
                out = self._fast(V, self.nt)
        except (ValueError, TypeError) as e:
            if not self.foreign:
                raise
            raise type(e)(f"A's product failed on a block of shape {V.shape} (A must map "
                          f"real arrays of shape ({self.n}, w) to real arrays of the same "
                          f"shape): {e}") from e
        out = np.asarray(out)
        if out.shape != V.shape:
            raise ValueError(f"A must map a block of shape {V.shape} to the same shape; its "
                             f"product returned shape {out.shape}")
        if np.iscomplexobj(out) or not (np.issubdtype(out.dtype, np.number)
                                        or out.dtype == bool):
            raise TypeError(f"A must be real: its product returned values of dtype "
                            f"{out.dtype}")
        out = np.ascontiguousarray(out, dtype=np.float64)
        if self.scale != 1.0:
            with np.errstate(over="ignore"):
                out = out * self.scale
        # every product, not only the first: an operator that starts returning NaN or
        # inf (or overflows) mid-solve would otherwise run all maxiter restarts and end
        # in a misleading EigshNoConvergence (O(n b) per product, ~1e-3 of a dense one)
        if not np.isfinite(out).all():
            raise ValueError(f"A must contain only finite values: its product with a block "
                             f"of shape {V.shape} (product {self.n_blocks}) has NaN or inf")
        return out


def _scale_of(norm_estimate: float) -> float:
    """The power of 2 that brings ``norm_estimate`` into [0.5, 1) (1 for 0 or non-finite):
    the solver works on ``scale * A``, so that Gram matrices neither under- nor overflow,
    and multiplying back by ``1 / scale`` is exact."""
    if not (norm_estimate > 0 and math.isfinite(norm_estimate)):
        return 1.0
    _, e = math.frexp(norm_estimate)
    return math.ldexp(1.0, min(-e, 1000))    # subnormal input: as close as it gets


def _dense_accurate(A: np.ndarray) -> Callable:
    """Float64-accumulated product of a dense symmetric array (no copy of A):
    :func:`fastrmt.operators.dense_matmat` reads the upper triangle once and sums in
    float64 in a fixed order (bit-identical for any thread count)."""
    return lambda V, nt: dense_matmat(A, V, n_threads=nt)


def _dense_fast(A: np.ndarray) -> Callable:
    """Float32 product of a float32 dense symmetric array:
    :func:`fastrmt._products.sym_product` reads the upper triangle once (half the memory
    traffic of sgemm) in float32 arithmetic, bit-identical for any thread count."""
    n = A.shape[0]
    flat = A.reshape(-1)

    def prod(V: np.ndarray, nt: int | None) -> np.ndarray:
        V32 = np.ascontiguousarray(V, dtype=np.float32)
        return sym_product(flat, n, False, V32, int(nt or 1), True)
    return prod


def _probe_vectors(n: int, count: int) -> np.ndarray:
    out = np.empty((n, count))
    _lanczos.gaussian_block(out, _PROBE_COL, STREAM_SOLVER, _PROBE_KEY.k0, _PROBE_KEY.k1)
    return out


def _check_symmetric_probe(op: _Operator, tol: float) -> None:
    """Compare x^T (A y) with y^T (A x) for two fixed pseudo-random vectors."""
    X = _probe_vectors(op.n, 2)
    AX = op.product(X, accurate=True)       # finite, or ValueError (_Operator.product)
    op.n_vectors = op.n_blocks = op.n_accurate = 0
    a = float(X[:, 0] @ AX[:, 1])
    b = float(X[:, 1] @ AX[:, 0])
    # BLAS nrm2 (scipy.linalg.norm of a vector) scales as it sums: numpy's norm squares
    # under- and overflow at 1e-200 A and 1e200 A, which refused a symmetric operator
    # or accepted any asymmetric one
    nrm = functools.partial(scipy.linalg.norm, check_finite=False)
    scale = nrm(AX[:, 0]) * nrm(X[:, 1]) + nrm(AX[:, 1]) * nrm(X[:, 0])
    if abs(a - b) > tol * scale:
        raise ValueError(f"A must be symmetric: x^T A y = {a:.6g} but y^T A x = {b:.6g} "
                         f"for probe vectors x, y")


def _check_dense(A: np.ndarray, tol: float) -> None:
    """Check the whole of a dense C-order array: finite values and symmetry,
    ``|a_ij - a_ji| <= tol max|A|`` (compared in float64).

    One parallel pass over A counts the mirrored pairs that differ or are not finite
    (:func:`fastrmt._kernels._checks.mirror_mismatches`); only when there are some does a
    second pass (:func:`fastrmt._kernels._checks.symmetry_scan`) measure the largest
    difference against ``tol max|A|``.  No temporaries.  Only when the check fails is the offending entry located (the first
    largest difference, upper triangle in row order), by :func:`_locate_asymmetry`.
    """
    n = A.shape[0]
    starts, rows = pair_schedule(n, _checks.EXACT_TILE)
    bad = np.empty(starts.size - 1, dtype=np.int64)
    _checks.mirror_mismatches(A, starts, rows, bad)
    if not bad.any():
        return                  # exactly symmetric and finite: nothing to measure
    starts, rows = pair_schedule(n, _checks.TILE)
    npairs = starts.size - 1
    diff = np.empty(npairs)
    amax = np.empty(npairs)
    nonfinite = np.empty(npairs, dtype=np.int64)
    _checks.symmetry_scan(A, starts, rows, diff, amax, nonfinite)
    if nonfinite.any():
        raise ValueError("A must contain only finite values (found NaN or inf)")
    if float(diff.max()) > tol * float(amax.max()):
        i, j = _locate_asymmetry(A)
        raise ValueError(f"A must be symmetric: A[{i}, {j}] = {A[i, j]!r} but "
                         f"A[{j}, {i}] = {A[j, i]!r}")


def _locate_asymmetry(A: np.ndarray) -> tuple[int, int]:
    """(i, j), i <= j, of the first largest ``|a_ij - a_ji|`` (float64), by strips of 128
    rows (the error path of :func:`_check_dense`)."""
    n = A.shape[0]
    best, where = -1.0, (0, 0)
    for r0 in range(0, n, 128):
        r1 = min(n, r0 + 128)
        diff = np.abs(A[r0:r1, r0:].astype(np.float64) - A[r0:, r0:r1].T.astype(np.float64))
        diff = np.triu(diff)                         # the upper triangle only
        k = int(np.argmax(diff))
        if float(diff.flat[k]) > best:
            best = float(diff.flat[k])
            i, j = np.unravel_index(k, diff.shape)
            where = (int(i) + r0, int(j) + r0)
    return where


def as_operator(A: Any) -> _Operator:
    """Wrap any accepted matrix type into an :class:`_Operator` (and check it)."""
    if scipy.sparse.issparse(A):
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(f"A must be a square matrix, got shape {A.shape}")
        if np.iscomplexobj(A.data) or not np.issubdtype(A.dtype, np.number):
            raise TypeError(f"A must be real, got dtype {A.dtype}")
        if A.data.size and not np.all(np.isfinite(A.data)):
            raise ValueError("A must contain only finite values (found NaN or inf)")
        S = A.tocsr().astype(np.float64)
        d = abs(S - S.T)
        if d.nnz and float(d.max()) > 1e-8 * float(abs(S).max()):
            i, j = (int(x[0]) for x in np.nonzero(d == d.max()))
            raise ValueError(f"A must be symmetric: A[{i}, {j}] = {S[i, j]!r} but "
                             f"A[{j}, {i}] = {S[j, i]!r}")
        op = _Operator(A.shape[0], lambda V, nt: S @ V, None, "sparse",  # no BLAS
                       cost="per_vector")
        _check_symmetric_probe(op, 1e-8)
        return op
    if isinstance(A, np.ndarray) or isinstance(A, (list, tuple)):
        arr = np.asarray(A)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                       or arr.dtype == bool):
            raise TypeError(f"A must be an array of real numbers, got dtype {arr.dtype}")
        if np.iscomplexobj(arr):
            raise TypeError(f"A must be real, got dtype {arr.dtype}")
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
            raise ValueError(f"A must be a square matrix, got shape {arr.shape}")
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)
        if not arr.flags.c_contiguous:
            # A symmetric Fortran-order array is its own C-order transpose.
            arr = arr.T if arr.flags.f_contiguous else np.ascontiguousarray(arr)
        n = arr.shape[0]
        if n == 0:
            raise ValueError("A must be a non-empty square matrix, got shape (0, 0)")
        eps = float(np.finfo(arr.dtype).eps)
        _check_dense(arr, 1e3 * eps)
        if arr.dtype == np.float64:
            return _Operator(n, _dense_accurate(arr), None, "dense float64", dense=arr)
        return _Operator(n, _dense_accurate(arr), _dense_fast(arr), "dense float32",
                         dense=arr, eps=eps)
    if isinstance(A, PackedSymmetric):
        n = A.n
        eps = float(np.finfo(A.dtype).eps)

        def acc(V: np.ndarray, nt: int | None) -> np.ndarray:
            return A.matmat(V, n_threads=nt)

        def single(V: np.ndarray, nt: int | None) -> np.ndarray:
            return A.matmat_single(V, n_threads=nt)
        op = _Operator(n, acc, single if A.dtype == np.float32 else None,
                       f"packed {A.dtype}", eps=eps)
        _check_symmetric_probe(op, 1e3 * eps)   # finiteness of the stored values
        return op
    shape = getattr(A, "shape", None)
    if shape is None or not (hasattr(A, "matmat") or hasattr(A, "matvec")
                             or hasattr(A, "dot")):
        raise TypeError("A must be a numpy array, a PackedSymmetric, a scipy sparse matrix "
                        "or a LinearOperator-like object (shape and matvec/matmat), got "
                        f"{type(A).__name__}")
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise TypeError(f"A.shape must be a tuple of two ints, got {shape!r}") from None
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"A must be a square operator, got shape {shape}")
    n = shape[0]
    if n == 0:
        raise ValueError("A must be a non-empty square operator, got shape (0, 0)")
    dt = getattr(A, "dtype", None)
    if dt is not None and np.issubdtype(np.dtype(dt), np.complexfloating):
        raise TypeError(f"A must be real, got dtype {np.dtype(dt)}")
    products = getattr(A, "_solver_products", None)
    if callable(products):
        # fastrmt's operators: their own float64-accumulated and float32 products
        acc, fast, eps, kind = products()
        return _Operator(n, acc, fast, kind, eps=eps,
                         cost="regenerate" if "matrix-free" in kind else "pass")
    if hasattr(A, "matmat"):
        def acc(V: np.ndarray, nt: int | None) -> np.ndarray:
            with _blas(nt):
                return A.matmat(V)
    elif hasattr(A, "matvec"):
        def acc(V: np.ndarray, nt: int | None) -> np.ndarray:
            with _blas(nt):
                return np.column_stack([np.ravel(A.matvec(V[:, j]))
                                        for j in range(V.shape[1])])
    else:
        def acc(V: np.ndarray, nt: int | None) -> np.ndarray:
            with _blas(nt):
                return A.dot(V)
    # a LinearOperator over a dense array multiplies a block in one BLAS call (one pass
    # over the array); any other operator is taken to cost about one product per column
    # (scipy's default matmat loops over matvec; a sparse product grows with the width)
    dense_backed = isinstance(getattr(A, "A", None), np.ndarray) and hasattr(A, "matmat")
    op = _Operator(n, acc, None, f"operator {type(A).__name__}",
                   cost="pass" if dense_backed else "per_vector")
    op.foreign = True
    low = dt is not None and np.dtype(dt) == np.float32
    if low:
        op.product_eps = float(np.finfo(np.float32).eps)
    _check_symmetric_probe(op, 1e-4 if low else 1e-8)
    return op
