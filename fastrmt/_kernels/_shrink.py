"""Pair sums of the rotationally invariant estimators (RIE) of :mod:`fastrmt.shrinkage`.

For sorted or unsorted spectra ``x`` (eigenvalues, or singular values), the RIE needs, for
every ``i``, the principal-value sums

    d_i = sum_{j != i} (x_i - x_j) / ((x_i - x_j)^2 + eta^2)     (Re of g(x_i - i eta))
    m_i = sum_{j != i} 1 / (x_i + x_j)                           (mirror terms, singular values)

Numba, not Cython: a plain double loop whose rows are independent (``prange`` over ``i``;
each row is summed in the same order whatever the thread count, so the result does not
depend on it), called on spectra of at most a few thousand values.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from ._jit import jit


@jit(parallel=True)
def pair_sums(x: np.ndarray, eta: float, mirror: bool, d: np.ndarray, m: np.ndarray) -> None:
    n = x.size
    e2 = eta * eta
    for i in prange(n):
        xi = x[i]
        a = 0.0
        b = 0.0
        for j in range(n):
            if j != i:
                t = xi - x[j]
                den = t * t + e2
                if den > 0.0:          # equal values cancel in the principal value
                    a += t / den
                if mirror and xi + x[j] > 0.0:
                    b += 1.0 / (xi + x[j])
        d[i] = a
        m[i] = b
