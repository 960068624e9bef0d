# cython: language_level=3
"""Packed symmetric storage kernels (Cython + OpenMP).

Cython rather than Numba here: the block product's inner kernel is plain C with GCC
vector extensions, compiled once per instruction set and chosen at run time, called from OpenMP ``prange`` loops without the GIL; Numba would need
``-march``-style specialisation at JIT time and has no portable multiversioning.

Packed layout: the upper triangle, row-major; row i holds (i, i), (i, i+1), ...,
(i, n-1) starting at offset i*n - i*(i-1)/2.  That is LAPACK's ``uplo='L'`` packed
format (lower triangle, column-major) of the same symmetric matrix.

Block product ``out = P @ V`` (V of shape (n, b), C-contiguous)
----------------------------------------------------------------
The upper triangle is cut into square tiles (I, J), I <= J, of side ``tile``.  Each
stored value is read once: a C kernel (below) walks four rows of the tile at a time and,
for each stored value x = A[i, j], adds ``x * V[j]`` to row i (held in registers) and
``x * V[i]`` to row j, over column panels of V held in registers (leftover columns scalar).  Values are
converted to the compute type on the fly (float32 storage, float64 arithmetic: no
buffer).  The kernel is compiled three times, for AVX-512 (panels of 64, 32, 16 bytes),
AVX2 + FMA (32, 16 bytes) and baseline x86-64 (16 bytes), each with the panel widths
its registers hold, and the best for the CPU is chosen at run time (:func:`isa`).  The
panel width does not change the arithmetic of a column (the same operations in the same
order), only how many columns share a pass.  On AVX-512, blocks of half a 64-byte
vector (8 float32 or 4 float64 columns: the solver's blocks) take two tile columns per
vector instead (see ``FRMT_PAIR_BODY``): 1.4-1.6x faster on a cache-resident tile, 1.2x
at n = 16000, with a different order of additions (still fixed, so thread-independent).
The same kernel serves dense symmetric matrices (row i at ``data + i*n``; only the upper triangle is read).

Which tiles each *chunk* walks, and in what order, is the one schedule of
``fastrmt._products.tile_schedule`` (also used by the Numba matrix-free product): tile
rows paired (t, nb-1-t) so that every pair holds the same work, pair p in chunk
``p % n_chunks``.  Each chunk accumulates into its own (n, b) buffer, in a fixed order,
and the chunks are summed afterwards in chunk order.  ``n_chunks`` is chosen by the
caller from (n, b) only, never from the thread count, so the result is bit-identical for
any number of threads.  One fused function serves float32 and float64 (storage and
arithmetic).
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



cdef extern from *:
    """
    /* Symmetric tile kernels: for the tile (I, J) of the upper triangle of a symmetric
       matrix (packed or dense storage), O[I] += A[I, J] @ V[J] and, off the diagonal,
       O[J] += A[I, J].T @ V[I], reading each stored value once.  V and O are (n, b)
       row-major.  Four rows at a time; the columns of V are cut into panels of 64, 32 and
       16 bytes (GCC vector extensions: 8/4/2 float64 or 16/8/4 float32) held in registers,
       and leftover columns use scalar code; b == 1 is vectorized along the rows instead,
       and so is b == 2, stored column-major (FRMT_SYMTILE2).
       On a diagonal tile, the 4 x 4 triangle of each row block is done by scalar code and
       the rest of the block by the same vector code.  The next four rows of the tile are
       prefetched while a block is read: a tile row is a short stream (256 values) that
       the hardware prefetcher does not pick up in time (1.3-1.9x faster block products
       of float32 and float64 matrices on the AVX-512 VM, b = 2 to 16).  Compiled for several instruction
       sets (one version each, picked at run time from the CPU), so no -march=native is
       needed. */
    #include <stddef.h>
    #include <string.h>
    /* One version of each kernel per instruction set, each with the vector widths that
       fit its registers: 64-byte panels (zmm) for AVX-512, 32-byte for AVX2, 16-byte for
       baseline x86-64.  (One source compiled with target_clones would keep 64-byte
       vectors in the AVX2 clone, which GCC then splits through the stack: 40x slower.)
       frmt_isa() picks the version once, from the CPU. */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
    #define FRMT_MULTI 1
    #define FRMT_ATTR_V4 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
    #define FRMT_ATTR_V3 __attribute__((target("avx2,fma")))
    #else
    #define FRMT_MULTI 0
    #define FRMT_ATTR_V4
    #define FRMT_ATTR_V3
    #endif
    #if defined(__GNUC__)
    #define FRMT_VEC 1
    typedef double frmt_d8 __attribute__((vector_size(64)));
    typedef double frmt_d4 __attribute__((vector_size(32)));
    typedef double frmt_d2 __attribute__((vector_size(16)));
    typedef float frmt_f16 __attribute__((vector_size(64)));
    typedef float frmt_f8 __attribute__((vector_size(32)));
    typedef float frmt_f4 __attribute__((vector_size(16)));
    typedef float frmt_f2 __attribute__((vector_size(8)));
    #else
    #define FRMT_VEC 0
    typedef struct { double x[8]; } frmt_d8;
    typedef struct { double x[4]; } frmt_d4;
    typedef struct { double x[2]; } frmt_d2;
    typedef struct { float x[16]; } frmt_f16;
    typedef struct { float x[8]; } frmt_f8;
    typedef struct { float x[4]; } frmt_f4;
    typedef struct { float x[2]; } frmt_f2;
    #endif

    #define FRMT_ROW(i) (packed ? data + ((i) * n - ((i) * ((i) - 1)) / 2 - (i)) : data + (i) * n)

    /* Column pairs (AVX-512 only), for b = half a 64-byte vector: 8 float32 or 4 float64
       columns.  Two consecutive columns j, j+1 of the tile share one vector: V[j] and
       V[j+1] (adjacent rows of V) fill its halves, the stored values x[j], x[j+1] of a
       row are spread over the halves by one permute, and O[j], O[j+1] are updated
       together; each row's sum keeps both halves and adds them at the end.  Per stored
       value this is half the loads, broadcasts and multiply-adds of the half-width
       panel, which was bound by issuing them.  An odd last column is done in scalar
       code. */
    #if FRMT_MULTI
    #include <immintrin.h>
    #define FRMT_PAIR_BODY(TD, TC, VEC, LOADX, FMA, LOADV, STOREV, HALF)                     \\
        {                                                                           \\
            VEC vi0, vi1, vi2, vi3, a0, a1, a2, a3, v, o, x0, x1, x2, x3;            \\
            TC t0[2 * HALF], t1[2 * HALF], t2[2 * HALF], t3[2 * HALF];               \\
            ptrdiff_t j, c;                                                         \\
            for (c = 0; c < HALF; c++) {                                            \\
                t0[c] = t0[c + HALF] = V[i * HALF + c];                             \\
                t1[c] = t1[c + HALF] = V[(i + 1) * HALF + c];                       \\
                t2[c] = t2[c + HALF] = V[(i + 2) * HALF + c];                       \\
                t3[c] = t3[c + HALF] = V[(i + 3) * HALF + c];                       \\
            }                                                                       \\
            vi0 = LOADV(t0); vi1 = LOADV(t1); vi2 = LOADV(t2); vi3 = LOADV(t3);     \\
            a0 = a1 = a2 = a3 = FMA##_zero();                                       \\
            for (j = ja; j + 2 <= jb; j += 2) {                                     \\
                if ((j & (ptrdiff_t)(64 / sizeof(TD) - 2)) == 0) {                   \\
                    __builtin_prefetch(p0 + j); __builtin_prefetch(p1 + j);         \\
                    __builtin_prefetch(p2 + j); __builtin_prefetch(p3 + j);         \\
                }                                                                   \\
                v = LOADV(V + j * HALF);                                            \\
                o = LOADV(O + j * HALF);                                            \\
                x0 = LOADX(r0 + j); x1 = LOADX(r1 + j);                             \\
                x2 = LOADX(r2 + j); x3 = LOADX(r3 + j);                             \\
                a0 = FMA(x0, v, a0); a1 = FMA(x1, v, a1);                           \\
                a2 = FMA(x2, v, a2); a3 = FMA(x3, v, a3);                           \\
                o = FMA(x0, vi0, o); o = FMA(x1, vi1, o);                           \\
                o = FMA(x2, vi2, o); o = FMA(x3, vi3, o);                           \\
                STOREV(O + j * HALF, o);                                            \\
            }                                                                       \\
            STOREV(t0, a0); STOREV(t1, a1); STOREV(t2, a2); STOREV(t3, a3);         \\
            for (c = 0; c < HALF; c++) {                                            \\
                t0[c] += t0[c + HALF]; t1[c] += t1[c + HALF];                       \\
                t2[c] += t2[c + HALF]; t3[c] += t3[c + HALF];                       \\
            }                                                                       \\
            if (j < jb) {   /* the odd last column */                               \\
                TC y0 = (TC)r0[j], y1 = (TC)r1[j], y2 = (TC)r2[j], y3 = (TC)r3[j];  \\
                for (c = 0; c < HALF; c++) {                                        \\
                    TC vv = V[j * HALF + c];                                        \\
                    t0[c] += y0 * vv; t1[c] += y1 * vv;                             \\
                    t2[c] += y2 * vv; t3[c] += y3 * vv;                             \\
                    O[j * HALF + c] += y0 * V[i * HALF + c] + y1 * V[(i + 1) * HALF + c] \\
                                     + y2 * V[(i + 2) * HALF + c] + y3 * V[(i + 3) * HALF + c]; \\
                }                                                                   \\
            }                                                                       \\
            for (c = 0; c < HALF; c++) {                                            \\
                O[i * HALF + c] += t0[c]; O[(i + 1) * HALF + c] += t1[c];           \\
                O[(i + 2) * HALF + c] += t2[c]; O[(i + 3) * HALF + c] += t3[c];     \\
            }                                                                       \\
        }
    /* x[j], x[j+1] -> (x[j] x HALF, x[j+1] x HALF) */
    FRMT_ATTR_V4 static inline __m512 frmt_x2_ss(const float* p) {
        double t; memcpy(&t, p, sizeof(t));
        return _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                                     _mm512_castps128_ps512(_mm_castpd_ps(_mm_set_sd(t))));
    }
    FRMT_ATTR_V4 static inline __m512d frmt_x2_dd(const double* p) {
        return _mm512_permutexvar_pd(_mm512_set_epi64(1, 1, 1, 1, 0, 0, 0, 0),
                                     _mm512_castpd128_pd512(_mm_loadu_pd(p)));
    }
    FRMT_ATTR_V4 static inline __m512d frmt_x2_sd(const float* p) {
        double t; memcpy(&t, p, sizeof(t));
        return _mm512_permutexvar_pd(_mm512_set_epi64(1, 1, 1, 1, 0, 0, 0, 0),
                                     _mm512_castpd128_pd512(_mm_cvtps_pd(_mm_castpd_ps(_mm_set_sd(t)))));
    }
    #define frmt_fma_ps(a, b, c) _mm512_fmadd_ps(a, b, c)
    #define frmt_fma_ps_zero() _mm512_setzero_ps()
    #define frmt_fma_pd(a, b, c) _mm512_fmadd_pd(a, b, c)
    #define frmt_fma_pd_zero() _mm512_setzero_pd()
    #define FRMT_PAIR_SIG(NAME, TD, TC)                                                   \\
        FRMT_ATTR_V4 static void NAME(const TD* r0, const TD* r1, const TD* r2, const TD* r3, \\
                                      const TD* p0, const TD* p1, const TD* p2, const TD* p3, \\
                                      ptrdiff_t ja, ptrdiff_t jb, const TC* __restrict V,   \\
                                      TC* __restrict O, ptrdiff_t i)
    FRMT_PAIR_SIG(frmt_pair_ss, float, float)
        FRMT_PAIR_BODY(float, float, __m512, frmt_x2_ss, frmt_fma_ps, _mm512_loadu_ps, _mm512_storeu_ps, 8)
    FRMT_PAIR_SIG(frmt_pair_dd, double, double)
        FRMT_PAIR_BODY(double, double, __m512d, frmt_x2_dd, frmt_fma_pd, _mm512_loadu_pd, _mm512_storeu_pd, 4)
    FRMT_PAIR_SIG(frmt_pair_sd, float, double)
        FRMT_PAIR_BODY(float, double, __m512d, frmt_x2_sd, frmt_fma_pd, _mm512_loadu_pd, _mm512_storeu_pd, 4)
    #define FRMT_PAIR_SS(...) frmt_pair_ss(__VA_ARGS__)
    #define FRMT_PAIR_DD(...) frmt_pair_dd(__VA_ARGS__)
    #define FRMT_PAIR_SD(...) frmt_pair_sd(__VA_ARGS__)
    #else
    #define FRMT_PAIR_SS(...) ((void)0)
    #define FRMT_PAIR_DD(...) ((void)0)
    #define FRMT_PAIR_SD(...) ((void)0)
    #endif
    #define FRMT_PAIR_NONE(...) ((void)0)

    /* Rows i..i+3 (r0..r3) x columns [ja, jb), all j > i + 3, one column panel
       [c0, c0 + lanes(VT)) held in registers.  Without vector extensions never used. */
    #if !FRMT_VEC
    #define FRMT_PANEL(TC, VT) { }
    #define FRMT_B1(TD, TC, VTD, VTC) { }
    #define FRMT_T2_VEC(TD, TC, VTD, VTC) { }
    #else
    #define FRMT_PANEL(TC, VT)                                                      \\
        {                                                                           \\
            VT vi0, vi1, vi2, vi3, a0, a1, a2, a3, v, o;                            \\
            memcpy(&vi0, V + i * b + c0, sizeof(VT));                               \\
            memcpy(&vi1, V + (i + 1) * b + c0, sizeof(VT));                         \\
            memcpy(&vi2, V + (i + 2) * b + c0, sizeof(VT));                         \\
            memcpy(&vi3, V + (i + 3) * b + c0, sizeof(VT));                         \\
            memset(&a0, 0, sizeof(VT)); memset(&a1, 0, sizeof(VT));                 \\
            memset(&a2, 0, sizeof(VT)); memset(&a3, 0, sizeof(VT));                 \\
            for (j = ja; j < jb; j++) {                                             \\
                TC x0 = (TC)r0[j], x1 = (TC)r1[j], x2 = (TC)r2[j], x3 = (TC)r3[j];  \\
                if (c0 == 0) {                                                      \\
                    __builtin_prefetch(p0 + j); __builtin_prefetch(p1 + j);         \\
                    __builtin_prefetch(p2 + j); __builtin_prefetch(p3 + j);         \\
                }                                                                   \\
                memcpy(&v, V + j * b + c0, sizeof(VT));                             \\
                memcpy(&o, O + j * b + c0, sizeof(VT));                             \\
                a0 += x0 * v; a1 += x1 * v; a2 += x2 * v; a3 += x3 * v;             \\
                o += x0 * vi0 + x1 * vi1 + x2 * vi2 + x3 * vi3;                     \\
                memcpy(O + j * b + c0, &o, sizeof(VT));                             \\
            }                                                                       \\
            memcpy(&o, O + i * b + c0, sizeof(VT)); o += a0;                        \\
            memcpy(O + i * b + c0, &o, sizeof(VT));                                 \\
            memcpy(&o, O + (i + 1) * b + c0, sizeof(VT)); o += a1;                  \\
            memcpy(O + (i + 1) * b + c0, &o, sizeof(VT));                           \\
            memcpy(&o, O + (i + 2) * b + c0, sizeof(VT)); o += a2;                  \\
            memcpy(O + (i + 2) * b + c0, &o, sizeof(VT));                           \\
            memcpy(&o, O + (i + 3) * b + c0, sizeof(VT)); o += a3;                  \\
            memcpy(O + (i + 3) * b + c0, &o, sizeof(VT));                           \\
            c0 += (ptrdiff_t)(sizeof(VT) / sizeof(TC));                             \\
        }

    /* b == 1: the same block vectorized along j; the four row sums are kept in vector
       accumulators and reduced lane by lane at the end (a fixed order). */
    #define FRMT_B1(TD, TC, VTD, VTC)                                               \\
        {                                                                           \\
            const ptrdiff_t L = (ptrdiff_t)(sizeof(VTC) / sizeof(TC));              \\
            TC vi0 = V[i], vi1 = V[i + 1], vi2 = V[i + 2], vi3 = V[i + 3];          \\
            TC s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                      \\
            VTC a0, a1, a2, a3;                                                     \\
            memset(&a0, 0, sizeof(VTC)); memset(&a1, 0, sizeof(VTC));               \\
            memset(&a2, 0, sizeof(VTC)); memset(&a3, 0, sizeof(VTC));               \\
            for (j = ja; j + L <= jb; j += L) {                                     \\
                VTD t;                                                              \\
                VTC x0, x1, x2, x3, v, o;                                           \\
                __builtin_prefetch(p0 + j); __builtin_prefetch(p1 + j);             \\
                __builtin_prefetch(p2 + j); __builtin_prefetch(p3 + j);             \\
                memcpy(&t, r0 + j, sizeof(VTD)); x0 = __builtin_convertvector(t, VTC); \\
                memcpy(&t, r1 + j, sizeof(VTD)); x1 = __builtin_convertvector(t, VTC); \\
                memcpy(&t, r2 + j, sizeof(VTD)); x2 = __builtin_convertvector(t, VTC); \\
                memcpy(&t, r3 + j, sizeof(VTD)); x3 = __builtin_convertvector(t, VTC); \\
                memcpy(&v, V + j, sizeof(VTC));                                     \\
                memcpy(&o, O + j, sizeof(VTC));                                     \\
                a0 += x0 * v; a1 += x1 * v; a2 += x2 * v; a3 += x3 * v;             \\
                o += x0 * vi0 + x1 * vi1 + x2 * vi2 + x3 * vi3;                     \\
                memcpy(O + j, &o, sizeof(VTC));                                     \\
            }                                                                       \\
            for (c = 0; c < L; c++) {                                               \\
                s0 += a0[c]; s1 += a1[c]; s2 += a2[c]; s3 += a3[c];                 \\
            }                                                                       \\
            for (; j < jb; j++) {                                                   \\
                TC x0 = (TC)r0[j], x1 = (TC)r1[j], x2 = (TC)r2[j], x3 = (TC)r3[j];  \\
                TC v = V[j];                                                        \\
                s0 += x0 * v; s1 += x1 * v; s2 += x2 * v; s3 += x3 * v;             \\
                O[j] += x0 * vi0 + x1 * vi1 + x2 * vi2 + x3 * vi3;                  \\
            }                                                                       \\
            O[i] += s0; O[i + 1] += s1; O[i + 2] += s2; O[i + 3] += s3;             \\
        }

    /* Two columns stored column-major (V, U = V + n; O, P = O + n): the b == 1 loop
       along j for both columns at once, so each stored value is loaded once and used
       by 4 multiply-adds on 8 or 16 lanes (the row-major 2-column panel used 16-byte
       vectors: 4x the instructions, and was bound by issuing them).  Row sums are kept
       in vector accumulators and reduced lane by lane at the end (a fixed order); j is
       left at the first column the vector loop did not do. */
    #define FRMT_T2_VEC(TD, TC, VTD, VTC)                                           \\
        {                                                                           \\
            const ptrdiff_t L = (ptrdiff_t)(sizeof(VTC) / sizeof(TC));              \\
            VTC a0, a1, a2, a3, e0, e1, e2, e3;                                     \\
            memset(&a0, 0, sizeof(VTC)); memset(&a1, 0, sizeof(VTC));               \\
            memset(&a2, 0, sizeof(VTC)); memset(&a3, 0, sizeof(VTC));               \\
            memset(&e0, 0, sizeof(VTC)); memset(&e1, 0, sizeof(VTC));               \\
            memset(&e2, 0, sizeof(VTC)); memset(&e3, 0, sizeof(VTC));               \\
            for (; j + L <= jb; j += L) {                                           \\
                VTD t;                                                              \\
                VTC x0, x1, x2, x3, v, u, o, w;                                     \\
                __builtin_prefetch(p0 + j); __builtin_prefetch(p1 + j);             \\
                __builtin_prefetch(p2 + j); __builtin_prefetch(p3 + j);             \\
                memcpy(&t, r0 + j, sizeof(VTD)); x0 = __builtin_convertvector(t, VTC); \\
                memcpy(&t, r1 + j, sizeof(VTD)); x1 = __builtin_convertvector(t, VTC); \\
                memcpy(&t, r2 + j, sizeof(VTD)); x2 = __builtin_convertvector(t, VTC); \\
                memcpy(&t, r3 + j, sizeof(VTD)); x3 = __builtin_convertvector(t, VTC); \\
                memcpy(&v, V + j, sizeof(VTC)); memcpy(&u, U + j, sizeof(VTC));     \\
                memcpy(&o, O + j, sizeof(VTC)); memcpy(&w, P + j, sizeof(VTC));     \\
                a0 += x0 * v; a1 += x1 * v; a2 += x2 * v; a3 += x3 * v;             \\
                e0 += x0 * u; e1 += x1 * u; e2 += x2 * u; e3 += x3 * u;             \\
                o += x0 * vi0 + x1 * vi1 + x2 * vi2 + x3 * vi3;                     \\
                w += x0 * ui0 + x1 * ui1 + x2 * ui2 + x3 * ui3;                     \\
                memcpy(O + j, &o, sizeof(VTC)); memcpy(P + j, &w, sizeof(VTC));     \\
            }                                                                       \\
            for (c = 0; c < L; c++) {                                               \\
                s0 += a0[c]; s1 += a1[c]; s2 += a2[c]; s3 += a3[c];                 \\
                z0 += e0[c]; z1 += e1[c]; z2 += e2[c]; z3 += e3[c];                 \\
            }                                                                       \\
        }
    #endif

    #define FRMT_SYMTILE(NAME, ATTR, TD, TC, VT1, VT2, VT3, VTD1, VTC1, PAIRFN, PAIRB)      \\
    ATTR static void NAME(const TD* data, ptrdiff_t n, int packed, ptrdiff_t i0,        \\
                                 ptrdiff_t i1, ptrdiff_t j0, ptrdiff_t j1,                     \\
                                 const TC* __restrict V, TC* __restrict O, ptrdiff_t b) {      \\
        const ptrdiff_t w1 = (ptrdiff_t)(sizeof(VT1) / sizeof(TC));                            \\
        const ptrdiff_t w2 = (ptrdiff_t)(sizeof(VT2) / sizeof(TC));                            \\
        const ptrdiff_t w3 = (ptrdiff_t)(sizeof(VT3) / sizeof(TC));                            \\
        const int diag = (i0 == j0);                                                           \\
        ptrdiff_t i, j, c, c0, ja, jb = j1, q;                                                 \\
        for (i = i0; i + 4 <= i1; i += 4) {                                                    \\
            const TD *r0 = FRMT_ROW(i), *r1 = FRMT_ROW(i + 1);                                 \\
            const TD *r2 = FRMT_ROW(i + 2), *r3 = FRMT_ROW(i + 3);                             \\
            /* the next block of rows, prefetched while this one is read (the rows of a \\
               tile are short streams the hardware prefetcher does not catch) */          \\
            const int nx = (i + 8 <= i1);                                                      \\
            const TD *p0 = nx ? FRMT_ROW(i + 4) : r0, *p1 = nx ? FRMT_ROW(i + 5) : r1;         \\
            const TD *p2 = nx ? FRMT_ROW(i + 6) : r2, *p3 = nx ? FRMT_ROW(i + 7) : r3;         \\
            ja = j0;                                                                           \\
            if (diag) {  /* the 4 x 4 triangle: rows q, columns q..i+3 */                      \\
                for (q = i; q < i + 4; q++) {                                                  \\
                    const TD* r = FRMT_ROW(q);                                                 \\
                    const TC* vq = V + q * b;                                                  \\
                    TC* oq = O + q * b;                                                        \\
                    TC x = (TC)r[q];                                                           \\
                    for (c = 0; c < b; c++) oq[c] += x * vq[c];                                \\
                    for (j = q + 1; j < i + 4; j++) {                                          \\
                        const TC* vj = V + j * b;                                              \\
                        TC* oj = O + j * b;                                                    \\
                        x = (TC)r[j];                                                          \\
                        for (c = 0; c < b; c++) { oq[c] += x * vj[c]; oj[c] += x * vq[c]; }    \\
                    }                                                                          \\
                }                                                                              \\
                ja = i + 4;                                                                    \\
            }                                                                                  \\
            c0 = 0;                                                                            \\
            if (PAIRB && b == PAIRB) {                                                         \\
                PAIRFN(r0, r1, r2, r3, p0, p1, p2, p3, ja, jb, V, O, i);                       \\
                c0 = b;                                                                        \\
            }                                                                                  \\
            if (FRMT_VEC && b == 1) {                                                          \\
                FRMT_B1(TD, TC, VTD1, VTC1)                                                    \\
                c0 = 1;                                                                        \\
            }                                                                                  \\
            if (FRMT_VEC) {                                                                    \\
                while (c0 + w1 <= b) FRMT_PANEL(TC, VT1)                                       \\
                if (c0 + w2 <= b) FRMT_PANEL(TC, VT2)                                          \\
                if (c0 + w3 <= b) FRMT_PANEL(TC, VT3)                                          \\
            }                                                                                  \\
            for (c = c0; c < b; c++) {                                                         \\
                TC vi0 = V[i * b + c], vi1 = V[(i + 1) * b + c];                               \\
                TC vi2 = V[(i + 2) * b + c], vi3 = V[(i + 3) * b + c];                         \\
                TC a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                             \\
                for (j = ja; j < jb; j++) {                                                    \\
                    TC x0 = (TC)r0[j], x1 = (TC)r1[j], x2 = (TC)r2[j], x3 = (TC)r3[j];         \\
                    TC v = V[j * b + c];                                                       \\
                    a0 += x0 * v; a1 += x1 * v; a2 += x2 * v; a3 += x3 * v;                    \\
                    O[j * b + c] += x0 * vi0 + x1 * vi1 + x2 * vi2 + x3 * vi3;                 \\
                }                                                                              \\
                O[i * b + c] += a0; O[(i + 1) * b + c] += a1;                                  \\
                O[(i + 2) * b + c] += a2; O[(i + 3) * b + c] += a3;                            \\
            }                                                                                  \\
        }                                                                                      \\
        for (; i < i1; i++) {  /* leftover rows, one at a time */                              \\
            const TD* r = FRMT_ROW(i);                                                         \\
            const TC* vi = V + i * b;                                                          \\
            TC* oi = O + i * b;                                                                \\
            ja = j0;                                                                           \\
            if (diag) {                                                                        \\
                TC x = (TC)r[i];                                                               \\
                for (c = 0; c < b; c++) oi[c] += x * vi[c];                                    \\
                ja = i + 1;                                                                    \\
            }                                                                                  \\
            for (j = ja; j < jb; j++) {                                                        \\
                const TC* vj = V + j * b;                                                      \\
                TC* oj = O + j * b;                                                            \\
                TC x = (TC)r[j];                                                               \\
                for (c = 0; c < b; c++) { oi[c] += x * vj[c]; oj[c] += x * vi[c]; }            \\
            }                                                                                  \\
        }                                                                                      \\
    }

    FRMT_SYMTILE(frmt_sd_v4, FRMT_ATTR_V4, float, double, frmt_d8, frmt_d4, frmt_d2, frmt_f8, frmt_d8, FRMT_PAIR_SD, 4)
    FRMT_SYMTILE(frmt_dd_v4, FRMT_ATTR_V4, double, double, frmt_d8, frmt_d4, frmt_d2, frmt_d8, frmt_d8, FRMT_PAIR_DD, 4)
    FRMT_SYMTILE(frmt_ss_v4, FRMT_ATTR_V4, float, float, frmt_f16, frmt_f8, frmt_f4, frmt_f16, frmt_f16, FRMT_PAIR_SS, 8)
    FRMT_SYMTILE(frmt_sd_v3, FRMT_ATTR_V3, float, double, frmt_d4, frmt_d2, frmt_d2, frmt_f4, frmt_d4, FRMT_PAIR_NONE, 0)
    FRMT_SYMTILE(frmt_dd_v3, FRMT_ATTR_V3, double, double, frmt_d4, frmt_d2, frmt_d2, frmt_d4, frmt_d4, FRMT_PAIR_NONE, 0)
    FRMT_SYMTILE(frmt_ss_v3, FRMT_ATTR_V3, float, float, frmt_f8, frmt_f4, frmt_f4, frmt_f8, frmt_f8, FRMT_PAIR_NONE, 0)
    FRMT_SYMTILE(frmt_sd_v1, , float, double, frmt_d2, frmt_d2, frmt_d2, frmt_f2, frmt_d2, FRMT_PAIR_NONE, 0)
    FRMT_SYMTILE(frmt_dd_v1, , double, double, frmt_d2, frmt_d2, frmt_d2, frmt_d2, frmt_d2, FRMT_PAIR_NONE, 0)
    FRMT_SYMTILE(frmt_ss_v1, , float, float, frmt_f4, frmt_f4, frmt_f4, frmt_f4, frmt_f4, FRMT_PAIR_NONE, 0)

    /* The tile (I, J) for a block of two columns stored column-major: V = (V[0:n],
       U = V[n:2n]) and O = (O[0:n], P = O[n:2n]).  Same walk and prefetch as
       FRMT_SYMTILE; the off-diagonal part of each 4-row block is FRMT_T2_VEC, the
       4 x 4 triangles, leftover columns and leftover rows are scalar. */
    #define FRMT_SYMTILE2(NAME, ATTR, TD, TC, VTD, VTC)                                         \\
    ATTR static void NAME(const TD* data, ptrdiff_t n, int packed, ptrdiff_t i0,        \\
                          ptrdiff_t i1, ptrdiff_t j0, ptrdiff_t j1,                     \\
                          const TC* __restrict V, TC* __restrict O) {                   \\
        const TC* __restrict U = V + n;                                                        \\
        TC* __restrict P = O + n;                                                              \\
        const int diag = (i0 == j0);                                                           \\
        ptrdiff_t i, j, c, ja, jb = j1, q;                                                     \\
        for (i = i0; i + 4 <= i1; i += 4) {                                                    \\
            const TD *r0 = FRMT_ROW(i), *r1 = FRMT_ROW(i + 1);                                 \\
            const TD *r2 = FRMT_ROW(i + 2), *r3 = FRMT_ROW(i + 3);                             \\
            const int nx = (i + 8 <= i1);                                                      \\
            const TD *p0 = nx ? FRMT_ROW(i + 4) : r0, *p1 = nx ? FRMT_ROW(i + 5) : r1;         \\
            const TD *p2 = nx ? FRMT_ROW(i + 6) : r2, *p3 = nx ? FRMT_ROW(i + 7) : r3;         \\
            TC vi0 = V[i], vi1 = V[i + 1], vi2 = V[i + 2], vi3 = V[i + 3];                     \\
            TC ui0 = U[i], ui1 = U[i + 1], ui2 = U[i + 2], ui3 = U[i + 3];                     \\
            TC s0 = 0, s1 = 0, s2 = 0, s3 = 0, z0 = 0, z1 = 0, z2 = 0, z3 = 0;                 \\
            ja = j0;                                                                           \\
            if (diag) {  /* the 4 x 4 triangle: rows q, columns q..i+3 */                      \\
                for (q = i; q < i + 4; q++) {                                                  \\
                    const TD* r = FRMT_ROW(q);                                                 \\
                    TC x = (TC)r[q];                                                           \\
                    O[q] += x * V[q]; P[q] += x * U[q];                                        \\
                    for (j = q + 1; j < i + 4; j++) {                                          \\
                        x = (TC)r[j];                                                          \\
                        O[q] += x * V[j]; O[j] += x * V[q];                                    \\
                        P[q] += x * U[j]; P[j] += x * U[q];                                    \\
                    }                                                                          \\
                }                                                                              \\
                ja = i + 4;                                                                    \\
            }                                                                                  \\
            j = ja;                                                                            \\
            FRMT_T2_VEC(TD, TC, VTD, VTC)                                                      \\
            for (; j < jb; j++) {                                                              \\
                TC x0 = (TC)r0[j], x1 = (TC)r1[j], x2 = (TC)r2[j], x3 = (TC)r3[j];             \\
                TC v = V[j], u = U[j];                                                         \\
                s0 += x0 * v; s1 += x1 * v; s2 += x2 * v; s3 += x3 * v;                        \\
                z0 += x0 * u; z1 += x1 * u; z2 += x2 * u; z3 += x3 * u;                        \\
                O[j] += x0 * vi0 + x1 * vi1 + x2 * vi2 + x3 * vi3;                             \\
                P[j] += x0 * ui0 + x1 * ui1 + x2 * ui2 + x3 * ui3;                             \\
            }                                                                                  \\
            O[i] += s0; O[i + 1] += s1; O[i + 2] += s2; O[i + 3] += s3;                        \\
            P[i] += z0; P[i + 1] += z1; P[i + 2] += z2; P[i + 3] += z3;                        \\
        }                                                                                      \\
        for (; i < i1; i++) {  /* leftover rows, one at a time */                              \\
            const TD* r = FRMT_ROW(i);                                                         \\
            ja = j0;                                                                           \\
            if (diag) {                                                                        \\
                TC x = (TC)r[i];                                                               \\
                O[i] += x * V[i]; P[i] += x * U[i];                                            \\
                ja = i + 1;                                                                    \\
            }                                                                                  \\
            for (j = ja; j < jb; j++) {                                                        \\
                TC x = (TC)r[j];                                                               \\
                O[i] += x * V[j]; O[j] += x * V[i];                                            \\
                P[i] += x * U[j]; P[j] += x * U[i];                                            \\
            }                                                                                  \\
        }                                                                                      \\
        (void)c;                                                                               \\
    }

    FRMT_SYMTILE2(frmt_sd2_v4, FRMT_ATTR_V4, float, double, frmt_f8, frmt_d8)
    FRMT_SYMTILE2(frmt_dd2_v4, FRMT_ATTR_V4, double, double, frmt_d8, frmt_d8)
    FRMT_SYMTILE2(frmt_ss2_v4, FRMT_ATTR_V4, float, float, frmt_f16, frmt_f16)
    FRMT_SYMTILE2(frmt_sd2_v3, FRMT_ATTR_V3, float, double, frmt_f4, frmt_d4)
    FRMT_SYMTILE2(frmt_dd2_v3, FRMT_ATTR_V3, double, double, frmt_d4, frmt_d4)
    FRMT_SYMTILE2(frmt_ss2_v3, FRMT_ATTR_V3, float, float, frmt_f8, frmt_f8)
    FRMT_SYMTILE2(frmt_sd2_v1, , float, double, frmt_f2, frmt_d2)
    FRMT_SYMTILE2(frmt_dd2_v1, , double, double, frmt_d2, frmt_d2)
    FRMT_SYMTILE2(frmt_ss2_v1, , float, float, frmt_f4, frmt_f4)

    /* 2: AVX-512 (F, VL, BW, DQ) with AVX2 and FMA; 1: AVX2 and FMA; 0: baseline. */
    static int frmt_level = -1;
    static int frmt_isa(void) {
        if (frmt_level < 0) {
    #if FRMT_MULTI
            __builtin_cpu_init();
            int v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
            int v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
                     && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
            frmt_level = v4 ? 2 : (v3 ? 1 : 0);
    #else
            frmt_level = 0;
    #endif
        }
        return frmt_level;
    }
    /* Tests: use a lower level than the CPU allows (never a higher one). */
    static int frmt_cap(int level) {
        int top;
        frmt_level = -1;
        top = frmt_isa();
        frmt_level = level < top ? (level < 0 ? 0 : level) : top;
        return frmt_level;
    }
    #define FRMT_DISPATCH(KIND, ...)                                                   \\
        do { if (frmt_level == 2) frmt_##KIND##_v4(__VA_ARGS__);                      \\
             else if (frmt_level == 1) frmt_##KIND##_v3(__VA_ARGS__);                 \\
             else frmt_##KIND##_v1(__VA_ARGS__); } while (0)
    static void frmt_symtile_sd(const float* data, ptrdiff_t n, int packed, ptrdiff_t i0,
                                ptrdiff_t i1, ptrdiff_t j0, ptrdiff_t j1, const double* V,
                                double* O, ptrdiff_t b) {
        FRMT_DISPATCH(sd, data, n, packed, i0, i1, j0, j1, V, O, b);
    }
    static void frmt_symtile_dd(const double* data, ptrdiff_t n, int packed, ptrdiff_t i0,
                                ptrdiff_t i1, ptrdiff_t j0, ptrdiff_t j1, const double* V,
                                double* O, ptrdiff_t b) {
        FRMT_DISPATCH(dd, data, n, packed, i0, i1, j0, j1, V, O, b);
    }
    static void frmt_symtile_ss(const float* data, ptrdiff_t n, int packed, ptrdiff_t i0,
                                ptrdiff_t i1, ptrdiff_t j0, ptrdiff_t j1, const float* V,
                                float* O, ptrdiff_t b) {
        FRMT_DISPATCH(ss, data, n, packed, i0, i1, j0, j1, V, O, b);
    }
    static void frmt_symtile2_sd(const float* data, ptrdiff_t n, int packed, ptrdiff_t i0,
                                 ptrdiff_t i1, ptrdiff_t j0, ptrdiff_t j1, const double* V,
                                 double* O) {
        FRMT_DISPATCH(sd2, data, n, packed, i0, i1, j0, j1, V, O);
    }
    static void frmt_symtile2_dd(const double* data, ptrdiff_t n, int packed, ptrdiff_t i0,
                                 ptrdiff_t i1, ptrdiff_t j0, ptrdiff_t j1, const double* V,
                                 double* O) {
        FRMT_DISPATCH(dd2, data, n, packed, i0, i1, j0, j1, V, O);
    }
    static void frmt_symtile2_ss(const float* data, ptrdiff_t n, int packed, ptrdiff_t i0,
                                 ptrdiff_t i1, ptrdiff_t j0, ptrdiff_t j1, const float* V,
                                 float* O) {
        FRMT_DISPATCH(ss2, data, n, packed, i0, i1, j0, j1, V, O);
    }
    """
    int frmt_isa() noexcept nogil
    int frmt_cap(int level) noexcept nogil
    void frmt_symtile_sd(const float* data, Py_ssize_t n, int packed, Py_ssize_t i0,
                         Py_ssize_t i1, Py_ssize_t j0, Py_ssize_t j1, const double* V,
                         double* O, Py_ssize_t b) noexcept nogil
    void frmt_symtile_dd(const double* data, Py_ssize_t n, int packed, Py_ssize_t i0,
                         Py_ssize_t i1, Py_ssize_t j0, Py_ssize_t j1, const double* V,
                         double* O, Py_ssize_t b) noexcept nogil
    void frmt_symtile_ss(const float* data, Py_ssize_t n, int packed, Py_ssize_t i0,
                         Py_ssize_t i1, Py_ssize_t j0, Py_ssize_t j1, const float* V,
                         float* O, Py_ssize_t b) noexcept nogil
    void frmt_symtile2_sd(const float* data, Py_ssize_t n, int packed, Py_ssize_t i0,
                          Py_ssize_t i1, Py_ssize_t j0, Py_ssize_t j1, const double* V,
                          double* O) noexcept nogil
    void frmt_symtile2_dd(const double* data, Py_ssize_t n, int packed, Py_ssize_t i0,
                          Py_ssize_t i1, Py_ssize_t j0, Py_ssize_t j1, const double* V,
                          double* O) noexcept nogil
    void frmt_symtile2_ss(const float* data, Py_ssize_t n, int packed, Py_ssize_t i0,
                          Py_ssize_t i1, Py_ssize_t j0, Py_ssize_t j1, const float* V,
                          float* O) noexcept nogil


def isa() -> str:
    """The instruction set whose kernels the block products use on this CPU:
    ``"avx512"``, ``"avx2"`` or ``"baseline"``."""
    return ("baseline", "avx2", "avx512")[frmt_isa()]


def _use_isa(name: str) -> str:
    """Testing aid: run the block products with the kernels of ``name`` ("baseline",
    "avx2", "avx512"), capped at what the CPU supports; returns the one in use.  Not
    thread-safe with products running."""
    levels = {"baseline": 0, "avx2": 1, "avx512": 2}
    if name not in levels:
        raise ValueError(f"name must be one of {sorted(levels)}, got {name!r}")
    return ("baseline", "avx2", "avx512")[frmt_cap(levels[name])]


# --- block products --------------------------------------------------------------------

ctypedef fused acc:
    float
    double


def sym_matmat(const real[::1] data, Py_ssize_t n, bint packed, const acc[:, ::1] V,
               acc[:, :, ::1] bufs, const Py_ssize_t[::1] starts,
               const Py_ssize_t[::1] rows, int tile, int n_threads, bint columns=False):
    """bufs[k] += (chunk k's tiles) @ V for every chunk k; the caller sums bufs in order.

    ``data``: the packed triangle (``packed=True``) or the flattened dense C-order
    matrix (``packed=False``: only its upper triangle is read).  ``bufs`` has shape
    (n_chunks, n, b) and must be zeroed.  The arithmetic is in V's dtype (float32 data
    with float64 V: converted on the fly; float64 data with float32 V is refused).

    The schedule comes from ``fastrmt._products.tile_schedule`` (shared with the
    Numba matrix-free product): chunk k walks the tile rows ``rows[starts[k]:
    starts[k+1]]`` in order, each from its diagonal tile to the last column tile.

    ``columns=True``: a block of two columns stored column-major, V of shape (2, n)
    and bufs (n_chunks, 2, n) (the two-column kernel, vectorized along the rows).
    """
    cdef Py_ssize_t b = V.shape[0] if columns else V.shape[1]
    cdef Py_ssize_t n_chunks = bufs.shape[0]
    cdef Py_ssize_t nb = (n + tile - 1) // tile
    cdef Py_ssize_t k, q, t, J, i0, i1, j0, j1
    cdef acc* O
    cdef const acc* Vp = &V[0, 0]
    cdef const real* dp = &data[0]
    cdef int pk = 1 if packed else 0
    if real is double and acc is float:
        raise ValueError("float64 data needs float64 V (no float32 kernel for it)")
    if starts.shape[0] != n_chunks + 1 or starts[n_chunks] > rows.shape[0]:
        raise ValueError("the schedule does not match bufs")
    if columns:
        if V.shape[0] != 2 or V.shape[1] != n or bufs.shape[1] != 2 or bufs.shape[2] != n:
            raise ValueError(f"columns=True needs V (2, {n}) and bufs (k, 2, {n}), got "
                             f"({V.shape[0]}, {V.shape[1]}) and "
                             f"({bufs.shape[0]}, {bufs.shape[1]}, {bufs.shape[2]})")
    elif V.shape[0] != n or bufs.shape[1] != n or bufs.shape[2] != b:
        raise ValueError(f"V must be ({n}, b) and bufs (k, {n}, b), got "
                         f"({V.shape[0]}, {V.shape[1]}) and "
                             f"({bufs.shape[0]}, {bufs.shape[1]}, {bufs.shape[2]})")
    frmt_isa()
    with nogil:
        for k in prange(n_chunks, num_threads=n_threads, schedule="dynamic", chunksize=1):
            O = &bufs[k, 0, 0]
            for q in range(starts[k], starts[k + 1]):
                t = rows[q]
                i0 = t * tile
                i1 = min(i0 + tile, n)
                for J in range(t, nb):
                    j0 = J * tile
                    j1 = min(j0 + tile, n)
                    if columns:
                        if acc is float:
                            if real is float:
                                frmt_symtile2_ss(dp, n, pk, i0, i1, j0, j1, Vp, O)
                        elif real is float:
                            frmt_symtile2_sd(dp, n, pk, i0, i1, j0, j1, Vp, O)
                        else:
                            frmt_symtile2_dd(dp, n, pk, i0, i1, j0, j1, Vp, O)
                    elif acc is float:
                        if real is float:
                            frmt_symtile_ss(dp, n, pk, i0, i1, j0, j1, Vp, O, b)
                    elif real is float:
                        frmt_symtile_sd(dp, n, pk, i0, i1, j0, j1, Vp, O, b)
                    else:
                        frmt_symtile_dd(dp, n, pk, i0, i1, j0, j1, Vp, O, b)


def sum_chunks(const real[:, :, ::1] bufs, real[:, ::1] out, bint accumulate,
               int n_threads):
    """out[r] = bufs[0, r] + bufs[1, r] + ... (chunk order fixed); parallel over rows.

    ``accumulate``: out[r] = out[r] + bufs[0, r] + ... (the next group of chunks), the
    same sequence of additions as one sum over all the chunks."""
    cdef Py_ssize_t K = bufs.shape[0]
    cdef Py_ssize_t n = bufs.shape[1]
    cdef Py_ssize_t b = bufs.shape[2]
    cdef Py_ssize_t r, c, k, k0
    cdef real s
    if out.shape[0] != n or out.shape[1] != b or K < 1:
        raise ValueError("sum_chunks: out does not match bufs")
    k0 = 0 if accumulate else 1
    with nogil:
        for r in prange(n, num_threads=n_threads, schedule="static"):
            for c in range(b):
                s = out[r, c] if accumulate else bufs[0, r, c]
                for k in range(k0, K):
                    s = s + bufs[k, r, c]
                out[r, c] = s
