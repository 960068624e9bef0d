"""Tall-skinny dense products of the block solver on every core, bit-identical for any
thread count.

The solver's own algebra (Gram matrices ``V^T X``, projections ``V C``, Ritz vectors
``V S``) works on (n, m) bases with n >> m: products that read the basis once and are
bound by memory bandwidth.  A multithreaded BLAS call would use every core, but how it
splits the sum over n (and so its rounding) may depend on the thread count.  Here the
rows are cut into fixed chunks chosen from n alone; each chunk is one single-threaded
``dgemm`` (BLAS is capped at one thread by the caller), run on ``nt`` OpenMP threads by
the Cython kernels of ``fastrmt._ext._dense`` (``tall_tmm``, ``tall_mm``,
``tall_project_first``); partial Gram matrices are summed in chunk order.  The result
depends on n and the shapes only.

Why OpenMP and not a pool of Python threads (the earlier design): the block products
run on the OpenMP team, whose threads keep spinning for a while after each product; a
second pool then competed with them for the cores (n = 6000, a projection against 750
vectors: 9-11 ms alone, 14-17 ms right after a product), and each chunk cost a Python
future.  On the same team the spinning threads take the next chunks.
"""
from __future__ import annotations

import functools

import numpy as np

from ._ext import load

_MIN_ROWS = 1024        # chunks are never shorter (BLAS efficiency)
_MAX_CHUNKS = 64        # ... nor more numerous (enough for 64 threads)
# Operands smaller than this run their chunks one after the other on the calling thread:
# waking the other threads costs more than it saves (2 cores: a Gram matrix of a
# 5000 x 4 block 0.05 ms serial vs 0.17 ms on a pool; V^T W with V 5000 x 96, 0.25 vs
# 0.39 ms).  The chunks and their order are the same, so are the bits.
_SERIAL_BYTES = 4 * 2**20


def row_chunks(n: int) -> list[tuple[int, int]]:
    """The fixed row chunks for order ``n`` (a function of n only)."""
    size = max(_MIN_ROWS, -(-n // _MAX_CHUNKS))
    return [(r, min(n, r + size)) for r in range(0, n, size)]


@functools.lru_cache(maxsize=64)
def _bounds(n: int) -> np.ndarray:
    """:func:`row_chunks` as the boundary array the kernels take (read-only)."""
    b = np.array([0] + [c[1] for c in row_chunks(n)], dtype=np.intp)
    b.flags.writeable = False
    return b


# Rows of V per step of the fused first pass: both of its products read the same rows,
# which must still be in the core's cache for the second (a 1024-row chunk of a
# 750-column basis is 6 MB: the fusion then saved nothing; 3 -> 2 reads with 512 KiB).
_SUB_BYTES = 512 * 1024


def _sub_rows(m: int) -> int:
    """Rows per sub-block of :func:`project_twice`'s first pass (a function of the basis
    width only, so of the shapes: the same bits for any thread count)."""
    return max(16, _SUB_BYTES // (8 * max(m, 1)))


def _threads(nt: int, nchunks: int, nbytes: int) -> int:
    return 1 if nbytes < _SERIAL_BYTES else max(1, min(nt, nchunks))


def _tall(x: np.ndarray) -> np.ndarray:
    """x as float64 with unit inner stride (the basis' column slices already are)."""
    if x.dtype == np.float64 and x.strides[1] == 8 and x.strides[0] > 0:
        return x
    return np.ascontiguousarray(x, dtype=np.float64)


def _sum_parts(parts: np.ndarray) -> np.ndarray:
    acc = parts[0].copy()
    for p in parts[1:]:
        acc += p                 # in chunk order
    return acc


def mm(A: np.ndarray, B: np.ndarray, nt: int, out: np.ndarray | None = None) -> np.ndarray:
    """``A @ B`` for a tall A (n, m) and a small B (m, w), row chunk by row chunk."""
    n = A.shape[0]
    if out is None:
        out = np.empty((n, B.shape[1]))
    if A.shape[1] == 0:
        out[:] = 0.0
        return out
    bounds = _bounds(n)
    load("_dense").tall_mm(_tall(A), np.ascontiguousarray(B, dtype=np.float64), out,
                           bounds, 1.0, 0.0,
                           _threads(nt, bounds.size - 1, A.nbytes + out.nbytes))
    return out


def tmm(A: np.ndarray, B: np.ndarray, nt: int) -> np.ndarray:
    """``A.T @ B`` for tall A (n, m) and B (n, w): partial products per row chunk,
    summed in chunk order."""
    n = A.shape[0]
    if A.shape[1] == 0 or B.shape[1] == 0:
        return np.zeros((A.shape[1], B.shape[1]))
    bounds = _bounds(n)
    nc = bounds.size - 1
    parts = np.empty((nc, A.shape[1], B.shape[1]))
    load("_dense").tall_tmm(_tall(A), _tall(B), parts, bounds,
                            _threads(nt, nc, A.nbytes + B.nbytes))
    return _sum_parts(parts)


def subtract_mm(X: np.ndarray, V: np.ndarray, C: np.ndarray, nt: int) -> np.ndarray:
    """``X -= V C`` in place, row chunk by row chunk (one ``dgemm`` with beta = 1 per
    chunk); returns X."""
    if V.shape[1] and X.shape[1]:
        bounds = _bounds(X.shape[0])
        Xt = _tall(X)
        load("_dense").tall_mm(_tall(V), np.ascontiguousarray(C, dtype=np.float64), Xt,
                               bounds, -1.0, 1.0,
                               _threads(nt, bounds.size - 1, V.nbytes + X.nbytes))
        if Xt is not X:
            X[...] = Xt
    return X


def put_columns(V: np.ndarray, AV: np.ndarray, Q: np.ndarray, AQ: np.ndarray, c0: int,
                nt: int) -> None:
    """``V[:, c0:c0+w] = Q`` and ``AV[:, c0:c0+w] = AQ`` (row-major bases), row chunk by
    row chunk on the OpenMP team: each row of the new columns is its own cache line, so
    the copy is bound by latency, not bandwidth (n = 20000, 2 columns into a basis of 96:
    0.51 -> 0.17 ms; n = 200000: 13 -> 6 ms)."""
    if Q.shape[1] == 0:
        return
    if np.may_share_memory(Q, V) or np.may_share_memory(AQ, AV):
        V[:, c0:c0 + Q.shape[1]] = Q          # overlapping: numpy copies safely
        AV[:, c0:c0 + Q.shape[1]] = AQ
        return
    load("_dense").put_columns(V, AV, _tall(Q), _tall(AQ), c0, _bounds(V.shape[0]),
                               max(1, nt))


def project(X: np.ndarray, V: np.ndarray, nt: int) -> np.ndarray:
    """``X -= V (V^T X)`` in place (one classical Gram--Schmidt pass); returns X."""
    if V.shape[1] and X.shape[1]:
        subtract_mm(X, V, tmm(V, X, nt), nt)
    return X


def project_twice(W: np.ndarray, V: np.ndarray, C: np.ndarray, nt: int,
                  return_gram: bool = False):
    """Two classical Gram--Schmidt passes of W against V, the first with ``C = V^T W``
    given: returns ``Wp = W1 - V (V^T W1)``, ``W1 = W - V C``.

    The first pass's product and the second pass's Gram matrix are fused per row chunk
    (each chunk of V is read once for both), so V is read twice instead of three times.
    A chunk is walked in sub-blocks that stay in cache (:func:`_sub_rows`, from V's
    width), the Gram matrix accumulated sub-block after sub-block; when a chunk is one
    sub-block the operations and their order are those of
    ``project(subtract_mm(W.copy(), V, C), V)``, hence the same bits.
    ``return_gram``: also return the second pass's coefficients ``V^T W1``.
    """
    n = W.shape[0]
    bounds = _bounds(n)
    nc = bounds.size - 1
    Wp = np.empty((n, W.shape[1]))
    if W.shape[1] == 0 or V.shape[1] == 0:
        Wp[...] = W
        return (Wp, np.zeros((V.shape[1], W.shape[1]))) if return_gram else Wp
    ext = load("_dense")
    Vt = _tall(V)
    nthr = _threads(nt, nc, V.nbytes + 2 * Wp.nbytes)
    parts = np.empty((nc, V.shape[1], W.shape[1]))
    ext.tall_project_first(_tall(W), Vt, np.ascontiguousarray(C, dtype=np.float64), Wp,
                           parts, bounds, _sub_rows(V.shape[1]), nthr)
    C2 = _sum_parts(parts)
    subtract_mm(Wp, Vt, C2, nt)
    return (Wp, C2) if return_gram else Wp
