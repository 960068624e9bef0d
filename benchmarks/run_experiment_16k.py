"""Issue 9's end-to-end case: n = 16000, 126 spikes in [1.2, 4], diagonal basis, packed
float32 storage, seed 0 — time per stage and eigensolver calls.

Usage: ``python benchmarks/run_experiment_16k.py [n] [r]``.  Run after
``fastrmt.warmup()`` has populated Numba's cache (the script calls it first and does not
time it).
"""
import sys
import time

import numpy as np

import fastrmt
from fastrmt.experiment import experiment


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    n = int(argv[0]) if argv else 16000
    r = int(argv[1]) if len(argv) > 1 else 126
    fastrmt.warmup()
    t0 = time.perf_counter()
    res = experiment(n, spikes=np.linspace(1.2, 4.0, r), basis="diagonal", storage="packed",
                     dtype=np.float32, seed=0)
    wall = time.perf_counter() - t0
    print(res.format_summary())
    print("stages (s):", {k: round(v, 2) for k, v in res.timings.items()},
          f"end to end {wall:.2f} s, eigensolver calls {res.solver_calls}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
