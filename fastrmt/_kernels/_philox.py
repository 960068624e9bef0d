"""Philox4x32-10 and the entry laws, in Numba.

Numba rather than Cython: the generator is inlined into several different loops (the
packed and full samplers, the matrix-free tile generator of the operator), specialised
per output dtype, and LLVM vectorises the branch-free Philox rounds across a row.

Design (see :mod:`fastrmt._random`): entry (i, j) with i <= j uses the 64-bit word
``half_{j % 2}(philox((j >> 1, i, t, stream), key))`` for t = 0, 1, 2, ...  Every law
below turns that word stream into one standardised value (mean 0, variance 1).
"""
from __future__ import annotations

import math

import numpy as np

from ._jit import jit

M0 = np.uint64(0xD2511F53)
M1 = np.uint64(0xCD9E8D57)
W0 = np.uint64(0x9E3779B9)
W1 = np.uint64(0xBB67AE85)
MASK32 = np.uint64(0xFFFFFFFF)
U32 = np.uint64(32)
U11 = np.uint64(11)
U8 = np.uint64(8)
U63 = np.uint64(63)
ONE = np.uint64(1)
B255 = np.uint64(255)
TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53

# Law codes (shared with the Python layer).
GAUSSIAN = 0
RADEMACHER = 1
UNIFORM = 2
SPARSE = 3
STUDENT_T = 4
LAW_CODES = {"gaussian": GAUSSIAN, "rademacher": RADEMACHER, "uniform": UNIFORM,
             "sparse": SPARSE, "student_t": STUDENT_T}


@jit(inline="always")
def philox(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 on 32-bit words held in uint64; returns the 4 output words."""
    for _ in range(10):
        p0 = M0 * c0
        p1 = M1 * c2
        n0 = (p1 >> U32) ^ c1 ^ k0
        n2 = (p0 >> U32) ^ c3 ^ k1
        c1 = p1 & MASK32
        c3 = p0 & MASK32
        c0 = n0
        c2 = n2
        k0 = (k0 + W0) & MASK32
        k1 = (k1 + W1) & MASK32
    return c0, c1, c2, c3


@jit
def philox_block(c0, c1, c2, c3, k0, k1):
    """Non-inlined twin of :func:`philox` returning an array (for tests)."""
    out = np.empty(4, dtype=np.uint64)
    a, b, c, d = philox(np.uint64(c0), np.uint64(c1), np.uint64(c2), np.uint64(c3),
                        np.uint64(k0), np.uint64(k1))
    out[0] = a
    out[1] = b
    out[2] = c
    out[3] = d
    return out


@jit(inline="always")
def word(i, j, t, stream, k0, k1):
    """The 64-bit word number t of entry (i, j), i <= j."""
    a, b, c, d = philox(np.uint64(j >> 1), np.uint64(i), np.uint64(t), np.uint64(stream),
                        k0, k1)
    if j & 1:
        return c | (d << U32)
    return a | (b << U32)


@jit(inline="always")
def unit_open(w):
    """A uniform in the open interval (0, 1), symmetric about 1/2, from 53 bits of w."""
    return (np.float64(w >> U11) + 0.5) * TWO_M53


def _ziggurat_tables():
    """Tables of the 256-layer ziggurat for the standard normal (Marsaglia & Tsang 2000)."""
    r = 3.6541528853610088
    v = 0.00492867323399
    f = lambda x: math.exp(-0.5 * x * x)  # noqa: E731
    x = np.zeros(257)
    x[0] = v / f(r)
    x[1] = r
    for i in range(1, 255):
        x[i + 1] = math.sqrt(-2.0 * math.log(v / x[i] + f(x[i])))
    x[256] = 0.0
    ratio = x[1:] / x[:-1]
    fx = np.array([math.exp(-0.5 * xi * xi) for xi in x])
    return x, ratio, fx, r


ZIG_X, ZIG_RATIO, ZIG_F, ZIG_R = _ziggurat_tables()


@jit(inline="always")
def gaussian_fast(w):
    """Ziggurat fast path: returns (value, ok).  ok is False on the ~1.2 % of slow cases."""
    layer = np.int64(w & B255)
    u = unit_open(w)
    neg = (w >> U8) & ONE
    if u < ZIG_RATIO[layer]:
        x = u * ZIG_X[layer]
        return (-x if neg else x), True
    return 0.0, False


@jit
def gaussian_slow(i, j, stream, k0, k1):
    """Full ziggurat on the word stream t = 0, 1, ... of entry (i, j)."""
    t = 0
    while True:
        w = word(i, j, t, stream, k0, k1)
        t += 1
        layer = np.int64(w & B255)
        u = unit_open(w)
        neg = (w >> U8) & ONE
        if u < ZIG_RATIO[layer]:
            x = u * ZIG_X[layer]
            return -x if neg else x
        x = u * ZIG_X[layer]
        if layer == 0:
            # Tail beyond r (Marsaglia 1964).
            while True:
                u1 = unit_open(word(i, j, t, stream, k0, k1))
                u2 = unit_open(word(i, j, t + 1, stream, k0, k1))
                t += 2
                xx = -math.log(u1) / ZIG_R
                yy = -math.log(u2)
                if 2.0 * yy > xx * xx:
                    x = ZIG_R + xx
                    return -x if neg else x
        else:
            u2 = unit_open(word(i, j, t, stream, k0, k1))
            t += 1
            f0 = ZIG_F[layer]
            f1 = ZIG_F[layer + 1]
            if f0 + u2 * (f1 - f0) < math.exp(-0.5 * x * x):
                return -x if neg else x


@jit
def student_t_value(i, j, stream, k0, k1, df):
    """Student-t(df) by Bailey's polar method, rescaled to unit variance (df > 2)."""
    t = 0
    while True:
        u = 2.0 * unit_open(word(i, j, t, stream, k0, k1)) - 1.0
        v = 2.0 * unit_open(word(i, j, t + 1, stream, k0, k1)) - 1.0
        t += 2
        w = u * u + v * v
        if w <= 1.0 and w > 0.0:
            # w**(-2/df) - 1 as expm1: no cancellation for large df (the Gaussian limit)
            val = u * math.sqrt(df * math.expm1(-2.0 / df * math.log(w)) / w)
            return val * math.sqrt(1.0 - 2.0 / df)


@jit(inline="always")
def law_from_word(w, law, param):
    """Standardised value from the first word; (value, ok). ok False: call law_slow."""
    if law == GAUSSIAN:
        return gaussian_fast(w)
    if law == RADEMACHER:
        return (-1.0 if (w >> U63) else 1.0), True
    if law == UNIFORM:
        return 1.7320508075688772 * (2.0 * unit_open(w) - 1.0), True
    if law == SPARSE:
        if unit_open(w) < param:
            s = 1.0 / math.sqrt(param)
            return (-s if (w & ONE) else s), True
        return 0.0, True
    return 0.0, False


@jit
def law_slow(i, j, stream, k0, k1, law, param):
    if law == GAUSSIAN:
        return gaussian_slow(i, j, stream, k0, k1)
    return student_t_value(i, j, stream, k0, k1, param)


@jit
def entry(i, j, stream, k0, k1, law, param):
    """The standardised entry (min(i,j), max(i,j)) — the slow, obvious definition."""
    if i > j:
        i, j = j, i
    w = word(i, j, 0, stream, np.uint64(k0), np.uint64(k1))
    x, ok = law_from_word(w, law, param)
    if ok:
        return x
    return law_slow(i, j, stream, np.uint64(k0), np.uint64(k1), law, param)


CHUNK = 256  # Philox blocks generated per vectorised batch


@jit
def philox_words(wa, wb, m0, count, ci, cs, k0, k1):
    """Words of counters (m0 + q, ci, 0, cs), q < count: a branch-free loop LLVM vectorises."""
    z = np.uint64(0)
    for q in range(count):
        a, b, c, d = philox(np.uint64(m0 + q), ci, z, cs, k0, k1)
        wa[q] = a | (b << U32)
        wb[q] = c | (d << U32)


@jit
def _words_to_values(buf, base, w, qs, qe, law, param, scale):
    """buf[base + 2 q] = scale * (the value of word w[q]) for q in [qs, qe), for the
    laws whose first word always suffices (Rademacher, uniform, sparse): one branch-free
    loop per law, which LLVM vectorises.  The same values as :func:`law_from_word`."""
    if law == RADEMACHER:
        for q in range(qs, qe):
            buf[base + 2 * q] = -scale if (w[q] >> U63) else scale
    elif law == UNIFORM:
        for q in range(qs, qe):
            buf[base + 2 * q] = 1.7320508075688772 * (2.0 * unit_open(w[q]) - 1.0) * scale
    else:
        s = 1.0 / math.sqrt(param)
        for q in range(qs, qe):
            x = (-s if (w[q] & ONE) else s) if unit_open(w[q]) < param else 0.0
            buf[base + 2 * q] = x * scale


@jit
def fill_row_ws(buf, i, j0, j1, stream, k0, k1, law, param, scale_off, scale_diag, wa, wb):
    """buf[j - j0] = scaled entry (i, j) for j in [j0, j1), all with j >= i.

    ``wa``/``wb`` are uint64 scratch arrays of length CHUNK.  Two entries share one
    Philox block; the blocks are produced in vectorised batches, then transformed: by
    one vectorised loop per law for the laws whose first word always suffices
    (:func:`_words_to_values`; the diagonal entry then gets its own scale), entry by
    entry for the Gaussian and Student-t laws (the ~1 % of slow ziggurat cases, and
    Student-t, recompute their entry on its own).
    """
    k0 = np.uint64(k0)
    k1 = np.uint64(k1)
    m0 = j0 >> 1
    m1 = (j1 - 1) >> 1
    ci = np.uint64(i)
    cs = np.uint64(stream)
    if law == RADEMACHER or law == UNIFORM or law == SPARSE:
        for mc in range(m0, m1 + 1, CHUNK):
            cnt = min(CHUNK, m1 + 1 - mc)
            philox_words(wa, wb, mc, cnt, ci, cs, k0, k1)
            base = 2 * mc - j0                  # buf index of entry 2 mc
            qa = 1 if base < 0 else 0           # entry 2 mc left of j0 (j0 odd)
            qb = cnt if base + 2 * cnt <= j1 - j0 else cnt - 1   # entry 2 m1 + 1 >= j1
            _words_to_values(buf, base, wa, qa, cnt, law, param, scale_off)
            _words_to_values(buf, base + 1, wb, 0, qb, law, param, scale_off)
        if i >= j0 and i < j1:
            buf[i - j0] = entry(i, i, stream, k0, k1, law, param) * scale_diag
        return
    for mc in range(m0, m1 + 1, CHUNK):
        cnt = min(CHUNK, m1 + 1 - mc)
        philox_words(wa, wb, mc, cnt, ci, cs, k0, k1)
        for q in range(cnt):
            ja = 2 * (mc + q)
            jb = ja + 1
            if ja >= j0:
                x, ok = law_from_word(wa[q], law, param)
                if not ok:
                    x = law_slow(i, ja, stream, k0, k1, law, param)
                buf[ja - j0] = x * (scale_diag if ja == i else scale_off)
            if jb < j1:
                x, ok = law_from_word(wb[q], law, param)
                if not ok:
                    x = law_slow(i, jb, stream, k0, k1, law, param)
                buf[jb - j0] = x * (scale_diag if jb == i else scale_off)


@jit
def fill_row(buf, i, j0, j1, stream, k0, k1, law, param, scale_off, scale_diag):
    """:func:`fill_row_ws` with its own scratch (for callers that fill few rows)."""
    wa = np.empty(CHUNK, dtype=np.uint64)
    wb = np.empty(CHUNK, dtype=np.uint64)
    fill_row_ws(buf, i, j0, j1, stream, k0, k1, law, param, scale_off, scale_diag, wa, wb)
