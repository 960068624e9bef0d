"""What ``n_threads`` means, everywhere in fastrmt.

``n_threads=None`` uses every core numba may use (``numba.config.NUMBA_NUM_THREADS``);
a positive int uses that many threads (capped at that maximum); a negative int counts
back from it (``-1`` = all cores, ``-2`` = all but one, never fewer than one); ``0`` is
an error.  The setting is applied by :func:`thread_limit`, a context manager that sets
numba's thread count and caps the BLAS/OpenMP pools (threadpoolctl) for the duration
of a call, and restores the previous values in ``finally``.  Results never depend on it:
every random entry is a pure function of (seed, position) and every parallel reduction
is done in a fixed order.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

import numba
from threadpoolctl import threadpool_limits

from ._validation import check_int

__all__ = ["resolve_n_threads", "thread_limit", "max_threads"]


def max_threads() -> int:
    """The largest thread count numba can use in this process."""
    return int(numba.config.NUMBA_NUM_THREADS)


def resolve_n_threads(n_threads: int | None) -> int:
    """Map the public ``n_threads`` argument to a concrete positive count."""
    cap = max_threads()
    if n_threads is None:
        return cap
    n = check_int("n_threads", n_threads)
    if n == 0:
        raise ValueError("n_threads must be a positive or negative integer or None, got 0")
    if n < 0:
        return max(cap + 1 + n, 1)
    return min(n, cap)


@contextlib.contextmanager
def thread_limit(n_threads: int | None, *, blas: bool = True) -> Iterator[int]:
    """Use ``n_threads`` threads inside the block; restore the previous settings after.

    Numba's parallel kernels use the count directly.  BLAS (and the OpenMP runtime of
    the Cython extensions) is capped to the same count, so that the two never
    oversubscribe the cores.  Yields the resolved count.
    """
    n = resolve_n_threads(n_threads)
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        if blas:
            with threadpool_limits(limits=n):
                yield n
        else:
            yield n
    finally:
        numba.set_num_threads(previous)


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return os.cpu_count() or 1
