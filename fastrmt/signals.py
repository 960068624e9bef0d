"""The signal S of W = X/sqrt(n) + S, built from a spectrum.

``S = Q diag(eigenvalues) Q.T`` with ``eigenvalues`` = the *bulk* (n - r deterministic
values) followed by the r *spikes*, and Q an orthogonal eigenbasis.

Bulk eigenvalues are deterministic quantiles of the chosen law: with m = n - r bulk
values, value k (k = 1, ..., m) is ``F^{-1}((k - 1/2) / m)``, F the law's distribution
function, in increasing order.  Their empirical measure tends to the law as m grows, and
theory (``fastrmt`` Phi / free convolution) and simulation can use exactly the numbers
returned in :attr:`Signal.eigenvalues`.

Bulk laws and their parameters (``bulk_params`` dict; defaults in brackets):

====================  ==============================================================
``"uniform"``         uniform on [a, b]: ``a`` [-1.0] < ``b`` [1.0]
``"semicircle"``      semicircle on [center - radius, center + radius]:
                      ``center`` [0.0], ``radius`` [1.0] > 0 (variance radius**2/4)
``"marchenko_pastur"`` Marchenko-Pastur law of ratio ``ratio`` [0.5] in (0, 1] and
                      mean ``scale`` [1.0] > 0, on [scale (1 - sqrt(ratio))**2,
                      scale (1 + sqrt(ratio))**2]; quantiles by inverting the
                      distribution function computed on a 2**17-point grid
                      (accurate to about 1e-9 relative)
``"two_point"``       the two values ``low`` [-1.0] <= ``high`` [1.0] with mass
                      ``weight`` [0.5] in [0, 1] on ``high``
array of m values     the given bulk eigenvalues, used in the given order
====================  ==============================================================

Eigenbasis (``basis``):

* ``"diagonal"``: Q = I (S is diagonal; the spikes' eigenvectors are the last r
  coordinate vectors — localized).
* ``"haar"``: Q Haar-distributed on O(n): QR of an n x n standard Gaussian matrix whose
  entries come from the Philox design on stream ``STREAM_BASIS``, with the columns'
  signs fixed so that diag(R) > 0 (Mezzadri 2007).  Dense: n*n float64 values, the
  product costs O(n**2 b); refused when it would not fit in memory.
* ``"fast"``: Q = C D_3 C D_2 C D_1, C the orthonormal DCT-II (``scipy.fft.dct(...,
  norm="ortho")``) and D_k diagonal +-1 signs from the Philox design on stream
  ``STREAM_SIGNAL`` (row k of a Rademacher matrix).  Delocalized (every column has
  entries of size about 1/sqrt(n)), exactly orthogonal up to rounding, applied in
  O(n log n) per vector with O(n) stored values.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import scipy.fft

from ._kernels import _basis, _philox
from ._random import STREAM_BASIS, STREAM_SIGNAL, Key, SeedLike, as_key
from ._threads import thread_limit
from ._validation import check_array, check_choice, check_int, check_memory, check_real
from .packed import _BlasOneThread

__all__ = ["Signal", "make_signal", "bulk_quantiles", "BULK_LAWS", "BASES"]

BULK_LAWS = ("uniform", "semicircle", "marchenko_pastur", "two_point")
BASES = ("diagonal", "haar", "fast")
FAST_ROUNDS = 3

_DEFAULTS: dict[str, dict[str, float]] = {
    "uniform": {"a": -1.0, "b": 1.0},
    "semicircle": {"center": 0.0, "radius": 1.0},
    "marchenko_pastur": {"ratio": 0.5, "scale": 1.0},
    "two_point": {"low": -1.0, "high": 1.0, "weight": 0.5},
}


# --------------------------------------------------------------------------- quantiles

def _levels(m: int) -> np.ndarray:
    return (np.arange(1, m + 1, dtype=np.float64) - 0.5) / m


def _semicircle_phi(q: np.ndarray) -> np.ndarray:
    """phi in [0, pi] with (phi - sin(phi) cos(phi)) / pi = q, by bisection (exact to rounding)."""
    lo = np.zeros_like(q)
    hi = np.full_like(q, math.pi)
    for _ in range(64):
        mid = 0.5 * (lo + hi)
        f = (mid - np.sin(mid) * np.cos(mid)) / math.pi
        below = f < q
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def _mp_quantiles(q: np.ndarray, ratio: float, scale: float) -> np.ndarray:
    a = scale * (1.0 - math.sqrt(ratio)) ** 2
    b = scale * (1.0 + math.sqrt(ratio)) ** 2
    h = 0.5 * (b - a)
    phi = np.linspace(0.0, math.pi, 2**17 + 1)
    x = a + h * (1.0 - np.cos(phi))
    with np.errstate(divide="ignore", invalid="ignore"):
        g = h * h * np.sin(phi) ** 2 / (2.0 * math.pi * ratio * scale * x)
    if a == 0.0:  # ratio == 1: sin^2/x -> finite limit at phi = 0
        g[0] = 2.0 * h / (2.0 * math.pi * scale)
    cdf = np.concatenate(([0.0], np.cumsum(0.5 * (g[1:] + g[:-1]) * np.diff(phi))))
    cdf /= cdf[-1]
    return a + h * (1.0 - np.cos(np.interp(q, cdf, phi)))


def _bulk_params(bulk: str, params: Mapping[str, Any] | None) -> dict[str, float]:
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise TypeError(f"bulk_params must be a dict or None, got {type(params).__name__}")
    defaults = _DEFAULTS[bulk]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(f"bulk_params for bulk={bulk!r} accepts {sorted(defaults)}, "
                         f"got unknown key(s) {unknown}")
    out = {k: check_real(f"bulk_params[{k!r}]", params.get(k, v)) for k, v in defaults.items()}
    if bulk == "uniform" and not out["a"] < out["b"]:
        raise ValueError(f"bulk_params for 'uniform' needs a < b, got a={out['a']}, b={out['b']}")
    if bulk == "semicircle" and not out["radius"] > 0:
        raise ValueError(f"bulk_params['radius'] must be > 0, got {out['radius']}")
    if bulk == "marchenko_pastur":
        if not 0.0 < out["ratio"] <= 1.0:
            raise ValueError(f"bulk_params['ratio'] must be in (0, 1], got {out['ratio']}")
        if not out["scale"] > 0:
            raise ValueError(f"bulk_params['scale'] must be > 0, got {out['scale']}")
    if bulk == "two_point":
        if not out["low"] <= out["high"]:
            raise ValueError(f"bulk_params for 'two_point' needs low <= high, "
                             f"got low={out['low']}, high={out['high']}")
        if not 0.0 <= out["weight"] <= 1.0:
            raise ValueError(f"bulk_params['weight'] must be in [0, 1], got {out['weight']}")
    return out


def bulk_quantiles(m: int, bulk: str = "uniform",
                   bulk_params: Mapping[str, Any] | None = None) -> np.ndarray:
    """The m deterministic bulk eigenvalues ``F^{-1}((k - 1/2)/m)``, k = 1..m, increasing.

    Parameters
    ----------
    m : int
        Number of values (>= 0).
    bulk : {"uniform", "semicircle", "marchenko_pastur", "two_point"}
        The law (module docstring).
    bulk_params : dict, optional
        The law's parameters (module docstring); missing keys take their defaults.

    Returns
    -------
    ndarray of float64, shape (m,)
    """
    m = check_int("m", m, min_value=0)
    bulk = check_choice("bulk", bulk, BULK_LAWS)
    p = _bulk_params(bulk, bulk_params)
    q = _levels(m)
    if bulk == "uniform":
        return p["a"] + (p["b"] - p["a"]) * q
    if bulk == "semicircle":
        return p["center"] - p["radius"] * np.cos(_semicircle_phi(q))
    if bulk == "marchenko_pastur":
        return _mp_quantiles(q, p["ratio"], p["scale"])
    return np.where(q < 1.0 - p["weight"], p["low"], p["high"])


# --------------------------------------------------------------------------- the signal

def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


class Signal:
    """The deterministic matrix S = Q diag(eigenvalues) Q.T (see :func:`make_signal`).

    Attributes
    ----------
    n : int
    eigenvalues : ndarray (n,)
        The full spectrum used: ``bulk_eigenvalues`` followed by ``spikes``; value k
        belongs to column k of the basis Q.
    bulk_eigenvalues : ndarray (n - r,)
    spikes : ndarray (r,)
    spike_indices : ndarray of int64 (r,)
        Columns of Q holding the spikes' eigenvectors (``n - r, ..., n - 1``).
    bulk : str
        Name of the bulk law, or ``"custom"`` for user-given values.
    bulk_params : dict
        The resolved parameters of the law (empty for ``"custom"``).
    basis : {"diagonal", "haar", "fast"}
    key : Key
        The resolved seed of the basis (pass ``key`` back as ``seed`` to rebuild it).
    """

    def __init__(self, n: int, bulk_eigenvalues: np.ndarray, spikes: np.ndarray, bulk: str,
                 bulk_params: dict, basis: str, key: Key, q: np.ndarray | None = None,
                 signs: np.ndarray | None = None) -> None:
        self.n = n
        self.bulk_eigenvalues = _readonly(bulk_eigenvalues)
        self.spikes = _readonly(spikes)
        self.eigenvalues = _readonly(np.concatenate([bulk_eigenvalues, spikes]))
        self.spike_indices = _readonly(np.arange(n - spikes.size, n, dtype=np.int64))
        self.bulk = bulk
        self.bulk_params = dict(bulk_params)
        self.basis = basis
        self.key = key
        self._q = None if q is None else np.ascontiguousarray(q)
        self._qt = None if q is None else np.ascontiguousarray(q.T)
        self._signs = signs

    def __repr__(self) -> str:
        return (f"Signal(n={self.n}, bulk={self.bulk!r}, spikes={self.spikes.size}, "
                f"basis={self.basis!r})")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    # -- basis --------------------------------------------------------------------
    def _block(self, V: Any, name: str = "V") -> tuple[np.ndarray, bool]:
        arr = check_array(name, V)
        if arr.ndim not in (1, 2) or arr.shape[0] != self.n:
            raise ValueError(f"{name} must have shape ({self.n},) or ({self.n}, b), "
                             f"got {arr.shape}")
        one = arr.ndim == 1
        return np.ascontiguousarray(arr.reshape(self.n, -1), dtype=np.float64), one

    def _q_apply(self, V: np.ndarray, nt: int, transpose: bool) -> np.ndarray:
        if self.basis == "diagonal":
            return V.copy()
        if self.basis == "haar":
            from ._ext import load

            m = self._qt if transpose else self._q
            out = np.empty((self.n, V.shape[1]))
            with _BlasOneThread():  # row tiles, one dgemm each: thread-count independent
                load("_dense").dense_matmat_f64(m, np.ascontiguousarray(V), out, 64, nt)
            return out
        signs = self._signs
        if transpose:  # Q.T = D_1 C.T D_2 C.T D_3 C.T
            out = V
            for r in range(FAST_ROUNDS - 1, -1, -1):
                out = scipy.fft.idct(out, type=2, norm="ortho", axis=0, workers=nt)
                out *= signs[r][:, None]
            return out
        out = V
        for r in range(FAST_ROUNDS):
            out = signs[r][:, None] * out
            out = scipy.fft.dct(out, type=2, norm="ortho", axis=0, workers=nt)
        return out

    def basis_apply(self, V: Any, *, transpose: bool = False,
                    n_threads: int | None = None) -> np.ndarray:
        """``Q @ V`` (or ``Q.T @ V``) for V of shape (n,) or (n, b); float64 result."""
        arr, one = self._block(V)
        with thread_limit(n_threads, blas=False) as nt:
            out = self._q_apply(arr, nt, bool(transpose))
        return out[:, 0] if one else out

    def apply(self, V: Any, *, n_threads: int | None = None) -> np.ndarray:
        """``S @ V`` for V of shape (n,) or (n, b); float64 result."""
        arr, one = self._block(V)
        out = self._apply(arr, n_threads)
        return out[:, 0] if one else out

    __matmul__ = apply

    def _apply(self, V: np.ndarray, n_threads: int | None) -> np.ndarray:
        """S @ V for a validated float64 (n, b) block."""
        lam = self.eigenvalues[:, None]
        if self.basis == "diagonal":
            return lam * V
        with thread_limit(n_threads, blas=False) as nt:
            y = self._q_apply(V, nt, True)
            y *= lam
            return self._q_apply(y, nt, False)

    def eigenvectors(self, indices: Any) -> np.ndarray:
        """Columns ``indices`` of the basis Q, shape (n, len(indices)), float64."""
        idx = np.atleast_1d(np.asarray(indices))
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"indices must be a 1-D array of integers, got {indices!r}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise ValueError(f"indices must be in [0, {self.n - 1}], got {indices!r}")
        if self.basis == "haar":
            return self._q[:, idx].copy()
        e = np.zeros((self.n, idx.size))
        e[idx, np.arange(idx.size)] = 1.0
        return self._q_apply(e, 1, False) if self.basis == "fast" else e

    def spike_vectors(self) -> np.ndarray:
        """The spikes' eigenvectors: columns ``spike_indices`` of Q, shape (n, r)."""
        return self.eigenvectors(self.spike_indices)

    def to_dense(self) -> np.ndarray:
        """S as a dense (n, n) float64 array (refused when it would not fit)."""
        n = self.n
        check_memory(f"a dense {n} x {n} float64 signal matrix", 2 * n * n * 8)
        if self.basis == "diagonal":
            return np.diag(self.eigenvalues)
        q = self._q if self.basis == "haar" else self._q_apply(np.eye(n), 1, False)
        return (q * self.eigenvalues) @ q.T


def make_signal(n: int, *, bulk: str | Any = "uniform",
                bulk_params: Mapping[str, Any] | None = None, spikes: Any = None,
                basis: str = "diagonal", seed: SeedLike = None,
                n_threads: int | None = None) -> Signal:
    """Build the signal S from a bulk law, spikes and an eigenbasis.

    Parameters
    ----------
    n : int
        Matrix order (>= 1).
    bulk : str or array_like
        ``"uniform"``, ``"semicircle"``, ``"marchenko_pastur"``, ``"two_point"`` (its n - r
        eigenvalues are the quantiles ``F^{-1}((k - 1/2)/(n - r))``), or an array of the
        n - r bulk eigenvalues (used in the given order).
    bulk_params : dict, optional
        Parameters of the bulk law (module docstring): ``{"a", "b"}`` (uniform),
        ``{"center", "radius"}`` (semicircle), ``{"ratio", "scale"}`` (Marchenko-Pastur),
        ``{"low", "high", "weight"}`` (two-point).  Missing keys take their defaults.
    spikes : array_like, optional
        The r spike eigenvalues (1-D), appended after the bulk.
    basis : {"diagonal", "haar", "fast"}
        The eigenbasis Q (module docstring).
    seed : None, int, SeedSequence, Generator or Key
        Seeds the random basis ("haar", "fast"); ignored by "diagonal" but still recorded.
    n_threads : None or int
        Threads used to build the basis.  Never changes results.

    Returns
    -------
    Signal

    Examples
    --------
    >>> from fastrmt.signals import make_signal
    >>> s = make_signal(1000, bulk="uniform", bulk_params={"a": 0.0, "b": 1.0},
    ...                 spikes=[3.0], basis="fast", seed=1)
    >>> s.eigenvalues[-1]
    3.0
    """
    n = check_int("n", n, min_value=1)
    basis = check_choice("basis", basis, BASES)
    if spikes is None:
        spk = np.zeros(0)
    else:
        spk = check_array("spikes", spikes)
        if spk.ndim != 1:
            raise ValueError(f"spikes must be 1-D, got shape {spk.shape}")
        if spk.size > n:
            raise ValueError(f"spikes must hold at most n={n} values, got {spk.size}")
    m = n - spk.size
    if isinstance(bulk, str):
        bulk = check_choice("bulk", bulk, BULK_LAWS)
        params = _bulk_params(bulk, bulk_params)
        values = bulk_quantiles(m, bulk, params)
        name = bulk
    else:
        if bulk_params is not None:
            raise ValueError("bulk_params is only used with a named bulk law, "
                             "got bulk_params with an array bulk")
        values = check_array("bulk", bulk)
        if values.ndim != 1 or values.size != m:
            raise ValueError(f"bulk must be 1-D with n - len(spikes) = {m} values, "
                             f"got shape {values.shape}")
        params, name = {}, "custom"
    key = as_key(seed)
    q = signs = None
    if basis == "haar":
        check_memory(f"a Haar basis of order {n} (QR of an {n} x {n} float64 matrix)",
                     4 * n * n * 8, hint="use basis='fast' for large n")
        g = np.empty((n, n))
        with thread_limit(n_threads, blas=False):
            _basis.fill_rows(g, STREAM_BASIS, key.k0, key.k1, _philox.GAUSSIAN)
        with _BlasOneThread():  # LAPACK on one thread: the same Q for any n_threads
            qm, r = np.linalg.qr(g)
            del g
            d = np.sign(np.diag(r))
            d[d == 0] = 1.0
            qm *= d
        q = qm
    elif basis == "fast":
        signs = np.empty((FAST_ROUNDS, n))
        with thread_limit(n_threads):
            _basis.fill_rows(signs, STREAM_SIGNAL, key.k0, key.k1, _philox.RADEMACHER)
    return Signal(n, np.asarray(values, dtype=np.float64), spk.astype(np.float64), name,
                  params, basis, key, q, signs)


def _warmup() -> None:
    """Compile the basis kernels on tiny inputs."""
    for basis in BASES:
        make_signal(4, spikes=[2.0], basis=basis, seed=0).apply(np.ones((4, 2)))
