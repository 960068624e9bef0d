"""Heavy-tail quality metrics of a weight matrix, as WeightWatcher defines them.

The empirical spectral density (ESD) of a layer ``W`` (``n x m``, ``p = min(n, m)``) is
the set of the ``p`` eigenvalues ``lambda_i = s_i^2`` of ``W^T W`` (``s_i`` the singular
values of ``W``), **not normalised** (WeightWatcher's default since 0.6.5: its
``normalize`` option was removed and ``glorot_fix`` is off).  From it:

``alpha`` - the exponent of a power law ``p(lambda) ~ lambda^(-alpha)`` fitted to the
    tail ``lambda >= xmin`` by the method of Clauset, Shalizi & Newman (SIAM Review 51
    (2009)): for every candidate ``xmin`` (each eigenvalue but the largest), the
    continuous maximum-likelihood exponent

        alpha(xmin) = 1 + k / sum_{lambda_j >= xmin} ln(lambda_j / xmin)

    over the ``k`` eigenvalues of the tail, and the Kolmogorov-Smirnov distance between
    the tail and the fitted law ``F(x) = 1 - (x / xmin)^(1 - alpha)``; ``xmin`` is the
    candidate with the smallest distance.  Reported with ``alpha_xmin``, the distance
    ``alpha_ks`` and the number of tail points ``alpha_n_tail``.
``alpha_weighted`` - ``alpha * log10(lambda_max)``.
``stable_rank`` - ``sum_i lambda_i / lambda_max = ||W||_F^2 / ||W||_2^2``.
``log_spectral_norm`` - ``log10(lambda_max) = log10(||W||_2^2)`` (WeightWatcher's
    "spectral norm" is ``lambda_max``, the *square* of the operator norm).

Conventions matched with WeightWatcher 0.7.7 (``WeightWatcher.analyze`` defaults:
``pl_package="ww"``, ``xmax=None``, ``fix_fingers=False``), read from its source
(``WW_powerlaw.WWFit.fit_power_law_standard``):

* the fitted law is the plain power law on ``[xmin, inf)``, not a truncated one
  (``xmax=None``: the largest eigenvalue is not used as an upper cut-off);
* every eigenvalue but the largest is a candidate ``xmin`` (no ``xmin_max``, no
  finger fixing), and the first minimum of the distance wins;
* the KS distance compares the fitted CDF with the empirical CDF *just below* each
  tail point, ``D = max_k |F(x_(k)) - k / n_tail|``, ``k = 0 .. n_tail - 1`` (the
  textbook statistic also takes ``(k + 1) / n_tail``, i.e. both sides of each step;
  WeightWatcher's one-sided version is used here so that the chosen ``xmin`` is the
  same).

Differences that remain, documented:

* eigenvalues below ``1e-10 * lambda_max`` are dropped before the fit (rounding zeros
  of a rank-deficient layer: the Gram-matrix eigenvalues used by :mod:`fastrmt.weights`
  resolve ``lambda`` only down to ``~ p * eps * lambda_max``); WeightWatcher drops
  ``lambda <= 1e-5`` in absolute terms, which depends on the scale of ``W``;
* WeightWatcher fits tails of fewer than 20 eigenvalues with another (bias-corrected)
  estimator; here, fewer than ``min_evals`` eigenvalues (default :data:`MIN_EVALS` =
  50) give ``alpha = NaN`` with a reason (see below), so that case never arises;
* WeightWatcher splits a convolution kernel ``(out, in, kh, kw)`` into ``kh * kw``
  matrices ``out x in`` whose ESDs are pooled; :mod:`fastrmt.weights` analyses the
  im2col matrix ``(out, in * kh * kw)`` instead.  Dense layers are the same.

Minimum size.  With fewer than :data:`MIN_EVALS` = 50 eigenvalues the metrics that
need a tail fit (``alpha``, ``alpha_xmin``, ``alpha_ks``, ``alpha_weighted``) are NaN and
``note`` says why (``stable_rank`` and ``log_spectral_norm`` are always computed).  The
threshold comes from a small experiment (``python benchmarks/run_weightwatcher.py
--size-experiment``): 300 Pareto samples of ``n`` points for exponents 2.5 and 3.5.  From
``n = 50`` on, the median estimate is within 0.1 of the truth (0.06 and 0.09) with an
interquartile range of 0.4-0.7; at ``n = 20-30`` the median is off by 0.14-0.31 and the
interquartile range reaches 1.2, at ``n = 10`` the median is off by 0.4-0.6 (the scan
then settles on tails of a handful of points).

The scan costs ``O(n^2)`` operations for ``n`` eigenvalues (``O(n)`` per candidate,
each candidate computed by one thread of a Numba ``prange`` loop into its own slot,
so the result does not depend on the thread count): under 30 ms for ``n = 3072`` on
two cores.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._kernels._heavytail import xmin_scan as _xmin_scan
from ._threads import thread_limit
from ._validation import check_array, check_bool, check_int, check_real

__all__ = ["MIN_EVALS", "EVAL_FLOOR", "PowerLawFit", "HeavyTailMetrics", "fit_power_law",
           "heavy_tail_metrics", "matrix_heavy_tail"]

MIN_EVALS = 50
EVAL_FLOOR = 1e-10   # eigenvalues below EVAL_FLOOR * lambda_max are rounding zeros


# ----------------------------------------------------------------------------------
# Records
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PowerLawFit:
    """A power law fitted to the upper tail of a sample (:func:`fit_power_law`).

    ``alpha`` the exponent of the density ``~ x^(-alpha)``, ``xmin`` the start of the
    tail, ``ks`` the Kolmogorov-Smirnov distance of the tail to the fitted law,
    ``n_tail`` the number of points in the tail, ``n`` the number of points scanned.
    """

    alpha: float
    xmin: float
    ks: float
    n_tail: int
    n: int


@dataclass(frozen=True)
class HeavyTailMetrics:
    """WeightWatcher's heavy-tail metrics of one layer (:func:`heavy_tail_metrics`).

    Values that cannot be computed are NaN (``alpha_n_tail`` is 0) and ``note`` says
    why; ``note`` is empty otherwise.
    """

    alpha: float
    alpha_xmin: float
    alpha_ks: float
    alpha_n_tail: int
    alpha_weighted: float
    stable_rank: float
    log_spectral_norm: float
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict, NaN written as None (strict-JSON-ready)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in self.__dict__.items()}


_NAN = float("nan")


# ----------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------
def fit_power_law(x: Any, *, n_threads: int | None = None) -> PowerLawFit:
    """Fit a power law to the upper tail of ``x`` (Clauset-Shalizi-Newman, WW's variant).

    Every value but the largest is tried as ``xmin``; for each, the continuous MLE
    ``alpha = 1 + k / sum ln(x_j / xmin)`` over the ``k`` values ``>= xmin`` and the KS
    distance ``max_j |1 - (x_(j) / xmin)^(1 - alpha) - j / k|`` (``j = 0 .. k-1``,
    ascending tail); the smallest distance wins (the first one on ties).  See the
    module docstring for how this matches WeightWatcher.

    Parameters
    ----------
    x : array_like, 1-D
        Positive finite values (eigenvalues), any order; at least 2.
    n_threads : None or int
        Threads for the scan (None = all cores); the result does not depend on it.

    Returns
    -------
    PowerLawFit
        ``alpha`` is NaN (``ks = 1``) when no candidate gives a valid exponent (all
        values equal).
    """
    arr = check_array("x", x, ndim=1)
    if arr.size < 2:
        raise ValueError(f"x must hold at least 2 values, got {arr.size}")
    if float(arr.min()) <= 0.0:
        raise ValueError(f"x must be positive, got a minimum of {float(arr.min())}")
    logx = np.ascontiguousarray(np.log(np.sort(arr)))
    with thread_limit(n_threads, blas=False):
        return _fit_sorted_log(logx)


def _fit_sorted_log(logx: np.ndarray) -> PowerLawFit:
    n = logx.size
    alpha = np.empty(n - 1)
    ks = np.empty(n - 1)
    _xmin_scan(logx, alpha, ks)
    i = int(np.argmin(ks))
    if not np.isfinite(alpha[i]):
        return PowerLawFit(_NAN, _NAN, 1.0, 0, n)
    return PowerLawFit(float(alpha[i]), float(math.exp(logx[i])), float(ks[i]), n - i, n)


def heavy_tail_metrics(singular_values: Any, *, complete: bool = True,
                       frobenius_sq: float | None = None, min_evals: int = MIN_EVALS,
                       n_threads: int | None = None) -> HeavyTailMetrics:
    """WeightWatcher's metrics from a layer's singular values.

    Parameters
    ----------
    singular_values : array_like, 1-D
        All ``min(n, m)`` singular values of ``W`` (any order), or, with
        ``complete=False``, only the largest few.
    complete : bool, default True
        False when ``singular_values`` holds only the top of the spectrum (a Lanczos
        solve): ``alpha`` needs the whole ESD (the fitted tail usually starts inside the
        bulk) and is NaN with a note; ``stable_rank`` then needs ``frobenius_sq``.
    frobenius_sq : float, optional
        ``||W||_F^2``; default ``sum(s^2)`` (only when ``complete``).
    min_evals : int, default :data:`MIN_EVALS`
        Fewer eigenvalues than this: no power-law fit (``alpha`` NaN, with a note).
    n_threads : None or int
        Threads for the xmin scan.

    Returns
    -------
    HeavyTailMetrics
    """
    s = check_array("singular_values", singular_values, ndim=1)
    complete = check_bool("complete", complete)
    min_evals = check_int("min_evals", min_evals, min_value=2)
    if s.size and float(s.min()) < 0.0:
        raise ValueError(f"singular_values must be >= 0, got a minimum of {float(s.min())}")
    if frobenius_sq is not None:
        frobenius_sq = check_real("frobenius_sq", frobenius_sq, min_value=0.0)
    elif not complete:
        raise ValueError("frobenius_sq is needed when complete=False (only the top "
                         "singular values are known)")
    with thread_limit(n_threads, blas=False):
        return _metrics(s, complete, frobenius_sq, min_evals)


def _metrics(s: np.ndarray, complete: bool, frobenius_sq: float | None,
             min_evals: int) -> HeavyTailMetrics:
    """:func:`heavy_tail_metrics` on validated input (called by fastrmt.weights)."""
    lam = np.sort(np.asarray(s, dtype=np.float64) ** 2)
    lam_max = float(lam[-1]) if lam.size else 0.0
    frob = float(np.sum(lam)) if frobenius_sq is None else float(frobenius_sq)
    if not lam_max > 0.0:
        return HeavyTailMetrics(_NAN, _NAN, _NAN, 0, _NAN, _NAN, _NAN,
                                "zero matrix: no spectrum")
    log_sn = math.log10(lam_max)
    stable = frob / lam_max
    if not complete:
        return HeavyTailMetrics(_NAN, _NAN, _NAN, 0, _NAN, stable, log_sn,
                                "alpha needs the full spectrum (only the top singular "
                                "values were computed: use solver='svd')")
    p = lam.size
    if p < min_evals:
        return HeavyTailMetrics(_NAN, _NAN, _NAN, 0, _NAN, stable, log_sn,
                                f"alpha: {p} eigenvalues < {min_evals}, too few for a "
                                "tail fit")
    nz = lam[lam > EVAL_FLOOR * lam_max]
    if nz.size < min_evals:
        return HeavyTailMetrics(_NAN, _NAN, _NAN, 0, _NAN, stable, log_sn,
                                f"alpha: {nz.size} nonzero eigenvalues < {min_evals}, "
                                "too few for a tail fit")
    fit = _fit_sorted_log(np.ascontiguousarray(np.log(nz)))
    if not np.isfinite(fit.alpha):
        return HeavyTailMetrics(_NAN, _NAN, _NAN, 0, _NAN, stable, log_sn,
                                "alpha: no valid power-law fit (equal eigenvalues)")
    return HeavyTailMetrics(fit.alpha, fit.xmin, fit.ks, fit.n_tail, fit.alpha * log_sn,
                            stable, log_sn)


def matrix_heavy_tail(W: Any, *, min_evals: int = MIN_EVALS,
                      n_threads: int | None = None) -> HeavyTailMetrics:
    """:func:`heavy_tail_metrics` of a matrix (all its singular values by LAPACK).

    Parameters
    ----------
    W : array_like, shape (n, m)
        Real, finite, at least 2 rows and 2 columns.
    min_evals, n_threads
        As in :func:`heavy_tail_metrics`.
    """
    A = check_array("W", W, ndim=2)
    if min(A.shape) < 2:
        raise ValueError(f"W must have at least 2 rows and 2 columns, got shape {A.shape}")
    min_evals = check_int("min_evals", min_evals, min_value=2)
    with thread_limit(n_threads):
        s = np.linalg.svd(A, compute_uv=False)
        return _metrics(s, True, None, min_evals)


def _warmup() -> None:
    """Compile the xmin scan on a tiny input."""
    _fit_sorted_log(np.log(np.arange(1.0, 9.0)))
