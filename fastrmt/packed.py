"""A symmetric matrix stored as its packed upper triangle.

Layout: row-major upper triangle, row i holding (i, i), (i, i+1), ..., (i, n-1) at
offset ``i*n - i*(i-1)//2`` — ``n*(n+1)//2`` values, half the memory of the dense
matrix.  This is LAPACK's ``uplo='L'`` packed format (lower triangle, column-major) of
the same matrix, so ``scipy.linalg.blas.dspmv(n, 1.0, P.data, x, lower=1)`` computes
``P @ x``.
"""
from __future__ import annotations

import numpy as np

from ._ext import load
from ._products import as_block, sym_product
from ._threads import thread_limit
from ._validation import check_dtype, check_int, check_memory, format_bytes

__all__ = ["PackedSymmetric", "packed_size", "packed_offset"]

def packed_size(n: int) -> int:
    """Number of stored values for an n x n symmetric matrix."""
    return n * (n + 1) // 2


def packed_offset(i: int, n: int) -> int:
    """Offset of row i (its diagonal entry) in the packed array."""
    return i * n - (i * (i - 1)) // 2


class PackedSymmetric:
    """Symmetric n x n matrix held as its packed upper triangle (see module docstring).

    Parameters
    ----------
    data : ndarray, shape (n*(n+1)//2,), float32 or float64
        The packed values (used as is, not copied, when contiguous).
    n : int
        The matrix order.
    """

    __array_priority__ = 20

    def __init__(self, data: np.ndarray, n: int) -> None:
        n = check_int("n", n, min_value=1)
        if not isinstance(data, np.ndarray):
            raise TypeError(f"data must be a numpy array, got {type(data).__name__}")
        check_dtype("data.dtype", data.dtype)
        if data.ndim != 1 or data.shape[0] != packed_size(n):
            raise ValueError(f"data must have shape ({packed_size(n)},) for n={n}, "
                             f"got {data.shape}")
        if not data.flags.c_contiguous:
            raise ValueError("data must be C-contiguous")
        self.data = data
        self.n = n

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def nbytes(self) -> int:
        return self.data.nbytes

    def __repr__(self) -> str:
        return (f"PackedSymmetric(n={self.n}, dtype={self.dtype}, "
                f"{format_bytes(self.nbytes)})")

    def row(self, i: int) -> np.ndarray:
        """Row i of the full matrix, as a new array."""
        i = check_int("i", i, min_value=0, max_value=self.n - 1)
        n = self.n
        out = np.empty(n, dtype=self.dtype)
        off = packed_offset(i, n)
        out[i:] = self.data[off:off + n - i]
        if i:
            js = np.arange(i)
            out[:i] = self.data[js * n - (js * (js - 1)) // 2 + i - js]
        return out

    def to_dense(self, *, n_threads: int | None = None) -> np.ndarray:
        """The full symmetric matrix as a dense C-order array (refused if it would not fit)."""
        n = self.n
        check_memory(f"a dense copy of the {n} x {n} packed matrix",
                     n * n * self.dtype.itemsize)
        out = np.empty((n, n), dtype=self.dtype)
        with thread_limit(n_threads) as nt:
            load("_packed").unpack(self.data, n, out, nt)
        return out

    def __array__(self, dtype=None, copy=None):
        dense = self.to_dense()
        return dense if dtype is None else dense.astype(dtype, copy=False)

    # -- block products -----------------------------------------------------------
    def matmat(self, V, *, n_threads: int | None = None) -> np.ndarray:
        """``P @ V`` for V of shape (n,) or (n, b), any real dtype; float64 result.

        Float64 arithmetic even for float32 storage: each stored value is read once,
        converted to float64 in registers and used for its upper and mirrored parts
        (tiled, multithreaded kernel of :mod:`fastrmt._ext._packed`).  Bit-identical
        for any ``n_threads``.
        """
        arr, one = as_block(V, self.n, np.float64)
        out = self._matmat(arr, n_threads, single=False)
        return out[:, 0] if one else out

    def matmat_single(self, V, *, n_threads: int | None = None) -> np.ndarray:
        """``P @ V`` in float32 arithmetic (V cast to float32); float32 result.

        The fast path of mixed-precision solvers (float32 SIMD, twice the width).  For float64
        storage, computed in float64 and rounded to float32.
        """
        arr, one = as_block(V, self.n, np.float32)
        if self.dtype == np.float64:
            out = self._matmat(arr.astype(np.float64), n_threads, single=False)
            out = out.astype(np.float32)
        else:
            out = self._matmat(arr, n_threads, single=True)
        return out[:, 0] if one else out

    def _matmat(self, V: np.ndarray, n_threads: int | None, single: bool) -> np.ndarray:
        """Block product on a validated C-contiguous (n, b) block (float64, or float32 if single)."""
        with thread_limit(n_threads, blas=False) as nt:
            return sym_product(self.data, self.n, True, V, nt, single)

    def __matmul__(self, V):
        return self.matmat(V)
