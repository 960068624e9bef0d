"""The product engine: tiled symmetric block products on every core, deterministic.

Shared by :class:`fastrmt.packed.PackedSymmetric`, the dense and packed storages of
:class:`fastrmt.operators.DeformedWigner` and the eigensolver's array adapter:

* :func:`n_chunks` - how many private accumulation buffers a product uses, a function of
  the sizes only (never of the thread count), so the summation order and the result are
  the same for any ``n_threads``;
* :func:`tile_schedule` - which tiles of the upper triangle each chunk walks, in what
  order: the one schedule of the Cython product and of the Numba matrix-free product;
* :func:`group_size`, :func:`chunk_groups` - how many of those buffers a product holds
  at once, and the groups it walks: the buffers are computed and summed into the output
  group by group, in chunk order, so the memory is bounded while the result stays the
  one fixed fold over the chunks;
* :func:`check_product_memory` - refuse a product whose buffers would not fit, before
  allocating them;
* :func:`as_block` - validate and shape the vector or block a product is applied to;
* :func:`sym_product` - the Cython tile kernel (``fastrmt._ext._packed``) on validated
  inputs;
* :class:`_BlasOneThread` - BLAS capped to one thread inside our own parallel loops,
  through the one BLAS limit of :mod:`fastrmt._threads`.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from ._ext import load
from ._threads import blas_limit
from ._validation import check_array, check_memory

import functools

__all__ = ["PACKED_TILE", "n_chunks", "group_size", "chunk_groups", "tile_schedule",
           "pair_schedule", "check_product_memory", "as_block", "sym_product",
           "padded_width"]

# Side of the square tiles of the packed block product (fastrmt._ext._packed).
PACKED_TILE = 256
# Budget for the per-chunk private output buffers held at once by a tiled product.
_CHUNK_BUDGET = 256 * 2**20
_MAX_CHUNKS = 32
_MIN_CHUNKS = 4
# Above 32 * _ROWS_PER_CHUNK rows the chunk count grows with n (one chunk per
# _ROWS_PER_CHUNK rows), so that a product at n = 10^6 has enough tasks for a cluster.
_ROWS_PER_CHUNK = 8192


def n_chunks(n: int, b: int, tile: int) -> int:
    """Number of private accumulation buffers (n, b) of a tiled symmetric product.

    A function of (n, b, tile) only — never of the thread count — so that the summation
    order, hence the result, is the same for any ``n_threads``.  It bounds the
    parallelism of one product: at most the number of tile-row pairs; at most
    ``max(32, n // 8192)`` (32 up to n = 262143, then growing with n: 122 chunks at
    n = 10^6, the tasks of :mod:`fastrmt.distributed`); at most n / (32 b), so that
    zeroing and summing the buffers costs about 1/8 of reading a float32 matrix (but at
    least 2).  Memory does not bound it: :func:`group_size` buffers are held at once.
    (Up to this version a 256 MiB budget also capped the count at n >= 32768 with
    n b > 2^20; those products now have more chunks, so their last bits differ.)
    """
    nb = (n + tile - 1) // tile
    npairs = (nb + 1) // 2
    by_traffic = max(2, n // (32 * b))
    cap = max(_MAX_CHUNKS, n // _ROWS_PER_CHUNK)
    return int(max(1, min(npairs, cap, by_traffic)))


def group_size(n: int, b: int, k: int, itemsize: int, nt: int) -> int:
    """How many of the ``k`` chunk buffers a product computes and holds at once.

    All of them when they fit in 256 MiB; otherwise as many as fit, but at least 4 and
    at least ``nt`` (every thread needs a chunk).  The buffers of a group are summed
    into the output in chunk order before the next group starts, which is the same
    sequence of additions as one sum over all ``k``: the result does not depend on the
    group size (nor, through it, on ``nt``).
    """
    per = max(1, n * b * itemsize)
    return int(max(1, min(k, max(_MIN_CHUNKS, nt, _CHUNK_BUDGET // per))))



def chunk_groups(bufs: np.ndarray, k: int) -> Iterator[tuple[np.ndarray, int, int]]:
    """The k chunks in groups of consecutive chunks, as many as ``bufs`` (g, n, b) holds:
    yields ``(part, c0, c1)`` with ``part = bufs[:c1 - c0]`` zeroed, for the chunks
    c0..c1-1, in order.  The caller fills ``part`` and sums it into the output before
    asking for the next group (the buffers are reused)."""
    g = bufs.shape[0]
    for c0 in range(0, k, g):
        c1 = min(k, c0 + g)
        part = bufs[:c1 - c0]
        part[...] = 0
        yield part, c0, c1

@functools.lru_cache(maxsize=64)
def tile_schedule(n: int, tile: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The tile rows each of the ``k`` chunks of a tiled symmetric product walks.

    The upper triangle of an (n, n) matrix is cut into square tiles (I, J), I <= J, of
    side ``tile``; tile row t holds the tiles (t, t), (t, t+1), ..., (t, nb-1).  Rows are
    paired (t, nb-1-t), so that every pair holds the same number of tiles, and pair p
    goes to chunk ``p % k``.  Chunk c walks ``rows[starts[c]:starts[c+1]]`` in that
    order, each row from its diagonal tile to the last; it accumulates into its own
    buffer, so this order (a function of (n, tile, k) only) fixes every rounding.

    Returns ``(starts, rows)``: read-only intp arrays of lengths k + 1 and nb.
    """
    if n < 1 or tile < 1 or k < 1:
        raise ValueError(f"tile_schedule needs n, tile, k >= 1, got {(n, tile, k)}")
    nb = (n + tile - 1) // tile
    npairs = (nb + 1) // 2
    per_chunk: list[list[int]] = [[] for _ in range(k)]
    for p in range(npairs):
        per_chunk[p % k].append(p)
        if nb - 1 - p != p:
            per_chunk[p % k].append(nb - 1 - p)
    starts = np.zeros(k + 1, dtype=np.intp)
    starts[1:] = np.cumsum([len(c) for c in per_chunk])
    rows = np.array([t for c in per_chunk for t in c], dtype=np.intp)
    starts.flags.writeable = False
    rows.flags.writeable = False
    return starts, rows



def pair_schedule(n: int, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`tile_schedule` with one pair of tile rows (t, nb-1-t) per chunk: the walk
    of the dense input checks (``fastrmt._kernels._checks``)."""
    nb = (n + tile - 1) // tile
    return tile_schedule(n, tile, (nb + 1) // 2)

# Products whose buffers are below this size are not checked against the available
# memory: asking the OS (/proc/meminfo) costs ~0.3 ms, a tenth of a small product.
_UNCHECKED_BYTES = 64 * 2**20


def check_product_memory(n: int, b: int, k: int, itemsize: int) -> None:
    """Refuse a block product whose k accumulation buffers held at once (plus the
    output) would not fit (buffers under 64 MiB are not checked)."""
    if (k + 1) * n * b * itemsize < _UNCHECKED_BYTES:
        return
    check_memory(f"a block product with b={b} ({k} accumulation buffers of {n} x {b})",
                 (k + 1) * n * b * itemsize,
                 hint="use fewer columns per product, or fewer threads (n_threads): each "
                      "running thread holds one buffer")


def as_block(V, n: int, dtype, name: str = "V") -> tuple[np.ndarray, bool]:
    """Validate a vector (n,) or block (n, b) of reals; return it C-contiguous (n, b) in ``dtype``.

    Refuses (TypeError) complex or non-numeric input, (ValueError) a wrong shape, b = 0
    or non-finite values.  The bool says whether the input was 1-D.
    """
    if isinstance(V, np.ndarray) and V.dtype.kind == "c":
        raise TypeError(f"{name} must be real, got dtype {V.dtype}")
    arr = check_array(name, V, dtype=None, finite=False)
    if arr.ndim not in (1, 2) or arr.shape[0] != n or (arr.ndim == 2 and arr.shape[1] == 0):
        raise ValueError(f"{name} must have shape ({n},) or ({n}, b) with b >= 1, "
                         f"got {arr.shape}")
    one = arr.ndim == 1
    out = np.ascontiguousarray(arr.reshape(n, -1), dtype=dtype)
    if not np.isfinite(out).all():
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return out, one


def sym_product(data: np.ndarray, n: int, packed: bool, V: np.ndarray, nt: int,
                single: bool) -> np.ndarray:
    """Tiled symmetric product (fastrmt._ext._packed) on validated inputs, ``nt`` threads.

    ``data``: the packed triangle, or a dense C-order matrix flattened (its upper
    triangle is read).  ``single``: float32 data and V, float32 arithmetic; otherwise V
    float64 and float64 arithmetic.  A block of two columns is multiplied column-major
    (the kernel vectorized along the rows; n = 6000 float64: 5.1 -> 3.9 ms, n = 16000
    float32: 101 -> 23 ms, where the row-major 2-column panel was issue-bound).
    """
    ext = load("_packed")
    b0 = V.shape[1]
    b = padded_width(b0)
    if b != b0:
        Vp = np.zeros((n, b), dtype=V.dtype)
        Vp[:, :b0] = V
        V = Vp
    k = n_chunks(n, b, PACKED_TILE)
    dt = np.float32 if single else np.float64
    g = group_size(n, b, k, np.dtype(dt).itemsize, nt)
    check_product_memory(n, b, g, np.dtype(dt).itemsize)
    # two columns: the column-major kernel (V.T, buffers (g, 2, n)); the sums over the
    # chunks are elementwise, so they run on the same memory viewed as (n, 2)
    columns = b == 2
    if columns:
        V = np.ascontiguousarray(V.T)
    bufs = np.empty((g, b, n) if columns else (g, n, b), dtype=dt)
    out = np.empty((b, n) if columns else (n, b), dtype=dt)
    starts, rows = tile_schedule(n, PACKED_TILE, k)
    for part, c0, c1 in chunk_groups(bufs, k):
        ext.sym_matmat(data, n, packed, V, part, starts[c0:c1 + 1], rows, PACKED_TILE, nt,
                       columns)
        # in chunk order, group after group
        ext.sum_chunks(part.reshape(-1, n, b), out.reshape(n, b), c0 > 0, nt)
    if columns:
        return np.ascontiguousarray(out.T)
    return out if b == b0 else np.ascontiguousarray(out[:, :b0])


def padded_width(b: int) -> int:
    """Columns the tile kernels work on for a block of ``b``: b rounded up to a multiple
    of 4 (b > 2), so that no column falls to the kernels' scalar code (zero columns are
    appended and dropped).  n = 12000, 2 threads: float32 3 -> 4 columns 84 -> 25 ms,
    5 -> 8 47 -> 25 ms; float64-accumulated 111 -> 112 938 -> 779 ms, 3 -> 4 72 -> 45 ms."""
    return b if b <= 2 else -(-b // 4) * 4


class _BlasOneThread:
    """Cap BLAS to one thread (inside our own parallel loops), restoring it after
    (through :func:`fastrmt._threads.blas_limit`, the one BLAS limit)."""

    def __enter__(self):
        self._cm = blas_limit(1)
        self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)
