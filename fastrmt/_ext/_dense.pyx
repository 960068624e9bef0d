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

The block solver's tall-skinny products (``fastrmt._gemm``: Gram matrices ``V^T X``,
projections ``X - V C``, Ritz vectors ``V S``) live here too: :func:`tall_tmm`,
:func:`tall_mm`, :func:`tall_project_first`, one ``dgemm`` per fixed row chunk on the
same OpenMP team as the block products.
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


# --- tall-skinny products of the block solver (fastrmt._gemm) ---------------------------
#
# V is (n, m) row-major with unit inner stride (a column slice V[:, :cur] of the basis is
# fine: its rows are ``ld`` apart).  The rows are cut at ``bounds`` (fixed by n alone:
# fastrmt._gemm.row_chunks); each chunk is one single-threaded dgemm on an OpenMP thread,
# the same team as the block products, so no second pool competes with its spinning
# threads.  In column-major terms a row-major (r x c) block with row stride ld is the
# (c x r) matrix with leading dimension ld, hence the transposed argument order below.

cdef inline int _ld(Py_ssize_t stride0) noexcept nogil:
    return <int>(stride0 // sizeof(double))


def tall_tmm(const double[:, :] A, const double[:, :] B, double[:, :, ::1] parts,
             const Py_ssize_t[::1] bounds, int n_threads):
    """parts[c] = A[r].T @ B[r] for the rows r = bounds[c]:bounds[c+1] of chunk c."""
    cdef Py_ssize_t nc = bounds.shape[0] - 1
    cdef int m = <int>A.shape[1]
    cdef int w = <int>B.shape[1]
    cdef int lda = _ld(A.strides[0])
    cdef int ldb = _ld(B.strides[0])
    cdef Py_ssize_t c, r0
    cdef int rows
    cdef double one = 1.0
    cdef double zero = 0.0
    cdef char N = b'N'
    cdef char T = b'T'
    if A.strides[1] != sizeof(double) or B.strides[1] != sizeof(double):
        raise ValueError("tall_tmm needs unit inner strides")
    if parts.shape[0] != nc or parts.shape[1] != m or parts.shape[2] != w:
        raise ValueError("tall_tmm: parts has the wrong shape")
    if m == 0 or w == 0:
        return
    with nogil:
        for c in prange(nc, num_threads=n_threads, schedule="dynamic", chunksize=1):
            r0 = bounds[c]
            rows = <int>(bounds[c + 1] - r0)
            # parts[c]^T (w x m) = B_c^T (w x rows) @ A_c (rows x m)
            dgemm(&N, &T, &w, &m, &rows, &one, <double*>&B[r0, 0], &ldb,
                  <double*>&A[r0, 0], &lda, &zero, &parts[c, 0, 0], &w)


def tall_mm(const double[:, :] A, const double[:, ::1] C, double[:, :] out,
            const Py_ssize_t[::1] bounds, double alpha, double beta, int n_threads):
    """out[r] = alpha * A[r] @ C + beta * out[r] for each row chunk r (beta = 0: out
    is not read)."""
    cdef Py_ssize_t nc = bounds.shape[0] - 1
    cdef int m = <int>A.shape[1]
    cdef int w = <int>C.shape[1]
    cdef int lda = _ld(A.strides[0])
    cdef int ldo = _ld(out.strides[0])
    cdef Py_ssize_t c, r0
    cdef int rows
    cdef char N = b'N'
    if A.strides[1] != sizeof(double) or out.strides[1] != sizeof(double):
        raise ValueError("tall_mm needs unit inner strides")
    if C.shape[0] != m or out.shape[1] != w or out.shape[0] != A.shape[0]:
        raise ValueError("tall_mm: shapes do not match")
    if w == 0:
        return
    with nogil:
        for c in prange(nc, num_threads=n_threads, schedule="dynamic", chunksize=1):
            r0 = bounds[c]
            rows = <int>(bounds[c + 1] - r0)
            # out_c^T (w x rows) = C^T (w x m) @ A_c^T (m x rows)
            dgemm(&N, &N, &w, &rows, &m, &alpha, <double*>&C[0, 0], &w,
                  <double*>&A[r0, 0], &lda, &beta, &out[r0, 0], &ldo)


def tall_project_first(const double[:, :] W, const double[:, :] V, const double[:, ::1] C,
                       double[:, ::1] Wp, double[:, :, ::1] parts,
                       const Py_ssize_t[::1] bounds, Py_ssize_t sub, int n_threads):
    """Per row chunk r: Wp[r] = W[r] - V[r] @ C, then parts[c] = V[r].T @ Wp[r] (the first
    Gram--Schmidt pass and the second pass's Gram matrix, one read of V[r] for both).

    The chunk is walked in sub-blocks of ``sub`` rows (the caller sizes them to stay in
    the core's cache, from the shapes alone), each giving both products before the next
    is read; the Gram parts of the sub-blocks are added in row order."""
    cdef Py_ssize_t nc = bounds.shape[0] - 1
    cdef int m = <int>V.shape[1]
    cdef int w = <int>W.shape[1]
    cdef int ldv = _ld(V.strides[0])
    cdef Py_ssize_t c, r0, r1, s0, i, j
    cdef int rows
    cdef double one = 1.0
    cdef double mone = -1.0
    cdef double zero = 0.0
    cdef double beta
    cdef char N = b'N'
    cdef char T = b'T'
    if sub < 1:
        raise ValueError("tall_project_first: sub must be >= 1")
    if V.strides[1] != sizeof(double) or W.strides[1] != sizeof(double):
        raise ValueError("tall_project_first needs unit inner strides")
    if (C.shape[0] != m or C.shape[1] != w or Wp.shape[0] != W.shape[0]
            or Wp.shape[1] != w or parts.shape[0] != nc or parts.shape[1] != m
            or parts.shape[2] != w):
        raise ValueError("tall_project_first: shapes do not match")
    if w == 0:
        return
    with nogil:
        for c in prange(nc, num_threads=n_threads, schedule="dynamic", chunksize=1):
            r1 = bounds[c + 1]
            s0 = bounds[c]
            beta = 0.0
            while s0 < r1:
                r0 = s0
                s0 = min(r0 + sub, r1)
                rows = <int>(s0 - r0)
                for i in range(r0, s0):
                    for j in range(w):
                        Wp[i, j] = W[i, j]
                if m > 0:
                    dgemm(&N, &N, &w, &rows, &m, &mone, <double*>&C[0, 0], &w,
                          <double*>&V[r0, 0], &ldv, &one, &Wp[r0, 0], &w)
                    dgemm(&N, &T, &w, &m, &rows, &one, &Wp[r0, 0], &w,
                          <double*>&V[r0, 0], &ldv, &beta, &parts[c, 0, 0], &w)
                beta = 1.0


def put_columns(double[:, :] V, double[:, :] AV, const double[:, :] Q,
                const double[:, :] AQ, Py_ssize_t c0, const Py_ssize_t[::1] bounds,
                int n_threads):
    """V[:, c0:c0+w] = Q and AV[:, c0:c0+w] = AQ, row chunk by row chunk on the OpenMP
    team (a copy: the same bits for any thread count).  The basis is row-major, so each
    row of a new block lands in its own cache line: one thread left this latency-bound
    (n = 200000, 2 columns: 3.8 ms per array)."""
    cdef Py_ssize_t n = V.shape[0]
    cdef Py_ssize_t w = Q.shape[1]
    cdef Py_ssize_t nc = bounds.shape[0] - 1
    cdef Py_ssize_t c, i, j
    if (AV.shape[0] != n or Q.shape[0] != n or AQ.shape[0] != n or AQ.shape[1] != w
            or c0 < 0 or c0 + w > V.shape[1] or c0 + w > AV.shape[1]
            or bounds[nc] != n):
        raise ValueError("put_columns: shapes do not match")
    with nogil:
        for c in prange(nc, num_threads=n_threads, schedule="static"):
            for i in range(bounds[c], bounds[c + 1]):
                for j in range(w):
                    V[i, c0 + j] = Q[i, j]
                    AV[i, c0 + j] = AQ[i, j]
