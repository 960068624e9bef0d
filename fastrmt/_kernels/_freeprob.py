"""Kernels of the free-probability toolkit (Phi, its inverse, edges, density) in Numba.

Why Numba: every routine is a safeguarded scalar root finder (Newton with a bracket
and a bisection fall-back) whose cost is dominated by sums over up to 10^5 atoms; Numba
compiles the loops, runs the independent points in parallel with ``prange``, and lets
the atom sums of a block of points run as one SIMD loop (the points of a block are
independent accumulators, so the summation order is fixed and the results do not
depend on the thread count).

Sums over many atoms: each point's sum runs over LANES interleaved partial sums (SIMD
without reassociation); :func:`phi_many` and :func:`inverse_real` also use a one-level
fast-multipole scheme (blocks of FMM_BLOCK sorted atoms far from the point enter through
an order-FMM_P expansion with truncation below 1e-15 of their share), and the inverse
pairs atoms to halve the divisions.  All in a fixed order: results do not depend on the
thread count.

A measure arrives as ``(kinds, params, cweights, atoms, aweights)`` (see
:class:`fastrmt.measures.MeasureData`).  Notation: ``m1 = int dnu/(u-x)`` (= g),
``m2 = int dnu/(u-x)**2``, ``m3 = int dnu/(u-x)**3``; Phi(u) = u + s2 m1,
Phi'(u) = 1 - s2 m2 with s2 = sigma**2; f(u) = s2 m2.
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
EPS_STEP = 1e-15   # Newton stops when |step| <= EPS_STEP * (|u| + scale)
MAXIT = 200


# --------------------------------------------------------------------------------------
# closed forms of the continuous components
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# whole-measure evaluation
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# far-field expansions of blocks of atoms (a one-level 1-D fast multipole scheme)
# --------------------------------------------------------------------------------------
FMM_BLOCK = 1024    # atoms per block (sorted, so a block covers a short interval)
FMM_P = 40          # expansion order
FMM_RHO = 0.35      # a block is expanded at u when its radius <= FMM_RHO * |u - centre|:
                    # truncation <= (P+1)(P+2)/2 * RHO**P ~ 5e-16 of the block's share


@jit(parallel=True)
def block_moments(atoms, aw, centers, radii, moments):
    """Centre, radius and moments M_n = sum_j w_j (x_j - c)^n (n < FMM_P) of each block
    of FMM_BLOCK consecutive sorted atoms (each block summed sequentially)."""
    k = atoms.shape[0]
    for b in numba.prange(centers.shape[0]):
        j0 = b * FMM_BLOCK
        j1 = min(j0 + FMM_BLOCK, k)
        c = 0.5 * (atoms[j0] + atoms[j1 - 1])
        centers[b] = c
        radii[b] = 0.5 * (atoms[j1 - 1] - atoms[j0])
        for n in range(FMM_P):
            moments[b, n] = 0.0
        for j in range(j0, j1):
            d = atoms[j] - c
            p = aw[j]
            for n in range(FMM_P):
                moments[b, n] += p
                p *= d


@jit
def atoms_real_fmm(u, atoms, aw, centers, radii, moments, paired):
    """(m1, m2, m3) of the atoms at real u: blocks far from u by their expansions
    1/(u - x)^k = sum_n C(n+k-1, k-1) (x - c)^n / (u - c)^(n+k), the others exactly
    (``paired``: :func:`atoms_real_pairs`, for u in U)."""
    k = atoms.shape[0]
    m1 = 0.0
    m2 = 0.0
    m3 = 0.0
    for b in range(centers.shape[0]):
        dist = u - centers[b]
        if radii[b] <= FMM_RHO * abs(dist):
            t = 1.0 / dist
            h1 = 0.0
            h2 = 0.0
            h3 = 0.0
            for n in range(FMM_P - 1, -1, -1):
                mn = moments[b, n]
                h1 = h1 * t + mn
                h2 = h2 * t + (n + 1) * mn
                h3 = h3 * t + 0.5 * (n + 1) * (n + 2) * mn
            t2 = t * t
            m1 += h1 * t
            m2 += h2 * t2
            m3 += h3 * t2 * t
        else:
            j0 = b * FMM_BLOCK
            j1 = min(j0 + FMM_BLOCK, k)
            if paired:
                a1, a2, a3 = atoms_real_pairs(u, atoms[j0:j1], aw[j0:j1])
            else:
                a1, a2, a3 = atoms_real(u, atoms[j0:j1], aw[j0:j1])
            m1 += a1
            m2 += a2
            m3 += a3
    return m1, m2, m3


@jit
def eval_real_u(u, kinds, params, cw, atoms, aw, fc, fr, fm):
    """(m1, m2, m3) at a point u of U (outside the support, f < 1): paired atom sums,
    block expansions when ``fc`` (block centres) is not empty."""
    if fc.shape[0]:
        m1, m2, m3 = atoms_real_fmm(u, atoms, aw, fc, fr, fm, True)
    else:
        m1, m2, m3 = atoms_real_pairs(u, atoms, aw)
    for c in range(kinds.shape[0]):
        a1, a2, a3 = cont_real(u, kinds[c], params[c, 0], params[c, 1])
        m1 += cw[c] * a1
        m2 += cw[c] * a2
        m3 += cw[c] * a3
    return m1, m2, m3


@jit
def eval_real(u, kinds, params, cw, atoms, aw, fc, fr, fm):
    """(m1, m2, m3) of the whole measure at real u; NaN in the support (atoms included)."""
    if _hits_atom(u, atoms):
        return NAN, NAN, NAN
    if fc.shape[0]:
        m1, m2, m3 = atoms_real_fmm(u, atoms, aw, fc, fr, fm, False)
    else:
        m1, m2, m3 = atoms_real(u, atoms, aw)
    for c in range(kinds.shape[0]):
        a1, a2, a3 = cont_real(u, kinds[c], params[c, 0], params[c, 1])
        m1 += cw[c] * a1
        m2 += cw[c] * a2
        m3 += cw[c] * a3
    return m1, m2, m3


@jit
def eval_real2(u, kinds, params, cw, atoms, aw, fc, fr, fm):
    """(m1, m2) of the whole measure at real u; NaN in the support.  Block expansions
    when ``fc`` (block centres) is not empty."""
    if _hits_atom(u, atoms):
        return NAN, NAN
    if fc.shape[0]:
        m1, m2, m3 = atoms_real_fmm(u, atoms, aw, fc, fr, fm, False)
    else:
        m1, m2 = atoms_real2(u, atoms, aw)
    for c in range(kinds.shape[0]):
        a1, a2, a3 = cont_real(u, kinds[c], params[c, 0], params[c, 1])
        m1 += cw[c] * a1
        m2 += cw[c] * a2
    return m1, m2


@jit
def _atoms_sums_c(x, t, atoms, aw):
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


@jit
def _block_g(dist, fm, b):
    """(g, g') of block b of atoms at distance ``dist = z - centre`` from its expansion
    sum_n M_n / dist**(n+1) (and its derivative)."""
    t = 1.0 / dist
    h1 = 0j
    h2 = 0j
    for n in range(FMM_P - 1, -1, -1):
        mn = fm[b, n]
        h1 = h1 * t + mn
        h2 = h2 * t + (n + 1) * mn
    return h1 * t, -h2 * (t * t)

@jit
def _atoms_sums_c_fmm(z, atoms, aw, fc, fr, fm):
    """The sums of :func:`_atoms_sums_c` at omega = z, blocks far from z through their
    expansions of g and g' (s0 = -Im g / v, s2 = Re g, (-s3, 2 v s4) = g'); for those
    blocks s1 = sum w q**2 is replaced by s3 (relative error O(t / d**2): it only
    serves as a derivative)."""
    k = atoms.shape[0]
    v = z.imag
    t2v = v * v
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    s4 = 0.0
    for b in range(fc.shape[0]):
        dist = z - fc[b]
        if fr[b] <= FMM_RHO * abs(dist):
            g, gp = _block_g(dist, fm, b)
            s0 += -g.imag / v
            s2 += g.real
            s3 += -gp.real
            s1 += -gp.real
            s4 += gp.imag / (2.0 * v)
        else:
            j0 = b * FMM_BLOCK
            j1 = min(j0 + FMM_BLOCK, k)
            a0, a1, a2, a3, a4 = _atoms_sums_c(z.real, t2v, atoms[j0:j1], aw[j0:j1])
            s0 += a0
            s1 += a1
            s2 += a2
            s3 += a3
            s4 += a4
    return s0, s1, s2, s3, s4


@jit
def eval_complex(z, kinds, params, cw, atoms, aw, fc, fr, fm):
    """(g, g') of the whole measure at complex z (Im z != 0); atoms far from z through
    the block expansions when ``fc`` is not empty."""
    g = 0j
    gp = 0j
    for c in range(kinds.shape[0]):
        a, b = cont_complex(z, kinds[c], params[c, 0], params[c, 1])
        g += cw[c] * a
        gp += cw[c] * b
    y = z.imag
    if fc.shape[0] == 0:
        s0, s1, s2, s3, s4 = _atoms_sums_c(z.real, y * y, atoms, aw)
        g += complex(s2, -y * s0)
        gp += complex(-s3, 2.0 * y * s4)
        return g, gp
    k = atoms.shape[0]
    for b in range(fc.shape[0]):
        dist = z - fc[b]
        if fr[b] <= FMM_RHO * abs(dist):
            gb, gpb = _block_g(dist, fm, b)
            g += gb
            gp += gpb
        else:
            j0 = b * FMM_BLOCK
            j1 = min(j0 + FMM_BLOCK, k)
            s0, s1, s2, s3, s4 = _atoms_sums_c(z.real, y * y, atoms[j0:j1], aw[j0:j1])
            g += complex(s2, -y * s0)
            gp += complex(-s3, 2.0 * y * s4)
    return g, gp


# --------------------------------------------------------------------------------------
# Phi and Phi' at many points
# --------------------------------------------------------------------------------------
@jit(parallel=True)
def phi_many(s, s2, kinds, params, cw, atoms, aw, fc, fr, fm, out_phi, out_dphi):
    for i in numba.prange(s.shape[0]):
        m1, m2 = eval_real2(s[i], kinds, params, cw, atoms, aw, fc, fr, fm)
        if math.isfinite(m1) and math.isfinite(m2):
            out_phi[i] = s[i] + s2 * m1
            out_dphi[i] = 1.0 - s2 * m2
        else:
            out_phi[i] = NAN
            out_dphi[i] = NAN


@jit(parallel=True)
def moments_many(u, kinds, params, cw, atoms, aw, fc, fr, fm, out):
    for i in numba.prange(u.shape[0]):
        a, b, c = eval_real(u[i], kinds, params, cw, atoms, aw, fc, fr, fm)
        out[i, 0] = a
        out[i, 1] = b
        out[i, 2] = c


@jit(parallel=True)
def g_complex_many(z, kinds, params, cw, atoms, aw, fc, fr, fm, out):
    for i in numba.prange(z.shape[0]):
        g, gp = eval_complex(z[i], kinds, params, cw, atoms, aw, fc, fr, fm)
        out[i] = g


@jit(parallel=True)
def phi_excluding(s, lo_idx, hi_idx, s2, atoms, aw, out_phi, out_dphi):
    """Finite-n Phi: the sum over the atoms of S's spectrum minus atoms[lo_idx[i]:hi_idx[i]]."""
    for i in numba.prange(s.shape[0]):
        u = s[i]
        a1, a2 = atoms_real2(u, atoms[:lo_idx[i]], aw[:lo_idx[i]])
        b1, b2 = atoms_real2(u, atoms[hi_idx[i]:], aw[hi_idx[i]:])
        out_phi[i] = u + s2 * (a1 + b1)
        out_dphi[i] = 1.0 - s2 * (a2 + b2)


# --------------------------------------------------------------------------------------
# critical points: roots of f(u) = s2 m2(u) = 1 (Biane)
# --------------------------------------------------------------------------------------
@jit
def _edge_F(u, s2, kinds, params, cw, atoms, aw, fc, fr, fm):
    """F(u) = f(u)**-1/2 - 1 and F'(u); F = -1 in the support (f = inf)."""
    m1, m2, m3 = eval_real(u, kinds, params, cw, atoms, aw, fc, fr, fm)
    if not (math.isfinite(m2) and m2 > 0.0):
        return -1.0, NAN
    f = s2 * m2
    r = 1.0 / math.sqrt(f)
    return r - 1.0, r * r * r * s2 * m3


@jit
def root_f(lo, hi, up, start, scale, s2, kinds, params, cw, atoms, aw, fc, fr, fm):
    """Root of f(u) = 1 in [lo, hi], where F = f**-1/2 - 1 is monotone (increasing iff
    ``up``: f decreases away from the support on the left end of the bracket).

    Newton on F from ``start`` with the bracket kept and bisection as fall-back.
    """
    u = start
    for _ in range(MAXIT):
        F, dF = _edge_F(u, s2, kinds, params, cw, atoms, aw, fc, fr, fm)
        if F == 0.0:
            return u
        if (F < 0.0) == up:
            lo = u
        else:
            hi = u
        tol = EPS_STEP * (abs(u) + scale)
        if hi - lo <= tol:
            return 0.5 * (lo + hi)
        unew = u - F / dF if (math.isfinite(dF) and dF != 0.0) else NAN
        if not (unew >= lo and unew <= hi):
            unew = 0.5 * (lo + hi)
        elif abs(unew - u) <= tol:
            return unew
        u = unew
    return u


@jit
def gap_scan(a, b, scale, s2, kinds, params, cw, atoms, aw, fc, fr, fm):
    """On a gap (a, b) of supp nu, where f is convex and infinite at both ends:
    return (1, u1, u2) with u1 < u2 the two roots of f = 1 when min f < 1, else (0, nan, nan).

    Bisection on the sign of f' (increasing) locates the minimiser; the tangents at the
    two bracket ends give a lower bound of min f that stops the search early.
    """
    p = a
    q = b
    fp = NAN
    dp = NAN
    fq = NAN
    dq = NAN
    mfound = NAN
    for _ in range(MAXIT):
        m = 0.5 * (p + q)
        if not (m > p and m < q):
            break
        m1, m2, m3 = eval_real(m, kinds, params, cw, atoms, aw, fc, fr, fm)
        f = s2 * m2
        df = -2.0 * s2 * m3
        if f < 1.0:
            mfound = m
            break
        if df < 0.0:
            p, fp, dp = m, f, df
        elif df > 0.0:
            q, fq, dq = m, f, df
        else:
            break       # minimiser found, f(m) >= 1: no gap
        if math.isfinite(fp) and math.isfinite(fq):
            # intersection of the tangents at p and q: a lower bound of min f
            us = (fq - fp + dp * p - dq * q) / (dp - dq)
            low = fp + dp * (us - p)
            if low >= 1.0:
                break
        if q - p <= EPS_STEP * (abs(m) + scale):
            break
    if not math.isfinite(mfound):
        return 0, NAN, NAN
    u1 = root_f(a, mfound, True, mfound, scale, s2, kinds, params, cw, atoms, aw, fc, fr, fm)
    u2 = root_f(mfound, b, False, mfound, scale, s2, kinds, params, cw, atoms, aw, fc, fr, fm)
    return 1, u1, u2


@jit(parallel=True)
def gap_scan_many(ga, gb, scale, s2, kinds, params, cw, atoms, aw, fc, fr, fm, out):
    for i in numba.prange(ga.shape[0]):
        ok, u1, u2 = gap_scan(ga[i], gb[i], scale, s2, kinds, params, cw, atoms, aw, fc, fr, fm)
        out[i, 0] = ok
        out[i, 1] = u1
        out[i, 2] = u2


# --------------------------------------------------------------------------------------
# inverse of Phi on the real line (branch Phi' > 0)
# --------------------------------------------------------------------------------------
@jit
def _model_start(x, u, lo, hi, mean, var, s2):
    """Starting point from the far-field model Phi(u) ~ u + s2 (1/(u-m) + var/(u-m)^3)
    (a few scalar Newton steps on the model, kept in [lo, hi])."""
    for _ in range(8):
        d = u - mean
        if d == 0.0:
            break
        F = u + s2 * (1.0 / d + var / (d * d * d)) - x
        dF = 1.0 - s2 * (1.0 / (d * d) + 3.0 * var / (d * d * d * d))
        if not (dF > 0.0):
            break
        un = u - F / dF
        if not (un > lo and un < hi):
            break
        u = un
    return u


@jit
def inverse_real_point(x, a, b, mean, var, scale, s2, kinds, params, cw, atoms, aw, fc, fr, fm):
    """omega(x) in the u-interval (a, b) of U = {f < 1} (a = -inf / b = +inf for the outer
    ones).  Phi is increasing there: Halley steps (Phi'' = 2 s2 m3 comes with the same
    pass over the atoms) on Phi(u) = x keeping the bracket [lo, hi] (Phi increasing),
    bisection when a step leaves it.  Returns (omega, passes over the atoms)."""
    if not math.isfinite(a):      # left outer interval: Phi(u) < u, root in [x, b]
        lo = x
        hi = b
        u = _model_start(x, x, lo, hi, mean, var, s2)
    elif not math.isfinite(b):    # right outer interval: Phi(u) > u, root in [a, x]
        lo = a
        hi = x
        u = _model_start(x, x, lo, hi, mean, var, s2)
    else:
        lo = a
        hi = b
        u = 0.5 * (a + b)
    if not (u >= lo and u <= hi):
        u = 0.5 * (lo + hi)
    for it in range(MAXIT):
        m1, m2, m3 = eval_real_u(u, kinds, params, cw, atoms, aw, fc, fr, fm)
        F = u + s2 * m1 - x
        dF = 1.0 - s2 * m2
        if F == 0.0:
            return u, it + 1
        if math.isfinite(F):
            if F < 0.0:
                lo = u
            else:
                hi = u
        tol = EPS_STEP * (abs(u) + scale)
        if hi - lo <= tol:
            return 0.5 * (lo + hi), it + 1
        unew = NAN
        if math.isfinite(F) and dF > 0.0:
            step = F / dF
            curv = 2.0 * s2 * m3 / dF          # Phi'' / Phi'
            den = 1.0 - 0.5 * step * curv
            if den > 0.5 and math.isfinite(den):
                step = step / den
            unew = u - step
            # converged without another pass: the step is already small, and so is the
            # curvature over it, so the error left after it is O(step**3) (Halley), far
            # below the tolerance
            if (abs(step) <= 1e-8 * (abs(u) + scale) and abs(step * curv) <= 1e-6
                    and unew >= lo and unew <= hi):
                return unew, it + 1
        if not (unew >= lo and unew <= hi):
            unew = 0.5 * (lo + hi)
        elif abs(unew - u) <= tol:
            return unew, it + 1
        u = unew
    return u, MAXIT


@jit(parallel=True)
def inverse_real(lam, seg, ulo, uhi, mean, var, scale, s2, kinds, params, cw, atoms, aw, fc, fr,
                 fm, out, iters):
    """omega(lam[i]) in the u-interval seg[i] of U (seg < 0: lam in the bulk -> NaN)."""
    for i in numba.prange(lam.shape[0]):
        k = seg[i]
        if k < 0:
            out[i] = NAN
            iters[i] = 0
            continue
        w, it = inverse_real_point(lam[i], ulo[k], uhi[k], mean, var, scale, s2, kinds,
                                   params, cw, atoms, aw, fc, fr, fm)
        out[i] = w
        iters[i] = it


# --------------------------------------------------------------------------------------
# complex inverse (upper half-plane) and the boundary values in the bulk (density)
# --------------------------------------------------------------------------------------
@jit
def inverse_complex_point(z, w0, scale, s2, kinds, params, cw, atoms, aw, fc, fr, fm):
    """omega(z) for Im z > 0: the unique omega in C+ with Phi(omega) = z.

    Newton, each step accepted only if it stays in {Im omega > 0} and reduces the
    residual; otherwise a step of the fixed-point map omega -> z - s2 g(omega), which
    maps C+ into {Im >= Im z} and converges (Denjoy-Wolff).
    """
    w = w0
    g, gp = eval_complex(w, kinds, params, cw, atoms, aw, fc, fr, fm)
    res = abs(w + s2 * g - z)
    for _ in range(10 * MAXIT):
        dphi = 1.0 + s2 * gp
        step = (w + s2 * g - z) / dphi
        wn = w - step
        ok = False
        if wn.imag > 0.0 and math.isfinite(wn.real) and math.isfinite(wn.imag):
            gn, gpn = eval_complex(wn, kinds, params, cw, atoms, aw, fc, fr, fm)
            resn = abs(wn + s2 * gn - z)
            if resn < res or resn <= 1e-15 * (abs(z) + scale):
                ok = True
        if not ok:
            wn = z - s2 * g
            step = w - wn
            gn, gpn = eval_complex(wn, kinds, params, cw, atoms, aw, fc, fr, fm)
            resn = abs(wn + s2 * gn - z)
        w, g, gp, res = wn, gn, gpn, resn
        if abs(step) <= EPS_STEP * (abs(w) + scale):
            break
    return w


@jit(parallel=True)
def inverse_complex_many(z, scale, s2, kinds, params, cw, atoms, aw, fc, fr, fm, out):
    for i in numba.prange(z.shape[0]):
        zi = z[i]
        conj = zi.imag < 0.0
        if conj:
            zi = zi.conjugate()
        w = inverse_complex_point(zi, zi, scale, s2, kinds, params, cw, atoms, aw, fc, fr, fm)
        out[i] = w.conjugate() if conj else w


@jit
def _h_at(u, t, s2, kinds, params, cw, atoms, aw, fc, fr, fm, far=False):
    """At omega = u + i sqrt(t): h = s2 int dnu/|omega-x|^2, dh/dt, Re g(omega), g'(omega).

    ``far=True``: blocks of atoms far from omega enter through their expansions
    (:func:`_atoms_sums_c_fmm`; dh/dt is then approximate, which only slows Newton)."""
    if t <= 0.0:
        m1, m2, m3 = eval_real(u, kinds, params, cw, atoms, aw, fc, fr, fm)
        if not math.isfinite(m2):
            return math.inf, NAN, NAN, complex(NAN, NAN)
        return s2 * m2, NAN, m1, complex(-m2, 0.0)
    v = math.sqrt(t)
    z = complex(u, v)
    if far and fc.shape[0]:
        h, ht, reg, pr, pi = _atoms_sums_c_fmm(z, atoms, aw, fc, fr, fm)
    else:
        h, ht, reg, pr, pi = _atoms_sums_c(u, t, atoms, aw)
    gp = complex(-pr, 2.0 * v * pi)
    ht = -ht
    for c in range(kinds.shape[0]):
        g1, gp1 = cont_complex(z, kinds[c], params[c, 0], params[c, 1])
        w = cw[c]
        h += w * (-g1.imag / v)
        ht -= w * (gp1.real - g1.imag / v) / (2.0 * t)
        reg += w * g1.real
        gp += w * gp1
    return s2 * h, s2 * ht, reg, gp


@jit
def _solve_t(u, tguess, s2, kinds, params, cw, atoms, aw, fc, fr, fm, far=False):
    """Smallest t = v**2 >= 0 with h(u, t) <= 1 (h decreasing in t).

    Newton on phi(t) = 1/h - 1, concave and increasing (1/h is a complete Bernstein
    function of t), within the bracket [0, s2] with bisection as fall-back.
    Returns (t, Re g, g') at the solution.  ``far``: as in :func:`_h_at`.
    """
    h0, ht0, reg0, gp0 = _h_at(u, 0.0, s2, kinds, params, cw, atoms, aw, fc, fr, fm)
    if h0 <= 1.0:
        return 0.0, reg0, gp0
    lo = 0.0
    hi = s2
    t = tguess if (tguess > lo and tguess < hi) else 0.5 * hi
    h, ht, reg, gp = 0.0, 0.0, 0.0, 0j
    for _ in range(MAXIT):
        h, ht, reg, gp = _h_at(u, t, s2, kinds, params, cw, atoms, aw, fc, fr, fm, far)
        ph = 1.0 / h - 1.0
        if ph < 0.0:
            lo = t
        elif ph > 0.0:
            hi = t
        else:
            break
        dph = -ht / (h * h)
        tn = t - ph / dph if dph > 0.0 else NAN
        if not (tn >= lo and tn <= hi):
            tn = 0.5 * (lo + hi)
        if abs(tn - t) <= 1e-15 * t or hi - lo <= 1e-15 * hi:
            t = tn
            h, ht, reg, gp = _h_at(u, t, s2, kinds, params, cw, atoms, aw, fc, fr, fm, far)
            break
        t = tn
    return t, reg, gp


@jit
def bulk_point_robust(x, ua, ub, u0, t0, scale, s2, kinds, params, cw, atoms, aw, fc, fr, fm):
    """omega(x + i0) for x inside the interval of supp mu whose u-range is (ua, ub).

    psi(u) = u + s2 Re g(u + i v(u)) is increasing; Newton on psi(u) = x with
    psi' = |Phi'|^2 / Re Phi' and the bracket [ua, ub] (bisection fall-back); v(u) from
    :func:`_solve_t`.
    """
    lo = ua
    hi = ub
    u = u0 if (u0 > lo and u0 < hi) else 0.5 * (lo + hi)
    t = t0
    for _ in range(MAXIT):
        t, reg, gp = _solve_t(u, t, s2, kinds, params, cw, atoms, aw, fc, fr, fm)
        F = u + s2 * reg - x
        if F < 0.0:
            lo = u
        elif F > 0.0:
            hi = u
        else:
            break
        dphi = 1.0 + s2 * gp
        dpsi = (dphi.real * dphi.real + dphi.imag * dphi.imag) / dphi.real
        un = u - F / dpsi if dpsi > 0.0 else NAN
        if not (un >= lo and un <= hi):
            un = 0.5 * (lo + hi)
        tol = EPS_STEP * (abs(u) + scale)
        if abs(un - u) <= tol or hi - lo <= tol:
            u = un
            t, reg, gp = _solve_t(u, t, s2, kinds, params, cw, atoms, aw, fc, fr, fm)
            break
        u = un
    return complex(u, math.sqrt(t))


@jit
def bulk_point_newton(x, w0, ua, ub, scale, s2, kinds, params, cw, atoms, aw, fc, fr, fm):
    """Complex Newton on Phi(omega) = x from a nearby solution; NaN if it does not converge
    cleanly inside C+ (any solution in C+ is the right one: Phi(omega) is real on C+ only
    on the curve u + i v(u), where Phi is injective)."""
    w = w0
    for _ in range(12):
        g, gp = eval_complex(w, kinds, params, cw, atoms, aw, fc, fr, fm)
        step = (w + s2 * g - x) / (1.0 + s2 * gp)
        wn = w - step
        if not (wn.imag > 0.0 and wn.real > ua and wn.real < ub):
            return complex(NAN, NAN)
        w = wn
        if abs(step) <= 1e-14 * (abs(w) + scale):
            return w
    return complex(NAN, NAN)


CHUNK = 32


@jit(parallel=True)
def bulk_many(xs, seg, ua_arr, ub_arr, scale, s2, kinds, params, cw, atoms, aw, fc, fr, fm, out):
    """omega(x + i0) at the sorted points xs; seg[i] = index of the interval of supp mu
    holding xs[i], or -1 (outside: out = NaN, the caller handles it).

    Fixed chunks of CHUNK consecutive points; inside a chunk each point starts from its
    neighbour's solution (complex Newton), falling back to the safeguarded solver; the
    chunking does not depend on the thread count.
    """
    n = xs.shape[0]
    nch = (n + CHUNK - 1) // CHUNK
    for ci in numba.prange(nch):
        prev = complex(NAN, NAN)
        prevseg = -1
        for i in range(ci * CHUNK, min(n, (ci + 1) * CHUNK)):
            k = seg[i]
            if k < 0:
                out[i] = complex(NAN, NAN)
                prevseg = -1
                continue
            ua = ua_arr[k]
            ub = ub_arr[k]
            w = complex(NAN, NAN)
            if prevseg == k:
                w = bulk_point_newton(xs[i], prev, ua, ub, scale, s2, kinds, params, cw,
                                      atoms, aw, fc, fr, fm)
            if not (w.imag > 0.0):
                u0 = prev.real if prevseg == k else NAN
                t0 = prev.imag * prev.imag if prevseg == k else NAN
                w = bulk_point_robust(xs[i], ua, ub, u0, t0, scale, s2, kinds, params,
                                      cw, atoms, aw, fc, fr, fm)
            out[i] = w
            prev = w
            prevseg = k
