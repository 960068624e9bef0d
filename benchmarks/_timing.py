"""Timing helper shared by the ``run_*.py`` scripts (pytest-benchmark does its own)."""
from __future__ import annotations

import time
from typing import Callable


def best(f: Callable[[], object], repeat: int = 3) -> float:
    """The smallest wall time of ``repeat`` calls of ``f`` (seconds)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)
