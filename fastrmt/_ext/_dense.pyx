# cython: language_level=3
"""Dense (general) block products (Cython + OpenMP + BLAS).

Used by ``fastrmt.operators.dense_matmat(..., symmetric=False)``; symmetric matrices
go through the tiled kernel of ``_packed`` (upper triangle only).

Cython rather than Numba: each OpenMP task calls BLAS (scipy's ``cython_blas``) on raw
pointers from ``nogil`` code, on tiles converted into a thread-private buffer.

``out = A @ V`` for a dense C-order (n, n) matrix A and C-contiguous V of shape (n, b):
:func:`dense_matmat` in A's own dtype (one fused function for float32 and float64),
:func:`dense_matmat_widen` for float32 A with float64 V and arithmetic.
The rows of A are cut into row tiles of ``tr`` rows; each row tile is one task that
writes only its own rows of ``out`` (no reduction, no race).  Inside a task the
columns are walked in blocks of ``tc``: for float32 A each block is converted to
float64 in the thread's buffer, then ``dgemm`` adds ``A[I, K] @ V[K]`` to ``out[I]``
(float64 accumulation, in a fixed block order).  The result does not depend on the
number of threads.  The matrix is read once per call, whatever b.
"""
cimport cython
from cython.parallel cimport prange, parallel
from libc.stdlib cimport malloc, free
from scipy.linalg.cython_blas cimport dgemm, sgemm
import numpy as np


ctypedef fused real:
    float
    double


def dense_matmat(const real[:, ::1] A, const real[:, ::1] V, real[:, ::1] out,
                 int tr, int n_threads):
    """out = A @ V in A's dtype (float32 or float64); one gemm per row tile (k = n)."""
    cdef Py_ssize_t n = A.shape[0]
    cdef int nn_ = <int>A.shape[1]
    cdef int b = <int>V.shape[1]
    cdef Py_ssize_t nt = (n + tr - 1) // tr
    cdef Py_ssize_t t, i0
    cdef int mi
    cdef real one = 1.0
    cdef real zero = 0.0
    cdef char N = b'N'
    with nogil:
        for t in prange(nt, num_threads=n_threads, schedule="dynamic", chunksize=1):
            i0 = t * tr
            mi = <int>(min(i0 + tr, n) - i0)
            if real is double:
                dgemm(&N, &N, &b, &mi, &nn_, &one, <double*>&V[0, 0], &b,
                      <double*>&A[i0, 0], &nn_, &zero, &out[i0, 0], &b)
            else:
                sgemm(&N, &N, &b, &mi, &nn_, &one, <float*>&V[0, 0], &b,
                      <float*>&A[i0, 0], &nn_, &zero, &out[i0, 0], &b)


def dense_matmat_widen(const float[:, ::1] A, const double[:, ::1] V, double[:, ::1] out,
                     int tr, int tc, int n_threads):
    """out = A @ V, float32 A converted tile by tile to float64 (float64 accumulation)."""
    cdef Py_ssize_t n = A.shape[0]
    cdef Py_ssize_t m = A.shape[1]
    cdef int b = <int>V.shape[1]
    cdef Py_ssize_t nt = (n + tr - 1) // tr
    cdef Py_ssize_t t, i0, i1, k0, k1, i, k, r, c
    cdef int mi, mk, ldt = tc
    cdef double* T
    cdef double one = 1.0
    cdef char N = b'N'
    T = NULL
    with nogil, parallel(num_threads=n_threads):
        T = <double*>malloc(tr * tc * sizeof(double))
        for t in prange(nt, schedule="dynamic", chunksize=1):
            i0 = t * tr
            i1 = min(i0 + tr, n)
            mi = <int>(i1 - i0)
            for r in range(i0, i1):
                for c in range(b):
                    out[r, c] = 0.0
            k0 = 0
            while k0 < m:
                k1 = min(k0 + tc, m)
                mk = <int>(k1 - k0)
                for i in range(i0, i1):
                    for k in range(k0, k1):
                        T[(i - i0) * ldt + (k - k0)] = <double>A[i, k]
                dgemm(&N, &N, &b, &mi, &mk, &one, <double*>&V[k0, 0], &b,
                      T, &ldt, &one, &out[i0, 0], &b)
                k0 = k1
        free(T)
