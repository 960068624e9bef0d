"""Slow, obvious versions of :mod:`fastrmt.heavytail` (textbook formulas, Python loops)."""
from __future__ import annotations

import math

import numpy as np


def fit_power_law_ref(x) -> tuple[float, float, float, int]:
    """(alpha, xmin, ks, n_tail): a Python loop over every candidate xmin.

    For each candidate (every value but the largest, ascending): the continuous MLE
    ``1 + n / sum ln(x_j / xmin)`` and the KS distance
    ``max_k |1 - (x_k / xmin)^(1 - alpha) - k / n|`` over the tail; first smallest wins.
    """
    x = sorted(float(v) for v in x)
    best = (math.nan, math.nan, 1.0, 0)
    for i in range(len(x) - 1):
        xmin = x[i]
        tail = x[i:]
        n = len(tail)
        s = sum(math.log(v / xmin) for v in tail)
        if s <= 0:
            continue
        alpha = 1.0 + n / s
        ks = max(abs(1.0 - (tail[k] / xmin) ** (1.0 - alpha) - k / n) for k in range(n))
        if ks < best[2]:
            best = (alpha, xmin, ks, n)
    return best


def heavy_tail_ref(W: np.ndarray) -> dict[str, float]:
    """WeightWatcher's metrics of W from numpy's SVD and norms."""
    W = np.asarray(W, dtype=np.float64)
    s = np.linalg.svd(W, compute_uv=False)
    lam = s ** 2
    lam_max = np.linalg.norm(W, 2) ** 2
    alpha, xmin, ks, n_tail = fit_power_law_ref(lam[lam > 1e-10 * lam.max()])
    return {"alpha": alpha, "alpha_xmin": xmin, "alpha_ks": ks, "alpha_n_tail": n_tail,
            "alpha_weighted": alpha * math.log10(lam_max),
            "stable_rank": np.linalg.norm(W, "fro") ** 2 / lam_max,
            "log_spectral_norm": math.log10(lam_max)}


def pareto(n: int, alpha: float, seed: int, xmin: float = 1.0) -> np.ndarray:
    """n samples of the density ``(alpha - 1) xmin^(alpha-1) x^(-alpha)`` on [xmin, inf)."""
    u = np.random.default_rng(seed).uniform(size=n)
    return xmin * (1.0 - u) ** (-1.0 / (alpha - 1.0))


def heavy_matrix(n: int, m: int, df: float, seed: int) -> np.ndarray:
    """An n x m matrix of i.i.d. Student-t(df) entries (heavy-tailed ESD for small df)."""
    return np.random.default_rng(seed).standard_t(df, size=(n, m))
