"""The operator W = X/sqrt(n) + S and fast block products.

:func:`deformed_wigner` returns a :class:`DeformedWigner`, a
:class:`scipy.sparse.linalg.LinearOperator` of shape (n, n) whose products ``W @ V``
(V of shape (n,) or (n, b)) are the hot path of the eigensolvers.  The noise X/sqrt(n)
(:func:`fastrmt.wigner`) is held in one of three storages:

=================  ==========================================================  =============
``"dense"``        full C-order (n, n) array                                   n*n values
``"packed"``       packed upper triangle (:class:`~fastrmt.PackedSymmetric`)   n(n+1)/2
``"matrix-free"``  nothing: tiles regenerated from the seed at every product   O(n b)
=================  ==========================================================  =============

The three hold the same matrix (entry (i, j) is a pure function of (seed, i, j)), so
their products agree to rounding on the same seed.  ``dtype`` is the dtype of the
*stored* X (float32 halves memory traffic); products are always computed with float64
accumulation (float32 values are converted to float64 in registers), except
:meth:`DeformedWigner.matmat_single`, the float32 fast path for mixed-precision solvers.
Results never depend on ``n_threads`` (fixed tiling and summation order).

How the products work: the upper triangle is cut into 256 x 256 tiles (I, J), I <= J;
every stored (or regenerated) value is used once for ``out[I] += X[I, J] @ V[J]`` and
once for the mirrored ``out[J] += X[I, J].T @ V[I]``.  Tile rows are paired for balance
and the pairs are dealt to a fixed number of chunks (a function of n and b only), each
accumulating into its own (n, b) buffer; the buffers are summed in chunk order.  Dense
and packed storage use the compiled kernel of ``fastrmt._ext._packed`` (dense reads its
upper triangle only); matrix-free regenerates each tile with the sampler's Philox
kernel into a per-task buffer and multiplies it with BLAS (``fastrmt._kernels._matfree``).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Literal

import numpy as np
from scipy.sparse.linalg import LinearOperator

from ._ext import load
from ._kernels import _matfree, _sampling
from ._random import SeedLike
from ._threads import thread_limit
from ._validation import check_choice, check_dtype, check_memory, format_bytes
from ._products import (_BlasOneThread, as_block, check_product_memory, chunk_groups,
                        group_size, n_chunks, sym_product, tile_schedule)
from .packed import PackedSymmetric, packed_size
from .sampling import WignerSpec, wigner, wigner_spec
from .signals import Signal, make_signal

__all__ = ["DeformedWigner", "deformed_wigner", "dense_matmat", "STORAGES"]

STORAGES = ("dense", "packed", "matrix-free")
DENSE_ROW_TILE = 64
DENSE_COL_TILE = 512
MATFREE_TILE = 256


# --------------------------------------------------------------------------- dense product

def _dense_product(A: np.ndarray, V: np.ndarray, nt: int, single: bool,
                   symmetric: bool = True) -> np.ndarray:
    """A @ V on validated C-contiguous inputs (V float64, or float32 when single)."""
    n, b = A.shape[0], V.shape[1]
    if single and A.dtype == np.float64:
        return _dense_product(A, V.astype(np.float64), nt, False, symmetric).astype(np.float32)
    if symmetric:
        return sym_product(A.reshape(-1), n, False, V, nt, single)
    ext = load("_dense")
    with _BlasOneThread():
        out = np.empty((n, b), dtype=V.dtype)
        if A.dtype == V.dtype:
            ext.dense_matmat(A, V, out, DENSE_ROW_TILE, nt)
        else:
            ext.dense_matmat_widen(A, V, out, DENSE_ROW_TILE, DENSE_COL_TILE, nt)
        return out


def dense_matmat(A: np.ndarray, V: Any, n_threads: int | None = None, *,
                 symmetric: bool = True) -> np.ndarray:
    """``A @ V`` for a dense symmetric (n, n) float32/float64 matrix, float64 accumulation.

    Parameters
    ----------
    A : ndarray, shape (n, n), float32 or float64
        Dense **symmetric** matrix (C- or F-order are used without a copy when
        ``symmetric=True``; other layouts are copied).  With
        ``symmetric=True`` (default) only its upper triangle is read — half the memory
        traffic; the lower triangle is ignored.
    V : array_like, shape (n,) or (n, b)
        Real block (converted to float64).
    n_threads : None or int
        Threads (None = all cores).  Never changes results.
    symmetric : bool, default True
        False: use all of A (any square matrix), one row tile of 64 rows per task, each
        converted to float64 in 64 x 512 blocks (float32 A) and multiplied by dgemm.

    Returns
    -------
    ndarray of float64, shape (n,) or (n, b)

    Notes
    -----
    Symmetric path: the tiled kernel of :mod:`fastrmt._ext._packed` (each stored value
    of the upper triangle read once, converted to float64 in registers, used for its
    upper and mirrored parts).  Both paths are bit-identical for any ``n_threads``.
    """
    symmetric = bool(symmetric)
    if (symmetric and isinstance(A, np.ndarray) and A.ndim == 2 and A.flags.f_contiguous
            and not A.flags.c_contiguous):
        A = A.T  # the same symmetric matrix, C-ordered: no copy
    A = _check_square("A", A)
    arr, one = as_block(V, A.shape[0], np.float64)
    with thread_limit(n_threads, blas=False) as nt:
        out = _dense_product(A, arr, nt, False, symmetric)
    return out[:, 0] if one else out


def _check_square(name: str, A: Any) -> np.ndarray:
    if not isinstance(A, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(A).__name__}")
    check_dtype(f"{name}.dtype", A.dtype)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"{name} must be a square 2-D array, got shape {A.shape}")
    return np.ascontiguousarray(A)


# --------------------------------------------------------------------------- the operator

class DeformedWigner(LinearOperator):
    """W = X/sqrt(n) + S as a LinearOperator (build it with :func:`deformed_wigner`).

    Attributes
    ----------
    n : int
    storage : {"dense", "packed", "matrix-free"}
    storage_dtype : numpy.dtype
        dtype of the stored X (float32 or float64).  ``dtype`` (the operator's
        arithmetic) is always float64.
    spec : WignerSpec
        Everything that defines X/sqrt(n) (law, sigma, diagonal variance, seed key).
    signal : Signal or None
    n_threads : None or int
        Default thread count of the products.
    noise : ndarray, PackedSymmetric or None
        The stored X/sqrt(n) (None for "matrix-free").
    """

    def __init__(self, spec: WignerSpec, signal: Signal | None, storage: str,
                 storage_dtype: np.dtype, n_threads: int | None,
                 noise: np.ndarray | PackedSymmetric | None) -> None:
        super().__init__(dtype=np.dtype(np.float64), shape=(spec.n, spec.n))
        self.n = spec.n
        self.spec = spec
        self.signal = signal
        self.storage = storage
        self.storage_dtype = np.dtype(storage_dtype)
        self.n_threads = n_threads
        self.noise = noise

    def __repr__(self) -> str:
        return (f"DeformedWigner(n={self.n}, storage={self.storage!r}, "
                f"storage_dtype={self.storage_dtype}, dist={self.spec.dist!r}, "
                f"sigma={self.spec.sigma}, signal={self.signal!r})")

    @property
    def nbytes(self) -> int:
        """Bytes held by the stored noise (0 for matrix-free)."""
        return 0 if self.noise is None else int(self.noise.nbytes)

    # -- products -------------------------------------------------------------------
    def _noise_product(self, V: np.ndarray, nt: int, single: bool) -> np.ndarray:
        if self.storage == "dense":
            return _dense_product(self.noise, V, nt, single)
        if self.storage == "packed":
            if single and self.storage_dtype == np.float64:
                return self.noise._matmat(V.astype(np.float64), nt, False).astype(np.float32)
            return self.noise._matmat(V, nt, single)
        n, b = self.n, V.shape[1]
        k = n_chunks(n, b, MATFREE_TILE)
        g = group_size(n, b, k, V.dtype.itemsize, nt)
        check_product_memory(n, b, g, V.dtype.itemsize)
        round32 = bool(self.storage_dtype == np.float32 and V.dtype == np.float64)
        out = np.empty((n, b), dtype=V.dtype)
        first = True
        for part in self._matfree_chunks(V, k, g, round32):
            # in chunk order, group after group: the same bits everywhere
            _matfree.sum_chunks(part, out, not first)
            first = False
        return out

    def _matfree_chunks(self, V: np.ndarray, k: int, g: int, round32: bool
                        ) -> Iterator[np.ndarray]:
        """The k chunk buffers of the matrix-free product (the tile schedule of
        :func:`fastrmt._products.tile_schedule`), in chunk order, as arrays (g', n, b)
        of at most ``g`` consecutive chunks, computed here on every core;
        :class:`fastrmt.distributed.DistributedWigner` computes them on a cluster.
        Each yielded array is summed before the next is computed (it may be reused)."""
        n = self.n
        bufs = np.empty((g, n, V.shape[1]), dtype=V.dtype)
        starts, rows = tile_schedule(n, MATFREE_TILE, k)
        for part, c0, c1 in chunk_groups(bufs, k):
            with _BlasOneThread():
                _matfree.matfree_matmat(part, V, n, MATFREE_TILE, starts[c0:c1 + 1], rows,
                                        round32, *self.spec.kernel_args())
            yield part

    def _product(self, V: Any, n_threads: int | None, single: bool) -> np.ndarray:
        arr, one = as_block(V, self.n, np.float32 if single else np.float64)
        nthr = self.n_threads if n_threads is None else n_threads
        with thread_limit(nthr, blas=False) as nt:
            out = self._noise_product(arr, nt, single)
            if self.signal is not None:
                s = self.signal._apply(arr.astype(np.float64, copy=False), nt)
                out += s.astype(out.dtype, copy=False)
        return out[:, 0] if one else out

    def matmat(self, V: Any, *, n_threads: int | None = None) -> np.ndarray:
        """``W @ V`` for V of shape (n,) or (n, b), any real dtype; float64 result.

        Float64 accumulation whatever the storage dtype.  Bit-identical for any
        ``n_threads`` (default: the operator's ``n_threads``).
        """
        return self._product(V, n_threads, single=False)

    def matvec(self, x: Any, *, n_threads: int | None = None) -> np.ndarray:
        """``W @ x``; same as :meth:`matmat` (a 1-D x gives a 1-D result)."""
        return self._product(x, n_threads, single=False)

    def rmatvec(self, x: Any) -> np.ndarray:
        return self.matvec(x)

    def rmatmat(self, V: Any) -> np.ndarray:
        return self.matmat(V)

    def matmat_single(self, V: Any, *, n_threads: int | None = None) -> np.ndarray:
        """``W @ V`` in float32 arithmetic: V cast to float32, float32 result.

        The sgemm-speed path of mixed-precision solvers.  With float64 storage the
        product is computed in float64 and rounded.  The signal term is applied in
        float64 and rounded.
        """
        return self._product(V, n_threads, single=True)

    def _solver_products(self) -> tuple[Callable, Callable | None, float, str]:
        """The product protocol of :func:`fastrmt.eigsh` (``fastrmt._adapters``):
        ``(accurate, fast, eps, kind)``, the products called as ``f(V, n_threads)``:
        float64-accumulated, and float32 (None for float64 or matrix-free storage:
        regenerating the tiles dominates and costs the same in both precisions); eps is
        the unit roundoff of the stored values."""
        def accurate(V: np.ndarray, nt: int | None) -> np.ndarray:
            return self.matmat(V, n_threads=nt)

        def fast(V: np.ndarray, nt: int | None) -> np.ndarray:
            return self.matmat_single(V, n_threads=nt)
        single = self.storage_dtype == np.float32 and self.storage != "matrix-free"
        return (accurate, fast if single else None, float(np.finfo(self.storage_dtype).eps),
                f"operator ({self.storage})")

    def _matmat(self, X: np.ndarray) -> np.ndarray:
        return self._product(X, None, single=False)

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return self._product(np.ravel(x), None, single=False)

    def _rmatvec(self, x: np.ndarray) -> np.ndarray:
        return self._matvec(x)

    def _rmatmat(self, X: np.ndarray) -> np.ndarray:
        return self._matmat(X)

    def _adjoint(self) -> "DeformedWigner":
        return self

    def _transpose(self) -> "DeformedWigner":
        return self

    def __matmul__(self, other: Any) -> Any:
        if isinstance(other, LinearOperator) or np.isscalar(other):
            return super().__matmul__(other)
        return self.matmat(other)

    def dot(self, x: Any) -> Any:
        if isinstance(x, LinearOperator) or np.isscalar(x):
            return super().dot(x)
        return self.matmat(x)

    # -- dense copies -----------------------------------------------------------------
    def noise_dense(self) -> np.ndarray:
        """X/sqrt(n) as a dense float64 (n, n) array (refused when it would not fit)."""
        n = self.n
        check_memory(f"a dense {n} x {n} float64 copy of the noise", n * n * 8,
                     hint="to_dense() is meant for small n")
        if self.storage == "dense":
            return self.noise.astype(np.float64)
        if self.storage == "packed":
            return self.noise.to_dense(n_threads=self.n_threads).astype(np.float64, copy=False)
        out = np.empty((n, n), dtype=self.storage_dtype)
        with thread_limit(self.n_threads, blas=False):
            _sampling.fill_full(out, n, *self.spec.kernel_args())
        return out.astype(np.float64, copy=False)

    def to_dense(self) -> np.ndarray:
        """W as a dense float64 (n, n) array, for small n (refused when it would not fit).

        The noise is the stored X (float32 storage: its float32 values) in float64.
        """
        n = self.n
        check_memory(f"a dense {n} x {n} float64 copy of W", 3 * n * n * 8,
                     hint="to_dense() is meant for small n")
        w = self.noise_dense()
        if self.signal is not None:
            w += self.signal.to_dense()
        return w


def check_signal(signal: Signal | None, n: int) -> None:
    """Refuse a ``signal`` that is not a Signal of order n (None is allowed)."""
    if signal is not None:
        if not isinstance(signal, Signal):
            raise TypeError(f"signal must be a fastrmt Signal (make_signal) or None, "
                            f"got {type(signal).__name__}")
        if signal.n != n:
            raise ValueError(f"signal must have order n={n}, got a signal of order {signal.n}")


def check_noise_memory(n: int, storage: str, dtype: np.dtype) -> None:
    """Refuse (ValueError with the size) a noise matrix that would not fit in memory."""
    dt = np.dtype(dtype)
    if storage in ("dense", "packed"):
        count = n * n if storage == "dense" else packed_size(n)
        check_memory(f"storage={storage!r} of the {n} x {n} {dt.name} noise matrix "
                     f"({format_bytes(count * dt.itemsize)})", count * dt.itemsize,
                     hint="use storage='matrix-free' (O(n b) memory)"
                     + (" or storage='packed' (half the memory)" if storage == "dense" else ""))
    else:
        check_memory(f"storage='matrix-free' at n = {n} (its vectors and signal, about "
                     f"{format_bytes(64 * n)})", 64 * n)


def deformed_wigner(n: int, signal: Signal | None = None, *, sigma: float = 1.0,
                    dist: str = "gaussian", p: float | None = None, df: float | None = None,
                    diag_var: float | str | None = None,
                    storage: Literal["dense", "packed", "matrix-free"] = "dense",
                    dtype: type | np.dtype | str = np.float64, seed: SeedLike = None,
                    n_threads: int | None = None) -> DeformedWigner:
    """Build the operator W = X/sqrt(n) + S.

    Parameters
    ----------
    n : int
        Matrix order.
    signal : Signal, optional
        S (from :func:`fastrmt.signals.make_signal`), of the same order n; None = no
        signal (W = X/sqrt(n)).
    sigma, dist, p, df, diag_var, seed
        Define the noise exactly as in :func:`fastrmt.wigner` (same seed, same matrix).
    storage : {"dense", "packed", "matrix-free"}
        How X/sqrt(n) is held (module docstring).
    dtype : float32 or float64
        dtype of the stored X (products still accumulate in float64).  For
        "matrix-free", the regenerated entries are rounded to this dtype, so that the
        three storages hold exactly the same matrix for the same dtype.
    n_threads : None or int
        Threads for sampling and (by default) for the products.  Never changes results.

    Returns
    -------
    DeformedWigner

    Raises
    ------
    TypeError, ValueError
        On invalid arguments, or when the stored X would not fit in memory (the message
        gives the size needed and suggests ``storage="matrix-free"``).

    Examples
    --------
    >>> import numpy as np
    >>> from fastrmt.operators import deformed_wigner
    >>> from fastrmt.signals import make_signal
    >>> S = make_signal(500, spikes=[3.0], bulk="uniform", bulk_params={"a": 0, "b": 0})
    >>> W = deformed_wigner(500, S, storage="packed", dtype=np.float32, seed=0)
    >>> W.matmat(np.ones((500, 4))).shape
    (500, 4)
    """
    spec = wigner_spec(n, sigma=sigma, dist=dist, p=p, df=df, diag_var=diag_var, seed=seed)
    n = spec.n
    storage = check_choice("storage", storage, STORAGES)
    dt = check_dtype("dtype", dtype)
    check_signal(signal, n)
    noise: np.ndarray | PackedSymmetric | None = None
    check_noise_memory(n, storage, dt)
    if storage in ("dense", "packed"):
        # the sampler itself, with the key already resolved (seed=None drew it once)
        noise = wigner(n, sigma=sigma, dist=dist, p=p, df=df, diag_var=diag_var, dtype=dt,
                       layout="full" if storage == "dense" else "packed", seed=spec.key,
                       n_threads=n_threads)
    return DeformedWigner(spec, signal, storage, dt, n_threads, noise)


def _warmup() -> None:
    """Compile the operator's kernels (all storages, both dtypes, both paths)."""
    s = make_signal(7, spikes=[2.0], basis="fast", seed=0)
    v = np.ones((7, 2))
    for storage in STORAGES:
        for dt in (np.float32, np.float64):
            w = deformed_wigner(7, s, storage=storage, dtype=dt, seed=0)
            w.matmat(v)
            w.matmat_single(v)
    dense_matmat(np.eye(3, dtype=np.float32), np.ones(3))
