"""Slow, obvious twins of fastrmt's kernels (pure Python / NumPy / SciPy).

Every compiled kernel is compared with one of these in the tests.
"""
from __future__ import annotations

import math

import numpy as np

MASK = 0xFFFFFFFF


def philox4x32_10(ctr, key):
    """Philox4x32-10 in plain Python integers (Salmon et al. 2011)."""
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for _ in range(10):
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & MASK, p1 & MASK, ((p0 >> 32) ^ c3 ^ k1) & MASK, p0 & MASK
        k0 = (k0 + 0x9E3779B9) & MASK
        k1 = (k1 + 0xBB67AE85) & MASK
    return c0, c1, c2, c3


def word(i, j, t, stream, key):
    out = philox4x32_10((j >> 1, i, t, stream), key)
    return (out[2] | (out[3] << 32)) if j & 1 else (out[0] | (out[1] << 32))


def unit_open(w):
    return ((w >> 11) + 0.5) * 2.0**-53


def _zig():
    r, v = 3.6541528853610088, 0.00492867323399
    f = lambda x: math.exp(-0.5 * x * x)  # noqa: E731
    x = [0.0] * 257
    x[0] = v / f(r)
    x[1] = r
    for i in range(1, 255):
        x[i + 1] = math.sqrt(-2.0 * math.log(v / x[i] + f(x[i])))
    return x, r


ZX, ZR = _zig()


def gaussian(i, j, stream, key):
    t = 0
    while True:
        w = word(i, j, t, stream, key)
        t += 1
        layer, neg, u = w & 255, (w >> 8) & 1, unit_open(w)
        x = u * ZX[layer]
        if u < ZX[layer + 1] / ZX[layer]:
            return -x if neg else x
        if layer == 0:
            while True:
                xx = -math.log(unit_open(word(i, j, t, stream, key))) / ZR
                yy = -math.log(unit_open(word(i, j, t + 1, stream, key)))
                t += 2
                if 2 * yy > xx * xx:
                    return -(ZR + xx) if neg else ZR + xx
        u2 = unit_open(word(i, j, t, stream, key))
        t += 1
        f0, f1 = math.exp(-0.5 * ZX[layer] ** 2), math.exp(-0.5 * ZX[layer + 1] ** 2)
        if f0 + u2 * (f1 - f0) < math.exp(-0.5 * x * x):
            return -x if neg else x


def standardized_entry(i, j, dist, param, key, stream=0):
    """Standardised entry (i, j) of X, straight from the documented design."""
    if i > j:
        i, j = j, i
    if dist == "gaussian":
        return gaussian(i, j, stream, key)
    w = word(i, j, 0, stream, key)
    if dist == "rademacher":
        return -1.0 if w >> 63 else 1.0
    if dist == "uniform":
        return math.sqrt(3.0) * (2.0 * unit_open(w) - 1.0)
    if dist == "sparse":
        if unit_open(w) < param:
            s = 1.0 / math.sqrt(param)
            return -s if w & 1 else s
        return 0.0
    if dist == "student_t":
        t = 0
        while True:
            u = 2.0 * unit_open(word(i, j, t, stream, key)) - 1.0
            v = 2.0 * unit_open(word(i, j, t + 1, stream, key)) - 1.0
            t += 2
            w2 = u * u + v * v
            if 0.0 < w2 <= 1.0:
                return u * math.sqrt(param * math.expm1(-2.0 / param * math.log(w2)) / w2) * math.sqrt(
                    1.0 - 2.0 / param)
    raise ValueError(dist)


def wigner_reference(n, spec, dtype=np.float64):
    """The full matrix X / sqrt(n) entry by entry (slow)."""
    key = (spec.key.k0, spec.key.k1)
    out = np.empty((n, n))
    so, sd = spec.sigma / math.sqrt(n), math.sqrt(spec.diag_var) / math.sqrt(n)
    for i in range(n):
        for j in range(i, n):
            x = standardized_entry(i, j, spec.dist, spec.param, key, spec.stream)
            out[i, j] = out[j, i] = x * (sd if i == j else so)
    return out.astype(dtype)


def numpy_wigner(n, rng):
    """The plain NumPy recipe a user would write (the benchmark baseline)."""
    a = rng.standard_normal((n, n))
    return (a + a.T) / np.sqrt(2 * n)


def packed_from_dense(a):
    """Upper triangle, row-major."""
    return a[np.triu_indices(a.shape[0])]


def dense_check_reference(A: np.ndarray) -> tuple[bool, float, float]:
    """(all finite, max |a_ij - a_ji| in float64, max |a_ij|) by whole-array numpy."""
    B = A.astype(np.float64)
    if not np.all(np.isfinite(B)):
        return False, math.nan, math.nan
    return True, float(np.abs(B - B.T).max()), float(np.abs(B).max())
