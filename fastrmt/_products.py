"""The product engine: tiled symmetric block products on every core, deterministic.

Shared by :class:`fastrmt.packed.PackedSymmetric`, the dense and packed storages of
:class:`fastrmt.operators.DeformedWigner` and the eigensolver's array adapter:

* :func:`n_chunks` - how many private accumulation buffers a product uses, a function of
  the sizes only (never of the thread count), so the summation order and the result are
  the same for any ``n_threads``;
* :func:`tile_schedule` - which tiles of the upper triangle each chunk walks, in what
  order: the one schedule of the Cython product and of the Numba matrix-free product;
* :func:`check_product_memory` - refuse a product whose buffers would not fit, before
  allocating them;
* :func:`as_block` - validate and shape the vector or block a product is applied to;
* :func:`sym_product` - the Cython tile kernel (``fastrmt._ext._packed``) on validated
  inputs;
* :class:`_BlasOneThread` - BLAS capped to one thread inside our own parallel loops,
  through the one BLAS limit of :mod:`fastrmt._threads`.
"""
from __future__ import annotations

import numpy as np

from ._ext import load
from ._threads import blas_limit
from ._validation import check_array, check_memory

import functools

__all__ = ["PACKED_TILE", "n_chunks", "tile_schedule", "check_product_memory", "as_block",
           "sym_product"]

# Side of the square tiles of the packed block product (fastrmt._ext._packed).
PACKED_TILE = 256
# Budget for the per-chunk private output buffers of the tiled symmetric products.
_CHUNK_BUDGET = 256 * 2**20
_MAX_CHUNKS = 32
_MIN_CHUNKS = 4


def n_chunks(n: int, b: int, tile: int) -> int:
    """Number of private accumulation buffers (n, b) of a tiled symmetric product.

    A function of (n, b, tile) only — never of the thread count — so that the summation
    order, hence the result, is the same for any ``n_threads``.  It bounds the
    parallelism of one product: at most the number of tile-row pairs and 32; at most
    n / (32 b), so that zeroing and summing the buffers costs about 1/8 of reading a
    float32 matrix (but at least 2); at most 256 MiB of buffers (but at least 4).
    """
    nb = (n + tile - 1) // tile
    npairs = (nb + 1) // 2
    by_traffic = max(2, n // (32 * b))
    by_memory = max(_MIN_CHUNKS, _CHUNK_BUDGET // max(1, n * b * 8))
    return int(max(1, min(npairs, _MAX_CHUNKS, by_traffic, by_memory)))


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


def check_product_memory(n: int, b: int, k: int, itemsize: int) -> None:
    """Refuse a block product whose k accumulation buffers (plus the output) would not fit."""
    check_memory(f"a block product with b={b} ({k} accumulation buffers of {n} x {b})",
                 (k + 1) * n * b * itemsize, hint="use fewer columns per product")


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
    float64 and float64 arithmetic.
    """
    ext = load("_packed")
    b = V.shape[1]
    k = n_chunks(n, b, PACKED_TILE)
    dt = np.float32 if single else np.float64
    check_product_memory(n, b, k, np.dtype(dt).itemsize)
    bufs = np.zeros((k, n, b), dtype=dt)
    out = np.empty((n, b), dtype=dt)
    starts, rows = tile_schedule(n, PACKED_TILE, k)
    ext.sym_matmat(data, n, packed, V, bufs, starts, rows, PACKED_TILE, nt)
    ext.sum_chunks(bufs, out, nt)
    return out


class _BlasOneThread:
    """Cap BLAS to one thread (inside our own parallel loops), restoring it after
    (through :func:`fastrmt._threads.blas_limit`, the one BLAS limit)."""

    def __enter__(self):
        self._cm = blas_limit(1)
        self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)
