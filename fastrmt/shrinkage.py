"""De-noising a full-rank signal: shrink every eigenvalue or singular value.

The weight tools of :mod:`fastrmt.weights` model a layer as ``W = S + sigma * Z``.  When
``S`` is **full rank** (its spectrum is a bulk, not a few spikes), keeping only the
outliers throws the signal's bulk away.  The estimators here keep ``W``'s singular
vectors (eigenvectors) and replace *each* value by an estimate of how much signal lies
along that direction.  Which assumption each one makes:

``"rie"`` - rotationally invariant estimator (RIE).  Assumes the noise is Gaussian-like
    (i.i.d. entries of variance ``sigma^2``) and the signal's singular vectors are in
    generic position with respect to it (rotationally invariant signal; no assumption
    on the signal's spectrum, which may be full rank).  It is the oracle
    ``xi_i = u_i^T S v_i`` estimated from the observed spectrum alone, and it is
    Bayes-optimal (mean squared error) among estimators that keep the observed vectors.

    * Symmetric ``M = S + N`` with ``N`` a Wigner matrix whose off-diagonal entries have
      variance ``sigma^2`` (Bun, Allez, Bouchaud & Potters, IEEE Trans. Inf. Theory 62
      (2016)): ``xi(lambda) = lambda - 2 sigma^2 n Re g_M(lambda - i eta)``, ``g_M`` the
      Stieltjes transform of the observed eigenvalues.  :func:`rie_eigenvalues`.
    * Rectangular ``p x q`` (``p <= q``), ``Y = S + sigma Z`` (Troiani, Erba, Krzakala,
      Maillard & Zdeborova 2022): with ``gamma_i`` the singular values,
      ``xi_i = gamma_i - sigma^2 [(q - p) / gamma_i + sum_{j != i} (1/(gamma_i - gamma_j)
      + 1/(gamma_i + gamma_j))]`` (principal value, smoothed by ``eta``), clipped at 0.
      This is ``gamma - sigma^2 [(q-p)/gamma + 2p Re G(gamma)]`` with ``G`` the Stieltjes
      transform of the symmetrised singular values; the sum is exactly the expected
      ``u_i^T (sigma Z) v_i`` given by Gaussian integration by parts (first-order
      perturbation of the singular vectors).  For a low-rank ``S`` it reduces to the
      Gavish-Donoho Frobenius shrinker, and for an i.i.d. Gaussian ``S`` of entry
      variance ``v`` to the linear ``xi = gamma v / (v + sigma^2)``; both are tested.
      :func:`rie_singular_values`.

    ``eta`` smooths the sum over neighbours (the principal value fluctuates with the
    spacing); the default follows Bun et al.'s ``eta ~ N^{-1/2}`` in units of the
    spectrum: ``rms(lambda) / sqrt(n)`` for eigenvalues, ``rms(s) / (2 sqrt(p))`` for
    singular values (whose spread is about half their rms).  These factors were the best
    of {2, 1, 1/2, 1/4} against the oracle on Gaussian signals (n = 400..1536; relative
    rms error 4-20 %, against 2-13 % for the exact linear shrinker; with ``eta = 0``
    the error is 50-180 %).

``"gd-hard"`` - Gavish & Donoho's optimal hard threshold (IEEE Trans. Inf. Theory 60
    (2014)): keep the singular values above ``lambda*(beta) sqrt(q) sigma`` (known
    ``sigma``) or ``omega(beta) median(s)`` (unknown), unchanged.  Assumes a **low-rank**
    signal: the median singular value is then a noise value.

``"gd-frobenius"``, ``"gd-operator"`` - Gavish & Donoho's optimal shrinkers for the
    Frobenius and operator-norm losses (Ann. Stat./IEEE 2017), in units of
    ``sigma sqrt(q)``: ``sqrt((y^2 - beta - 1)^2 - 4 beta) / y`` and the de-noised signal
    value ``t(y)`` above the bulk edge ``1 + sqrt(beta)``, 0 below.  Same low-rank
    assumption (each outlier is treated as an isolated spike).

The noise level
---------------
Every estimator needs ``sigma``, the per-entry noise standard deviation.  When a signal
is full rank, ``sigma`` is not identifiable from one spectrum without an assumption:
:func:`denoise` estimates it as :func:`fastrmt.weights.analyze_matrix` does (the bulk
matched to Marchenko-Pastur or the semicircle), which attributes the whole bulk's width
to noise and so is an *upper bound* of the noise when the signal has a bulk of its own;
pass ``sigma`` when it is known (for example the initialisation scale).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._kernels._lanczos import gaussian_block
from ._kernels._shrink import pair_sums
from ._random import STREAM_NULL, SeedLike, as_key
from ._threads import thread_limit
from ._validation import check_choice, check_real
from .weights import _check_matrix, analyze_matrix, bgn_signal, mp_quantile, optimal_shrinkage

__all__ = ["DENOISERS", "rie_eigenvalues", "rie_singular_values", "noise_floor", "gd_threshold",
           "gd_shrink", "Denoised", "denoise"]

DENOISERS = ("rie", "gd-hard", "gd-frobenius", "gd-operator")


def _values(name: str, values: Any, *, nonnegative: bool) -> np.ndarray:
    x = np.asarray(values)
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite")
    if nonnegative and x.size and x.min() < 0:
        raise ValueError(f"{name} must be >= 0 (singular values), got min {x.min()!r}")
    return x


def _eta(x: np.ndarray, eta: float | None, factor: float) -> float:
    if eta is not None:
        return check_real("eta", eta, min_value=0.0)
    if x.size == 0:
        return 0.0
    top = float(np.max(np.abs(x)))
    if top == 0.0:
        return 0.0
    y = x / top  # rms without overflow or underflow of x * x
    return factor * top * float(np.sqrt(np.mean(y * y))) / math.sqrt(x.size)


def _shape(shape: Any, count: int) -> tuple[int, int]:
    if not isinstance(shape, (tuple, list)) or len(shape) != 2 or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in shape):
        raise TypeError(f"shape must be a pair of ints (n, m), got {shape!r}")
    n, m = int(shape[0]), int(shape[1])
    if min(n, m) < 1:
        raise ValueError(f"shape must be positive, got {shape!r}")
    if count != min(n, m):
        raise ValueError(f"need all min(n, m) = {min(n, m)} singular values of a {n} x {m} "
                         f"matrix, got {count}")
    return n, m


def rie_eigenvalues(eigenvalues: Any, sigma: float, *, eta: float | None = None,
                    n_threads: int | None = None) -> np.ndarray:
    """RIE of a symmetric signal under additive Wigner noise (Bun-Allez-Bouchaud-Potters).

    Parameters
    ----------
    eigenvalues : array_like, shape (n,)
        All eigenvalues of the observed symmetric matrix ``M = S + N`` (any order).
    sigma : float
        Standard deviation of ``N``'s off-diagonal entries (its semicircle has radius
        ``2 sigma sqrt(n)``).  For fastrmt's ``X / sqrt(n)`` convention pass
        ``sigma / sqrt(n)``.
    eta : float, optional
        Smoothing of the principal value, default ``rms(eigenvalues) / sqrt(n)``.
    n_threads : None or int

    Returns
    -------
    ndarray, shape (n,)
        ``xi_i = lambda_i - 2 sigma^2 sum_{j != i} Re 1/(lambda_i - lambda_j - i eta)``,
        in the input's order: the estimate of ``v_i^T S v_i``.
    """
    lam = _values("eigenvalues", eigenvalues, nonnegative=False)
    sigma = check_real("sigma", sigma, min_value=0.0)
    e = _eta(lam, eta, 1.0)
    d, m = np.empty_like(lam), np.empty_like(lam)
    with thread_limit(n_threads):
        pair_sums(lam, e, False, d, m)
    return lam - 2.0 * sigma * sigma * d


def rie_singular_values(singular_values: Any, shape: tuple[int, int], sigma: float, *,
                        eta: float | None = None, n_threads: int | None = None) -> np.ndarray:
    """RIE of a rectangular signal under additive Gaussian noise (module docstring).

    Parameters
    ----------
    singular_values : array_like, shape (min(n, m),)
        All singular values of the observed ``n x m`` matrix ``Y = S + sigma Z``.
    shape : (int, int)
        ``(n, m)``.
    sigma : float
        Per-entry noise standard deviation.
    eta : float, optional
        Smoothing, default ``rms(s) / (2 sqrt(min(n, m)))``.
    n_threads : None or int

    Returns
    -------
    ndarray
        The estimated signal value along each singular pair (``u_i^T S v_i``), >= 0,
        in the input's order.  Exact zeros stay 0.
    """
    s = _values("singular_values", singular_values, nonnegative=True)
    n, m = _shape(shape, s.size)
    sigma = check_real("sigma", sigma, min_value=0.0)
    p, q = min(n, m), max(n, m)
    e = _eta(s, eta, 0.5)
    d, mir = np.empty_like(s), np.empty_like(s)
    with thread_limit(n_threads):
        pair_sums(s, e, True, d, mir)
    pos = s > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = s - sigma * sigma * ((q - p) / np.where(pos, s, 1.0) + d + mir)
    return np.where(pos, np.maximum(xi, 0.0), 0.0)


def noise_floor(shape: tuple[int, int], sigma: float, *, seed: SeedLike = 0,
                n_threads: int | None = None) -> float:
    """The largest RIE value that pure noise of this shape and level produces.

    The RIE values of a pure-noise matrix are 0 in expectation but fluctuate (by about
    10-20 % of the largest singular value at a few hundred rows, with the default
    smoothing): ``xi_i > 0`` is no evidence of signal.  This draws one ``n x m`` matrix
    of i.i.d. ``N(0, sigma^2)`` entries (fastrmt's Philox generator, stream
    ``STREAM_NULL``: the same value for the same seed on every machine and thread
    count), and returns the largest of its :func:`rie_singular_values`.  Components
    whose RIE value exceeds it carry signal beyond what noise alone shows.
    """
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise TypeError(f"shape must be a pair of ints (n, m), got {shape!r}")
    n, m = shape
    p, q = min(n, m), max(n, m)
    _shape(shape, p)
    sigma = check_real("sigma", sigma, min_value=0.0)
    if sigma == 0:
        return 0.0
    key = as_key(seed)
    with thread_limit(n_threads):
        # the RIE is homogeneous of degree 1 in (s, sigma): one unit-sigma draw per shape
        return sigma * _unit_floor(p, q, key.k0, key.k1)


@functools.lru_cache(maxsize=64)
def _unit_floor(p: int, q: int, k0: int, k1: int) -> float:
    Z = np.empty((q, p))
    gaussian_block(Z, 0, STREAM_NULL, k0, k1)
    with thread_limit(1):  # one LAPACK path: the same bits whatever the caller's threads
        s = np.linalg.svd(Z, compute_uv=False)
        return float(np.max(rie_singular_values(s, (p, q), 1.0, n_threads=1)))


def _lambda_star(beta: float) -> float:
    return math.sqrt(2 * (beta + 1) + 8 * beta / (beta + 1 + math.sqrt(beta * beta + 14 * beta
                                                                        + 1)))


def gd_threshold(singular_values: Any, shape: tuple[int, int],
                 sigma: float | None = None) -> float:
    """Gavish-Donoho optimal hard threshold for the singular values of an ``n x m`` matrix.

    ``lambda*(beta) sqrt(q) sigma`` with known ``sigma``, else ``omega(beta) median(s)``
    with ``omega(beta) = lambda*(beta) / sqrt(mu_beta)``, ``mu_beta`` the median of the
    Marchenko-Pastur law of ratio ``beta = p / q`` (computed, not the cubic fit).
    """
    s = _values("singular_values", singular_values, nonnegative=True)
    n, m = _shape(shape, s.size)
    p, q = min(n, m), max(n, m)
    beta = p / q
    if sigma is not None:
        sigma = check_real("sigma", sigma, min_value=0.0)
        return _lambda_star(beta) * math.sqrt(q) * sigma
    mu = float(mp_quantile(0.5, beta))
    return _lambda_star(beta) / math.sqrt(mu) * float(np.median(s))


def gd_shrink(singular_values: Any, shape: tuple[int, int], sigma: float, *,
              loss: str = "frobenius") -> np.ndarray:
    """Gavish-Donoho optimal shrinker (``loss`` = ``"frobenius"`` or ``"operator"``)."""
    s = _values("singular_values", singular_values, nonnegative=True)
    n, m = _shape(shape, s.size)
    sigma = check_real("sigma", sigma, min_value=0.0)
    loss = check_choice("loss", loss, ("frobenius", "operator"))
    p, q = min(n, m), max(n, m)
    kappa = sigma * math.sqrt(q)
    if kappa == 0:
        return s.copy()
    y = s / kappa
    if loss == "frobenius":
        return kappa * optimal_shrinkage(y, p / q)
    return kappa * np.where(y > 1 + math.sqrt(p / q), bgn_signal(y, p / q), 0.0)


@dataclass
class Denoised:
    """Result of :func:`denoise`: ``matrix = U diag(values) V^T``.

    ``observed`` are the observed singular values (eigenvalues when ``symmetric``),
    ``values`` the de-noised ones (same order: observed descending, by ``|lambda|`` for
    eigenvalues), ``rank`` the number of nonzero ``values``, ``sigma`` the noise level
    used and whether it was estimated.
    """

    matrix: np.ndarray
    method: str
    symmetric: bool
    sigma: float
    sigma_estimated: bool
    observed: np.ndarray
    values: np.ndarray
    rank: int


def denoise(W: Any, *, method: str = "rie", sigma: float | None = None,
            symmetric: bool | None = None, eta: float | None = None,
            n_threads: int | None = None) -> Denoised:
    """Estimate the signal ``S`` of ``W = S + noise`` by shrinking every singular value.

    Parameters
    ----------
    W : array_like, shape (n, m)
        Finite real matrix.
    method : {"rie", "gd-hard", "gd-frobenius", "gd-operator"}
        Estimator (module docstring says what each assumes).
    sigma : float, optional
        Per-entry noise standard deviation (off-diagonal entries of the noise for a
        symmetric ``W``).  Default: estimated by :func:`fastrmt.weights.analyze_matrix`
        (an upper bound of the noise when the signal has a bulk).  ``"gd-hard"`` without
        ``sigma`` uses the median rule instead.
    symmetric : bool, optional
        Treat ``W`` as symmetric signal plus Wigner noise (eigen-decomposition, Bun et
        al.'s RIE).  Default: True when ``W`` is exactly symmetric and ``method="rie"``.
    eta : float, optional
        RIE smoothing (see :func:`rie_singular_values`).
    n_threads : None or int

    Returns
    -------
    Denoised
    """
    method = check_choice("method", method, DENOISERS)
    A = np.asarray(_check_matrix(W, "W"), dtype=np.float64)
    n, m = A.shape
    if symmetric is None:
        symmetric = method == "rie" and n == m and bool(np.array_equal(A, A.T))
    elif not isinstance(symmetric, (bool, np.bool_)):
        raise TypeError(f"symmetric must be a bool or None, got {symmetric!r}")
    symmetric = bool(symmetric)
    if symmetric and (n != m or not np.allclose(A, A.T, rtol=0, atol=0)):
        raise ValueError(f"symmetric=True needs an exactly symmetric square W, got shape "
                         f"{A.shape}" + ("" if n != m else " (not symmetric)"))
    if symmetric and method != "rie":
        raise ValueError(f"symmetric=True is only defined for method='rie', got {method!r}")
    estimated = sigma is None
    with thread_limit(n_threads) as nt:
        if sigma is None:
            if method == "gd-hard":
                sig = float("nan")
            else:
                rep = analyze_matrix(A, model="wigner" if symmetric else "mp", n_threads=nt)
                sig = rep.sigma
        else:
            sig = check_real("sigma", sigma, min_value=0.0)
        if symmetric:
            lam, V = np.linalg.eigh(A)
            order = np.argsort(-np.abs(lam), kind="stable")
            lam, V = lam[order], V[:, order]
            xi = rie_eigenvalues(lam, sig, eta=eta, n_threads=nt)
            M = (V * xi) @ V.T
            return Denoised(M, method, True, sig, estimated, lam, xi,
                            int(np.count_nonzero(xi)))
        U, s, Vt = np.linalg.svd(A, full_matrices=False)
        if method == "rie":
            vals = rie_singular_values(s, (n, m), sig, eta=eta, n_threads=nt)
        elif method == "gd-hard":
            thr = gd_threshold(s, (n, m), None if estimated else sig)
            vals = np.where(s > thr, s, 0.0)
        else:
            vals = gd_shrink(s, (n, m), sig, loss=method[3:])
        keep = vals > 0
        M = (U[:, keep] * vals[keep]) @ Vt[keep]
        return Denoised(M, method, False, sig, estimated, s, vals, int(np.count_nonzero(vals)))


def _warmup() -> None:
    """Compile the pair-sum kernel on a tiny spectrum (see :func:`fastrmt.warmup`)."""
    rie_singular_values(np.array([2.0, 1.0]), (2, 3), 0.1)
