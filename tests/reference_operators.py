"""Slow, obvious twins of the signal and operator kernels (NumPy / SciPy / pure Python).

To be merged into tests/reference.py by the maintainer.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import integrate, optimize, stats

from . import reference as ref

STREAM_BASIS = 1
STREAM_SIGNAL = 3


# --------------------------------------------------------------------------- spectra

def bulk_quantiles_reference(m, law, params):
    """F^{-1}((k - 1/2)/m) with SciPy's distributions / quadrature + root finding."""
    q = (np.arange(1, m + 1) - 0.5) / m
    if law == "uniform":
        return stats.uniform(loc=params["a"], scale=params["b"] - params["a"]).ppf(q)
    if law == "semicircle":
        radius = 2.0 * math.sqrt(params["variance"])
        return stats.semicircular(loc=params["center"], scale=radius).ppf(q)
    if law == "two_point":
        a, b, p = params["a"], params["b"], params["p"]
        lo, hi, p_lo = (a, b, p) if a <= b else (b, a, 1.0 - p)
        return np.array([lo if qq <= p_lo else hi for qq in q])
    if law == "marchenko_pastur":
        c, s = params["ratio"], params["scale"]
        a, b = s * (1 - math.sqrt(c)) ** 2, s * (1 + math.sqrt(c)) ** 2
        atom = max(0.0, 1.0 - 1.0 / c)   # mass at 0 when c > 1

        def dens(x):
            return math.sqrt(max((b - x) * (x - a), 0.0)) / (2 * math.pi * c * s * x)

        def cdf(x):
            return atom + integrate.quad(dens, a, x, epsabs=1e-13, epsrel=1e-13, limit=200)[0]

        return np.array([0.0 if qq <= atom else
                         optimize.brentq(lambda x: cdf(x) - qq, a, b, xtol=1e-14)
                         for qq in q])
    raise ValueError(law)


# --------------------------------------------------------------------------- bases

def haar_reference(n, key):
    """QR of the Philox Gaussian matrix G[i, j] = gaussian(i, j) (no i <= j swap), signs fixed."""
    k = (key.k0, key.k1)
    g = np.array([[ref.gaussian(i, j, STREAM_BASIS, k) for j in range(n)] for i in range(n)])
    q, r = np.linalg.qr(g)
    return q * np.sign(np.diag(r))


def dct_matrix(n):
    """Orthonormal DCT-II matrix C, (C x)_k = sqrt(2/n) c_k sum_j x_j cos(pi (2j+1) k / 2n)."""
    k = np.arange(n)[:, None]
    j = np.arange(n)[None, :]
    c = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * j + 1) * k / (2 * n))
    c[0] /= np.sqrt(2.0)
    return c


def fast_basis_reference(n, key, rounds=3):
    """Q = C D_rounds ... C D_1, D_r = diag of Rademacher row r on STREAM_SIGNAL."""
    k = (key.k0, key.k1)
    c = dct_matrix(n)
    q = np.eye(n)
    for r in range(rounds):
        d = np.array([-1.0 if ref.word(r, j, 0, STREAM_SIGNAL, k) >> 63 else 1.0
                      for j in range(n)])
        q = c @ (d[:, None] * q)
    return q


def signal_dense_reference(eigenvalues, q):
    return q @ np.diag(eigenvalues) @ q.T


# --------------------------------------------------------------------------- products

def symmetric_product_reference(a, v):
    """Plain float64 product of the full matrix."""
    return np.asarray(a, dtype=np.float64) @ np.asarray(v, dtype=np.float64)


def deformed_wigner_reference(n, spec, s_dense, dtype=np.float64):
    """W = X/sqrt(n) (pure-Python entries, rounded to ``dtype``) + S, in float64."""
    x = ref.wigner_reference(n, spec, dtype).astype(np.float64)
    return x + (0.0 if s_dense is None else s_dense)
