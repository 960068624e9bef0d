"""Slow, obvious twins of fastrmt.measures / fastrmt.freeprob (NumPy sums, SciPy quad/brentq)."""
from __future__ import annotations

import math

import numpy as np
from scipy import integrate, optimize

from fastrmt.measures import Atoms, MarchenkoPastur, Mixture, Semicircle, Uniform

XTOL = 1e-14
RTOL = 4 * np.finfo(float).eps


# --- densities of the continuous laws (independent of the closed-form Stieltjes transforms)
def parts(nu):
    """[(weight, kind, data)] with kind 'atoms' (values, weights) or 'density' (pdf, lo, hi)."""
    if isinstance(nu, Atoms):
        return [(1.0, "atoms", (nu.values, nu.weights))]
    if isinstance(nu, Uniform):
        a, b = nu.a, nu.b
        return [(1.0, "density", (lambda x: np.full_like(np.asarray(x, float), 1 / (b - a)), a, b))]
    if isinstance(nu, Semicircle):
        c, t = nu.center, nu.var
        r = 2 * math.sqrt(t)
        return [(1.0, "density",
                 (lambda x: np.sqrt(np.maximum(4 * t - (x - c) ** 2, 0)) / (2 * np.pi * t),
                  c - r, c + r))]
    if isinstance(nu, MarchenkoPastur):
        c, s = nu.ratio, nu.scale
        a, b = s * (1 - math.sqrt(c)) ** 2, s * (1 + math.sqrt(c)) ** 2
        # this density has mass min(1, 1/c)
        out = [(1.0, "density",
                (lambda x: np.sqrt(np.maximum((b - x) * (x - a), 0)) / (2 * np.pi * c * s * x),
                 a, b))]
        if c > 1:
            out.append((1 - 1 / c, "atoms", (np.array([0.0]), np.array([1.0]))))
        return out
    if isinstance(nu, Mixture):
        out = []
        for w, m in zip(nu.weights, nu.parts):
            out += [(w * w2, k, d) for w2, k, d in parts(m)]
        return out
    raise TypeError(nu)


def integrate_against(nu, func):
    """int func(x) dnu(x) for a real or complex func, with quad on continuous parts."""
    total = 0.0
    for w, kind, data in parts(nu):
        if kind == "atoms":
            v, ww = data
            total = total + w * np.sum(ww * func(v))
        else:
            pdf, lo, hi = data
            re = integrate.quad(lambda x: np.real(func(x)) * pdf(x), lo, hi,
                                epsabs=1e-14, epsrel=1e-13, limit=400)[0]
            im = integrate.quad(lambda x: np.imag(func(x)) * pdf(x), lo, hi,
                                epsabs=1e-14, epsrel=1e-13, limit=400)[0]
            total = total + w * (re + 1j * im)
    return total


def moments_ref(u, nu):
    return tuple(float(np.real(integrate_against(nu, lambda x: (u - x) ** -k))) for k in (1, 2, 3))


def g_ref(z, nu):
    return complex(integrate_against(nu, lambda x: 1.0 / (z - x)))


# --- distribution function, density, quantile: quad of the densities, brentq
def pdf_ref(x, nu):
    """Density of the continuous part: sum of the weighted densities of ``parts``."""
    total = 0.0
    for w, kind, data in parts(nu):
        if kind == "density":
            pdf, lo, hi = data
            if lo <= x <= hi:
                with np.errstate(divide="ignore", invalid="ignore"):
                    v = float(pdf(x))
                total += w * v if np.isfinite(v) else 0.0
    return total


def cdf_ref(x, nu):
    """nu((-inf, x]): quad of each density from its left end to x, plus the atoms <= x.

    The densities have square-root ends, so the integral is taken in theta with
    t = lo + (hi - lo) (1 - cos theta) / 2, where the integrand is smooth.
    """
    total = 0.0
    for w, kind, data in parts(nu):
        if kind == "atoms":
            v, ww = data
            total += w * float(np.sum(ww[v <= x]))
        elif x > data[1]:
            pdf, lo, hi = data
            h = 0.5 * (hi - lo)
            top = math.pi if x >= hi else math.acos(1.0 - (x - lo) / h)

            def integrand(th):
                return float(pdf(lo + h * (1.0 - math.cos(th)))) * h * math.sin(th)

            total += w * integrate.quad(integrand, 0.0, top, epsabs=1e-15, epsrel=1e-14,
                                        limit=400)[0]
    return total


def quantile_ref(q, nu):
    """inf{x : F(x) >= q} by brentq on cdf_ref - q over the support (a jump is a sign change)."""
    sup = nu.support()
    lo, hi = sup[0][0], sup[-1][1]
    if cdf_ref(lo, nu) >= q:
        return lo
    return optimize.brentq(lambda x: cdf_ref(x, nu) - q, lo, hi, xtol=1e-14, rtol=RTOL)


# --- Atoms: plain NumPy sums
def phi_atoms(u, atoms, weights, sigma):
    u = np.asarray(u, float)
    return u + sigma ** 2 * np.sum(weights / (u[..., None] - atoms), axis=-1)


def phi_prime_atoms(u, atoms, weights, sigma):
    u = np.asarray(u, float)
    return 1 - sigma ** 2 * np.sum(weights / (u[..., None] - atoms) ** 2, axis=-1)


def phi_chunked(u, atoms, weights, sigma, chunk=32):
    """The baseline a NumPy user writes: chunked broadcasting."""
    out = np.empty(u.size)
    for i in range(0, u.size, chunk):
        d = u[i:i + chunk, None] - atoms[None, :]
        out[i:i + chunk] = u[i:i + chunk] + sigma ** 2 * ((1.0 / d) @ weights)
    return out


def edges_atoms(atoms, weights, sigma, grid=2000):
    """Support of nu (+) sc for Atoms: brentq on f = 1 (outer), grid scan + brentq in gaps."""
    s2 = sigma ** 2
    f = lambda u: s2 * np.sum(weights / (u - atoms) ** 2)  # noqa: E731
    uR = optimize.brentq(lambda u: f(u) - 1, atoms[-1] + 1e-300 + 1e-12 * abs(atoms[-1]) + 1e-13,
                         atoms[-1] + sigma, xtol=XTOL, rtol=RTOL)
    uL = optimize.brentq(lambda u: f(u) - 1, atoms[0] - sigma,
                         atoms[0] - 1e-12 * abs(atoms[0]) - 1e-13, xtol=XTOL, rtol=RTOL)
    crit = [uL]
    for a, b in zip(atoms[:-1], atoms[1:]):
        res = optimize.minimize_scalar(f, bounds=(a, b), method="bounded",
                                       options={"xatol": 1e-13 * (b - a)})
        m = res.x
        if f(m) < 1:
            crit.append(optimize.brentq(lambda u: f(u) - 1, a + 1e-15 * (b - a), m,
                                        xtol=XTOL, rtol=RTOL))
            crit.append(optimize.brentq(lambda u: f(u) - 1, m, b - 1e-15 * (b - a),
                                        xtol=XTOL, rtol=RTOL))
    crit.append(uR)
    crit = np.array(crit).reshape(-1, 2)
    return phi_atoms(crit, atoms, weights, sigma), crit


def inverse_atoms(lam, atoms, weights, sigma, lo, hi):
    """brentq on Phi(u) = lam in [lo, hi] (a bracket inside U)."""
    return optimize.brentq(lambda u: phi_atoms(u, atoms, weights, sigma) - lam, lo, hi,
                           xtol=XTOL, rtol=RTOL)


def density_atoms(x, atoms, weights, sigma, ua, ub):
    """Biane's real-arithmetic density with nested brentq (x in the interval with u-range (ua, ub))."""
    s2 = sigma ** 2

    def v_of(u):
        h = lambda v: s2 * np.sum(weights / ((u - atoms) ** 2 + v * v)) - 1  # noqa: E731
        if h(0.0) <= 0:
            return 0.0
        return optimize.brentq(h, 0.0, sigma, xtol=1e-15, rtol=RTOL)

    def psi(u):
        v = v_of(u)
        d = u - atoms
        return u + s2 * np.sum(weights * d / (d * d + v * v))

    u = optimize.brentq(lambda u: psi(u) - x, ua, ub, xtol=1e-15, rtol=RTOL)
    return v_of(u) / (np.pi * s2)


def density_roots(x, atoms, weights, sigma):
    """Density of nu (+) sc at x for a few atoms: the root in C+ of the polynomial form of
    Phi(omega) = x, (omega - x) prod (omega - s_i) + s2 sum_j w_j prod_{i != j} (omega - s_i)
    = 0 (numpy.roots), then Im omega / (pi s2); 0 when every root is real."""
    s2 = sigma ** 2
    P = np.poly(atoms)
    lhs = np.polymul([1.0, -x], P)
    for j in range(atoms.size):
        lhs = np.polyadd(lhs, s2 * weights[j] * np.poly(np.delete(atoms, j)))
    im = np.roots(lhs).imag.max()
    return max(im, 0.0) / (np.pi * s2) if im > 1e-9 else 0.0


def classical_locations_roots(atoms, weights, sigma, n, k, side="right"):
    """gamma_j with n mu([gamma_j, inf)) = j - 1/2 (right) by quad of :func:`density_roots`
    over the support from :func:`edges_atoms`, and brentq."""
    edges, _ = edges_atoms(atoms, weights, sigma)
    dens = lambda y: density_roots(y, atoms, weights, sigma)  # noqa: E731
    masses = [integrate.quad(dens, a, b, limit=400, epsabs=1e-13)[0] for a, b in edges]

    def tail(x):
        tot = 0.0
        for (a, b), m in zip(edges, masses):
            if x <= a:
                tot += m
            elif x < b:
                tot += integrate.quad(dens, x, b, limit=400, epsabs=1e-13)[0]
        return tot

    out = []
    for j in range(1, k + 1):
        target = (j - 0.5) / n
        if side == "right":
            f = lambda x: tail(x) - target  # noqa: E731
        else:
            f = lambda x: (1.0 - tail(x)) - target  # noqa: E731
        out.append(optimize.brentq(f, edges[0, 0], edges[-1, 1], xtol=1e-12, rtol=1e-12))
    return np.array(out), edges, np.array(masses)
