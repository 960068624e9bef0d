"""Tall-skinny dense products of the block solver on every core, bit-identical for any
thread count.

The solver's own algebra (Gram matrices ``V^T X``, projections ``V C``, Ritz vectors
``V S``) works on (n, m) bases with n >> m: products that read the basis once and are
bound by memory bandwidth.  A multithreaded BLAS call would use every core, but how it
splits the sum over n (and so its rounding) may depend on the thread count.  Here the
rows are cut into fixed chunks chosen from n alone; each chunk is one single-threaded
BLAS call (BLAS is capped at one thread by the caller), run by a pool of ``nt`` Python
threads (numpy releases the GIL in ``matmul``); partial Gram matrices are summed in
chunk order.  The result depends on n and the shapes only.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_MIN_ROWS = 1024        # chunks are never shorter (BLAS efficiency)
_MAX_CHUNKS = 64        # ... nor more numerous (enough for 64 threads)
# Operands smaller than this run their chunks one after the other on the calling thread:
# waking the pool costs more than it saves (2 cores: a Gram matrix of a 5000 x 4 block
# 0.05 ms serial vs 0.17 ms on the pool; V^T W with V 5000 x 96, 0.25 vs 0.39 ms).
# The chunks and their order are the same, so are the bits.
_SERIAL_BYTES = 4 * 2**20

_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(nt: int) -> ThreadPoolExecutor:
    with _pools_lock:
        ex = _pools.get(nt)
        if ex is None:
            ex = _pools[nt] = ThreadPoolExecutor(max_workers=nt,
                                                 thread_name_prefix="fastrmt-gemm")
        return ex


def row_chunks(n: int) -> list[tuple[int, int]]:
    """The fixed row chunks for order ``n`` (a function of n only)."""
    size = max(_MIN_ROWS, -(-n // _MAX_CHUNKS))
    return [(r, min(n, r + size)) for r in range(0, n, size)]


def _run(nt: int, f, chunks, nbytes: int) -> list:
    """``[f(c) for c in chunks]``, on a pool of ``nt`` threads unless the operands
    (``nbytes``) are small."""
    if nt <= 1 or len(chunks) <= 1 or nbytes < _SERIAL_BYTES:
        return [f(c) for c in chunks]
    return list(_pool(min(nt, len(chunks))).map(f, chunks))


def mm(A: np.ndarray, B: np.ndarray, nt: int, out: np.ndarray | None = None) -> np.ndarray:
    """``A @ B`` for a tall A (n, m) and a small B (m, w), row chunk by row chunk."""
    n = A.shape[0]
    if out is None:
        out = np.empty((n, B.shape[1]), dtype=np.result_type(A, B))
    if A.shape[1] == 0:
        out[:] = 0.0
        return out

    def one(c):
        np.matmul(A[c[0]:c[1]], B, out=out[c[0]:c[1]])
    _run(nt, one, row_chunks(n), A.nbytes + out.nbytes)
    return out


def tmm(A: np.ndarray, B: np.ndarray, nt: int) -> np.ndarray:
    """``A.T @ B`` for tall A (n, m) and B (n, w): partial products per row chunk,
    summed in chunk order."""
    n = A.shape[0]
    chunks = row_chunks(n)
    if len(chunks) == 1:
        return A.T @ B
    parts = _run(nt, lambda c: A[c[0]:c[1]].T @ B[c[0]:c[1]], chunks, A.nbytes + B.nbytes)
    acc = parts[0]
    for p in parts[1:]:
        acc += p
    return acc


def project(X: np.ndarray, V: np.ndarray, nt: int) -> np.ndarray:
    """``X -= V (V^T X)`` in place (one classical Gram--Schmidt pass); returns X."""
    if V.shape[1] and X.shape[1]:
        C = tmm(V, X, nt)

        def one(c):
            X[c[0]:c[1]] -= V[c[0]:c[1]] @ C
        _run(nt, one, row_chunks(X.shape[0]), V.nbytes + X.nbytes)
    return X


def project_twice(W: np.ndarray, V: np.ndarray, C: np.ndarray, nt: int) -> np.ndarray:
    """Two classical Gram--Schmidt passes of W against V, the first with ``C = V^T W``
    given: returns ``Wp = W1 - V (V^T W1)``, ``W1 = W - V C``.

    The first pass's product and the second pass's Gram matrix are fused per row chunk
    (each chunk of V is read once for both), so V is read twice instead of three times;
    the operations and their order are those of ``project(W - mm(V, C), V)``, hence the
    same bits.
    """
    n = W.shape[0]
    chunks = row_chunks(n)
    Wp = np.empty((n, W.shape[1]), dtype=np.result_type(W, V, C))

    def first(c):
        r = slice(c[0], c[1])
        Wp[r] = W[r] - V[r] @ C
        return V[r].T @ Wp[r]
    parts = _run(nt, first, chunks, V.nbytes + 2 * Wp.nbytes)
    C2 = parts[0]
    for p in parts[1:]:
        C2 += p

    def second(c):
        Wp[c[0]:c[1]] -= V[c[0]:c[1]] @ C2
    _run(nt, second, chunks, V.nbytes + Wp.nbytes)
    return Wp
