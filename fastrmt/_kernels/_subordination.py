"""Free-probability kernels, part 3: subordination root finding (Numba).

Every routine is a safeguarded scalar root finder (Newton or Halley with a bracket and a
bisection fall-back) on the whole-measure evaluations of :mod:`._fmm`:

* the critical points of Phi, roots of f(u) = s2 m2(u) = 1 (Biane): the edges of
  nu boxplus semicircle (:func:`root_f`, :func:`gap_scan_many`);
* the inverse of Phi (the subordination function omega) on the real line, branch
  Phi' > 0 (:func:`inverse_real`), in the upper half-plane (:func:`inverse_complex_many`)
  and its boundary values in the bulk, which give the density (:func:`bulk_many`).

Independent points run in parallel with ``prange`` in fixed chunks; results do not
depend on the thread count.

A measure arrives as one tuple ``meas = (kinds, params, cw, atoms, aw, fc, fr, fm)``
(:meth:`fastrmt.measures.MeasureData.args`): the continuous components (kind codes,
parameters, weights), the sorted atoms and their weights, and the centres, radii and
moments of the atom blocks' far-field expansions (empty when there are few atoms).
"""
from __future__ import annotations

import math

import numba

from ._fmm import atoms_sums_c_fmm, eval_complex, eval_real
from ._stieltjes import NAN, atoms_sums_c, cont_complex
from ._jit import jit

EPS_STEP = 1e-15   # Newton stops when |step| <= EPS_STEP * (|u| + scale)
MAXIT = 200


@jit
def _edge_F(u, s2, meas):
    """F(u) = f(u)**-1/2 - 1 and F'(u); F = -1 in the support (f = inf)."""
    m1, m2, m3 = eval_real(u, meas)
    if not (math.isfinite(m2) and m2 > 0.0):
        return -1.0, NAN
    f = s2 * m2
    r = 1.0 / math.sqrt(f)
    return r - 1.0, r * r * r * s2 * m3


@jit
def root_f(lo, hi, up, start, scale, s2, meas):
    """Root of f(u) = 1 in [lo, hi], where F = f**-1/2 - 1 is monotone (increasing iff
    ``up``: f decreases away from the support on the left end of the bracket).

    Newton on F from ``start`` with the bracket kept and bisection as fall-back.
    """
    u = start
    for _ in range(MAXIT):
        F, dF = _edge_F(u, s2, meas)
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
def gap_scan(a, b, scale, s2, meas):
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
        m1, m2, m3 = eval_real(m, meas)
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
    u1 = root_f(a, mfound, True, mfound, scale, s2, meas)
    u2 = root_f(mfound, b, False, mfound, scale, s2, meas)
    return 1, u1, u2


@jit(parallel=True)
def gap_scan_many(ga, gb, scale, s2, meas, out):
    for i in numba.prange(ga.shape[0]):
        ok, u1, u2 = gap_scan(ga[i], gb[i], scale, s2, meas)
        out[i, 0] = ok
        out[i, 1] = u1
        out[i, 2] = u2


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
def inverse_real_point(x, a, b, mean, var, scale, s2, meas):
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
        m1, m2, m3 = eval_real(u, meas, True)
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
def inverse_real(lam, seg, ulo, uhi, mean, var, scale, s2, meas, out, iters):
    """omega(lam[i]) in the u-interval seg[i] of U (seg < 0: lam in the bulk -> NaN)."""
    for i in numba.prange(lam.shape[0]):
        k = seg[i]
        if k < 0:
            out[i] = NAN
            iters[i] = 0
            continue
        w, it = inverse_real_point(lam[i], ulo[k], uhi[k], mean, var, scale, s2, meas)
        out[i] = w
        iters[i] = it


@jit
def inverse_complex_point(z, w0, scale, s2, meas):
    """omega(z) for Im z > 0: the unique omega in C+ with Phi(omega) = z.

    Newton, each step accepted only if it stays in {Im omega > 0} and reduces the
    residual; otherwise a step of the fixed-point map omega -> z - s2 g(omega), which
    maps C+ into {Im >= Im z} and converges (Denjoy-Wolff).
    """
    w = w0
    g, gp = eval_complex(w, meas)
    res = abs(w + s2 * g - z)
    for _ in range(10 * MAXIT):
        dphi = 1.0 + s2 * gp
        step = (w + s2 * g - z) / dphi
        wn = w - step
        ok = False
        if wn.imag > 0.0 and math.isfinite(wn.real) and math.isfinite(wn.imag):
            gn, gpn = eval_complex(wn, meas)
            resn = abs(wn + s2 * gn - z)
            if resn < res or resn <= 1e-15 * (abs(z) + scale):
                ok = True
        if not ok:
            wn = z - s2 * g
            step = w - wn
            gn, gpn = eval_complex(wn, meas)
            resn = abs(wn + s2 * gn - z)
        w, g, gp, res = wn, gn, gpn, resn
        if abs(step) <= EPS_STEP * (abs(w) + scale):
            break
    return w


@jit(parallel=True)
def inverse_complex_many(z, scale, s2, meas, out):
    for i in numba.prange(z.shape[0]):
        zi = z[i]
        conj = zi.imag < 0.0
        if conj:
            zi = zi.conjugate()
        w = inverse_complex_point(zi, zi, scale, s2, meas)
        out[i] = w.conjugate() if conj else w


@jit
def _h_at(u, t, s2, meas, far=False):
    """At omega = u + i sqrt(t): h = s2 int dnu/|omega-x|^2, dh/dt, Re g(omega), g'(omega).

    ``far=True``: blocks of atoms far from omega enter through their expansions
    (:func:`atoms_sums_c_fmm`; dh/dt is then approximate, which only slows Newton)."""
    kinds, params, cw, atoms, aw, fc, fr, fm = meas
    if t <= 0.0:
        m1, m2, m3 = eval_real(u, meas)
        if not math.isfinite(m2):
            return math.inf, NAN, NAN, complex(NAN, NAN)
        return s2 * m2, NAN, m1, complex(-m2, 0.0)
    v = math.sqrt(t)
    z = complex(u, v)
    if far and fc.shape[0]:
        h, ht, reg, pr, pi = atoms_sums_c_fmm(z, atoms, aw, fc, fr, fm)
    else:
        h, ht, reg, pr, pi = atoms_sums_c(u, t, atoms, aw)
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
def _solve_t(u, tguess, s2, meas, far=False):
    """Smallest t = v**2 >= 0 with h(u, t) <= 1 (h decreasing in t).

    Newton on phi(t) = 1/h - 1, concave and increasing (1/h is a complete Bernstein
    function of t), within the bracket [0, s2] with bisection as fall-back.
    Returns (t, Re g, g') at the solution.  ``far``: as in :func:`_h_at`.
    """
    h0, ht0, reg0, gp0 = _h_at(u, 0.0, s2, meas)
    if h0 <= 1.0:
        return 0.0, reg0, gp0
    lo = 0.0
    hi = s2
    t = tguess if (tguess > lo and tguess < hi) else 0.5 * hi
    h, ht, reg, gp = 0.0, 0.0, 0.0, 0j
    for _ in range(MAXIT):
        h, ht, reg, gp = _h_at(u, t, s2, meas, far)
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
            h, ht, reg, gp = _h_at(u, t, s2, meas, far)
            break
        t = tn
    return t, reg, gp


@jit
def bulk_point_robust(x, ua, ub, u0, t0, scale, s2, meas):
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
        t, reg, gp = _solve_t(u, t, s2, meas)
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
            t, reg, gp = _solve_t(u, t, s2, meas)
            break
        u = un
    return complex(u, math.sqrt(t))


@jit
def bulk_point_newton(x, w0, ua, ub, scale, s2, meas):
    """Complex Newton on Phi(omega) = x from a nearby solution; NaN if it does not converge
    cleanly inside C+ (any solution in C+ is the right one: Phi(omega) is real on C+ only
    on the curve u + i v(u), where Phi is injective)."""
    w = w0
    for _ in range(12):
        g, gp = eval_complex(w, meas)
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
def bulk_many(xs, seg, ua_arr, ub_arr, scale, s2, meas, out):
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
                w = bulk_point_newton(xs[i], prev, ua, ub, scale, s2, meas)
            if not (w.imag > 0.0):
                u0 = prev.real if prevseg == k else NAN
                t0 = prev.imag * prev.imag if prevseg == k else NAN
                w = bulk_point_robust(xs[i], ua, ub, u0, t0, scale, s2, meas)
            out[i] = w
            prev = w
            prevseg = k
