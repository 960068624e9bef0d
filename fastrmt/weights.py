"""Random-matrix analysis of trained weight matrices: noise level, outliers, pruning.

A trained layer's weight matrix ``W`` (``n x m``) is modelled as **signal plus noise**,
``W = S + sigma * Z``, with ``Z`` an ``n x m`` matrix of i.i.d. entries of mean 0 and
variance 1 and ``S`` a deterministic signal whose few large components stand out of the
noise.  Which part of the spectrum is signal is then read off random matrix theory.

Models (each record says which one it used, in ``LayerReport.model``)
------------------------------------------------------------------
``"mp"`` - rectangular information-plus-noise model (the default for ``n != m``, and
    used by pruning for every layer).  Let ``p = min(n, m)``, ``q = max(n, m)``,
    ``c = p / q`` and ``kappa = sigma * sqrt(q)``.  The singular values of ``sigma * Z``
    fill the Marchenko-Pastur bulk ``kappa * [1 - sqrt(c), 1 + sqrt(c)]``; its right
    **bulk edge** is ``sigma * (sqrt(q) + sqrt(p))``.  A rank-one signal component
    ``theta * u v^T`` with normalised strength ``t = theta / kappa > c**(1/4)`` makes an
    outlying singular value at ``kappa * sqrt((1 + t^2)(c + t^2)) / t``; weaker ones are
    absorbed by the bulk (Benaych-Georges & Nadakuditi, J. Multivariate Anal. 111
    (2012)).  The **signal value** of an outlier ``s`` is that formula inverted,
    ``t^2 = ((y^2 - 1 - c) + sqrt((y^2 - 1 - c)^2 - 4c)) / 2`` with ``y = s / kappa``,
    and the **predicted overlaps** (squared cosines between the observed and the true
    singular vectors) are ``1 - c(1 + t^2) / (t^2 (t^2 + c))`` on the short side and
    ``1 - (c + t^2) / (t^2 (t^2 + 1))`` on the long side (``overlap_left`` refers to the
    rows of ``W``, ``overlap_right`` to its columns).  Assumptions: noise entries
    independent with a common variance (Gaussian for the exact finite-n margin),
    finitely many spikes with delocalised vectors, the spectrum of the rest of ``S``
    negligible against the noise.
``"wigner"`` - for a square layer (``model="auto"``), its symmetric part
    ``W_s = (W + W^T) / 2`` under the deformed Wigner model ``W_s = X / sqrt(n) + S_s``.
    If ``W`` has i.i.d. entries of variance ``sigma^2``, the off-diagonal entries of
    ``W_s`` have variance ``sigma^2 / 2`` (``sigma^2`` when ``W`` is itself exactly
    symmetric, which is detected), so the bulk is the semicircle of radius
    ``R = 2 * sigma_s * sqrt(n)`` with ``sigma_s = sigma / sqrt(2)``.  A spike ``theta``
    of ``S_s`` with ``|theta| > R / 2`` gives an outlier at ``Phi(theta) = theta + (R/2)^2 /
    theta`` (BBP, ``nu = delta_0``); the signal value is ``Phi^{-1}`` of the outlier and
    the predicted squared overlap is ``1 - (R/2)^2 / theta^2``.  Outliers on both sides
    are counted (ordered by ``|lambda|``).  The antisymmetric part is ignored.

Noise level (``method``)
------------------------
``sigma`` is always the per-entry noise standard deviation of ``W`` (comparable across
layers and models).  It is estimated from the bulk by

``"bema"`` (default) - regression through the origin of the sorted eigenvalues on the
    quantiles of the model bulk (Marchenko-Pastur or semicircle) at the central
    probabilities ``[alpha, 1 - alpha]``, ``alpha = 0.2`` (Ke, Ma & Lin, BEMA);
``"median"`` - the median singular value matched to the Marchenko-Pastur median
    (Gavish & Donoho, IEEE Trans. Inf. Theory 60 (2014)); for the Wigner model the median
    of ``|lambda|`` matched to that of the semicircle.

Both ignore the few outliers at the top.  ``sigma_err`` is the largest deviation of the
estimate used from the others of ``{median, BEMA alpha = 0.1, 0.2, 0.3}`` and, when
there are outliers, of ``bema-trim`` (BEMA on the bulk with the outliers removed: a
rank-r signal pushes the bulk values up by up to r ranks, so the two BEMA fits bracket
the truth): a deterministic spread that is small (``O(1/p)``) on pure model data and grows when the
bulk is not of the model's shape (a full-rank signal, heavy tails...).

Outliers and the finite-n margin
--------------------------------
An outlier is a singular value (eigenvalue) beyond ``threshold = bulk_edge + margin *
tw_scale``.  ``tw_scale`` is the Tracy-Widom scale of the largest noise value:
``(sigma / 2) * (q^(-1/2) + p^(-1/2))^(1/3)`` for singular values (Johnstone 2001, in
singular-value units; it is ``~ edge * p^(-2/3)``), ``sigma_s * sqrt(n) * n^(-2/3)`` for
the Wigner model.  The default ``margin = 3`` lies beyond the 99.5 % quantile of the
TW1 law (its 99 % quantile is 2.02), so a pure-noise layer shows a spurious outlier
in well under 1 % of cases.  The uncertainty of sigma shifts the edge by about
``bulk_edge * sigma_err / sigma``; values in that band are reported in
``n_uncertain``.

Solvers
-------
For a layer whose short side ``p`` is at most ``LANCZOS_MIN_DIM = 3072`` (``solver =
"auto"``) all singular values are computed by LAPACK (``numpy.linalg.eigvalsh`` of
the ``p x p`` Gram matrix ``A A^T``, or LAPACK's SVD for a nearly low-rank layer;
``eigvalsh`` of ``W_s`` for the Wigner model).  Above that, only the outliers are
computed, by the block Lanczos solver of :mod:`fastrmt.eigensolver` applied to the
Gram operator ``x -> A (A^T x)`` (``A`` = ``W`` oriented with ``p`` rows) or to
``W_s``; sigma then comes from an evenly strided sub-matrix of ``SIGMA_SUBSAMPLE =
1024`` rows (rows and columns for the Wigner model), which is again a noise-plus-signal
matrix with the same entry variance, whose spectrum is computed in full.  The switch
size was measured where the two paths cost the same on the reference machine (2 cores;
``benchmarks/bench_weights.py`` times both); beyond it the ``p^2 q + p^3`` of the full
spectrum grows faster than the Lanczos products (Lanczos must also converge a few bulk-edge eigenvalues to certify that
no outlier is missed, which is what makes it slow at moderate sizes).

Heavy-tail metrics (WeightWatcher's)
------------------------------------
Every record also carries the metrics of :mod:`fastrmt.heavytail`, computed from the
singular values of ``W`` itself (the ESD of ``W^T W``, whatever the model: for a
``"wigner"`` layer they are computed on top of the symmetric part's eigenvalues):
``alpha`` (power-law exponent of the ESD tail, Clauset-Shalizi-Newman with
WeightWatcher's conventions), ``alpha_xmin``, ``alpha_ks`` (KS distance),
``alpha_n_tail``, ``alpha_weighted = alpha log10(lambda_max)``, ``stable_rank =
||W||_F^2 / ||W||_2^2`` and ``log_spectral_norm = log10(||W||_2^2)``.  ``alpha`` needs
the whole spectrum and at least ``heavytail.MIN_EVALS = 50`` eigenvalues: on the
Lanczos path (outliers only) and for smaller layers it is NaN and ``note`` says why;
``stable_rank`` and ``log_spectral_norm`` are always computed (on the Lanczos path from
``||W||_F`` and the largest singular value).

Small layers
------------
With ``model="auto"``, a layer whose short side is below ``min_dim`` (default
``MIN_DIM = 32``, the default of ``prune``'s ``min_dim`` too) gets no asymptotic model:
its record has ``model = "none"``, NaN noise level, edge and threshold, no outliers, and
``note = "min(n, m) = 10 < 32: asymptotic model not applied"`` (it is listed, never
silently dropped; its stable rank and spectral norm are still given).  An explicit
``model="mp"``/``"wigner"`` is applied at any size, with a warning in ``note``
(pruning does so: it analyses with ``model="mp"`` and copies small layers itself).
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
from scipy.sparse.linalg import LinearOperator

from . import eigensolver as es
from ._plots import plot_layer
from ._threads import thread_limit
from ._validation import check_bool, check_choice, check_int, check_probabilities, check_real
from ._weights_io import WeightsFile, WeightsFileError, from_mapping, load_file
from .heavytail import MIN_EVALS, _metrics as _heavy_tail
from .freeprob import phi_inverse
from .measures import Atoms, MarchenkoPastur, Semicircle

__all__ = [
    "LANCZOS_MIN_DIM",
    "SIGMA_SUBSAMPLE",
    "METHODS",
    "LayerReport",
    "WeightsReport",
    "WeightsFileError",
    "analyze_matrix",
    "analyze_weights",
    "analyze_model",
    "MIN_DIM",
    "mp_quantile",
    "mp_density",
    "bgn_outlier",
    "bgn_signal",
    "bgn_overlaps",
    "optimal_shrinkage",
    "plot_layer",
]

LANCZOS_MIN_DIM = 3072
SIGMA_SUBSAMPLE = 1024
METHODS = ("bema", "median")
MODELS = ("auto", "mp", "wigner")
SOLVERS = ("auto", "svd", "lanczos")
MIN_DIM = 32  # model="auto": no asymptotic model below this short side (module docstring)
_BEMA_ALPHA = 0.2
_FLOOR = 1e-7  # values below 1e-7 ||W||_F are numerical zeros (Gram rounding), not outliers


# ----------------------------------------------------------------------------------
# Marchenko-Pastur and semicircle laws (unit scale)
# ----------------------------------------------------------------------------------
def mp_quantile(prob: np.ndarray | float, c: float) -> np.ndarray:
    """Quantiles of the Marchenko-Pastur law of ratio ``c`` in (0, 1] (unit variance).

    The law of the eigenvalues of ``Z Z^T / q`` for ``Z`` of shape ``(p, q)``, ``c = p/q``,
    supported on ``[(1 - sqrt c)^2, (1 + sqrt c)^2]``: ``MarchenkoPastur(c).quantile(prob)``
    (:mod:`fastrmt.measures`), ``prob`` in [0, 1], any shape.
    """
    c = check_real("c", c, min_value=0.0, max_value=1.0, strict_min=True)
    prob = check_probabilities("prob", prob)
    return MarchenkoPastur(c).quantile(prob)


def mp_density(x: np.ndarray, c: float) -> np.ndarray:
    """Density of the Marchenko-Pastur law of ratio ``c`` in (0, 1] at ``x`` (unit variance):
    ``MarchenkoPastur(c).pdf(x)`` (:mod:`fastrmt.measures`), 0 outside the support."""
    c = check_real("c", c, min_value=0.0, max_value=1.0, strict_min=True)
    return MarchenkoPastur(c).pdf(x)


# the Wigner bulk at unit scale sigma_s sqrt(n) = 1: the semicircle on [-2, 2]
_SEMICIRCLE = Semicircle(0.0, 1.0)


# ----------------------------------------------------------------------------------
# Benaych-Georges--Nadakuditi (Gaussian noise, unit scale kappa = 1)
# ----------------------------------------------------------------------------------
def bgn_outlier(theta: np.ndarray | float, c: float) -> np.ndarray:
    """Limit of the outlying singular value made by a spike of normalised strength theta.

    ``sqrt((1 + t^2)(c + t^2)) / t`` for ``t > c**(1/4)``; the bulk edge ``1 + sqrt(c)``
    otherwise (the spike is absorbed).  Unit noise scale ``kappa = sigma sqrt(q) = 1``.
    """
    t = np.asarray(theta, dtype=np.float64)
    edge = 1 + math.sqrt(c)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.sqrt((1 + t * t) * (c + t * t)) / t
    return np.where(t > c ** 0.25, y, edge)


def bgn_signal(y: np.ndarray | float, c: float) -> np.ndarray:
    """Inverse of :func:`bgn_outlier`: the spike strength behind an outlier ``y``.

    ``t^2 = ((y^2 - 1 - c) + sqrt((y^2 - 1 - c)^2 - 4c)) / 2`` for ``y > 1 + sqrt(c)``;
    NaN at or below the edge (no spike can be inferred there).
    """
    y = np.asarray(y, dtype=np.float64)
    ok = y > 1 + math.sqrt(c)
    big = y > 1e100  # t = y to double precision; avoids overflow of y^2
    yy = np.where(ok & ~big, y, 2.0 + c)
    d = yy * yy - 1 - c  # > 2 sqrt(c)
    t = np.sqrt(d * (1 + np.sqrt(np.clip(1 - 4 * c / d / d, 0.0, 1.0))) / 2)
    return np.where(ok, np.where(big, y, t), np.nan)


def bgn_overlaps(theta: np.ndarray | float, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Predicted squared overlaps ``(short side, long side)`` for spikes of strength theta."""
    t = np.abs(np.asarray(theta, dtype=np.float64))
    pos = t > 0
    r = 1.0 / np.where(pos, t, 1.0)
    inv = np.where(pos, r * r, 0.0)  # 1 / t^2 (underflows to 0, never overflows)
    short = np.where(pos, 1 - c * (1 + inv) * inv / (1 + c * inv), 0.0)
    long_ = np.where(pos, 1 - (c * inv + 1) * inv / (1 + inv), 0.0)
    return np.clip(short, 0.0, 1.0), np.clip(long_, 0.0, 1.0)


def optimal_shrinkage(y: np.ndarray | float, c: float) -> np.ndarray:
    """Frobenius-optimal singular value shrinker (Gavish & Donoho 2017), unit noise scale.

    ``sqrt((y^2 - c - 1)^2 - 4c) / y`` above the edge ``1 + sqrt(c)``, 0 below.  It equals
    ``t * sqrt(overlap_short * overlap_long)`` with ``t`` = :func:`bgn_signal` ``(y)``.
    """
    y = np.asarray(y, dtype=np.float64)
    ok = y > 1 + math.sqrt(c)
    big = y > 1e100  # eta = y to double precision; avoids overflow of y^2
    ys = np.where(ok & ~big, y, 2.0 + c)
    e = ys * ys - c - 1
    eta = e * np.sqrt(np.clip(1 - 4 * c / e / e, 0.0, 1.0)) / ys
    return np.where(ok, np.where(big, y, eta), 0.0)


# ----------------------------------------------------------------------------------
# Noise level
# ----------------------------------------------------------------------------------
def _bema(vals_sorted: np.ndarray, quantile: Callable[[np.ndarray], np.ndarray],
          alpha: float) -> float:
    k = vals_sorted.size
    probs = (np.arange(k) + 0.5) / k
    sel = (probs >= alpha) & (probs <= 1 - alpha)
    if sel.sum() < 2:
        sel = np.ones(k, dtype=bool)
    qs = quantile(probs[sel])
    return float(np.dot(qs, vals_sorted[sel]) / np.dot(qs, qs))


def _sigma_mp(s: np.ndarray, p: int, q: int) -> dict[str, float]:
    """Estimates of sigma from all singular values ``s`` of a p x q (p <= q) matrix."""
    c = p / q
    lam = np.sort(s.astype(np.float64) ** 2 / q)
    est = {"median": float(np.median(s)) / math.sqrt(q * float(mp_quantile(0.5, c)))}
    for alpha in (0.1, 0.2, 0.3):
        est[f"bema{alpha:.1f}"] = math.sqrt(max(_bema(lam, lambda pr: mp_quantile(pr, c),
                                                      alpha), 0.0))
    return est


def _sigma_sc(ev: np.ndarray, n: int) -> dict[str, float]:
    """Estimates of sigma_s * sqrt(n) (semicircle radius / 2) from the eigenvalues ``ev``."""
    ev = np.sort(ev.astype(np.float64))
    est = {"median": float(np.median(np.abs(ev))) / float(_SEMICIRCLE.quantile(0.75))}
    for alpha in (0.1, 0.2, 0.3):
        est[f"bema{alpha:.1f}"] = max(_bema(ev, _SEMICIRCLE.quantile, alpha), 0.0)
    return est


def _pick(est: dict[str, float], method: str) -> tuple[float, float]:
    key = "median" if method == "median" else f"bema{_BEMA_ALPHA:.1f}"
    val = est[key]
    err = max(abs(v - val) for k, v in est.items() if k != key)
    return val, err


# ----------------------------------------------------------------------------------
# Eigen-solvers
# ----------------------------------------------------------------------------------
def _sym_top(matmat: Callable[[np.ndarray], np.ndarray], n: int, *, threshold: float | None,
             k: int | None, vectors: bool, which: str = "LA", n_threads: int = 1,
             k0: int = 8):
    """Eigenpairs of a symmetric operator: all beyond ``threshold`` or the ``k`` most extreme.

    Uses fastrmt's block Lanczos solver (:func:`fastrmt.eigensolver.eigvals_above` /
    :func:`~fastrmt.eigensolver.eigsh`, fixed seed).  Returns (values, most extreme
    first; vectors or None).  ``k0`` is the first number of eigenvalues tried (a good
    guess of the count saves restarts: every eigenvalue computed beyond the count sits
    in the slowly converging bulk edge); values beyond a threshold are computed to a
    relative accuracy of 1e-5 (5e-6 for singular values from the Gram operator), ample
    to place them against the threshold (the Tracy-Widom scale is ~ n^(-2/3) of the
    edge).  When more than half of the spectrum lies beyond the threshold, a dense
    eigensolver is cheaper and is used instead.
    """
    op = LinearOperator((n, n), matvec=matmat, matmat=matmat, dtype=np.float64)
    sign = 1.0 if which == "LA" else -1.0
    if n <= 2 or (k is not None and k >= n - 1):
        w, v = np.linalg.eigh(matmat(np.eye(n)))
    elif threshold is not None:
        try:
            res = es.eigvals_above(op, threshold, which=which, max_k=max(n // 2, 1),
                                   k0=max(1, min(k0, n // 2)), tol=1e-5, seed=0,
                                   return_eigenvectors=vectors,
                                   n_threads=n_threads)
            w, v = (res if vectors else (res, None))
            return np.asarray(w), v
        except es.ThresholdNotReached:
            w, v = np.linalg.eigh(matmat(np.eye(n)))
    else:
        w, v = es.eigsh(op, k=k, which=which, tol=1e-10, seed=0, n_threads=n_threads)
    order = np.argsort(-sign * w, kind="stable")
    w, v = w[order], v[:, order]
    if threshold is not None:
        keep = sign * (w - threshold) > 0
        w, v = w[keep], v[:, keep]
    elif k is not None:
        w, v = w[:k], v[:, :k]
    return w, (v if vectors else None)


def _singular_values(B: np.ndarray) -> np.ndarray:
    """All singular values of B (p x q, p <= q), descending, from eigvalsh(B B^T).

    Forming the Gram matrix is one BLAS-3 product (p^2 q flops) and its eigenvalues cost
    ~ p^3, about 4x less than LAPACK's bidiagonalisation (gesdd without vectors).  The
    absolute error of s_i is ~ eps * s_max^2 / s_i: irrelevant for the bulk quantiles
    and the outliers, which are all this module uses.
    """
    ev = np.linalg.eigvalsh(B @ B.T)
    s = np.sqrt(np.maximum(ev[::-1], 0.0))
    if s[0] > 0 and s[s.size // 2] < 1e-6 * s[0]:  # (nearly) low rank: Gram too coarse
        s = np.linalg.svd(B, compute_uv=False)
    return s


def _strided(n: int, k: int) -> np.ndarray:
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(np.int64))


# ----------------------------------------------------------------------------------
# Reports
# ----------------------------------------------------------------------------------
@dataclass
class LayerReport:
    """What :func:`analyze_matrix` found in one layer (see the module docstring).

    ``outliers`` are the observed singular values (model ``"mp"``) or eigenvalues of the
    symmetric part (``"wigner"``) beyond ``threshold``, largest first; ``signal`` their
    de-noised values (same units as ``W``); ``overlap_left`` / ``overlap_right`` the
    predicted squared cosines with the true left / right singular vectors (for
    ``"wigner"`` both are the eigenvector overlap).  ``spectrum`` holds the whole computed
    spectrum (None when only the outliers were computed) and is left out of
    :meth:`to_dict`.

    ``alpha`` ... ``log_spectral_norm`` are WeightWatcher's heavy-tail metrics of ``W``
    (:mod:`fastrmt.heavytail`; NaN when not computed).  ``model`` is ``"none"`` for a
    layer too small for the asymptotic model (noise level, edge and threshold NaN, no
    outliers).  ``note`` says why something was not computed or is unreliable ("" when
    all is well).  :meth:`to_dict` writes NaN as None (strict JSON).
    """

    name: str
    shape: tuple[int, ...]
    matrix_shape: tuple[int, int]
    model: str
    solver: str
    method: str
    sigma: float
    sigma_err: float
    sigma_estimates: dict[str, float]
    bulk_edge: float
    tw_scale: float
    margin: float
    threshold: float
    n_outliers: int
    n_uncertain: int
    outliers: np.ndarray
    signal: np.ndarray
    overlap_left: np.ndarray
    overlap_right: np.ndarray
    time: float
    spectrum: np.ndarray | None = field(default=None, repr=False)
    bulk_scale: float = 0.0  # kappa = sigma sqrt(q) ("mp") or sigma_s sqrt(n) ("wigner")
    ratio: float = 1.0       # c = p / q ("mp")
    alpha: float = math.nan              # power-law exponent of the ESD tail
    alpha_xmin: float = math.nan         # start of the fitted tail (an eigenvalue of W^T W)
    alpha_ks: float = math.nan           # KS distance of the tail to the fitted law
    alpha_n_tail: int = 0                # eigenvalues in the fitted tail
    alpha_weighted: float = math.nan     # alpha * log10(lambda_max)
    stable_rank: float = math.nan        # ||W||_F^2 / ||W||_2^2
    log_spectral_norm: float = math.nan  # log10(lambda_max) = log10(||W||_2^2)
    note: str = ""

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        """Plain-Python dict (strict-JSON-ready: NaN as None); ``top`` limits the outlier
        lists."""
        sl = slice(None) if top is None else slice(0, top)
        return {
            "name": self.name, "shape": list(self.shape),
            "matrix_shape": list(self.matrix_shape), "model": self.model,
            "solver": self.solver, "method": self.method, "sigma": _num(self.sigma),
            "sigma_err": _num(self.sigma_err),
            "sigma_estimates": {k: _num(v) for k, v in self.sigma_estimates.items()},
            "bulk_edge": _num(self.bulk_edge), "tw_scale": _num(self.tw_scale),
            "margin": self.margin, "threshold": _num(self.threshold),
            "n_outliers": self.n_outliers, "n_uncertain": self.n_uncertain,
            "outliers": [_num(v) for v in self.outliers[sl]],
            "signal": [_num(v) for v in self.signal[sl]],
            "overlap_left": [_num(v) for v in self.overlap_left[sl]],
            "overlap_right": [_num(v) for v in self.overlap_right[sl]],
            "alpha": _num(self.alpha), "alpha_xmin": _num(self.alpha_xmin),
            "alpha_ks": _num(self.alpha_ks), "alpha_n_tail": self.alpha_n_tail,
            "alpha_weighted": _num(self.alpha_weighted),
            "stable_rank": _num(self.stable_rank),
            "log_spectral_norm": _num(self.log_spectral_norm), "note": self.note,
            "time": self.time,
        }


def _num(v: float) -> float | None:
    """A float for JSON: None for NaN and inf (``json.dumps(..., allow_nan=False)``)."""
    v = float(v)
    return v if math.isfinite(v) else None


def _fmt(v: float, spec: str, empty: str = "") -> str:
    """``format(v, spec)``, or ``empty`` for NaN/inf (CSV cells and table columns)."""
    return format(v, spec) if math.isfinite(v) else empty


_CSV_FIELDS = ["name", "shape", "model", "solver", "method", "sigma", "sigma_err",
               "bulk_edge", "threshold", "n_outliers", "n_uncertain", "top_outliers",
               "top_signal", "top_overlap_left", "top_overlap_right", "time", "alpha",
               "alpha_xmin", "alpha_ks", "alpha_n_tail", "alpha_weighted", "stable_rank",
               "log_spectral_norm", "note"]


@dataclass
class WeightsReport:
    """Per-layer :class:`LayerReport` records of one weight file, in file order."""

    source: str
    layers: list[LayerReport]
    skipped: list[tuple[str, tuple[int, ...], str]]
    method: str
    margin: float
    time: float = 0.0

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[LayerReport]:
        return iter(self.layers)

    def __getitem__(self, key: int | str) -> LayerReport:
        if isinstance(key, str):
            for rec in self.layers:
                if rec.name == key:
                    return rec
            raise KeyError(key)
        return self.layers[key]

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "method": self.method, "margin": self.margin,
                "time": self.time, "layers": [r.to_dict() for r in self.layers],
                "skipped": [{"name": n, "shape": list(s), "reason": why}
                            for n, s, why in self.skipped]}

    def to_json(self, **kwargs: Any) -> str:
        """Strict JSON (NaN and inf written as null)."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    def to_csv(self, path: str | os.PathLike | None = None, top: int = 5) -> str:
        """CSV text, one row per layer (top ``top`` outliers joined by ';'; NaN as an
        empty cell); written to ``path`` too when given."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(_CSV_FIELDS)
        for r in self.layers:
            j = lambda a: ";".join(f"{v:.6g}" for v in a[:top])  # noqa: E731
            w.writerow([r.name, "x".join(map(str, r.matrix_shape)), r.model, r.solver,
                        r.method, _fmt(r.sigma, ".6g"), _fmt(r.sigma_err, ".3g"),
                        _fmt(r.bulk_edge, ".6g"), _fmt(r.threshold, ".6g"), r.n_outliers,
                        r.n_uncertain, j(r.outliers), j(r.signal), j(r.overlap_left),
                        j(r.overlap_right), f"{r.time:.4f}", _fmt(r.alpha, ".6g"),
                        _fmt(r.alpha_xmin, ".6g"), _fmt(r.alpha_ks, ".4g"), r.alpha_n_tail,
                        _fmt(r.alpha_weighted, ".6g"), _fmt(r.stable_rank, ".6g"),
                        _fmt(r.log_spectral_norm, ".6g"), r.note])
        text = buf.getvalue()
        if path is not None:
            with open(path, "w", newline="") as fh:
                fh.write(text)
        return text

    def table(self, top: int = 3) -> str:
        """The per-layer table printed by ``fastrmt analyze`` (NaN shown as "-"; the
        last column, ``note``, only when some layer has one)."""
        rows = [("layer", "shape", "model", "sigma", "+-", "bulk edge", "#out",
                 "top outliers", "alpha", "alpha_w", "st.rank", "log|W|2^2", "time",
                 "note")]
        for r in self.layers:
            rows.append((r.name, "x".join(map(str, r.matrix_shape)), r.model,
                         _fmt(r.sigma, ".4g", "-"), _fmt(r.sigma_err, ".1g", "-"),
                         _fmt(r.bulk_edge, ".4g", "-"), str(r.n_outliers),
                         " ".join(f"{v:.4g}" for v in r.outliers[:top]) or "-",
                         _fmt(r.alpha, ".3f", "-"), _fmt(r.alpha_weighted, ".3f", "-"),
                         _fmt(r.stable_rank, ".4g", "-"),
                         _fmt(r.log_spectral_norm, ".3f", "-"), f"{r.time:.3f}s", r.note))
        if not any(r.note for r in self.layers):
            rows = [row[:-1] for row in rows]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) if i in (0, 1, 2, 7, 13) else cell.rjust(w)
                           for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
                 for row in rows]
        lines.insert(1, "-" * len(lines[0]))
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} tensor(s): " + ", ".join(
                f"{n} {tuple(s)} ({why})" for n, s, why in self.skipped[:8])
                + (" ..." if len(self.skipped) > 8 else ""))
        return "\n".join(lines)


# ----------------------------------------------------------------------------------
# Analysis of one matrix
# ----------------------------------------------------------------------------------
def _check_common(method: str, margin: float, model: str, solver: str) -> tuple:
    method = check_choice("method", method, METHODS)
    margin = check_real("margin", margin, min_value=0.0)
    model = check_choice("model", model, MODELS)
    solver = check_choice("solver", solver, SOLVERS)
    return method, margin, model, solver


WEIGHT_RANGE = (1e-100, 1e100)


def _check_scale(name: str, A: np.ndarray) -> None:
    """Refuse weights whose squares would under- or overflow in the Gram matrix."""
    top = float(np.max(np.abs(A))) if A.size else 0.0
    lo, hi = WEIGHT_RANGE
    if top > hi or 0.0 < top < lo:
        raise ValueError(f"layer {name!r}: largest |weight| {top:.3g} is outside "
                         f"[{lo:g}, {hi:g}], where the spectrum's squares under- or "
                         "overflow; rescale the layer (the analysis is scale-covariant)")


def _check_matrix(W: Any, name: str) -> np.ndarray:
    """A real 2-D matrix, at least 2 x 2, finite, within :data:`WEIGHT_RANGE`."""
    A = np.asarray(W)
    if A.ndim != 2:
        raise ValueError(f"W must be 2-D, got shape {A.shape}")
    if not (np.issubdtype(A.dtype, np.floating) or np.issubdtype(A.dtype, np.integer)):
        raise TypeError(f"W must hold real numbers, got dtype {A.dtype}")
    if min(A.shape) < 2:
        raise ValueError(f"W must have at least 2 rows and 2 columns, got shape {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"layer {name!r} contains NaN or inf weights")
    _check_scale(name, A)
    return A


def analyze_matrix(W: np.ndarray, *, name: str = "array", method: str = "bema",
                   margin: float = 3.0, model: str = "auto", solver: str = "auto",
                   min_dim: int = MIN_DIM, heavy_tail: bool = True,
                   n_threads: int | None = None) -> LayerReport:
    """Noise level, outliers, de-noised spikes and heavy-tail metrics of one weight matrix.

    Parameters
    ----------
    W : array_like, shape (n, m)
        The weights (any real dtype; analysed in float64).  Must be finite.
    name : str
        Label used in the report.
    method : {"bema", "median"}
        Noise-level estimator (module docstring).
    margin : float, default 3.0
        ``C`` in ``threshold = bulk_edge + C * tw_scale`` (Tracy-Widom units, >= 0).
    model : {"auto", "mp", "wigner"}
        ``"auto"``: ``"wigner"`` (symmetric part) for a square matrix, ``"mp"`` (singular
        values) otherwise, and no model (``"none"``) when ``min(n, m) < min_dim``.
        ``"wigner"`` needs a square matrix.
    solver : {"auto", "svd", "lanczos"}
        ``"auto"``: full spectrum by LAPACK when ``min(n, m) <= LANCZOS_MIN_DIM``, block
        Lanczos for the outliers only above.
    min_dim : int, default MIN_DIM = 32
        Smallest short side to which ``model="auto"`` applies an asymptotic model (>= 2);
        below it the record has ``model="none"`` and a ``note``.  An explicit ``model``
        is applied at any size (with a ``note``).
    heavy_tail : bool, default True
        Compute the heavy-tail metrics (``alpha``, ``stable_rank``...; module
        docstring).  For a ``"wigner"`` layer this costs one more spectrum (of ``W^T W``).
    n_threads : None or int
        Threads for BLAS/LAPACK and the solver (None = all cores).

    Returns
    -------
    LayerReport
    """
    method, margin, model, solver = _check_common(method, margin, model, solver)
    min_dim = check_int("min_dim", min_dim, min_value=2)
    heavy_tail = check_bool("heavy_tail", heavy_tail)
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    A = _check_matrix(W, name)
    n, m = A.shape
    small = min(n, m) < min_dim
    if model == "auto":
        model = "none" if small else ("wigner" if n == m else "mp")
    if model == "wigner" and n != m:
        raise ValueError(f"model='wigner' needs a square matrix, got shape {A.shape}")
    use_lanczos = solver == "lanczos" or (solver == "auto" and min(n, m) > LANCZOS_MIN_DIM)
    t0 = time.perf_counter()
    with thread_limit(n_threads) as nt:
        A = np.ascontiguousarray(A, dtype=np.float64)
        if model == "none":
            rec = _analyze_none(A, name, method, margin)
            rec.note = f"min(n, m) = {min(n, m)} < {min_dim}: asymptotic model not applied"
        elif model == "mp":
            rec = _analyze_mp(A, name, method, margin, use_lanczos, nt)
        else:
            rec = _analyze_wigner(A, name, method, margin, use_lanczos, nt)
        if small and model != "none":
            rec.note = (f"min(n, m) = {min(n, m)} < {min_dim}: the asymptotic model is "
                        "unreliable")
        if heavy_tail:
            _add_heavy_tail(rec, A, nt)
    rec.time = time.perf_counter() - t0
    return rec


def _analyze_none(A: np.ndarray, name: str, method: str, margin: float) -> LayerReport:
    """The record of a layer too small for the asymptotic model: its spectrum only."""
    n, m = A.shape
    B = A if n <= m else A.T
    nan, empty = math.nan, np.empty(0)
    return LayerReport(name=name, shape=(n, m), matrix_shape=(n, m), model="none",
                       solver="svd", method=method, sigma=nan, sigma_err=nan,
                       sigma_estimates={}, bulk_edge=nan, tw_scale=nan, margin=margin,
                       threshold=nan, n_outliers=0, n_uncertain=0, outliers=empty,
                       signal=empty.copy(), overlap_left=empty.copy(),
                       overlap_right=empty.copy(), time=0.0, spectrum=_singular_values(B),
                       bulk_scale=0.0, ratio=B.shape[0] / B.shape[1])


def _add_heavy_tail(rec: LayerReport, A: np.ndarray, nt: int) -> None:
    """Fill the heavy-tail metrics of ``rec`` (:mod:`fastrmt.heavytail`) from ``W = A``.

    They are defined on the singular values of ``W`` whatever the model: the computed
    spectrum for ``"mp"``/``"none"``, one more spectrum for ``"wigner"``.  On the Lanczos
    path only ``||W||_F`` and the largest singular value are known (the outliers, or one
    more Lanczos solve when there is none; for ``"wigner"`` always one more solve).
    """
    n, m = A.shape
    B = A if n <= m else A.T
    if rec.spectrum is not None:
        s = rec.spectrum if rec.model != "wigner" else _singular_values(B)
        ht = _heavy_tail(s, True, None, MIN_EVALS)
    else:
        if rec.model == "mp" and rec.n_outliers:
            top = rec.outliers[:1]
        else:
            Bt = np.ascontiguousarray(B.T)
            vals, _ = _sym_top(lambda x: B @ (Bt @ x), B.shape[0], threshold=None, k=1,
                               vectors=False, n_threads=nt)
            top = np.sqrt(np.maximum(vals[:1], 0.0))
        ht = _heavy_tail(top, False, float(np.vdot(A, A)), MIN_EVALS)
    rec.alpha, rec.alpha_xmin, rec.alpha_ks = ht.alpha, ht.alpha_xmin, ht.alpha_ks
    rec.alpha_n_tail, rec.alpha_weighted = ht.alpha_n_tail, ht.alpha_weighted
    rec.stable_rank, rec.log_spectral_norm = ht.stable_rank, ht.log_spectral_norm
    if ht.note:
        rec.note = f"{rec.note}; {ht.note}" if rec.note else ht.note


def _analyze_mp(A: np.ndarray, name: str, method: str, margin: float,
                use_lanczos: bool, nt: int) -> LayerReport:
    n, m = A.shape
    B = A if n <= m else A.T  # p x q, p <= q
    p, q = B.shape
    c = p / q
    spectrum = None
    if not use_lanczos:
        spectrum = _singular_values(B)
        bulk_s, pb = spectrum, p
    else:
        sub = B[_strided(p, min(SIGMA_SUBSAMPLE, p))]
        bulk_s, pb = _singular_values(sub), sub.shape[0]
    est = _sigma_mp(bulk_s, pb, q)
    sigma, _ = _pick(est, method)
    # the outliers push the bulk values up by as many ranks (Weyl): the same fit on the
    # bulk alone, outliers removed, bounds the estimate from the other side
    r_b = int(np.sum(bulk_s > margin * 0.5 * sigma * (q ** -0.5 + pb ** -0.5) ** (1 / 3)
                     + sigma * (math.sqrt(q) + math.sqrt(pb))))
    if 0 < r_b < pb // 2:
        c_b = pb / q
        lam = np.sort(bulk_s.astype(np.float64) ** 2 / q)[: pb - r_b]
        est["bema-trim"] = math.sqrt(max(_bema(lam, lambda pr: mp_quantile(pr, c_b),
                                               _BEMA_ALPHA), 0.0))
    sigma, err = _pick(est, method)
    kappa = sigma * math.sqrt(q)
    edge = sigma * (math.sqrt(q) + math.sqrt(p))
    tw = 0.5 * sigma * (q ** -0.5 + p ** -0.5) ** (1.0 / 3.0)
    thr = max(edge + margin * tw, _FLOOR * float(np.linalg.norm(B)))
    if spectrum is not None:
        top = spectrum[spectrum > thr]
        band = spectrum[(spectrum > thr - edge * err / max(sigma, 1e-300))
                        & (spectrum <= thr + edge * err / max(sigma, 1e-300))]
        n_unc = int(band.size)
    else:
        Bt = np.ascontiguousarray(B.T)
        lo = max(thr - edge * err / max(sigma, 1e-300), 0.0)
        vals, _ = _sym_top(lambda x: B @ (Bt @ x), p, threshold=lo * lo, k=None,
                           vectors=False, n_threads=nt, k0=r_b + 8)
        vals = np.sqrt(np.maximum(vals, 0.0))
        top = vals[vals > thr]
        n_unc = int(np.sum(vals <= thr + edge * err / max(sigma, 1e-300)))
    top = np.sort(top)[::-1]
    if kappa > 0:
        t = bgn_signal(top / kappa, c)
        ov_s, ov_l = bgn_overlaps(t, c)
        signal = kappa * t
    else:
        signal, ov_s, ov_l = top.copy(), np.ones_like(top), np.ones_like(top)
    ov_left, ov_right = (ov_s, ov_l) if n <= m else (ov_l, ov_s)
    return LayerReport(name=name, shape=(n, m), matrix_shape=(n, m), model="mp",
                       solver="lanczos" if use_lanczos else "svd", method=method,
                       sigma=sigma, sigma_err=err, sigma_estimates=est, bulk_edge=edge,
                       tw_scale=tw, margin=margin, threshold=thr, n_outliers=int(top.size),
                       n_uncertain=n_unc, outliers=top, signal=signal, overlap_left=ov_left,
                       overlap_right=ov_right, time=0.0, spectrum=spectrum, bulk_scale=kappa,
                       ratio=c)


def _phi_inverse_delta0(lam: np.ndarray, s: float) -> np.ndarray:
    """Phi^{-1} for nu = delta_0 (theta with theta + s^2/theta = lam, |theta| > s).

    Through :func:`fastrmt.freeprob.phi_inverse` with ``nu = Atoms([0])``; the closed form
    ``(lam + sign(lam) sqrt(lam^2 - 4 s^2)) / 2`` is its test twin.
    """
    if lam.size == 0 or s <= 0:
        return lam.astype(np.float64, copy=True)
    return np.asarray(phi_inverse(np.asarray(lam, dtype=np.float64), Atoms([0.0]), s),
                      dtype=np.float64)


def _analyze_wigner(A: np.ndarray, name: str, method: str, margin: float,
                    use_lanczos: bool, nt: int) -> LayerReport:
    n = A.shape[0]
    symmetric = bool(np.array_equal(A, A.T))
    S = A if symmetric else (A + A.T) * 0.5
    spectrum = None
    if not use_lanczos:
        spectrum = np.linalg.eigvalsh(S)
        est_r = _sigma_sc(spectrum, n)
        scale_n = n
    else:
        idx = _strided(n, min(SIGMA_SUBSAMPLE, n))
        sub_ev = np.linalg.eigvalsh(S[np.ix_(idx, idx)])
        est_r = _sigma_sc(sub_ev, idx.size)
        scale_n = idx.size
    # est_r estimates sigma_s * sqrt(scale_n); per-entry sigma of W from it
    to_sigma = (1.0 if symmetric else math.sqrt(2.0)) / math.sqrt(scale_n)
    est = {k: v * to_sigma for k, v in est_r.items()}
    sigma, _ = _pick(est, method)
    bulk_ev = spectrum if spectrum is not None else None
    if bulk_ev is not None:
        h = sigma / to_sigma  # sigma_s * sqrt(n)
        r_b = int(np.sum(np.abs(bulk_ev) > 2 * h + margin * h * n ** (-2.0 / 3.0)))
        if 0 < r_b < n // 2:
            ev = np.sort(bulk_ev)
            core = ev[np.abs(ev) <= 2 * h + margin * h * n ** (-2.0 / 3.0)]
            est["bema-trim"] = max(_bema(core, _SEMICIRCLE.quantile, _BEMA_ALPHA), 0.0) * to_sigma
    sigma, err = _pick(est, method)
    sig_s = sigma / (1.0 if symmetric else math.sqrt(2.0))
    half = sig_s * math.sqrt(n)  # semicircle on [-2 half, 2 half]
    edge = 2 * half
    tw = half * n ** (-2.0 / 3.0)
    thr = max(edge + margin * tw, _FLOOR * float(np.linalg.norm(S)))
    du = edge * err / max(sigma, 1e-300)
    if spectrum is not None:
        top = spectrum[np.abs(spectrum) > thr]
        n_unc = int(np.sum((np.abs(spectrum) > thr - du) & (np.abs(spectrum) <= thr + du)))
    else:
        lo = max(thr - du, 0.0)
        hs = sigma / to_sigma  # sigma_s * sqrt(sub-matrix order): its own edge 2 hs
        edge_s = 2 * hs + margin * hs * scale_n ** (-2.0 / 3.0)
        k_hi, k_lo = int(np.sum(sub_ev > edge_s)), int(np.sum(sub_ev < -edge_s))
        hi_vals, _ = _sym_top(lambda x: S @ x, n, threshold=lo, k=None, vectors=False,
                              n_threads=nt, k0=k_hi + 8)
        lo_vals, _ = _sym_top(lambda x: S @ x, n, threshold=-lo, k=None, vectors=False,
                              which="SA", n_threads=nt, k0=k_lo + 8)
        vals = np.concatenate([hi_vals, lo_vals])
        top = vals[np.abs(vals) > thr]
        n_unc = int(np.sum(np.abs(vals) <= thr + du))
    top = top[np.argsort(-np.abs(top), kind="stable")]
    theta = _phi_inverse_delta0(top, half)
    with np.errstate(divide="ignore", invalid="ignore"):
        ov = np.clip(1 - half * half / (theta * theta), 0.0, 1.0) if half > 0 else \
            np.ones_like(top)
    return LayerReport(name=name, shape=(n, n), matrix_shape=(n, n), model="wigner",
                       solver="lanczos" if use_lanczos else "svd", method=method,
                       sigma=sigma, sigma_err=err, sigma_estimates=est, bulk_edge=edge,
                       tw_scale=tw, margin=margin, threshold=thr, n_outliers=int(top.size),
                       n_uncertain=n_unc, outliers=top, signal=theta, overlap_left=ov,
                       overlap_right=ov.copy(), time=0.0, spectrum=spectrum, bulk_scale=half,
                       ratio=1.0)


# ----------------------------------------------------------------------------------
# Whole files
# ----------------------------------------------------------------------------------
def _as_weights_file(source: Any) -> WeightsFile:
    if isinstance(source, WeightsFile):
        return source
    if isinstance(source, (str, os.PathLike)):
        return load_file(source)
    return from_mapping(source)


def _progress_fn(progress: bool | Callable[[int, int, str], None]):
    if callable(progress):
        return progress
    if check_bool("progress", progress):
        def show(i: int, total: int, name: str) -> None:
            print(f"[{i}/{total}] {name}", file=sys.stderr, flush=True)
        return show
    return None


def analyze_weights(source: str | os.PathLike | np.ndarray | Mapping[str, Any], *,
                    method: str = "bema", margin: float = 3.0, model: str = "auto",
                    solver: str = "auto", layers: Sequence[str] | None = None,
                    min_dim: int = MIN_DIM, heavy_tail: bool = True,
                    n_threads: int | None = None,
                    progress: bool | Callable[[int, int, str], None] = False) -> WeightsReport:
    """Analyse every 2-D layer of a weight file, array or state dict.

    Parameters
    ----------
    source : path, ndarray or mapping
        A ``.npy``/``.npz``/``.safetensors``/``.pt``/``.pth`` file (see
        :mod:`fastrmt._weights_io` for which tensors become layers: 2-D as stored,
        convolution kernels ``(out, in, k...)`` as ``(out, in * prod(k))``, 0-D/1-D skipped),
        one array, or a mapping ``name -> array`` (NumPy arrays or torch tensors; for a
        torch module see :func:`analyze_model`).
    method, margin, model, solver, min_dim, heavy_tail, n_threads
        As in :func:`analyze_matrix` (layers below ``min_dim`` are listed with
        ``model="none"`` and a ``note``, not dropped).
    layers : sequence of str, optional
        Only these layer names (default: every 2-D layer).
    progress : bool or callable
        True prints ``[i/total] name`` on stderr before each layer; a callable
        ``f(i, total, name)`` is called instead.

    Returns
    -------
    WeightsReport

    Raises
    ------
    WeightsFileError
        The file is missing, unreadable, has no 2-D tensor, or a layer holds NaN/inf.
    """
    method, margin, model, solver = _check_common(method, margin, model, solver)
    min_dim = check_int("min_dim", min_dim, min_value=2)
    heavy_tail = check_bool("heavy_tail", heavy_tail)
    show = _progress_fn(progress)
    t0 = time.perf_counter()
    wf = _as_weights_file(source)
    names = _select(wf, layers)
    out = []
    for i, nm in enumerate(names, 1):
        if show is not None:
            show(i, len(names), nm)
        mat = wf.matrix(nm)
        if not np.all(np.isfinite(mat)):
            raise WeightsFileError(f"layer {nm!r} of {wf.source} contains NaN or inf weights")
        try:
            _check_scale(nm, np.asarray(mat))
        except ValueError as exc:
            raise WeightsFileError(f"{exc} (in {wf.source})") from None
        mdl = model
        if mdl == "wigner" and mat.shape[0] != mat.shape[1]:
            mdl = "mp"
        rec = analyze_matrix(mat, name=nm, method=method, margin=margin, model=mdl,
                             solver=solver, min_dim=min_dim, heavy_tail=heavy_tail,
                             n_threads=n_threads)
        rec.shape = tuple(wf.tensors[nm].shape)
        out.append(rec)
    return WeightsReport(source=wf.source, layers=out, skipped=list(wf.skipped), method=method,
                         margin=margin, time=time.perf_counter() - t0)


def _is_torch_module(obj: Any) -> bool:
    """True for a ``torch.nn.Module`` (checked without importing torch for other objects)."""
    if not any(cls.__module__.startswith("torch") for cls in type(obj).__mro__):
        return False
    import torch

    return isinstance(obj, torch.nn.Module)


def analyze_model(model: Any, /, **kwargs: Any) -> WeightsReport:
    """:func:`analyze_weights` of an in-memory model.

    Parameters
    ----------
    model : torch.nn.Module or mapping
        A PyTorch module (its ``state_dict()``: parameters and buffers, detached and
        copied to CPU NumPy; float16/bfloat16 as float32), or a mapping ``name -> array``
        (NumPy arrays or torch tensors).  PyTorch is imported only when given a torch
        object.  Which tensors become layers is as for files (2-D as stored, ``nn.Linear``
        is ``(out, in)``; conv kernels as ``(out, in * prod(k))``; 0-D/1-D and integer
        tensors listed as skipped).
    **kwargs
        Any keyword of :func:`analyze_weights` (``method``, ``margin``, ``model``,
        ``solver``, ``layers``, ``min_dim``, ``heavy_tail``, ``n_threads``, ``progress``).

    Returns
    -------
    WeightsReport
        ``source`` is ``"<ClassName>"`` for a module, ``"<memory>"`` for a mapping.

    Raises
    ------
    TypeError
        ``model`` is neither a torch module nor a mapping (or a value is not array-like).
    WeightsFileError
        No 2-D floating-point tensor, or a layer holds NaN/inf.
    """
    if _is_torch_module(model):
        state = model.state_dict()
        wf = from_mapping(state, source=f"<{type(model).__name__}>")
    elif isinstance(model, Mapping):
        wf = from_mapping(model)
    else:
        raise TypeError("model must be a torch.nn.Module or a mapping of name to array "
                        f"(use analyze_weights for files and arrays), got "
                        f"{type(model).__name__}")
    return analyze_weights(wf, **kwargs)


def _select(wf: WeightsFile, layers: Sequence[str] | None) -> list[str]:
    if layers is None:
        return list(wf.layers)
    if isinstance(layers, str):
        raise TypeError("layers must be a sequence of layer names, not a str")
    unknown = [nm for nm in layers if nm not in wf.layers]
    if unknown:
        raise ValueError(f"layers: unknown or non-2-D layer(s) {unknown[:5]}; "
                         f"available: {wf.layers[:10]}")
    return list(layers)


def _warmup() -> None:
    """Run the analysis on tiny inputs (loads the solver modules and their kernels)."""
    x = np.cos(np.arange(48 * 64, dtype=np.float64) * 0.7).reshape(48, 64)
    analyze_matrix(x, solver="svd")
    analyze_matrix(x[:, :48], solver="svd")
    analyze_matrix(x, solver="lanczos")
