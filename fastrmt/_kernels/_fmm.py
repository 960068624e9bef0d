"""Free-probability kernels, part 2: far-field expansions and whole-measure evaluation (Numba).

A one-level 1-D fast multipole scheme: the sorted atoms are cut into blocks of
FMM_BLOCK; a block far from the point (radius <= FMM_RHO * distance to its centre)
enters through an order-FMM_P expansion of its Stieltjes transform, truncated below
about 1e-15 of its share; near blocks are summed directly (:mod:`._stieltjes`).  The
whole-measure evaluations :func:`eval_real` and :func:`eval_complex` add the closed
forms of the continuous components, and :func:`phi_many`, :func:`moments_many`,
:func:`g_complex_many` run them over many points in parallel.  Everything in a fixed
order: the results do not depend on the thread count.

A measure arrives as one tuple ``meas = (kinds, params, cw, atoms, aw, fc, fr, fm)``
(:meth:`fastrmt.measures.MeasureData.args`): the continuous components (kind codes,
parameters, weights), the sorted atoms and their weights, and the centres, radii and
moments of the atom blocks' far-field expansions (empty when there are few atoms).
Notation: Phi(u) = u + s2 m1, Phi'(u) = 1 - s2 m2 with s2 = sigma**2.
"""
from __future__ import annotations

import math

import numba

from ._stieltjes import (NAN, _hits_atom, atoms_real, atoms_real2, atoms_real_pairs,
                         atoms_sums_c, cont_complex, cont_real)
from ._jit import jit

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
def eval_real(u, meas, outside=False, third=True):
    """(m1, m2, m3) of the whole measure at real u; NaN in the support (atoms included).

    ``outside=True``: the caller knows u lies outside the support (in U, where f < 1):
    no test for an atom, and the atoms are summed in pairs (half the divisions).
    ``third=False``: m3 is not needed; it is returned as NaN, which lets the plain atom
    sums skip it.  Atom blocks far from u enter through their expansions when ``fc``
    (block centres) is not empty.
    """
    kinds, params, cw, atoms, aw, fc, fr, fm = meas
    if not outside and _hits_atom(u, atoms):
        return NAN, NAN, NAN
    if fc.shape[0]:
        m1, m2, m3 = atoms_real_fmm(u, atoms, aw, fc, fr, fm, outside)
    elif outside:
        m1, m2, m3 = atoms_real_pairs(u, atoms, aw)
    elif third:
        m1, m2, m3 = atoms_real(u, atoms, aw)
    else:
        m1, m2 = atoms_real2(u, atoms, aw)
        m3 = 0.0
    for c in range(kinds.shape[0]):
        a1, a2, a3 = cont_real(u, kinds[c], params[c, 0], params[c, 1])
        m1 += cw[c] * a1
        m2 += cw[c] * a2
        m3 += cw[c] * a3
    if not third:
        m3 = NAN
    return m1, m2, m3


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
def atoms_sums_c_fmm(z, atoms, aw, fc, fr, fm):
    """The sums of :func:`atoms_sums_c` at omega = z, blocks far from z through their
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
            a0, a1, a2, a3, a4 = atoms_sums_c(z.real, t2v, atoms[j0:j1], aw[j0:j1])
            s0 += a0
            s1 += a1
            s2 += a2
            s3 += a3
            s4 += a4
    return s0, s1, s2, s3, s4


@jit
def eval_complex(z, meas):
    """(g, g') of the whole measure at complex z (Im z != 0); atoms far from z through
    the block expansions when ``fc`` is not empty."""
    kinds, params, cw, atoms, aw, fc, fr, fm = meas
    g = 0j
    gp = 0j
    for c in range(kinds.shape[0]):
        a, b = cont_complex(z, kinds[c], params[c, 0], params[c, 1])
        g += cw[c] * a
        gp += cw[c] * b
    y = z.imag
    if fc.shape[0] == 0:
        s0, s1, s2, s3, s4 = atoms_sums_c(z.real, y * y, atoms, aw)
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
            s0, s1, s2, s3, s4 = atoms_sums_c(z.real, y * y, atoms[j0:j1], aw[j0:j1])
            g += complex(s2, -y * s0)
            gp += complex(-s3, 2.0 * y * s4)
    return g, gp


@jit(parallel=True)
def phi_many(s, s2, meas, out_phi, out_dphi):
    for i in numba.prange(s.shape[0]):
        m1, m2, _ = eval_real(s[i], meas, False, False)
        if math.isfinite(m1) and math.isfinite(m2):
            out_phi[i] = s[i] + s2 * m1
            out_dphi[i] = 1.0 - s2 * m2
        else:
            out_phi[i] = NAN
            out_dphi[i] = NAN


@jit(parallel=True)
def moments_many(u, meas, out):
    for i in numba.prange(u.shape[0]):
        a, b, c = eval_real(u[i], meas)
        out[i, 0] = a
        out[i, 1] = b
        out[i, 2] = c


@jit(parallel=True)
def g_complex_many(z, meas, out):
    for i in numba.prange(z.shape[0]):
        g, gp = eval_complex(z[i], meas)
        out[i] = g
