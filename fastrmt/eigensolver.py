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
errors are bounded by ``||R||^2 / gap`` (C.-K. Li and R.-C. Li's quadratic bound;
the gap to the rest of the spectrum bounded below through the converged ``k + 1``-th
value, or through the threshold of :func:`eigvals_above`); up to two float64
residual-expansion steps lower ``||R||`` when needed.  The eigenvalues are certified to
``max(tol, 1e-10)`` relative, the eigenvectors are accurate to the float32 level
(residuals ~1e-6 ``||A||``).  When the bound cannot be met (or ``which="BE"``) the
problem is solved again with float64-accumulated products (``EigshInfo.method`` says
which).

Convergence: a Ritz pair is accepted when ``||A y - theta y|| <= max(tol |theta|,
floor)``, ``floor = 16 sqrt(n) eps ||A||`` (``||A||`` estimated by the largest Ritz value
in magnitude; a zero residual meets a zero floor: the zero matrix); ``tol=0`` means
``eps`` (float64), as in scipy.  For an operator declaring ``dtype=float32`` (its
products computed in float32, as scipy then runs float32 ARPACK) the floor uses the
float32 ``eps``: its residuals cannot go lower.  The solver works on ``2^e A`` with ``2^e`` from a cheap
norm estimate (the first block product, or max|A| on the dense path), so that tiny or
huge matrices do not under/overflow in the Gram matrices; the results are divided by
``2^e`` (exact).  Returned eigenvalues and
eigenvectors are always float64.

Code: the public functions live here; :mod:`fastrmt._adapters` turns every accepted
input into one internal operator (with an explicit product protocol for fastrmt's
operators), :mod:`fastrmt._krylov` holds the iteration.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np

from ._adapters import _probe_vectors, as_operator
from ._krylov import (_EPS, _FLOOR_C, EigshInfo, EigshNoConvergence, _priority,
                      _random_block, _record, _serial, _solve, _solve_dense, _solve_mixed)
from ._random import Key, SeedLike, as_key
from ._threads import thread_limit
from ._validation import (check_array, check_bool, check_choice, check_int, check_memory,
                          check_real)

__all__ = ["eigsh", "EigshInfo", "EigshNoConvergence", "ThresholdNotReached",
           "top_eigenvalues", "eigvals_above"]

WHICH = ("LM", "SM", "LA", "SA", "BE")
_SM_DENSE_MAX = 4096    # which="SM" is solved by dense LAPACK up to this order
_DENSE_N = 128          # at or below this order (or when the basis would not fit): dense eigh

# the records are defined with the iteration; they belong to this public module
EigshInfo.__module__ = __name__
EigshNoConvergence.__module__ = __name__


class ThresholdNotReached(RuntimeError):
    """:func:`eigvals_above` reached ``max_k`` eigenvalues, all beyond the threshold.

    ``eigenvalues`` holds the ``max_k`` eigenvalues found (there are more).
    """

    def __init__(self, msg: str, eigenvalues: np.ndarray) -> None:
        super().__init__(msg)
        self.eigenvalues = eigenvalues


def _scipy_order(values: np.ndarray, which: str, with_vectors: bool) -> np.ndarray:
    """The order in which scipy's eigsh returns its eigenvalues."""
    if with_vectors or which in ("LA", "BE"):
        return np.argsort(values, kind="stable")
    if which == "SA":
        return np.argsort(-values, kind="stable")
    if which == "SM":
        return np.argsort(-np.abs(values), kind="stable")
    return np.argsort(np.abs(values), kind="stable")   # LM


def _default_sizes(n: int, k: int, ncv: int | None, block_size: int | None,
                   cost: str = "pass", float32_phase: bool = False) -> tuple[int, int]:
    """Block and basis sizes.

    Defaults tuned on 2 cores (``benchmarks/run_product_counts.py``): blocks of 4
    vectors for k <= 128 (at n = 6000, k = 10 and 50: 400 and 524 products against 704
    and 832 with blocks of 8, and 23 % and 8 % less time, although a 4-column product
    costs ~20 % more per vector); ``min(8, max(k, 4))`` above (at k = 250 the extra
    orthogonalization passes of narrow blocks cost more than the products they save),
    for matrix-free operators (each block regenerates the matrix) and for the float32
    phase of the mixed mode (a 4-column float32 product costs 2.4x more per vector than
    an 8-column one on AVX2).  A large basis (``max(4k, k + 16 b, 96)``) keeps the
    number of passes over the matrix low.
    A matrix-free operator gets the same blocks and a basis of ``max(4k, k + 8 b, 96)``:
    its tile products grow with the width while the number of passes hardly shrinks
    (it is set by the gap to the bulk; ``benchmarks/run_matrix_free.py`` measures it).
    Operators whose products cost about one product per column (sparse matrices, scipy
    LinearOperators other than those over a dense array) get blocks of 2 for k <= 128:
    fewer products, and the passes they add are not dearer than the columns they save
    (sparse n = 200000, 10 entries per row, k = 10: 92 products and 3.5 s against 164
    and 4.8 s with blocks of 4; a CSR product of 4 columns costs 2.9 times one of 1;
    ``benchmarks/run_sparse.py``).  ``cost`` is the operator's (``_adapters._Operator``).
    """
    matrix_free = cost == "regenerate"
    if block_size is None:
        if cost == "per_vector" and k <= 128 and not float32_phase:
            b = 2
        else:
            b = min(8, max(k, 4)) if (k > 128 or matrix_free or float32_phase) else 4
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
        Vectors per block product.  Default: 4 for ``k <= 128``; ``min(8, max(k, 4))``
        for larger k, for matrix-free operators and in mixed precision; 2 for
        ``k <= 128`` when A is a sparse matrix or an operator other than fastrmt's and
        scipy's over a dense array (its products cost about one per column).  Blocks of
        2 need fewer products (within 1.3x of ARPACK's matvecs from k = 50 on, README)
        but more passes over A: on a dense array they take about as long at n = 6000
        and ~17 % longer at n = 20000.  Eigenvalues of
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
    op = as_operator(A)
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
    m, b = _default_sizes(n, k, ncv, block_size, cost=op.cost,
                          float32_phase=mixed_precision and op.has_fast)
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
                # a float32 operator's residuals stop at its own rounding: the floor
                # follows its arithmetic (scipy runs such operators in float32 ARPACK)
                got = _solve(op, k, which, tol_eff, maxiter, min(m, n), b, key, v0,
                             info, callback, progress, t0,
                             rel_floor=_FLOOR_C * math.sqrt(n) * op.product_eps
                             if op.product_eps > _EPS else 0.0)
            lam, X, res, thr = got
    o = _scipy_order(lam, which, return_eigenvectors)
    lam, X, res, thr = lam[o], X[:, o], res[o], thr[o]
    # undo the power-of-2 scaling (exact)
    lam, res, thr = lam / op.scale, res / op.scale, thr / op.scale
    _record(info, op, res, thr, t0)
    info.converged = info.n_converged == k
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
