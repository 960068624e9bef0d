"""What ``n_threads`` means, everywhere in fastrmt.

``n_threads=None`` uses every core numba may use (``numba.config.NUMBA_NUM_THREADS``);
a positive int uses that many threads (capped at that maximum); a negative int counts
back from it (``-1`` = all cores, ``-2`` = all but one, never fewer than one); ``0`` is
an error.  The setting is applied by :func:`thread_limit`, a context manager that sets
numba's thread count (numba's count is per Python thread) and caps BLAS through
:func:`blas_limit` for the duration of a call, restoring the previous values in
``finally``.  Results never depend on it: every random entry is a pure function of
(seed, position) and every parallel reduction is done in a fixed order.

BLAS's thread count is one setting for the whole process, so :func:`blas_limit` is the
only place that changes it: a lock-protected registry of the limits requested by the
blocks now running.  Within one Python thread the innermost block wins (so a block can
raise BLAS back to ``n`` threads inside a one-thread block); across Python threads the
smallest of their current requests is applied (a thread that asked for one thread,
e.g. for rounding that does not depend on the thread count, always gets one).  When the
last block exits, BLAS gets back exactly the limits it had before the first one entered.
(The OpenMP loops of the Cython extensions take their thread count as an argument.)
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Iterator

import numba

from ._validation import check_int

__all__ = ["resolve_n_threads", "thread_limit", "blas_limit", "max_threads"]


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
            with blas_limit(n):
                yield n
        else:
            yield n
    finally:
        numba.set_num_threads(previous)


class _BlasRegistry:
    """The process's BLAS thread limit: who asks for what, and what was there before."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stacks: dict[int, list[int]] = {}   # Python thread id -> its requests, innermost last
        self.original: list[tuple[object, int]] | None = None   # (library, threads) before
        self.controller = None
        self.modules_seen = -1
        self.applied: int | None = None

    def _libraries(self) -> list:
        # scanning the loaded libraries costs ~5 ms: redo it only when modules were
        # imported since (a new BLAS comes with an import)
        if self.controller is None or len(sys.modules) != self.modules_seen:
            from threadpoolctl import ThreadpoolController

            self.controller = ThreadpoolController().select(user_api="blas")
            self.modules_seen = len(sys.modules)
        return list(self.controller.lib_controllers)

    def _apply(self) -> None:
        want = min(stack[-1] for stack in self.stacks.values())
        if want != self.applied:
            for lib, _ in self.original or []:
                _set_threads(lib, want)
            self.applied = want

    def enter(self, n: int) -> None:
        me = threading.get_ident()
        with self.lock:
            if not self.stacks:
                self.original = [(lib, lib.num_threads) for lib in self._libraries()]
                self.applied = None
            self.stacks.setdefault(me, []).append(n)
            self._apply()

    def exit(self) -> None:
        me = threading.get_ident()
        with self.lock:
            stack = self.stacks[me]
            stack.pop()
            if not stack:
                del self.stacks[me]
            if self.stacks:
                self._apply()
                return
            for lib, threads in self.original or []:
                _set_threads(lib, threads)
            self.original, self.applied = None, None


def _set_threads(lib, n: int) -> None:
    # threadpoolctl >= 3.6 lets only one "controlling" Python thread set OpenBLAS's
    # (process-wide, pthreads) pool and silently ignores the others; every change here is
    # serialized by the registry's lock, so take control for the call and hand it back.
    clear = getattr(type(lib), "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)
    lib.set_num_threads(n)
    if clear is not None:
        clear(force=True)


_BLAS = _BlasRegistry()


@contextlib.contextmanager
def blas_limit(n: int) -> Iterator[int]:
    """Cap BLAS (process-wide) to ``n`` threads inside the block; see the module docstring.

    Nested blocks in one Python thread: the innermost value applies.  Blocks running at
    once in several Python threads: the smallest current value applies.  The last block
    to exit restores the limits BLAS had before the first one entered.  Yields ``n``.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    _BLAS.enter(n)
    try:
        yield n
    finally:
        _BLAS.exit()


def blas_state() -> list[int]:
    """The current thread counts of the loaded BLAS libraries (for tests and diagnostics)."""
    from threadpoolctl import threadpool_info

    return [d["num_threads"] for d in threadpool_info() if d.get("user_api") == "blas"]


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return os.cpu_count() or 1
