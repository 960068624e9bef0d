"""Extreme eigenvalues of large symmetric matrices: block Lanczos, an ``eigsh`` drop-in.

:func:`eigsh` computes the ``k`` largest in magnitude (``"LM"``, the default as in
scipy), largest (``"LA"``), smallest (``"SA"``), both-ends (``"BE"``) or -- up to
``n = 4096``, by dense LAPACK -- smallest in magnitude (``"SM"``) eigenvalues, and on request the
eigenvectors, of a symmetric matrix given as a dense float32/float64 array, a
:class:`~fastrmt.PackedSymmetric`, a fastrmt operator (dense, packed or matrix-free
deformed Wigner) or any scipy ``LinearOperator``.  It returns what
:func:`scipy.sparse.linalg.eigsh` returns, in the same order.

Algorithm
---------
Thick-restarted block Lanczos (a block Krylov--Schur method) with full
reorthogonalization:

* the matrix is applied to a block of ``b`` vectors at a time (one block product, the
  matrix read once per block), and both the basis ``V`` and ``A V`` are kept, so the
  projected matrix ``H = V^T A V`` and every Ritz residual ``A y - theta y`` are
  computed explicitly -- no three-term recurrence whose loss of orthogonality would
  create spurious copies of converged eigenvalues;
* every new block is orthogonalized twice against the whole basis (classical
  Gram--Schmidt twice, then a third pass after the rank decision); a block that has lost
  rank (an invariant subspace was found) is completed with fresh random directions, so
  eigenvalues of multiplicity up to ``b`` are all found;
* a Krylov space started from ``b`` vectors holds at most ``b`` copies of an eigenvalue:
  when ``>= b`` equal wanted values have converged and less wanted ones follow, the
  converged pairs are locked and the iteration restarts from fresh random directions
  orthogonal to them (and must then converge one more pair), until a round adds fewer
  than ``b`` copies;
* when the basis is full, the most wanted Ritz vectors are kept (thick restart) with
  their products, and the Krylov space is continued from the residual block.

Float32-stored matrices are multiplied with float64 accumulation (each stored value
converted in registers; the dense and packed kernels read the stored triangle once), so
the eigenvalues are those of the stored matrix.  Option ``mixed_precision=True``
(float32-stored matrices): the Krylov iterations use float32 products alone (2.5x
faster than float64-accumulated ones at 8 columns on AVX2), for ``k + 1`` pairs down to
a relative residual of 1e-6; then those Ritz vectors are multiplied once with float64
accumulation and a Rayleigh--Ritz step gives Ritz values of the *stored* matrix whose
errors are bounded by ``||R||^2 / gap`` (C.-K. Li and R.-C. Li's quadratic bound,
the ``k + 1``-th value standing for the rest of the spectrum); up to two float64
residual-expansion steps lower ``||R||`` when needed.  The eigenvalues are certified to
``max(tol, 1e-10)`` relative, the eigenvectors are accurate to the float32 level
(residuals ~1e-6 ``||A||``).  When the bound cannot be met (or ``which="BE"``) the
problem is solved again with float64-accumulated products (``EigshInfo.method`` says
which).

Convergence: a Ritz pair is accepted when ``||A y - theta y|| <= max(tol |theta|,
floor)``, ``floor = 16 sqrt(n) eps ||A||`` (``||A||`` estimated by the largest Ritz value
in magnitude; a zero residual meets a zero floor: the zero matrix); ``tol=0`` means
``eps`` (float64), as in scipy.  The solver works on ``2^e A`` with ``2^e`` from a cheap
norm estimate (the first block product, or max|A| on the dense path), so that tiny or
huge matrices do not under/overflow in the Gram matrices; the results are divided by
``2^e`` (exact).  Returned eigenvalues and
eigenvectors are always float64.
"""
from __future__ import annotations

import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import scipy.linalg
import scipy.sparse
from scipy.sparse.linalg import ArpackNoConvergence

from . import _gemm
from ._kernels import _lanczos
from ._random import STREAM_SOLVER, Key, SeedLike, as_key
from ._threads import blas_limit, resolve_n_threads, thread_limit
from ._validation import (check_array, check_bool, check_choice, check_int, check_memory,
                          check_real)
from .packed import PackedSymmetric

__all__ = ["eigsh", "EigshInfo", "EigshNoConvergence", "ThresholdNotReached",
           "top_eigenvalues", "eigvals_above"]

WHICH = ("LM", "SM", "LA", "SA", "BE")
_SM_DENSE_MAX = 4096    # which="SM" is solved by dense LAPACK up to this order
_EPS = float(np.finfo(np.float64).eps)
_DENSE_N = 128          # at or below this order (or when the basis would not fit): dense eigh
_FLOOR_C = 16.0         # residual floor = _FLOOR_C * sqrt(n) * eps * ||A||
_MIXED_PHASE1 = 1e-6    # mixed precision: float32 Krylov phase down to this relative residual
_MIXED_EIG_TOL = 1e-10  # mixed precision: relative eigenvalue accuracy certified (tol=0)
_MIXED_EXPANSIONS = 2   # mixed precision: float64 residual-expansion steps before giving up
_RANK_TOL = 1e-13       # relative size under which a new direction counts as lost rank
_PROBE_KEY = Key(0x5EED5EED, 0x0B5E55ED)
_PROBE_COL = 1 << 30    # Philox columns used by the symmetry probes (never by start blocks)


# ----------------------------------------------------------------------------- records

@dataclass
class EigshInfo:
    """What :func:`eigsh` did.

    Attributes
    ----------
    iterations : int
        Number of restarts (scipy's ``maxiter`` counts these).
    n_products : int
        Number of matrix-vector products (vectors), all precisions.
    n_block_products : int
        Number of block products (calls to the matrix).
    n_accurate_products : int
        Of ``n_products``, those done with float64 accumulation on a float32-stored
        matrix (0 when the matrix is float64: every product is then accurate).
    refreshes : int
        Float64-accumulated Rayleigh--Ritz steps of the float32 path.
    residuals : ndarray
        ``||A y - theta y||`` of the returned pairs (same order as the eigenvalues).
    tolerances : ndarray
        The threshold each residual had to meet.
    converged : bool
        Whether all ``k`` pairs met their threshold.
    n_converged : int
        How many did.
    time : float
        Wall-clock seconds.
    product_time : float
        Of ``time``, the seconds spent in the products with A (the rest is the solver's
        own work: orthogonalization, Rayleigh--Ritz, checks).
    block_size, ncv : int
        Block size and basis size used.
    method : str
        ``"block-lanczos"``, ``"mixed-precision block-lanczos"``, ``"block-lanczos
        (after a mixed-precision attempt)"`` or ``"dense"`` (small matrices, SM).
    """

    iterations: int = 0
    n_products: int = 0
    n_block_products: int = 0
    n_accurate_products: int = 0
    refreshes: int = 0
    residuals: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tolerances: np.ndarray = field(default_factory=lambda: np.zeros(0))
    converged: bool = False
    n_converged: int = 0
    time: float = 0.0
    product_time: float = 0.0
    block_size: int = 0
    ncv: int = 0
    method: str = "block-lanczos"


class EigshNoConvergence(ArpackNoConvergence):
    """Raised when :func:`eigsh` does not converge within ``maxiter`` restarts.

    Like scipy's :class:`~scipy.sparse.linalg.ArpackNoConvergence` (a subclass of it):
    ``eigenvalues`` and ``eigenvectors`` hold the converged pairs; ``info`` is the
    :class:`EigshInfo` of the run.
    """

    def __init__(self, msg: str, eigenvalues: np.ndarray, eigenvectors: np.ndarray,
                 info: EigshInfo) -> None:
        super().__init__(msg, eigenvalues, eigenvectors)
        self.info = info


class ThresholdNotReached(RuntimeError):
    """:func:`eigvals_above` reached ``max_k`` eigenvalues, all beyond the threshold.

    ``eigenvalues`` holds the ``max_k`` eigenvalues found (there are more).
    """

    def __init__(self, msg: str, eigenvalues: np.ndarray) -> None:
        super().__init__(msg)
        self.eigenvalues = eigenvalues


# ----------------------------------------------------------------------------- operators

class _Operator:
    """The products of the solver: ``fast`` (may be float32) and ``accurate`` (float64).

    Both are called as ``f(V, nt)`` with a float64 (n, w) block and the thread count.
    """

    def __init__(self, n: int, accurate: Callable, fast: Callable | None, kind: str,
                 dense: np.ndarray | None = None, eps: float = _EPS) -> None:
        self.n = n
        self._accurate = accurate
        self._fast = fast
        self.has_fast = fast is not None
        self.kind = kind
        self.dense = dense          # the array itself when A is a dense array
        self.eps = eps              # unit roundoff of the stored values
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
            out = out * self.scale
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
    """Float64-accumulated product of a dense symmetric array (no copy of A).

    Uses :func:`fastrmt.operators.dense_matmat` (reads the upper triangle once, sums in
    float64 in a fixed order: bit-identical for any thread count); without it, row
    tiles of A converted to float64 and multiplied by single-threaded dgemm.
    """
    try:
        from .operators import dense_matmat
    except ImportError:  # pragma: no cover - depends on the operators module
        dense_matmat = None
    if dense_matmat is not None:
        return lambda V, nt: dense_matmat(A, V, n_threads=nt)
    n = A.shape[0]
    rows = max(1, (1 << 22) // max(n, 1))   # row tiles of <= 32 MiB in float64

    def prod(V: np.ndarray, nt: int | None) -> np.ndarray:  # pragma: no cover - fallback
        out = np.empty((n, V.shape[1]))
        for r0 in range(0, n, rows):
            r1 = min(n, r0 + rows)
            np.matmul(A[r0:r1].astype(np.float64), V, out=out[r0:r1])
        return out
    return prod


_ROW_CHUNK = 256


def _dense_fast(A: np.ndarray) -> Callable:
    """Float32 product of a float32 dense symmetric array.

    :func:`fastrmt.packed.sym_product` reads the upper triangle once (half the memory
    traffic of sgemm) in float32 arithmetic, bit-identical for any thread count.
    Without it: single-threaded sgemm on fixed chunks of 256 rows run by ``nt`` Python
    threads (fixed chunking: the result does not depend on the thread count, whereas a
    multithreaded sgemm's does).
    """
    n = A.shape[0]
    try:
        from .packed import sym_product
    except ImportError:  # pragma: no cover - depends on the packed module's products
        sym_product = None
    if sym_product is not None:
        flat = A.reshape(-1)

        def prod_sym(V: np.ndarray, nt: int | None) -> np.ndarray:
            V32 = np.ascontiguousarray(V, dtype=np.float32)
            return sym_product(flat, n, False, V32, int(nt or 1), True)
        return prod_sym
    starts = list(range(0, n, _ROW_CHUNK))  # pragma: no cover - fallback below

    def prod(V: np.ndarray, nt: int | None) -> np.ndarray:  # pragma: no cover
        V32 = np.ascontiguousarray(V, dtype=np.float32)
        out = np.empty((n, V.shape[1]), dtype=np.float32)

        def one(r0: int) -> None:
            r1 = min(n, r0 + _ROW_CHUNK)
            np.matmul(A[r0:r1], V32, out=out[r0:r1])
        workers = max(1, int(nt or 1))
        with _serial():
            if workers == 1:
                for r0 in starts:
                    one(r0)
            else:
                with ThreadPoolExecutor(max_workers=workers) as ex:
                    list(ex.map(one, starts))
        return out
    return prod


def _probe_vectors(n: int, count: int) -> np.ndarray:
    out = np.empty((n, count))
    _lanczos.gaussian_block(out, _PROBE_COL, STREAM_SOLVER, _PROBE_KEY.k0, _PROBE_KEY.k1)
    return out


def _check_symmetric_probe(op: _Operator, tol: float) -> None:
    """Compare x^T (A y) with y^T (A x) for two fixed pseudo-random vectors."""
    X = _probe_vectors(op.n, 2)
    AX = op.product(X, accurate=True)
    op.n_vectors = op.n_blocks = op.n_accurate = 0
    if not np.all(np.isfinite(AX)):
        raise ValueError("A must contain only finite values (its product with a probe "
                         "vector has NaN or inf)")
    a = float(X[:, 0] @ AX[:, 1])
    b = float(X[:, 1] @ AX[:, 0])
    scale = (np.linalg.norm(AX[:, 0]) * np.linalg.norm(X[:, 1])
             + np.linalg.norm(AX[:, 1]) * np.linalg.norm(X[:, 0]))
    if abs(a - b) > tol * scale:
        raise ValueError(f"A must be symmetric: x^T A y = {a:.6g} but y^T A x = {b:.6g} "
                         f"for probe vectors x, y")


def _check_dense(A: np.ndarray, tol: float) -> None:
    """Check the whole of a dense array: finite values and symmetry.

    Finiteness: ``max`` and ``min`` of A (NaN and inf propagate; no temporary).
    Symmetry: strips of 128 rows compared with the matching columns, ``|a_ij - a_ji| <=
    tol max|A|`` (about two more passes over A, temporaries of 128 n values).
    """
    n = A.shape[0]
    hi, lo = float(A.max()), float(A.min())
    if not (math.isfinite(hi) and math.isfinite(lo)):
        raise ValueError("A must contain only finite values (found NaN or inf)")
    amax = max(hi, -lo)
    limit = tol * amax
    step = 128
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        rows = A[r0:r1, r0:].astype(np.float64)
        cols = A[r0:, r0:r1].T.astype(np.float64)
        diff = np.abs(rows - cols)
        if float(diff.max()) > limit:
            i, j = np.unravel_index(int(np.argmax(diff)), diff.shape)
            i, j = int(i) + r0, int(j) + r0
            raise ValueError(f"A must be symmetric: A[{i}, {j}] = {A[i, j]!r} but "
                             f"A[{j}, {i}] = {A[j, i]!r}")


def _as_operator(A: Any) -> _Operator:
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
        op = _Operator(A.shape[0], lambda V, nt: S @ V, None, "sparse")  # no BLAS
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
    storage_dt = np.dtype(getattr(A, "storage_dtype", dt if dt is not None else np.float64))
    if hasattr(A, "matmat_single") and hasattr(A, "matmat"):
        # fastrmt's deformed Wigner operators: float32 fast path + float64 accumulation
        def acc_w(V: np.ndarray, nt: int | None) -> np.ndarray:
            return A.matmat(V, n_threads=nt)

        def single_w(V: np.ndarray, nt: int | None) -> np.ndarray:
            return A.matmat_single(V, n_threads=nt)
        # matrix-free: regenerating the tiles dominates and costs the same for float32
        # and float64 products, so every product is float64-accumulated (no refresh)
        use_single = (storage_dt == np.float32
                      and getattr(A, "storage", None) != "matrix-free")
        return _Operator(n, acc_w, single_w if use_single else None,
                         f"operator ({getattr(A, 'storage', '?')})",
                         eps=float(np.finfo(storage_dt).eps) if storage_dt.kind == "f"
                         else _EPS)
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
    op = _Operator(n, acc, None, f"operator {type(A).__name__}")
    op.foreign = True
    low = dt is not None and np.dtype(dt) == np.float32
    _check_symmetric_probe(op, 1e-4 if low else 1e-8)
    return op


# ----------------------------------------------------------------------------- helpers

def _priority(theta: np.ndarray, which: str) -> np.ndarray:
    """Indices of the Ritz values, most wanted first (stable)."""
    if which == "LA":
        return np.argsort(-theta, kind="stable")
    if which == "SA":
        return np.argsort(theta, kind="stable")
    if which == "LM":
        return np.argsort(-np.abs(theta), kind="stable")
    if which == "SM":
        return np.argsort(np.abs(theta), kind="stable")
    # BE: alternate high end, low end, starting from the high end
    asc = np.argsort(theta, kind="stable")
    out = np.empty_like(asc)
    lo, hi = 0, asc.size - 1
    for i in range(asc.size):
        if i % 2 == 0:
            out[i] = asc[hi]
            hi -= 1
        else:
            out[i] = asc[lo]
            lo += 1
    return out


def _scipy_order(values: np.ndarray, which: str, with_vectors: bool) -> np.ndarray:
    """The order in which scipy's eigsh returns its eigenvalues."""
    if with_vectors or which in ("LA", "BE"):
        return np.argsort(values, kind="stable")
    if which == "SA":
        return np.argsort(-values, kind="stable")
    if which == "SM":
        return np.argsort(-np.abs(values), kind="stable")
    return np.argsort(np.abs(values), kind="stable")   # LM


def _random_block(n: int, width: int, col0: int, key: Key) -> np.ndarray:
    out = np.empty((n, width))
    _lanczos.gaussian_block(out, col0, STREAM_SOLVER, key.k0, key.k1)
    return out


class _Random:
    """Fresh random columns of the solver stream, never the same column twice."""

    def __init__(self, key: Key) -> None:
        self.key = key
        self.next_col = 0

    def block(self, n: int, width: int) -> np.ndarray:
        out = _random_block(n, width, self.next_col, self.key)
        self.next_col += width
        return out


def _serial():
    """Context running BLAS/LAPACK on one thread: for the small dense steps (eigh of the
    projected matrix, Gram matrices), where thread synchronization costs more than the
    work (ms per call on a loaded machine)."""
    return blas_limit(1)


def _blas(nt: int | None):
    """Context giving BLAS ``nt`` threads again (for products of foreign operators)."""
    return blas_limit(resolve_n_threads(nt))


def _eigh(H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with _serial():
        return np.linalg.eigh(H)


def _cholqr(X: np.ndarray, nt: int = 1) -> np.ndarray:
    """Orthonormalize a well-conditioned block by one Cholesky QR step (BLAS-3)."""
    G = _gemm.tmm(X, X, nt)
    with _serial():
        try:
            L = np.linalg.cholesky(G)
            Linv = scipy.linalg.solve_triangular(L, np.eye(L.shape[0]), lower=True,
                                                 check_finite=False)
        except np.linalg.LinAlgError:
            lam, Z = np.linalg.eigh(G)
            Linv = (Z / np.sqrt(np.maximum(lam, np.finfo(np.float64).tiny))).T
    return _gemm.mm(X, Linv.T, nt)


def _project(X: np.ndarray, V: np.ndarray, nt: int = 1) -> np.ndarray:
    return _gemm.project(X, V, nt)


def _orth(W: np.ndarray, V: np.ndarray, C: np.ndarray | None, rnd: _Random, nt: int = 1
          ) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal Q with (I - V V^T) W = Q Rn, completed by random directions.

    ``C = V^T W`` may be given (saves one product).  Two Gram--Schmidt passes against
    V, then a rank-revealing orthonormalization by eigendecomposition of the Gram
    matrix, level by level (each level resolves singular values down to 1e-6 of the
    largest remaining one, the rest is projected and treated at the next level), so
    that directions down to ``_RANK_TOL`` times the block norm are kept.  Lost
    directions are replaced by random ones, and a final pass against V and a Cholesky
    QR make Q orthonormal and orthogonal to V to working precision.  Only BLAS-3 and
    small dense eigenproblems (no Householder QR: its tall-skinny level-2 steps are
    slow with threads).
    """
    n, w = W.shape
    nrm0 = float(np.max(_colnorms(W))) if w else 0.0
    floor = _RANK_TOL * max(nrm0, np.finfo(np.float64).tiny)
    if V.shape[1]:
        Wp = W - _gemm.mm(V, _gemm.tmm(V, W, nt) if C is None else C, nt)
        _project(Wp, V, nt)
    else:
        Wp = W.copy()
    blocks: list[np.ndarray] = []
    X = Wp
    well_conditioned = True
    for _level in range(4):
        if X.shape[1] == 0:
            break
        lam, Z = _eigh(_gemm.tmm(X, X, nt))
        lam, Z = lam[::-1], Z[:, ::-1]
        s = np.sqrt(np.maximum(lam, 0.0))
        if s[0] <= floor:
            break
        good = s > max(1e-6 * s[0], floor)
        r = int(np.count_nonzero(good))
        if s[-1] < 1e-2 * nrm0:
            well_conditioned = False
        Ug = _cholqr(_gemm.mm(X, Z[:, :r] / s[:r], nt), nt)
        for U in blocks:
            Ug = _cholqr(_project(Ug, U, nt), nt)
        blocks.append(Ug)
        X = _gemm.mm(X, Z[:, r:], nt)
        for U in blocks:
            _project(X, U, nt)
            _project(X, U, nt)
    got = sum(U.shape[1] for U in blocks)
    if got < w:
        Rb = rnd.block(n, w - got)
        for _ in range(2):
            _project(Rb, V, nt)
            for U in blocks:
                _project(Rb, U, nt)
        blocks.append(_cholqr(Rb, nt))
        well_conditioned = False
    Q = np.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]
    if not well_conditioned:
        # a third pass: small directions lose orthogonality to V in proportion to
        # (block norm / their size) in the first two
        _project(Q, V, nt)
        Q = _cholqr(Q, nt)
    Q = np.ascontiguousarray(Q)
    return Q, _gemm.tmm(Q, Wp, nt)


def _thresholds(theta: np.ndarray, tol: float, floor: float) -> np.ndarray:
    return np.maximum(tol * np.abs(theta), floor)


def _ratio(res: np.ndarray, thr: np.ndarray) -> float:
    """``max(res / thr)`` with ``0 / 0 = 0`` (an exact zero residual meets a zero
    threshold: the zero matrix) and ``x / 0 = inf``."""
    if res.size == 0:
        return 0.0
    q = np.divide(res, thr, out=np.where(res > 0, np.inf, 0.0), where=thr > 0)
    return float(np.max(q))


def _more_copies(th: np.ndarray, thr: np.ndarray, which: str, b: int,
                 seen: list[list[float]]) -> bool:
    """Whether a wanted multiple eigenvalue may have more copies than were found.

    ``th`` are the ``k`` converged wanted Ritz values in priority order, ``thr`` their
    thresholds.  A block Krylov space started from ``b`` vectors holds at most ``b``
    copies of an eigenvalue (per injection of fresh directions), so a group of ``>= b``
    equal values (to within their thresholds) followed by less wanted values may hide
    further copies.  ``seen`` records ``[value, count, tol]`` of the groups checked at
    earlier rounds: a round that added fewer than ``b`` copies to a group has exhausted
    its multiplicity.
    """
    idx = np.arange(th.size)
    if which == "BE":
        sides = [(idx[0::2], "LA"), (idx[1::2], "SA")]
    else:
        sides = [(idx, which)]
    need = False
    for ix, w in sides:
        vals, t = th[ix], thr[ix]
        if w == "LA":
            key = -vals
        elif w == "SA":
            key = vals.copy()
        elif w == "LM":
            key = -np.abs(vals)
        else:   # SM
            key = np.abs(vals)
        o = np.argsort(vals, kind="stable")
        i = 0
        while i < o.size:
            j = i + 1
            while (j < o.size and vals[o[j]] - vals[o[j - 1]]
                   <= 4.0 * max(t[o[j]], t[o[j - 1]])):
                j += 1
            g = o[i:j]
            i = j
            c = g.size
            if c < b:
                continue
            tolg = 4.0 * float(np.max(t[g]))
            v = float(np.mean(vals[g]))
            rest = np.setdiff1d(np.arange(vals.size), g)
            if not np.any(key[rest] > float(np.max(key[g])) + tolg):
                continue    # nothing less wanted: more copies would not change the result
            prev = 0
            for entry in seen:
                if abs(entry[0] - v) <= max(entry[2], tolg):
                    prev = max(prev, int(entry[1]))
            if c - prev >= b:
                need = True
            seen.append([v, c, tolg])
    return need


def _colnorms(X: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->j", X, X))


# ----------------------------------------------------------------------------- dense path

def _solve_dense(op: _Operator, k: int, which: str, tol: float, info: EigshInfo
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = op.n
    if op.dense is not None:
        D = op.dense.astype(np.float64)
    else:
        D = np.empty((n, n))
        step = 256
        for c0 in range(0, n, step):
            c1 = min(n, c0 + step)
            E = np.zeros((n, c1 - c0))
            E[np.arange(c0, c1), np.arange(c1 - c0)] = 1.0
            D[:, c0:c1] = op.product(E, accurate=True)
    if not np.all(np.isfinite(D)):
        raise ValueError("A must contain only finite values (found NaN or inf)")
    D = np.triu(D) + np.triu(D, 1).T   # the upper triangle, as the block products read it
    op.scale = _scale_of(float(np.max(np.abs(D))))
    D *= op.scale
    lam, X = np.linalg.eigh(D)
    sel = _priority(lam, which)[:k]
    lam, X = lam[sel], X[:, sel]
    res = _colnorms(D @ X - X * lam)
    anorm = float(np.max(np.abs(lam))) if lam.size else 0.0
    anorm = max(anorm, float(np.max(np.abs(np.linalg.eigvalsh(D)[[0, -1]]))))
    thr = _thresholds(lam, tol, _FLOOR_C * math.sqrt(n) * _EPS * anorm)
    info.method = "dense"
    return lam, X, res, thr


# ----------------------------------------------------------------------------- block Lanczos

def _solve(op: _Operator, k: int, which: str, tol: float, maxiter: int, m: int, b: int,
           key: Key, v0: np.ndarray | None, info: EigshInfo, callback: Callable | None,
           progress: bool, t0: float, rel_floor: float = 0.0
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = op.n
    op.scale = 1.0          # set below from the first product (a previous attempt's is stale)
    rnd = _Random(key)
    Q0 = rnd.block(n, b)
    if v0 is not None:
        Q0[:, 0] = v0
    nt = max(1, int(op.nt or 1))
    Q, _ = _orth(Q0, np.empty((n, 0)), None, rnd, nt)
    # every product here is a plain one: float64-accumulated, or the float32 product
    # itself in the float32 phase of the mixed-precision mode (_solve_mixed)
    AQ = op.product(Q, accurate=True)
    if not np.all(np.isfinite(AQ)):
        raise ValueError("A must contain only finite values (its product with the start "
                         "block has NaN or inf)")
    # work on scale * A (scale a power of 2 from max |A Q|, Q orthonormal: a lower bound
    # of ||A|| within a factor ~n), so that 1e-200 A or 1e200 A neither under- nor
    # overflow in the Gram matrices; the caller divides the results by it (exactly).
    # (max |.|, not a column norm: squares of 1e-200 underflow)
    op.scale = _scale_of(float(np.max(np.abs(AQ))))
    AQ *= op.scale
    V = np.empty((n, m))
    AV = np.empty((n, m))
    H = np.zeros((m, m))
    cur = 0
    anorm = 0.0
    restarts = 0
    prev_cycle_ratio = math.inf
    p_keep = max(k, min(m - b, k + (m - k - b + 1) // 2))
    p_keep1 = max(k + 1, p_keep) if m - b >= k + 1 else p_keep
    wmax = max(1, (m - k) // 2)
    seen: list[list[float]] = []   # multiple eigenvalues checked for further copies
    kw = k                         # pairs that must converge (k + 1 after a lock)

    def schedule(c: int) -> int:
        # Rayleigh--Ritz (an eigh of H) only every quarter of the room left in the basis
        # and when it is full: an eigh per block step cost more than the products'
        # orthogonalization at k ~ 100
        return c + max(b, (m - c) // 4)

    next_check = schedule(0)

    def restart_basis(Yk: np.ndarray, AYk: np.ndarray, th: np.ndarray) -> int:
        # the basis restarts from Ritz pairs: H = diag(theta); returns the new size
        p = th.size
        V[:, :p] = Yk
        AV[:, :p] = AYk
        H[:] = 0.0
        H[np.arange(p), np.arange(p)] = th
        return p

    def floor() -> float:
        return max(_FLOOR_C * math.sqrt(n) * _EPS, rel_floor) * anorm

    def report(nconv: int, maxres: float, event: str) -> None:
        snap = replace(info, iterations=restarts, n_products=op.n_vectors,
                       n_block_products=op.n_blocks, n_accurate_products=op.n_accurate,
                       n_converged=nconv, time=time.perf_counter() - t0,
                       product_time=op.time)
        if callback is not None:
            callback(snap)
        if progress:
            sys.stderr.write(f"eigsh: {event} {restarts:4d}  products {op.n_vectors:7d}  "
                             f"converged {nconv:4d}/{k}  max residual {maxres:.2e}  "
                             f"{snap.time:8.2f} s\n")
            sys.stderr.flush()

    while True:
        # ---- one block step: append Q (and A Q) to the basis
        if AQ is None:
            AQ = op.product(Q, accurate=True)
        w = Q.shape[1]
        V[:, cur:cur + w] = Q
        AV[:, cur:cur + w] = AQ
        C = _gemm.tmm(V[:, :cur + w], AQ, nt)
        Hc = C
        H[:cur + w, cur:cur + w] = Hc
        H[cur:cur + w, :cur] = Hc[:cur].T
        D = Hc[cur:]
        H[cur:cur + w, cur:cur + w] = 0.5 * (D + D.T)
        cur += w
        Qn, Rn = _orth(AQ, V[:, :cur], C, rnd, nt)
        AQ = None
        full = cur + Qn.shape[1] > m
        if not full and cur < next_check:
            Q = Qn
            continue
        next_check = schedule(cur)
        theta, S = _eigh(H[:cur, :cur])
        anorm = max(anorm, float(np.max(np.abs(theta))))
        order = _priority(theta, which)
        sel = order[:kw]
        thr = _thresholds(theta[sel], tol, floor())
        est = _colnorms(Rn @ S[cur - w:cur, sel])
        if not (full or np.all(est <= thr)):
            Q = Qn
            continue
        # ---- explicit residuals of the wanted Ritz pairs
        Sw = S[:, sel]
        Y = _gemm.mm(V[:, :cur], Sw, nt)
        AY = _gemm.mm(AV[:, :cur], Sw, nt)
        res = _colnorms(AY - Y * theta[sel])
        ratio = _ratio(res, thr)
        done = ratio <= 1.0 and sel.size == kw
        if done:
            if not _more_copies(theta[sel][:k], thr[:k], which, b, seen):
                info.iterations = restarts
                return theta[sel][:k], Y[:, :k], res[:k], thr[:k]
            # lock the converged pairs, continue from fresh random directions
            restarts += 1
            report(kw, float(np.max(res)), "lock")
            if restarts > maxiter:
                _no_convergence(theta[sel], Y, res, thr, info, restarts, op, t0)
            cur = restart_basis(Y, AY, theta[sel])
            next_check = schedule(cur)
            # from now on one more pair must converge: the most wanted one the fresh
            # directions bring (a further copy, or the first value below the group)
            kw = max(kw, min(k + 1, m - b, n - 1))
            prev_cycle_ratio = math.inf
            Q, _ = _orth(rnd.block(n, b), V[:, :cur], None, rnd, nt)
            continue
        # near the floor, the rounding accumulated in the kept A y over many restarts
        # can stall the residuals: recompute them (refresh)
        stagnant = (full and ratio > 1.0 and ratio > 0.9 * prev_cycle_ratio
                    and float(np.max(res)) <= 1e-9 * anorm)
        if stagnant:
            # ---- refresh: fresh products of the wanted Ritz vectors
            info.refreshes += 1
            AYa = op.product(Y, accurate=True)
            Hy = _gemm.tmm(Y, AYa, nt)
            Hy = 0.5 * (Hy + Hy.T)
            th, s = _eigh(Hy)
            o = _priority(th, which)
            th, s = th[o], s[:, o]
            Y = _gemm.mm(Y, s, nt)
            AY = _gemm.mm(AYa, s, nt)
            R = AY - Y * th
            res = _colnorms(R)
            anorm = max(anorm, float(np.max(np.abs(th))))
            thr = _thresholds(th, tol, floor())
            rr = _ratio(res, thr)
            report(int(np.count_nonzero(res <= thr)), float(np.max(res)), "refresh")
            lock = False
            if rr <= 1.0 and th.size == kw:
                if not _more_copies(th[:k], thr[:k], which, b, seen):
                    info.iterations = restarts
                    return th[:k], Y[:, :k], res[:k], thr[:k]
                lock = True
                kw = max(kw, min(k + 1, m - b, n - 1))
            prev_cycle_ratio = math.inf
            restarts += 1
            if restarts > maxiter:
                _no_convergence(th, Y, res, thr, info, restarts, op, t0)
            cur = restart_basis(Y, AY, th)
            next_check = schedule(cur)
            bad = res > thr
            W = rnd.block(n, b) if lock else R[:, bad]
            if W.shape[1] > wmax:
                lw, zw = _eigh(_gemm.tmm(W, W, nt))
                W = _gemm.mm(W, zw[:, ::-1][:, :wmax], nt)
            Q, _ = _orth(W, V[:, :cur], None, rnd, nt)
            continue
        if not full:
            Q = Qn
            continue
        # ---- thick restart
        prev_cycle_ratio = ratio
        restarts += 1
        report(int(np.count_nonzero(res <= thr)), float(np.max(res)), "restart")
        if restarts > maxiter:
            _no_convergence(theta[sel], Y, res, thr, info, restarts, op, t0)
        p = min(p_keep if kw == k else p_keep1, cur, m - Qn.shape[1])
        keep = order[:p]
        Sk = S[:, keep]
        cur = restart_basis(_gemm.mm(V[:, :cur], Sk, nt), _gemm.mm(AV[:, :cur], Sk, nt),
                            theta[keep])
        next_check = schedule(cur)
        Q = Qn


def _key(theta: np.ndarray, which: str) -> np.ndarray:
    """Larger = more wanted (LA, SA, LM)."""
    if which == "LA":
        return theta
    if which == "SA":
        return -theta
    return np.abs(theta)


def _solve_mixed(op: _Operator, k: int, which: str, tol: float, maxiter: int, m: int,
                 b: int, key: Key, v0: np.ndarray | None, info: EigshInfo,
                 callback: Callable | None, progress: bool, t0: float,
                 beyond: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Float32 Krylov phase, then one float64-accumulated Rayleigh--Ritz step.

    Phase 1 runs the block Lanczos iteration on the float32 products alone, for
    ``k + 1`` pairs, down to a relative residual ``max(tol, 1e-6)``.  Phase 2 multiplies
    those ``k + 1`` Ritz vectors once with float64 accumulation and solves the projected
    problem.  With ``R = A Y - Y Theta`` (``rho = ||R||_2``) the eigenvalues of A lie
    within ``2 rho^2 / (eta_j + sqrt(eta_j^2 + 4 rho^2))`` of the Ritz values ``theta_j``
    (C.-K. Li and R.-C. Li, LAA 2005), ``eta_j`` the distance from ``theta_j`` to the
    spectrum of A on the orthogonal complement, estimated by the ``k + 1``-th Ritz
    value (the most wanted one left out).  Every one of the ``k`` values must meet the
    relative accuracy ``max(tol, 1e-10)``; with ``beyond`` (a threshold, used by
    :func:`eigvals_above`) a value short of the threshold need only be certified on its
    side.  Returns the ``k`` pairs with residual thresholds equivalent to the bound, or
    None (the caller then solves with float64-accumulated products).
    """
    n = op.n
    kk = k + 1
    if kk >= n or which not in ("LA", "SA", "LM"):
        return None
    fast = _Operator(n, op._fast, None, op.kind + " (float32 phase)", eps=op.eps)
    fast.nt = op.nt
    try:
        _, Y, _, _ = _solve(fast, kk, which, tol, maxiter, min(max(m, kk + 2 * b), n),
                              b, key, v0, info, callback, progress, t0,
                              rel_floor=_MIXED_PHASE1)
    except EigshNoConvergence:
        return None
    finally:
        op.n_vectors += fast.n_vectors
        op.n_blocks += fast.n_blocks
        op.time += fast.time
    op.scale = fast.scale
    nt = max(1, int(op.nt or 1))
    rnd = _Random(Key(key.k0, key.k1 ^ 0x3C3C3C3C))
    etol = max(tol, _MIXED_EIG_TOL)
    side = (float(_key(np.array([beyond * op.scale]), which)[0])
            if beyond is not None else math.inf)
    X, AX = Y, op.product(Y, accurate=True)
    for step in range(1 + _MIXED_EXPANSIONS):
        # Rayleigh--Ritz on span(X) with float64-accumulated products
        Hy = _gemm.tmm(X, AX, nt)
        th, s = _eigh(0.5 * (Hy + Hy.T))
        o = _priority(th, which)[:kk]
        th, s = th[o], s[:, o]
        Y = _gemm.mm(X, s, nt)
        AY = _gemm.mm(AX, s, nt)
        R = AY - Y * th
        res = _colnorms(R)
        rho = float(np.sqrt(max(float(np.linalg.eigvalsh(_gemm.tmm(R, R, nt))[-1]), 0.0)))
        kth = _key(th, which)
        eta = kth[:k] - kth[k]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            bound = np.where(eta > 0,
                             2 * rho * rho / (eta + np.sqrt(eta * eta + 4 * rho * rho)),
                             np.inf)
        anorm = float(np.max(np.abs(th)))
        want = etol * np.maximum(np.abs(th[:k]), _FLOOR_C * math.sqrt(n) * _EPS * anorm)
        info.refreshes += 1
        short = kth[:k] <= side
        acc = bound <= want
        ok = acc | (short & (kth[:k] + bound < side))
        if progress:
            sys.stderr.write(f"eigsh: float64 Rayleigh-Ritz {step}: ||R|| {rho:.2e}, "
                             f"{int(np.count_nonzero(ok))}/{k} certified\n")
        if np.all(ok):
            break
        if step == _MIXED_EXPANSIONS:
            return None
        # expand by the residual directions (one block-Krylov step in float64)
        Q, _ = _orth(R, Y, None, rnd, nt)
        X = np.concatenate([Y, Q], axis=1)
        AX = np.concatenate([AY, op.product(Q, accurate=True)], axis=1)
    # the residual norm that would meet the bound (rho^2 / eta <= want, or <= the
    # distance to the threshold for a value short of it)
    need = np.where(short & ~acc, np.maximum(side - kth[:k], 0.0), want)
    thr = np.maximum(np.sqrt(need * np.maximum(eta, 0.0)), res[:k])
    info.method = "mixed-precision block-lanczos"
    return th[:k], Y[:, :k], res[:k], thr


def _no_convergence(theta, Y, res, thr, info, restarts, op, t0) -> None:
    ok = res <= thr
    info.iterations = restarts
    info.n_products = op.n_vectors
    info.n_block_products = op.n_blocks
    info.n_accurate_products = op.n_accurate
    info.product_time = op.time
    info.residuals = res
    info.tolerances = thr
    info.converged = False
    info.n_converged = int(np.count_nonzero(ok))
    info.time = time.perf_counter() - t0
    raise EigshNoConvergence(
        f"eigsh: no convergence after {restarts - 1} restarts (maxiter); "
        f"{info.n_converged} of {theta.size} eigenpairs converged",
        theta[ok], Y[:, ok], info)


# ----------------------------------------------------------------------------- public API

def _default_sizes(n: int, k: int, ncv: int | None, block_size: int | None,
                   matrix_free: bool = False) -> tuple[int, int]:
    """Block and basis sizes.

    Defaults tuned on 2 cores, where a dense block product is memory-bound only up to
    ~8 vectors: blocks of ``min(8, max(k, 4))`` vectors and a large basis
    (``max(4k, k + 16 b, 96)``), which keeps the number of passes over the matrix low.
    A matrix-free operator gets the same blocks and a basis of ``max(4k, k + 8 b, 96)``:
    measured at n = 20000, k = 20, tol = 1e-8, blocks of 8 need 25 passes of 1.05 s
    against 23 passes of 1.4 s for blocks of 20 (the tile products grow with the width,
    the number of passes hardly shrinks: it is set by the gap to the bulk).
    """
    if block_size is None:
        b = min(8, max(k, 4))
        if ncv is not None:
            b = max(1, min(b, (max(ncv, 2 * k + 1, 20) - k) // 5))
    else:
        b = block_size
    if ncv is None:
        m = max(4 * k, k + (8 if matrix_free else 16) * b, 96)
    else:
        # a thick restart keeps >= k vectors and needs room for several blocks after
        # them (ncv = k + 1 stalls): a smaller ncv is raised to scipy's default
        # max(2 k + 1, 20) (and to k + 2 block_size)
        m = max(ncv, 2 * k + 1, 20, k + 2 * b)
    return m, b


def eigsh(A: Any, k: int = 6, M: Any = None, sigma: float | None = None, which: str = "LM",
          v0: np.ndarray | None = None, ncv: int | None = None, maxiter: int | None = None,
          tol: float = 0, return_eigenvectors: bool = True, Minv: Any = None,
          OPinv: Any = None, mode: str = "normal", rng: SeedLike = None, *,
          block_size: int | None = None,
          n_threads: int | None = None, seed: SeedLike = None,
          mixed_precision: bool = False,
          callback: Callable[[EigshInfo], Any] | None = None, progress: bool = False,
          return_info: bool = False, _beyond: float | None = None):
    """Extreme eigenvalues (and eigenvectors) of a real symmetric matrix.

    A drop-in for :func:`scipy.sparse.linalg.eigsh` on the cases it covers
    (standard problem, no shift-invert; ``which="SM"`` only up to ``n = 4096``): the
    same signature and defaults (scipy >= 1.15, ``rng`` included), then keyword-only
    options.  Thick-restarted block Lanczos (module docstring).

    Parameters
    ----------
    A : ndarray, PackedSymmetric, fastrmt operator, scipy LinearOperator or sparse matrix
        Real symmetric ``n x n`` matrix.  Dense float32 arrays, float32 packed matrices
        and float32-stored fastrmt operators are iterated with float32 products and
        refined with float64-accumulated ones: the eigenvalues returned are those of the
        stored matrix.  Dense arrays are checked whole for finite values and for
        symmetry (``|a_ij - a_ji| <= 1000 eps max|A|``, both triangles; the products
        then read the upper triangle); sparse matrices exactly; other operators with two
        probe vectors (symmetry, NaN/inf), and each product must be a real array of the
        block's shape.
    k : int, default 6
        Number of eigenvalues, ``1 <= k < n``.
    M, sigma, Minv, OPinv
        Not supported (generalized and shift-invert modes): must be None, else
        :class:`NotImplementedError`.
    which : {"LM", "SM", "LA", "SA", "BE"}, default "LM"
        Largest magnitude (scipy's default), smallest magnitude, largest algebraic,
        smallest algebraic, or both ends (``k // 2`` from the low end, the rest from the
        high end).  ``"SM"`` computes the whole spectrum by dense LAPACK and is refused
        (NotImplementedError) above ``n = 4096``: a Krylov method reaches eigenvalues
        inside the spectrum only through shift-invert (scipy's ``sigma=0``).
    v0 : ndarray, shape (n,), optional
        Start vector (the first column of the start block; the others are random).
    ncv : int, optional
        Basis size (default ``max(4 k, k + 16 block_size, 96)``, ``k + 8 block_size`` for
        matrix-free operators); ``k < ncv <= n``.  A value below ``max(2 k + 1, 20,
        k + 2 block_size)`` (scipy's default) is raised to it: a thick restart keeps
        ``k`` vectors and needs room for several blocks after them (``ncv = k + 1``
        would stall).  With a given ``ncv`` the default block size is at most
        ``(ncv - k) // 5``.
    maxiter : int, optional
        Maximum number of restarts (default ``10 * n``, as scipy).
    tol : float, default 0
        Relative accuracy: a pair is converged when ``||A y - theta y|| <= tol |theta|``
        (floored at ``16 sqrt(n) eps ||A||``).  0 means machine precision.
    return_eigenvectors : bool, default True
        Return ``(w, v)`` rather than ``w``.
    mode : "normal"
        Only the standard mode is supported.
    rng : None, int, Generator, optional
        Randomness of the start block (scipy's argument; the same as ``seed``, give at
        most one of them).
    block_size : int, optional
        Vectors per block product (default ``min(8, max(k, 4))``).  Eigenvalues of
        multiplicity up to ``block_size`` are resolved within one Krylov space, larger
        ones by locking and restarting (module docstring).
    n_threads : int, optional
        Threads for the products and BLAS (None = all).  Never changes the result.
    seed : None, int, SeedSequence, Generator
        Seed of the random start block (Philox stream ``STREAM_SOLVER``).  None draws
        fresh entropy; pass an int for reproducible runs.
    mixed_precision : bool, default False
        For float32-stored matrices (dense, packed, fastrmt dense/packed operators):
        iterate with float32 products, then one float64-accumulated Rayleigh--Ritz step
        (module docstring).  The eigenvalues are those of the stored matrix to relative
        accuracy ``max(tol, 1e-10)``, certified by a quadratic residual bound (else the
        problem is solved again in float64, see ``EigshInfo.method``); eigenvectors
        are accurate to the float32 level (residuals ~1e-6 ``||A||``), and
        ``EigshInfo.tolerances`` are the residuals the bound needed.  Off by default,
        so that ``tol`` keeps scipy's meaning (a residual criterion).
    callback : callable, optional
        Called with an :class:`EigshInfo` snapshot at every restart and refresh.
    progress : bool, default False
        Print one status line per restart on stderr.
    return_info : bool, default False
        Also return the :class:`EigshInfo` of the run (as the last element).

    Returns
    -------
    w : ndarray, shape (k,), float64
        Eigenvalues, ordered as scipy orders them: ascending when eigenvectors are
        returned; with ``return_eigenvectors=False``: ascending for LA and BE,
        descending for SA, ascending magnitude for LM, descending magnitude for SM.
    v : ndarray, shape (n, k), float64
        Orthonormal eigenvectors, column ``i`` for ``w[i]`` (if ``return_eigenvectors``).
    info : EigshInfo
        If ``return_info``.

    Raises
    ------
    EigshNoConvergence
        (a subclass of scipy's ``ArpackNoConvergence``) after ``maxiter`` restarts,
        carrying the converged pairs.
    NotImplementedError
        For the unsupported scipy options.
    TypeError, ValueError
        For invalid input (non-square, non-symmetric, NaN/inf, bad ``k``...).

    Examples
    --------
    >>> import numpy as np, fastrmt
    >>> from fastrmt.eigensolver import eigsh
    >>> W = fastrmt.wigner(1000, seed=0)
    >>> w = eigsh(W, k=3, which="LA", return_eigenvectors=False, seed=0)
    >>> w.shape
    (3,)
    """
    t0 = time.perf_counter()
    for name, val in (("M", M), ("sigma", sigma), ("Minv", Minv), ("OPinv", OPinv)):
        if val is not None:
            raise NotImplementedError(
                f"{name} is not supported by fastrmt.eigsh (standard symmetric problem "
                f"only, no generalized or shift-invert mode); got {name}={val!r:.60}. "
                f"Use scipy.sparse.linalg.eigsh for it")
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a str, got {mode!r} (type {type(mode).__name__})")
    if mode != "normal":
        raise NotImplementedError(f"mode={mode!r} is not supported by fastrmt.eigsh "
                                  f"(only mode='normal')")
    which = check_choice("which", which, WHICH)
    k = check_int("k", k, min_value=1)
    tol = check_real("tol", tol, min_value=0.0)
    return_eigenvectors = check_bool("return_eigenvectors", return_eigenvectors)
    progress = check_bool("progress", progress)
    return_info = check_bool("return_info", return_info)
    mixed_precision = check_bool("mixed_precision", mixed_precision)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")
    if maxiter is not None:
        maxiter = check_int("maxiter", maxiter, min_value=1)
    if block_size is not None:
        block_size = check_int("block_size", block_size, min_value=1)
    if ncv is not None:
        ncv = check_int("ncv", ncv, min_value=2)
    if rng is not None and seed is not None:
        raise ValueError("pass the start block's randomness as rng or as seed, not both "
                         f"(got rng={rng!r:.40} and seed={seed!r:.40})")
    key = as_key(rng, "rng") if rng is not None else as_key(seed)
    op = _as_operator(A)
    n = op.n
    if not mixed_precision:
        op.has_fast = False
    if k >= n:
        raise ValueError(f"k must be < n = {n} (the order of A), got k={k}; use "
                         f"numpy.linalg.eigvalsh for all eigenvalues")
    if ncv is not None and ncv > n:
        raise ValueError(f"ncv must be <= n = {n}, got {ncv}")
    if ncv is not None and ncv <= k:
        raise ValueError(f"ncv must be > k = {k}, got {ncv}")
    if which == "SM" and n > _SM_DENSE_MAX:
        raise NotImplementedError(
            f"which='SM' is supported only up to n = {_SM_DENSE_MAX} (solved by dense "
            f"LAPACK); got n = {n}.  A Krylov method reaches eigenvalues near 0 inside the "
            f"spectrum only through shift-invert: use scipy.sparse.linalg.eigsh(A, k, "
            f"sigma=0)")
    if v0 is not None:
        v0 = check_array("v0", v0, ndim=1)
        if v0.shape[0] != n:
            raise ValueError(f"v0 must have shape ({n},), got {v0.shape}")
        if not np.any(v0):
            raise ValueError("v0 must be a non-zero vector")
    m, b = _default_sizes(n, k, ncv, block_size, matrix_free="matrix-free" in op.kind)
    if maxiter is None:
        maxiter = 10 * n
    info = EigshInfo(block_size=b, ncv=m)
    if n > max(_DENSE_N, 2 * (m + b)):
        check_memory(f"the Lanczos basis and its products (2 x {n} x {m} float64)",
                     16 * n * m, hint="lower ncv or block_size")
    tol_eff = tol if tol > 0 else _EPS
    with thread_limit(n_threads) as nt, _serial():
        # BLAS on one thread for the solver's own dense algebra (a multithreaded gemm's
        # rounding depends on the thread count); the products use nt threads.
        op.nt = nt
        if n <= max(_DENSE_N, 2 * (m + b)) or which == "SM":
            lam, X, res, thr = _solve_dense(op, k, which, tol_eff, info)
            info.ncv = n
        else:
            got = None
            if op.has_fast:
                got = _solve_mixed(op, k, which, tol, maxiter, min(m, n), b, key, v0,
                                   info, callback, progress, t0, beyond=_beyond)
                if got is None:     # a bound not met: solve with float64 products
                    info.method = "block-lanczos (after a mixed-precision attempt)"
                    op.has_fast = False
            if got is None:
                got = _solve(op, k, which, tol_eff, maxiter, min(m, n), b, key, v0,
                             info, callback, progress, t0)
            lam, X, res, thr = got
    o = _scipy_order(lam, which, return_eigenvectors)
    lam, X, res, thr = lam[o], X[:, o], res[o], thr[o]
    # undo the power-of-2 scaling (exact)
    lam, res, thr = lam / op.scale, res / op.scale, thr / op.scale
    info.n_products = op.n_vectors
    info.n_block_products = op.n_blocks
    info.n_accurate_products = op.n_accurate
    info.product_time = op.time
    info.residuals = res
    info.tolerances = thr
    info.n_converged = int(np.count_nonzero(res <= thr))
    info.converged = info.n_converged == k
    info.time = time.perf_counter() - t0
    out: tuple = (lam, np.ascontiguousarray(X)) if return_eigenvectors else (lam,)
    if return_info:
        out = out + (info,)
    return out[0] if len(out) == 1 else out


def top_eigenvalues(A: Any, k: int, *, which: str = "LA", tol: float = 0,
                    n_threads: int | None = None, seed: SeedLike = 0,
                    **kwargs: Any) -> np.ndarray:
    """The ``k`` most extreme eigenvalues, most extreme first.

    ``which="LA"`` (default): the k largest in decreasing order; ``"SA"``: the k smallest
    in increasing order; ``"LM"``: by decreasing magnitude.  A thin wrapper of
    :func:`eigsh` (no eigenvectors; ``seed=0`` by default, so repeated calls agree);
    other keyword arguments are passed on.
    """
    which = check_choice("which", which, ("LA", "SA", "LM"))
    w = eigsh(A, k, which=which, tol=tol, return_eigenvectors=False, n_threads=n_threads,
              seed=seed, **kwargs)
    return w[_priority(w, which)]


def eigvals_above(A: Any, threshold: float, *, which: str = "LA", k0: int = 8,
                  max_k: int = 512, tol: float = 0, return_eigenvectors: bool = False,
                  n_threads: int | None = None, seed: SeedLike = 0,
                  return_info: bool = False, **kwargs: Any):
    """Every eigenvalue above ``threshold`` (``which="LA"``) or below it (``"SA"``).

    The number of such eigenvalues need not be known: :func:`eigsh` is run for ``k0``
    eigenvalues, then for twice as many, ... until the least extreme eigenvalue found
    lies on the other side of the threshold (so that every eigenvalue beyond it is
    among those found), or ``k`` would exceed ``max_k``.

    Parameters
    ----------
    A : matrix or operator accepted by :func:`eigsh`
    threshold : float
        For example the predicted right edge of the bulk.
    which : {"LA", "SA"}
    k0 : int, default 8
        First number of eigenvalues tried.
    max_k : int, default 512
        Largest number of eigenvalues computed.
    tol, n_threads, seed, kwargs
        As in :func:`eigsh`.
    return_eigenvectors : bool, default False
        Also return the eigenvectors (columns).
    return_info : bool, default False
        Also return the :class:`EigshInfo` of the last :func:`eigsh` run.

    Returns
    -------
    w : ndarray, float64
        The eigenvalues beyond the threshold, most extreme first (may be empty).
    v : ndarray, shape (n, len(w))
        If ``return_eigenvectors``.
    info : EigshInfo
        If ``return_info``.

    Raises
    ------
    ThresholdNotReached
        If ``max_k`` eigenvalues (or ``n - 1``, the most :func:`eigsh` computes) are all
        beyond the threshold.
    """
    threshold = check_real("threshold", threshold)
    which = check_choice("which", which, ("LA", "SA"))
    k0 = check_int("k0", k0, min_value=1)
    max_k = check_int("max_k", max_k, min_value=1)
    return_eigenvectors = check_bool("return_eigenvectors", return_eigenvectors)
    return_info = check_bool("return_info", return_info)
    shape = getattr(A, "shape", None)
    if shape is None:
        shape = np.shape(A)
    n = int(shape[0]) if len(shape) else 0
    k = min(k0, max_k, max(n - 1, 1))
    sign = 1.0 if which == "LA" else -1.0
    side = "above" if which == "LA" else "below"
    while True:
        w, v, info = eigsh(A, k, which=which, tol=tol, n_threads=n_threads, seed=seed,
                           return_info=True, _beyond=threshold, **kwargs)
        o = _priority(w, which)
        w, v = w[o], v[:, o]
        beyond = sign * (w - threshold) > 0
        if not np.all(beyond):
            w, v = w[beyond], v[:, beyond]
            out: tuple = (w, v) if return_eigenvectors else (w,)
            if return_info:
                out = out + (info,)
            return out[0] if len(out) == 1 else out
        if k >= n - 1:
            raise ThresholdNotReached(
                f"eigvals_above: all {k} eigenvalues found are {side} "
                f"threshold={threshold}, and k = {k} = n - 1 is the most eigsh computes "
                f"(n = {n}); use numpy.linalg.eigvalsh for the whole spectrum", w)
        if k >= max_k:
            raise ThresholdNotReached(
                f"eigvals_above: all {k} eigenvalues found are {side} "
                f"threshold={threshold}; raise max_k (currently {max_k})", w)
        k = min(2 * k, max_k, n - 1)


def _warmup() -> None:
    """Compile the start-block kernel on a tiny input."""
    _random_block(4, 2, 0, Key(0, 0))
    _probe_vectors(4, 2)
