"""The signal S of W = X/sqrt(n) + S, built from a spectrum.

``S = Q diag(eigenvalues) Q.T`` with ``eigenvalues`` = the *bulk* (n - r deterministic
values) followed by the r *spikes*, and Q an orthogonal eigenbasis.

Bulk eigenvalues are deterministic quantiles of the chosen law nu (a
:class:`fastrmt.measures.Measure`): with m = n - r bulk values, value k (k = 1, ..., m) is
``nu.quantile((k - 1/2) / m)`` (the generalised inverse of the distribution function), in
increasing order.  Their empirical measure tends to nu as m grows, and theory (``fastrmt``
Phi / free convolution) and simulation can use exactly the numbers returned in
:attr:`Signal.eigenvalues`; :attr:`Signal.law` is nu.

``bulk`` is a measure, or a shortcut name mapped to one by :func:`bulk_law` with the
parameters of that measure (``bulk_params`` dict; defaults in brackets):

====================  ==============================================================
``"uniform"``         ``Uniform(a, b)``: uniform on [a, b], ``a`` [-1.0] < ``b`` [1.0]
``"semicircle"``      ``Semicircle(center, variance)``: ``center`` [0.0], ``variance``
                      [0.25] > 0, on [center - 2 sqrt(variance), center + 2 sqrt(variance)]
                      (the default is the semicircle of radius 1)
``"marchenko_pastur"`` ``MarchenkoPastur(ratio, scale)``: ``ratio`` [0.5] > 0, mean
                      ``scale`` [1.0] > 0, on [scale (1 - sqrt(ratio))**2,
                      scale (1 + sqrt(ratio))**2], plus an atom of mass 1 - 1/ratio at 0
                      when ratio > 1
``"two_point"``       ``TwoPoint(a, b, p)``: mass ``p`` [0.5] in [0, 1] on ``a`` [-1.0] and
                      1 - p on ``b`` [1.0]; a == b or p in {0, 1} gives a single atom
a Measure             its quantiles (no ``bulk_params``)
array of m values     the given bulk eigenvalues, used in the given order (``law`` is
                      ``Atoms(values)``)
====================  ==============================================================

The keys of earlier versions (``radius`` for the semicircle; ``low``, ``high``, ``weight``
with the mass on ``high`` for the two-point law) are refused with a message giving the
new spelling.

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

from typing import Any, Mapping

import numpy as np
import scipy.fft

from ._ext import load
from ._kernels import _basis, _philox
from ._random import STREAM_BASIS, STREAM_SIGNAL, Key, SeedLike, as_key
from ._threads import thread_limit
from ._validation import check_array, check_choice, check_int, check_memory, check_real
from .measures import Atoms, MarchenkoPastur, Measure, Semicircle, TwoPoint, Uniform
from ._products import _BlasOneThread

__all__ = ["Signal", "make_signal", "bulk_law", "bulk_quantiles", "BULK_LAWS", "BASES"]

BULK_LAWS = ("uniform", "semicircle", "marchenko_pastur", "two_point")
BASES = ("diagonal", "haar", "fast")
FAST_ROUNDS = 3

_DEFAULTS: dict[str, dict[str, float]] = {
    "uniform": {"a": -1.0, "b": 1.0},
    "semicircle": {"center": 0.0, "variance": 0.25},
    "marchenko_pastur": {"ratio": 0.5, "scale": 1.0},
    "two_point": {"a": -1.0, "b": 1.0, "p": 0.5},
}

# keys of earlier versions: refused with the new spelling
_OLD_KEYS: dict[str, dict[str, str]] = {
    "semicircle": {
        "radius": "the semicircle takes 'variance' (= radius**2/4), as "
                  "fastrmt.measures.Semicircle does",
    },
    "two_point": {
        key: "the two-point law takes 'a' (was 'low'), 'b' (was 'high') and 'p', the mass "
             "on 'a' (= 1 - weight), as fastrmt.measures.TwoPoint does"
        for key in ("low", "high", "weight")
    },
}


# --------------------------------------------------------------------------- the law

def _levels(m: int) -> np.ndarray:
    return (np.arange(1, m + 1, dtype=np.float64) - 0.5) / m


def _bulk_params(bulk: str, params: Mapping[str, Any] | None) -> dict[str, float]:
    """The checked parameters of the shortcut ``bulk``, defaults filled in."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise TypeError(f"bulk_params must be a dict or None, got {type(params).__name__}")
    defaults = _DEFAULTS[bulk]
    for key in params:
        hint = _OLD_KEYS.get(bulk, {}).get(key)
        if hint is not None:
            raise ValueError(f"bulk_params key {key!r} is not accepted: {hint}")
    unknown = sorted(set(params) - set(defaults), key=str)
    if unknown:
        raise ValueError(f"bulk_params for bulk={bulk!r} accepts {sorted(defaults)}, "
                         f"got unknown key(s) {unknown}")
    out = {k: check_real(f"bulk_params[{k!r}]", params.get(k, v)) for k, v in defaults.items()}
    if bulk == "uniform" and not out["a"] < out["b"]:
        raise ValueError(f"bulk_params for 'uniform' needs a < b, got a={out['a']}, b={out['b']}")
    if bulk == "semicircle":
        check_real("bulk_params['variance']", out["variance"], min_value=0.0, strict_min=True)
    if bulk == "marchenko_pastur":
        check_real("bulk_params['ratio']", out["ratio"], min_value=0.0, strict_min=True)
        check_real("bulk_params['scale']", out["scale"], min_value=0.0, strict_min=True)
    if bulk == "two_point":
        check_real("bulk_params['p']", out["p"], min_value=0.0, max_value=1.0)
    return out


def bulk_law(bulk: str | Measure, bulk_params: Mapping[str, Any] | None = None) -> Measure:
    """The law of the bulk: a shortcut name mapped to its :mod:`fastrmt.measures` measure.

    Parameters
    ----------
    bulk : {"uniform", "semicircle", "marchenko_pastur", "two_point"} or Measure
        A shortcut (module docstring), or a measure (returned as it is).
    bulk_params : dict, optional
        The shortcut's parameters, named as the measure's: ``{"a", "b"}`` (uniform),
        ``{"center", "variance"}`` (semicircle), ``{"ratio", "scale"}``
        (Marchenko-Pastur), ``{"a", "b", "p"}`` (two-point, p the mass on a).  Missing
        keys take their defaults.  Not allowed with a measure.

    Returns
    -------
    Measure
        ``Uniform(a, b)``, ``Semicircle(center, variance)``, ``MarchenkoPastur(ratio,
        scale)``, ``TwoPoint(a, b, p)`` (``Atoms([a])`` when a == b or p == 1,
        ``Atoms([b])`` when p == 0), or ``bulk`` itself.

    Raises
    ------
    TypeError
        ``bulk`` neither a string nor a measure; a parameter not a real number.
    ValueError
        Unknown shortcut, unknown or old key (the message gives the new spelling), or a
        parameter out of range.

    Examples
    --------
    >>> from fastrmt.signals import bulk_law
    >>> bulk_law("semicircle", {"variance": 4.0}).support()
    [(-4.0, 4.0)]
    """
    if isinstance(bulk, Measure):
        if bulk_params is not None:
            raise ValueError("bulk_params is only used with a named bulk law, "
                             "got bulk_params with a Measure bulk")
        return bulk
    if not isinstance(bulk, str):
        raise TypeError(f"bulk must be one of {BULK_LAWS} or a fastrmt.measures.Measure, "
                        f"got {type(bulk).__name__}")
    bulk = check_choice("bulk", bulk, BULK_LAWS)
    p = _bulk_params(bulk, bulk_params)
    if bulk == "uniform":
        return Uniform(p["a"], p["b"])
    if bulk == "semicircle":
        return Semicircle(p["center"], p["variance"])
    if bulk == "marchenko_pastur":
        return MarchenkoPastur(p["ratio"], p["scale"])
    if p["a"] == p["b"] or p["p"] == 1.0:
        return Atoms([p["a"]])
    if p["p"] == 0.0:
        return Atoms([p["b"]])
    return TwoPoint(p["a"], p["b"], p["p"])


def bulk_quantiles(m: int, bulk: str | Measure = "uniform",
                   bulk_params: Mapping[str, Any] | None = None) -> np.ndarray:
    """The m deterministic bulk eigenvalues ``nu.quantile((k - 1/2)/m)``, k = 1..m, increasing.

    Parameters
    ----------
    m : int
        Number of values (>= 0).
    bulk : {"uniform", "semicircle", "marchenko_pastur", "two_point"} or Measure
        The law nu (see :func:`bulk_law`).
    bulk_params : dict, optional
        The shortcut's parameters (:func:`bulk_law`); missing keys take their defaults.

    Returns
    -------
    ndarray of float64, shape (m,)
    """
    m = check_int("m", m, min_value=0)
    return bulk_law(bulk, bulk_params).quantile(_levels(m))


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
        Name of the bulk shortcut, ``"measure"`` for a measure given as ``bulk``, or
        ``"custom"`` for user-given values.
    bulk_params : dict
        The resolved parameters of the shortcut (empty otherwise).
    law : Measure or None
        The law of the bulk: the shortcut's measure (:func:`bulk_law`), the measure given,
        or ``Atoms(values)`` for user-given values (None when there are none, n == r).
    basis : {"diagonal", "haar", "fast"}
    key : Key
        The resolved seed of the basis (pass ``key`` back as ``seed`` to rebuild it).
    """

    def __init__(self, n: int, bulk_eigenvalues: np.ndarray, spikes: np.ndarray, bulk: str,
                 bulk_params: dict, basis: str, key: Key, q: np.ndarray | None = None,
                 signs: np.ndarray | None = None, law: Measure | None = None) -> None:
        self.n = n
        self.bulk_eigenvalues = _readonly(bulk_eigenvalues)
        self.spikes = _readonly(spikes)
        self.eigenvalues = _readonly(np.concatenate([bulk_eigenvalues, spikes]))
        self.spike_indices = _readonly(np.arange(n - spikes.size, n, dtype=np.int64))
        self.bulk = bulk
        self.bulk_params = dict(bulk_params)
        self.law = law
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
            m = self._qt if transpose else self._q
            out = np.empty((self.n, V.shape[1]))
            with _BlasOneThread():  # row tiles, one dgemm each: thread-count independent
                load("_dense").dense_matmat(m, np.ascontiguousarray(V), out, 64, nt)
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


def make_signal(n: int, *, bulk: str | Measure | Any = "uniform",
                bulk_params: Mapping[str, Any] | None = None, spikes: Any = None,
                basis: str = "diagonal", seed: SeedLike = None,
                n_threads: int | None = None) -> Signal:
    """Build the signal S from a bulk law, spikes and an eigenbasis.

    Parameters
    ----------
    n : int
        Matrix order (>= 1).
    bulk : str, Measure or array_like
        The law nu of the bulk: a :class:`fastrmt.measures.Measure` or one of the shortcuts
        ``"uniform"``, ``"semicircle"``, ``"marchenko_pastur"``, ``"two_point"``
        (:func:`bulk_law`); the n - r bulk eigenvalues are then
        ``nu.quantile((k - 1/2)/(n - r))``, k = 1..n - r.  Or an array of the n - r bulk
        eigenvalues (used in the given order).
    bulk_params : dict, optional
        Parameters of a shortcut, named as its measure's (module docstring):
        ``{"a", "b"}`` (uniform), ``{"center", "variance"}`` (semicircle),
        ``{"ratio", "scale"}`` (Marchenko-Pastur), ``{"a", "b", "p"}`` (two-point, p the
        mass on a).  Missing keys take their defaults.
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
        With ``law`` the measure of its bulk.

    Examples
    --------
    >>> from fastrmt.signals import make_signal
    >>> s = make_signal(1000, bulk="uniform", bulk_params={"a": 0.0, "b": 1.0},
    ...                 spikes=[3.0], basis="fast", seed=1)
    >>> float(s.eigenvalues[-1])
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
        law = bulk_law(bulk, params)
        name = bulk
    elif isinstance(bulk, Measure):
        law = bulk_law(bulk, bulk_params)
        params, name = {}, "measure"
    else:
        if bulk_params is not None:
            raise ValueError("bulk_params is only used with a named bulk law, "
                             "got bulk_params with an array bulk")
        values = check_array("bulk", bulk)
        if values.ndim != 1 or values.size != m:
            raise ValueError(f"bulk must be 1-D with n - len(spikes) = {m} values, "
                             f"got shape {values.shape}")
        params, name = {}, "custom"
        law = Atoms(values) if m else None
    if name != "custom":
        values = law.quantile(_levels(m))
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
                  params, basis, key, q, signs, law)


def _warmup() -> None:
    """Compile the basis kernels on tiny inputs."""
    for basis in BASES:
        make_signal(4, spikes=[2.0], basis=basis, seed=0).apply(np.ones((4, 2)))
