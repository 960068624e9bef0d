"""Free-probability kernels, part 1: closed forms and sums over atoms (Numba).

The Stieltjes transform of a measure nu and its first derivatives,
``m1 = int dnu/(u-x)`` (= g), ``m2 = int dnu/(u-x)**2``, ``m3 = int dnu/(u-x)**3``,
for each continuous component in closed form (uniform, semicircle, Marchenko-Pastur)
and for atoms by direct sums.  The sums over many atoms run over LANES interleaved
partial sums (SIMD without reassociation), in a fixed order: the results do not depend
on the thread count.  Far-field expansions of blocks of atoms are in :mod:`._fmm`,
the root finders of the subordination function in :mod:`._subordination`.

Why Numba: these are scalar loops over up to 10^5 atoms, inlined into the root finders
of the other two modules and run in parallel over points with ``prange``.
"""
from __future__ import annotations

import cmath
import math

import numba
import numpy as np

from ._jit import jit

KIND_UNIFORM = 1
KIND_SEMICIRCLE = 2
KIND_MP = 3
LANES = 32         # interleaved partial sums over the atoms (SIMD width x unroll)
NAN = math.nan


@jit
def cont_real(u, kind, p0, p1):
    """(m1, m2, m3) of one continuous component at real u; NaN inside its support."""
    if kind == KIND_UNIFORM:
        a, b = p0, p1
        if u >= a and u <= b:
            return NAN, NAN, NAN
        da = u - a
        db = u - b
        m1 = math.log1p((b - a) / db) / (b - a)
        m2 = 1.0 / (da * db)
        m3 = (2.0 * u - a - b) / (2.0 * da * da * db * db)
        return m1, m2, m3
    if kind == KIND_SEMICIRCLE:
        w = u - p0
        r = 2.0 * math.sqrt(p1)
        if abs(w) <= r:
            return NAN, NAN, NAN
        s = math.sqrt((abs(w) - r) * (abs(w) + r))
        if w < 0:
            s = -s
        m1 = 2.0 / (w + s)
        return m1, m1 / s, 1.0 / (s * s * s)
    # Marchenko-Pastur (ratio c, scale sc): work with y = u / sc
    c, sc = p0, p1
    y = u / sc
    sq = math.sqrt(c)
    a = (1.0 - sq) ** 2
    b = (1.0 + sq) ** 2
    if (y >= a and y <= b) or (c > 1.0 and y == 0.0):
        return NAN, NAN, NAN
    mid = 1.0 + c
    r = math.sqrt(abs((y - a) * (y - b)))
    if y < mid:
        r = -r
    if c > 1.0 and abs(y) < 0.5 * a:
        g = (y - 1.0 + c - r) / (2.0 * c * y)
    else:
        g = 2.0 / (y - 1.0 + c + r)
    onep = (r + y - mid) / r               # 1 + r'
    g1 = 0.5 * g * g * onep                # -g'
    rpp = -4.0 * c / (r * r * r)           # r''
    gp = -g1
    gpp = -g * gp * onep - 0.5 * g * g * rpp
    return g / sc, g1 / (sc * sc), 0.5 * gpp / (sc * sc * sc)


@jit
def _csqrt_prod(w, r):
    """sqrt(w - r) * sqrt(w + r) with principal roots: ~ w at infinity, cut [-r, r]."""
    return cmath.sqrt(w - r) * cmath.sqrt(w + r)


@jit
def cont_complex(z, kind, p0, p1):
    """(g, g') of one continuous component at complex z off its support."""
    if kind == KIND_UNIFORM:
        a, b = p0, p1
        g = cmath.log((z - a) / (z - b)) / (b - a)
        return g, -1.0 / ((z - a) * (z - b))
    if kind == KIND_SEMICIRCLE:
        w = z - p0
        s = _csqrt_prod(w, 2.0 * math.sqrt(p1))
        g = 2.0 / (w + s)
        return g, -g / s
    c, sc = p0, p1
    y = z / sc
    sq = math.sqrt(c)
    a = (1.0 - sq) ** 2
    b = (1.0 + sq) ** 2
    mid = 1.0 + c
    r = cmath.sqrt(y - a) * cmath.sqrt(y - b)
    if c > 1.0 and abs(y) < 0.5 * a:
        g = (y - 1.0 + c - r) / (2.0 * c * y)
    else:
        g = 2.0 / (y - 1.0 + c + r)
    gp = -0.5 * g * g * (r + y - mid) / r
    return g / sc, gp / (sc * sc)


@jit
def _hits_atom(u, atoms):
    """True when u equals one of the (sorted) atoms."""
    k = atoms.shape[0]
    if k == 0:
        return False
    i = np.searchsorted(atoms, u)
    return i < k and atoms[i] == u


@jit
def atoms_real(u, atoms, aw):
    """(m1, m2, m3) of the atoms at real u.

    The sums run over LANES interleaved partial sums (added in a fixed order at the
    end), which lets the loop run on SIMD registers without reassociating floating-point
    additions: the result is deterministic and independent of the thread count.
    """
    k = atoms.shape[0]
    nfull = k - k % LANES
    m1 = 0.0
    m2 = 0.0
    m3 = 0.0
    if nfull:
        a1 = np.zeros(LANES)
        a2 = np.zeros(LANES)
        a3 = np.zeros(LANES)
        for j0 in range(0, nfull, LANES):
            for l in range(LANES):
                inv = 1.0 / (u - atoms[j0 + l])
                wi = aw[j0 + l] * inv
                a1[l] += wi
                wi *= inv
                a2[l] += wi
                a3[l] += wi * inv
        for l in range(LANES):
            m1 += a1[l]
            m2 += a2[l]
            m3 += a3[l]
    for j in range(nfull, k):
        inv = 1.0 / (u - atoms[j])
        wi = aw[j] * inv
        m1 += wi
        wi *= inv
        m2 += wi
        m3 += wi * inv
    return m1, m2, m3


@jit
def atoms_real2(u, atoms, aw):
    """(m1, m2) of the atoms at real u (lane sums as in :func:`atoms_real`)."""
    k = atoms.shape[0]
    nfull = k - k % LANES
    m1 = 0.0
    m2 = 0.0
    if nfull:
        a1 = np.zeros(LANES)
        a2 = np.zeros(LANES)
        for j0 in range(0, nfull, LANES):
            for l in range(LANES):
                inv = 1.0 / (u - atoms[j0 + l])
                wi = aw[j0 + l] * inv
                a1[l] += wi
                a2[l] += wi * inv
        for l in range(LANES):
            m1 += a1[l]
            m2 += a2[l]
    for j in range(nfull, k):
        inv = 1.0 / (u - atoms[j])
        wi = aw[j] * inv
        m1 += wi
        m2 += wi * inv
    return m1, m2


@jit
def atoms_real_pairs(u, atoms, aw):
    """(m1, m2, m3) of the atoms at real u with one division per *pair* of atoms:
    w1/d1 + w2/d2 = (w1 d2 + w2 d1) / (d1 d2), and likewise for the squares and cubes.

    Division throughput bounds these sums, so this is ~1.5x faster than
    :func:`atoms_real`; the rounding error is of the same order (all terms of m2 are
    positive; m1, m3 cancel only as the plain sums do).  Used where u is known to be in
    U = {f < 1}, so |u - x| >= sigma sqrt(w) and d1 d2 cannot underflow.
    """
    k = atoms.shape[0]
    blk = 2 * LANES
    nfull = k - k % blk
    m1 = 0.0
    m2 = 0.0
    m3 = 0.0
    if nfull:
        a1 = np.zeros(LANES)
        a2 = np.zeros(LANES)
        a3 = np.zeros(LANES)
        for j0 in range(0, nfull, blk):
            for l in range(LANES):
                d1 = u - atoms[j0 + l]
                d2 = u - atoms[j0 + LANES + l]
                r = 1.0 / (d1 * d2)
                x1 = aw[j0 + l] * d2
                x2 = aw[j0 + LANES + l] * d1
                a1[l] += (x1 + x2) * r
                r2 = r * r
                y1 = x1 * d2
                y2 = x2 * d1
                a2[l] += (y1 + y2) * r2
                a3[l] += (y1 * d2 + y2 * d1) * (r2 * r)
        for l in range(LANES):
            m1 += a1[l]
            m2 += a2[l]
            m3 += a3[l]
    for j in range(nfull, k):
        inv = 1.0 / (u - atoms[j])
        wi = aw[j] * inv
        m1 += wi
        wi *= inv
        m2 += wi
        m3 += wi * inv
    return m1, m2, m3


@jit
def atoms_sums_c(x, t, atoms, aw):
    """At omega = x + i sqrt(t) (t > 0): sums over atoms of w q, w q^2, w d q and
    w (d^2 - t) q^2, w d q^2 with d = x - s, q = 1/(d^2 + t) (lane sums)."""
    k = atoms.shape[0]
    nfull = k - k % LANES
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    s4 = 0.0
    if nfull:
        a0 = np.zeros(LANES)
        a1 = np.zeros(LANES)
        a2 = np.zeros(LANES)
        a3 = np.zeros(LANES)
        a4 = np.zeros(LANES)
        for j0 in range(0, nfull, LANES):
            for l in range(LANES):
                d = x - atoms[j0 + l]
                inv = 1.0 / (d * d + t)
                q = aw[j0 + l] * inv
                q2 = q * inv
                a0[l] += q
                a1[l] += q2
                a2[l] += d * q
                a3[l] += (d * d - t) * q2
                a4[l] += d * q2
        for l in range(LANES):
            s0 += a0[l]
            s1 += a1[l]
            s2 += a2[l]
            s3 += a3[l]
            s4 += a4[l]
    for j in range(nfull, k):
        d = x - atoms[j]
        inv = 1.0 / (d * d + t)
        q = aw[j] * inv
        q2 = q * inv
        s0 += q
        s1 += q2
        s2 += d * q
        s3 += (d * d - t) * q2
        s4 += d * q2
    return s0, s1, s2, s3, s4


@jit(parallel=True)
def phi_excluding(s, lo_idx, hi_idx, s2, atoms, aw, out_phi, out_dphi):
    """Finite-n Phi: the sum over the atoms of S's spectrum minus atoms[lo_idx[i]:hi_idx[i]]."""
    for i in numba.prange(s.shape[0]):
        u = s[i]
        a1, a2 = atoms_real2(u, atoms[:lo_idx[i]], aw[:lo_idx[i]])
        b1, b2 = atoms_real2(u, atoms[hi_idx[i]:], aw[hi_idx[i]:])
        out_phi[i] = u + s2 * (a1 + b1)
        out_dphi[i] = 1.0 - s2 * (a2 + b2)
