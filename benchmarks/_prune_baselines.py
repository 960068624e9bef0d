"""Pruning methods compared by ``run_minilm_prune.py`` and ``run_digits_prune.py --curve``.

Every method is a function ``(weights, names, budget) -> (new_weights, params_after)``:

* ``weights``: dict name -> numpy array (a state dict); only the 2-D arrays ``names`` are
  changed, every other entry is passed through.  The result has the same keys, shapes
  and dtypes (a low-rank layer is stored as its dense reconstruction).
* ``budget``: the fraction of ``params_before = sum(n * m over names)`` that is kept.
  ``budget=None`` asks for the method's own choice, where it has one (``rmt``: the
  outliers of the noise bulk; ``gavish_donoho``: the threshold at t = 1).
* ``params_after``: parameters of the pruned layers, counted as stored in the cheapest
  form: a rank-r layer in factored form costs ``r * (n + m)``; a layer for which that is
  no cheaper than ``n * m`` stays dense (original weights, ``n * m``); for ``magnitude``
  the nonzeros.

Methods:

* :func:`uniform_svd`: the same fraction f of ``min(n, m)`` kept in every layer (truncated
  SVD, observed singular values), f found by bisection so that the total is at most the
  budget.
* :func:`magnitude`: global magnitude pruning: the ``budget * params_before`` entries of
  largest ``|w|`` over all the layers are kept, the others set to 0 (``per_layer=True``:
  the same fraction in each layer).
* :func:`gavish_donoho`: per layer, the singular values above ``t * omega(beta) *
  median(s)`` (Gavish & Donoho 2014, unknown noise level; ``omega`` from the exact
  Marchenko-Pastur median, ``beta = min/max`` aspect ratio).  t = 1 is their optimal hard
  threshold; for a budget, t is found by bisection.
* :func:`rmt_sparse`: ``fastrmt.prune_sparse(weights, layers=names, ratio=budget)``.
* :func:`rmt`: ``fastrmt.prune_weights(weights, layers=names)`` (the theory's own ranks)
  or ``fastrmt.prune_weights(weights, layers=names, ratio=budget)``; the parameters are
  those of its report (``report.params_after``).  Raises :class:`Unavailable` if the
  installed fastrmt has no ``ratio=`` yet.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_limits

__all__ = ["Unavailable", "uniform_svd", "magnitude", "gavish_donoho", "rmt", "rmt_sparse",
           "METHODS",
           "params_before", "gd_omega"]


class Unavailable(RuntimeError):
    """The method cannot run with the installed fastrmt (the message says why)."""


def params_before(weights: dict, names: list[str]) -> int:
    return int(sum(np.asarray(weights[k]).size for k in names))


def _target(weights: dict, names: list[str], budget: float) -> int:
    if not 0.0 <= budget:
        raise ValueError(f"budget must be >= 0, got {budget}")
    return int(round(budget * params_before(weights, names)))


# --------------------------------------------------------------------------- SVD helpers
_SVD_CACHE: dict[int, tuple] = {}


def _svd(w: np.ndarray):
    """Thin SVD in float64, cached per array object (the cache holds the array, so its
    id is not reused while cached).

    One BLAS thread: for these sizes (up to 1536 x 384) more threads hardly help, and
    they suffer badly from a busy machine and from torch's OpenMP workers (measured on
    the shared 2-core machine after an encoding: the 36 MiniLM layers in 2-3 s on one
    thread, 12-22 s on two).
    """
    hit = _SVD_CACHE.get(id(w))
    if hit is not None and hit[0] is w:
        return hit[1:]
    with threadpool_limits(1, user_api="blas"):
        U, s, Vt = np.linalg.svd(np.asarray(w, dtype=np.float64), full_matrices=False)
    if len(_SVD_CACHE) >= 256:
        _SVD_CACHE.clear()
    _SVD_CACHE[id(w)] = (w, U, s, Vt)
    return U, s, Vt


def _cost(r: int, n: int, m: int) -> int:
    return r * (n + m) if r * (n + m) < n * m else n * m


def _low_rank(weights: dict, names: list[str], ranks: dict[str, int]) -> tuple[dict, int]:
    out, total = dict(weights), 0
    for k in names:
        w = weights[k]
        n, m = w.shape
        r = ranks[k]
        total += _cost(r, n, m)
        if r * (n + m) < n * m:
            U, s, Vt = _svd(w)
            with threadpool_limits(1, user_api="blas"):       # as in _svd
                out[k] = ((U[:, :r] * s[:r]) @ Vt[:r]).astype(w.dtype, copy=False)
    return out, total


# --------------------------------------------------------------------------- uniform SVD
def uniform_svd(weights: dict, names: list[str], budget: float) -> tuple[dict, int]:
    """Rank ``floor(f * min(n, m))`` in every layer, f the largest fraction whose total
    cost is at most ``budget * params_before`` (bisection on f)."""
    target = _target(weights, names, budget)
    shapes = {k: weights[k].shape for k in names}

    def ranks(f):
        return {k: int(np.floor(f * min(n, m) + 1e-9)) for k, (n, m) in shapes.items()}

    def cost(f):
        r = ranks(f)
        return sum(_cost(r[k], n, m) for k, (n, m) in shapes.items())

    if cost(1.0) <= target:
        return dict(weights), cost(1.0)
    lo, hi = 0.0, 1.0                     # cost(lo) <= target < cost(hi)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if cost(mid) <= target else (lo, mid)
    return _low_rank(weights, names, ranks(lo))


# --------------------------------------------------------------------------- magnitude
def magnitude(weights: dict, names: list[str], budget: float, *,
              per_layer: bool = False) -> tuple[dict, int]:
    """Keep the ``budget * params_before`` largest ``|w|`` over all layers (or the same
    fraction of each layer with ``per_layer=True``), zero the rest."""
    out = dict(weights)
    for group in ([k] for k in names) if per_layer else [names]:
        flat = np.concatenate([np.abs(np.asarray(weights[k])).ravel() for k in group])
        k_keep = min(flat.size, _target(weights, group, budget))
        if k_keep == flat.size:
            continue
        keep = np.zeros(flat.size, dtype=bool)
        if k_keep > 0:
            keep[np.argpartition(flat, flat.size - k_keep)[flat.size - k_keep:]] = True
        start = 0
        for k in group:
            w = weights[k]
            mask = keep[start:start + w.size].reshape(w.shape)
            start += w.size
            out[k] = np.where(mask, w, np.zeros((), dtype=w.dtype))
    return out, sum(int(np.count_nonzero(out[k])) for k in names)


# --------------------------------------------------------------------------- Gavish-Donoho
@functools.lru_cache(maxsize=None)
def _mp_median(beta: float) -> float:
    """Median of the Marchenko-Pastur law with ratio beta <= 1 (unit variance)."""
    from scipy.integrate import quad
    from scipy.optimize import brentq

    a, b = (1 - np.sqrt(beta)) ** 2, (1 + np.sqrt(beta)) ** 2

    def density(t):
        return np.sqrt(max((b - t) * (t - a), 0.0)) / (2 * np.pi * beta * t)

    def cdf(x):
        return quad(density, a, x, limit=200)[0]

    return brentq(lambda x: cdf(x) - 0.5, a + 1e-12, b)


@functools.lru_cache(maxsize=None)
def gd_omega(beta: float) -> float:
    """Gavish-Donoho omega(beta) = lambda*(beta) / sqrt(MP median(beta)) (exact; their
    cubic fit 0.56 b^3 - 0.95 b^2 + 1.82 b + 1.43 agrees within ~0.02)."""
    lam = np.sqrt(2 * (beta + 1) + 8 * beta / (beta + 1 + np.sqrt(beta ** 2 + 14 * beta + 1)))
    return float(lam / np.sqrt(_mp_median(beta)))


def gavish_donoho(weights: dict, names: list[str],
                  budget: float | None = None) -> tuple[dict, int]:
    """Singular values above ``t * omega(beta) * median(s)`` in each layer; t = 1 with
    ``budget=None``, else the smallest t whose total cost fits the budget."""
    info = {}
    for k in names:
        n, m = weights[k].shape
        _, s, _ = _svd(weights[k])
        info[k] = (s, gd_omega(min(n, m) / max(n, m)) * float(np.median(s)), n, m)

    def ranks(t):
        return {k: int(np.sum(s > t * tau)) for k, (s, tau, _, _) in info.items()}

    if budget is None:
        return _low_rank(weights, names, ranks(1.0))
    target = _target(weights, names, budget)

    def cost(t):
        r = ranks(t)
        return sum(_cost(r[k], n, m) for k, (_, _, n, m) in info.items())

    if cost(0.0) <= target:
        return dict(weights), cost(0.0)
    lo = 0.0                              # cost(lo) > target >= cost(hi)
    hi = max(s[0] / tau for s, tau, _, _ in info.values() if tau > 0) + 1.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if cost(mid) <= target else (mid, hi)
    return _low_rank(weights, names, ranks(hi))


# --------------------------------------------------------------------------- RMT
def rmt(weights: dict, names: list[str], budget: float | None = None,
        **kwargs) -> tuple[dict, int]:
    """``fastrmt.prune_weights`` on ``names``: its own ranks (``budget=None``) or
    ``ratio=budget``.  Extra keyword arguments are passed on."""
    import fastrmt

    if budget is not None:
        kwargs["ratio"] = budget
    try:
        tensors, report = fastrmt.prune_weights(weights, layers=list(names), **kwargs)
    except TypeError as exc:
        if "ratio" in str(exc):
            raise Unavailable(f"fastrmt.prune_weights does not take ratio= yet ({exc})") \
                from exc
        raise
    return tensors, int(report.params_after)


def rmt_sparse(weights: dict, names: list[str], budget: float, **kwargs) -> tuple[dict, int]:
    """``fastrmt.prune_sparse`` on ``names`` with ``ratio=budget``: magnitude pruning
    inside each layer, the layers' densities spread by their heavy-tail exponent alpha.
    Parameters = nonzeros, as for :func:`magnitude`."""
    import fastrmt

    tensors, report = fastrmt.prune_sparse(weights, layers=list(names), ratio=budget,
                                           **kwargs)
    return tensors, int(report.params_after)


METHODS: dict[str, Callable] = {"rmt": rmt, "rmt_sparse": rmt_sparse,
                                "uniform_svd": uniform_svd, "gavish_donoho": gavish_donoho,
                                "magnitude": magnitude}
"""The methods, in the order the scripts report them: the two RMT-based choices (low
rank by the estimated signal; sparse with densities by the heavy tail), then the three
baselines."""

OWN_CHOICE = {"rmt": "default call (own ranks)", "gavish_donoho": "t = 1"}
"""Methods with a budget of their own (``budget=None``) and what it is."""
