# cython: language_level=3
"""Packed symmetric storage kernels (Cython + OpenMP).

Cython rather than Numba here: these loops call BLAS directly from ``nogil`` code
(scipy's ``cython_blas``) on tiles unpacked into thread-private buffers, with OpenMP
``prange`` over tile rows; Numba cannot call BLAS on raw pointers without the GIL.

Packed layout: the upper triangle, row-major; row i holds (i, i), (i, i+1), ...,
(i, n-1) starting at offset i*n - i*(i-1)/2.  That is LAPACK's ``uplo='L'`` packed
format (lower triangle, column-major) of the same symmetric matrix.
"""
cimport cython
from cython.parallel cimport prange
import numpy as np

ctypedef fused real:
    float
    double


cdef inline Py_ssize_t _offset(Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    return i * n - (i * (i - 1)) // 2


def unpack(const real[::1] data, Py_ssize_t n, real[:, ::1] out, int n_threads):
    """Write the full symmetric matrix held in ``data`` (packed) into ``out`` (n x n)."""
    cdef Py_ssize_t i, j, off
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="dynamic", chunksize=16):
            off = _offset(i, n)
            for j in range(i, n):
                out[i, j] = data[off + j - i]
            for j in range(i):
                out[i, j] = data[_offset(j, n) + i - j]
