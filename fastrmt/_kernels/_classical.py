"""Kernels of the prediction engine: the distribution function of mu = nu (+) semicircle
and its classical locations, in Numba.

Why Numba: like the rest of the free-probability kernels, each location is a safeguarded
scalar root finder whose cost is sums over up to 10^5 atoms; Numba compiles the loops
and runs the independent targets in parallel (``prange`` over fixed chunks of targets,
so the results do not depend on the thread count).

The distribution function in closed form
----------------------------------------
With G the Stieltjes transform of mu, g that of nu and omega the subordination function
(Phi(omega(z)) = z, Phi(w) = w + s2 g(w)),  G(z) dz = g(omega) Phi'(omega) d omega, so an
antiderivative of G is

    A(z) = L(omega) + (s2 / 2) g(omega)**2,     L(w) = int log(w - x) dnu(x),

and the tail mass is  mu((x, inf)) = Im A(x + i0) / pi.  On the curve omega = u + i v(u)
(v(u) > 0 where sigma**2 int dnu / |omega - x|**2 = 1, Biane) this gives, since
Im g(omega) = -v / s2 there,

    T(u) = mu((psi(u), inf)) = ( sum_j w_j arg(omega - x_j) + Im L_cont(omega)
                                  - v Re g(omega) ) / pi,     psi(u) = u + s2 Re g(omega),

with arg in (0, pi): no quadrature, exact up to rounding.  Where v = 0 (u outside supp
nu, in the gaps of mu) T(u) = nu((u, inf)): each component of supp mu whose u-range is
(ua, ub) carries the mass nu((ua, ub)) exactly (an integer count of eigenvalues for the
empirical spectrum).  T decreases in u, with dT/du = -(v / (pi s2)) psi'(u) and
psi' = |Phi'(omega)|**2 / Re Phi'(omega).

Sums of arg(omega - x_j) over far blocks of sorted atoms use the same one-level
multipole moments as :mod:`._fmm`: sum_j w_j log(omega - x_j) = M_0 log(omega - c)
- sum_{n>=1} M_n / (n (omega - c)**n).
"""
from __future__ import annotations

import cmath
import math

import numba
import numpy as np

from ._fmm import FMM_BLOCK, FMM_P, FMM_RHO, eval_real
from ._subordination import EPS_STEP, MAXIT, _solve_t
from ._stieltjes import KIND_MP, KIND_SEMICIRCLE, KIND_UNIFORM, NAN, _csqrt_prod
from ._jit import jit

CHUNK = 16          # consecutive targets solved in sequence (each starts from the last)


# --------------------------------------------------------------------------------------
# L(w) = int log(w - x) dnu(x) of the continuous components, Im w > 0
# --------------------------------------------------------------------------------------
@jit
def cont_logint(z, kind, p0, p1):
    """int log(z - x) dnu_c(x) for one continuous component, Im z > 0 (principal logs:
    the imaginary part lies in (0, pi))."""
    if kind == KIND_UNIFORM:
        a, b = p0, p1
        za = z - a
        zb = z - b
        return (za * cmath.log(za) - zb * cmath.log(zb)) / (b - a) - 1.0
    if kind == KIND_SEMICIRCLE:
        # w = 1/G + t G (R-transform t G): L = -log G + t G**2 / 2
        t = p1
        w = z - p0
        G = 2.0 / (w + _csqrt_prod(w, 2.0 * math.sqrt(t)))
        return -cmath.log(G) + 0.5 * t * G * G
    # Marchenko-Pastur (ratio c, scale sc): R(G) = 1/(1 - c G) for scale 1, so
    # L1 = -log G + (1/y + log y - 1)/c with y = 1 - c G;  L(z) = L1(z/sc) + log sc
    c, sc = p0, p1
    y = z / sc
    sq = math.sqrt(c)
    a = (1.0 - sq) ** 2
    b = (1.0 + sq) ** 2
    r = cmath.sqrt(y - a) * cmath.sqrt(y - b)
    if c > 1.0 and abs(y) < 0.5 * a:
        G = (y - 1.0 + c - r) / (2.0 * c * y)
    else:
        G = 2.0 / (y - 1.0 + c + r)
    yy = 1.0 - c * G
    return -cmath.log(G) + (1.0 / yy + cmath.log(yy) - 1.0) / c + math.log(sc)


@jit
def cont_mass_above(u, kind, p0, p1):
    """nu_c((u, inf)) of one continuous component at real u."""
    if kind == KIND_UNIFORM:
        return min(1.0, max(0.0, (p1 - u) / (p1 - p0)))
    if kind == KIND_SEMICIRCLE:
        r = 2.0 * math.sqrt(p1)
        w = (u - p0) / r
        if w <= -1.0:
            return 1.0
        if w >= 1.0:
            return 0.0
        th = math.acos(w)
        return (th - w * math.sqrt(1.0 - w * w)) / math.pi
    # Marchenko-Pastur: only needed outside its support (u in U), where it is a step
    c, sc = p0, p1
    y = u / sc
    a = (1.0 - math.sqrt(c)) ** 2
    m = 0.0
    cont = 1.0 / c if c > 1.0 else 1.0
    if c > 1.0 and y < 0.0:
        m += 1.0 - 1.0 / c
    if y < a:
        m += cont
    return m


# --------------------------------------------------------------------------------------
# sums over atoms
# --------------------------------------------------------------------------------------
@jit
def _arg_exact(u, v, atoms, aw, j0, j1):
    s = 0.0
    for j in range(j0, j1):
        s += aw[j] * math.atan2(v, u - atoms[j])
    return s


@jit
def atoms_arg_sum(u, v, atoms, aw, fc, fr, fm):
    """sum_j w_j arg(u + i v - x_j), v > 0; far blocks through their expansions."""
    k = atoms.shape[0]
    if fc.shape[0] == 0:
        return _arg_exact(u, v, atoms, aw, 0, k)
    z = complex(u, v)
    s = 0.0
    for b in range(fc.shape[0]):
        dist = z - fc[b]
        if fr[b] <= FMM_RHO * abs(dist):
            t = 1.0 / dist
            h = 0j
            for n in range(FMM_P - 1, 0, -1):
                h = (h + fm[b, n] / n) * t
            s += fm[b, 0] * cmath.phase(dist) - h.imag
        else:
            j0 = b * FMM_BLOCK
            s += _arg_exact(u, v, atoms, aw, j0, min(j0 + FMM_BLOCK, k))
    return s


@jit
def mass_above(u, kinds, params, cw, atoms, wsuffix):
    """nu((u, inf)) at real u (wsuffix[i] = sum of the weights of atoms[i:])."""
    i = np.searchsorted(atoms, u, side="right")
    m = wsuffix[i]
    for c in range(kinds.shape[0]):
        m += cw[c] * cont_mass_above(u, kinds[c], params[c, 0], params[c, 1])
    return m


@jit
def tail_point(u, tguess, s2, meas, wsuffix):
    """At u in the u-range of a component of supp mu: (T, x, dT/du, density, t,
    Re Phi'(omega)) with omega = u + i sqrt(t)."""
    kinds, params, cw, atoms, aw, fc, fr, fm = meas
    t, reg, gp = _solve_t(u, tguess, s2, meas, True)
    if not (t > 0.0):
        if not math.isfinite(reg):
            m1, _, _ = eval_real(u, meas)
            reg = m1
        return (mass_above(u, kinds, params, cw, atoms, wsuffix), u + s2 * reg, 0.0, 0.0, 0.0,
                1.0 + s2 * gp.real)
    v = math.sqrt(t)
    z = complex(u, v)
    im_l = atoms_arg_sum(u, v, atoms, aw, fc, fr, fm)
    for c in range(kinds.shape[0]):
        im_l += cw[c] * cont_logint(z, kinds[c], params[c, 0], params[c, 1]).imag
    T = (im_l - v * reg) / math.pi
    dphi = 1.0 + s2 * gp
    dpsi = (dphi.real * dphi.real + dphi.imag * dphi.imag) / dphi.real
    rho = v / (math.pi * s2)
    return T, u + s2 * reg, -rho * dpsi, rho, t, dphi.real


@jit
def locate(tau, ua, ub, Ta, Tb, u0, t0, scale, s2, meas, wsuffix):
    """u in (ua, ub) with T(u) = tau (T(ua) = Ta >= tau >= Tb = T(ub)): bracketed Newton
    with a regula-falsi fall-back.  Returns (x = psi(u), density, u, t, evaluations,
    Re Phi'(omega))."""
    lo, hi = ua, ub
    Tlo, Thi = Ta, Tb
    u = u0
    if not (u > lo and u < hi):
        u = lo + (Ta - tau) / (Ta - Tb) * (hi - lo)
        if not (u > lo and u < hi):
            u = 0.5 * (lo + hi)
    t = t0
    x = NAN
    rho = NAN
    dph = NAN
    tol_T = 1e-15 * max(tau, 1e-300) + 1e-300
    for it in range(MAXIT):
        T, x, dT, rho, t, dph = tail_point(u, t, s2, meas, wsuffix)
        F = T - tau
        if abs(F) <= tol_T:
            return x, rho, u, t, it + 1, dph
        if F > 0.0:
            lo, Tlo = u, T
        else:
            hi, Thi = u, T
        step_tol = EPS_STEP * (abs(u) + scale)
        if hi - lo <= step_tol:
            return x, rho, u, t, it + 1, dph
        un = NAN
        if dT < 0.0:
            un = u - F / dT
        if not (un > lo and un < hi) or (it > 6 and it % 3 == 0):
            # regula falsi on the bracket, kept away from its ends, then bisection
            un = lo + (Tlo - tau) / (Tlo - Thi) * (hi - lo)
            if not (un > lo + 0.01 * (hi - lo) and un < hi - 0.01 * (hi - lo)):
                un = 0.5 * (lo + hi)
        if abs(un - u) <= step_tol:
            u = un
            T, x, dT, rho, t, dph = tail_point(u, t, s2, meas, wsuffix)
            return x, rho, u, t, it + 2, dph
        u = un
    return x, rho, u, t, MAXIT, dph


@jit(parallel=True)
def locate_many(tau, comp, ua_arr, ub_arr, Ta_arr, Tb_arr, scale, s2, meas, wsuffix, out_x,
                out_rho, out_u, out_evals, out_dphi):
    """Classical locations for the targets tau (T = tau) in components comp[i].

    Fixed chunks of CHUNK consecutive targets; inside a chunk each target in the same
    component as the previous one starts from its solution."""
    n = tau.shape[0]
    nch = (n + CHUNK - 1) // CHUNK
    for ci in numba.prange(nch):
        prev_u = NAN
        prev_t = NAN
        prev_c = -1
        for i in range(ci * CHUNK, min(n, (ci + 1) * CHUNK)):
            m = comp[i]
            u0 = prev_u if prev_c == m else NAN
            t0 = prev_t if prev_c == m else NAN
            x, rho, u, t, ev, dph = locate(tau[i], ua_arr[m], ub_arr[m], Ta_arr[m], Tb_arr[m],
                                      u0, t0, scale, s2, meas, wsuffix)
            out_x[i] = x
            out_rho[i] = rho
            out_u[i] = u
            out_evals[i] = ev
            out_dphi[i] = dph
            prev_u, prev_t, prev_c = u, t, m


@jit(parallel=True)
def mass_above_many(u, kinds, params, cw, atoms, wsuffix, out):
    for i in numba.prange(u.shape[0]):
        out[i] = mass_above(u[i], kinds, params, cw, atoms, wsuffix)


@jit(parallel=True)
def tail_many(u, s2, meas, wsuffix, out_T, out_x):
    """T(u) and psi(u) at the points u (each inside a component's u-range)."""
    for i in numba.prange(u.shape[0]):
        T, x, _, _, _, _ = tail_point(u[i], NAN, s2, meas, wsuffix)
        out_T[i] = T
        out_x[i] = x
