"""Spectral measures nu: the law of the eigenvalues of the signal S.

Every measure supplies its Stieltjes transform ``g(z) = int dnu(x) / (z - x)`` (note the
sign: ``g ~ 1/z`` at infinity) and the real "moments" ``int dnu(x) / (u - x)**k``
(k = 1, 2, 3) exactly, for real ``u`` outside its support, in closed form where one
exists and by O(#atoms) sums otherwise.  Inside the support those are NaN.

=====================  ====================================================================
``Atoms(values, w)``   discrete: atoms ``values`` with weights ``w`` (default 1/k each); the
                       empirical spectrum of S is ``Atoms(eigvalsh(S))`` (the finite-n law)
``TwoPoint(a, b, p)``  ``p delta_a + (1 - p) delta_b`` (an :class:`Atoms`)
``Uniform(a, b)``      uniform on [a, b]
``Semicircle(c, v)``   semicircle of *variance* ``v`` centred at ``c``: support
                       [c - 2 sqrt(v), c + 2 sqrt(v)]
``MarchenkoPastur``    ``MarchenkoPastur(ratio, scale)``: the limit law of ``scale * Y Y^T / m``
                       (Y n x m standard, ratio = n/m); support
                       ``scale * [(1 - sqrt(ratio))**2, (1 + sqrt(ratio))**2]``, plus an atom
                       of mass ``1 - 1/ratio`` at 0 when ratio > 1; mean ``scale``
``Mixture([...])``     ``sum_i w_i nu_i`` from ``[(w_i, nu_i), ...]`` (weights normalised)
=====================  ====================================================================

For the compiled kernels a measure is flattened by :meth:`Measure.data` into a
:class:`MeasureData`: the continuous components as (kind code, two parameters,
weight) and all atoms merged, sorted, with their weights.
"""
from __future__ import annotations

import abc

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from ._kernels import _freeprob as _k
from ._validation import _show, check_array, check_points, check_real

__all__ = [
    "Measure",
    "Atoms",
    "TwoPoint",
    "Uniform",
    "Semicircle",
    "MarchenkoPastur",
    "Mixture",
    "MeasureData",
    "as_measure",
    "KIND_UNIFORM",
    "KIND_SEMICIRCLE",
    "KIND_MP",
]

KIND_UNIFORM = 1
KIND_SEMICIRCLE = 2
KIND_MP = 3


@dataclass(frozen=True)
class MeasureData:
    """The compact numeric form of a measure consumed by the Numba kernels.

    Attributes
    ----------
    kinds : int64 (m,)
        Kind code of each continuous component (KIND_UNIFORM, KIND_SEMICIRCLE, KIND_MP).
    params : float64 (m, 2)
        Its two parameters: (a, b) for uniform, (center, variance) for the semicircle,
        (ratio, scale) for Marchenko-Pastur.
    cweights : float64 (m,)
        Its mixture weight.
    atoms, aweights : float64 (k,)
        All atoms, sorted increasingly (equal values merged), and their weights.
    comp_lo, comp_hi, comp_mass : float64 (c,)
        The connected components of the support, sorted, with their mass (an atom is a
        component with lo == hi).
    """

    kinds: np.ndarray
    params: np.ndarray
    cweights: np.ndarray
    atoms: np.ndarray
    aweights: np.ndarray
    comp_lo: np.ndarray
    comp_hi: np.ndarray
    comp_mass: np.ndarray

    def args(self) -> tuple:
        """The measure part of every kernel's argument list (with the block expansions)."""
        return (self.kinds, self.params, self.cweights, self.atoms, self.aweights) + self.fmm()

    def fmm(self) -> tuple:
        """Block centres, radii and moments of the atoms for the far-field expansions of
        the kernels (empty below 4 blocks of atoms, where plain sums are as fast); cached."""
        cached = self.__dict__.get("_fmm_cache")
        if cached is None:
            nb = self.atoms.size // _k.FMM_BLOCK
            if nb < 4:
                cached = (np.empty(0), np.empty(0), np.empty((0, _k.FMM_P)))
            else:
                nb = -(-self.atoms.size // _k.FMM_BLOCK)
                c, r = np.empty(nb), np.empty(nb)
                m = np.empty((nb, _k.FMM_P))
                _k.block_moments(self.atoms, self.aweights, c, r, m)
                cached = (c, r, m)
            object.__setattr__(self, "_fmm_cache", cached)
        return cached

    @property
    def scale(self) -> float:
        """A length scale of the measure (spread of its support, at least 1e-300)."""
        lo, hi = float(self.comp_lo[0]), float(self.comp_hi[-1])
        return max(hi - lo, abs(lo), abs(hi), 1e-300)


class Measure(abc.ABC):
    """Base class of the spectral measures (a probability measure on the real line)."""

    # --- to be supplied by subclasses ----------------------------------------------
    @abc.abstractmethod
    def _components(self) -> list[tuple]:
        """[("atoms", values, weights) | (kind, p0, p1, weight), ...] with total weight 1."""

    def support(self) -> list[tuple[float, float]]:
        """The support as a sorted list of closed intervals ``(lo, hi)`` (atoms: lo == hi),
        overlapping pieces merged."""
        d = self.data()
        return [(float(a), float(b)) for a, b in zip(d.comp_lo, d.comp_hi)]

    @abc.abstractmethod
    def mean(self) -> float:
        """The mean of the measure."""

    @abc.abstractmethod
    def variance(self) -> float:
        """The variance of the measure."""

    # --- shared -----------------------------------------------------------------------
    def data(self) -> MeasureData:
        """Flatten to the compact form read by the kernels (cached)."""
        cached = getattr(self, "_data_cache", None)
        if cached is None:
            cached = _flatten(self._components())
            object.__setattr__(self, "_data_cache", cached)
        return cached

    def g(self, z: Any) -> np.ndarray:
        """Stieltjes transform ``int dnu(x) / (z - x)`` at real points outside the support
        (NaN inside; +-inf on an atom) or at complex points off the real axis."""
        arr = check_points("z", z, allow_complex=True)
        d = self.data()
        flat = np.ascontiguousarray(arr.ravel())
        if np.iscomplexobj(flat):
            if np.any(flat.imag == 0):
                raise ValueError("z must be off the real axis when complex (pass real points "
                                 "as a real array)")
            out = np.empty(flat.size, dtype=np.complex128)
            _k.g_complex_many(flat, *d.args(), out)
        else:
            m = np.empty((flat.size, 3))
            _k.moments_many(flat, *d.args(), m)
            out = m[:, 0].copy()
        return out.reshape(arr.shape)

    def moments(self, u: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(int dnu/(u-x), int dnu/(u-x)**2, int dnu/(u-x)**3)`` at real ``u`` outside the
        support (NaN inside)."""
        arr = check_points("u", u)
        d = self.data()
        flat = np.ascontiguousarray(arr.ravel())
        m = np.empty((flat.size, 3))
        _k.moments_many(flat, *d.args(), m)
        return tuple(m[:, j].reshape(arr.shape) for j in range(3))

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return f"{type(self).__name__}({self._repr_args()})"

    def _repr_args(self) -> str:  # pragma: no cover - cosmetic
        return ""


class Atoms(Measure):
    """Discrete measure ``sum_j w_j delta_{x_j}``.

    Parameters
    ----------
    values : array_like, 1-D, finite
        The atoms (any order, repeats allowed: they are merged).
    weights : array_like, optional
        Non-negative weights, same length, positive sum; normalised to sum 1.
        Default: ``1/k`` each (the empirical spectral measure).
    """

    def __init__(self, values: Any, weights: Any = None) -> None:
        v = check_array("values", values, ndim=1)
        if v.size == 0:
            raise ValueError("values must contain at least one atom, got an empty array")
        if weights is None:
            w = np.full(v.size, 1.0 / v.size)
        else:
            w = check_array("weights", weights, ndim=1)
            if w.shape != v.shape:
                raise ValueError(f"weights must have the shape of values {v.shape}, "
                                 f"got {w.shape}")
            if np.any(w < 0):
                raise ValueError("weights must be >= 0 (found a negative weight)")
            total = float(w.sum())
            if not total > 0:
                raise ValueError(f"weights must have a positive sum, got {total}")
            w = w / total
        order = np.argsort(v, kind="stable")
        v, w = v[order], w[order]
        keep = w > 0
        v, w = v[keep], w[keep]
        # merge equal values
        uniq, start = np.unique(v, return_index=True)
        if uniq.size != v.size:
            w = np.add.reduceat(w, start)
            v = uniq
        self.values = np.ascontiguousarray(v)
        self.weights = np.ascontiguousarray(w)
        # measures are immutable (their compact form and support structure are cached)
        self.values.flags.writeable = False
        self.weights.flags.writeable = False
        self._mean: float | None = None
        self._var: float | None = None

    def _components(self):
        return [("atoms", self.values, self.weights)]

    def mean(self) -> float:
        if self._mean is None:
            self._mean = float(np.sum(self.weights * self.values))
        return self._mean

    def variance(self) -> float:
        if self._var is None:
            m = self.mean()
            self._var = float(np.sum(self.weights * (self.values - m) ** 2))
        return self._var

    def _repr_args(self) -> str:  # pragma: no cover
        return f"<{self.values.size} atoms in [{self.values[0]:.4g}, {self.values[-1]:.4g}]>"


class TwoPoint(Atoms):
    """``p delta_a + (1 - p) delta_b`` with ``a != b`` and ``0 < p < 1``."""

    def __init__(self, a: float, b: float, p: float = 0.5) -> None:
        a = check_real("a", a)
        b = check_real("b", b)
        p = check_real("p", p, min_value=0.0, max_value=1.0, strict_min=True, strict_max=True)
        if a == b:
            raise ValueError(f"a and b must differ, got a = b = {a}")
        super().__init__([a, b], [p, 1.0 - p])
        self.a, self.b, self.p = a, b, p


class Uniform(Measure):
    """Uniform law on ``[a, b]``, ``a < b``."""

    def __init__(self, a: float = -1.0, b: float = 1.0) -> None:
        self.a = check_real("a", a)
        self.b = check_real("b", b)
        if not self.b > self.a:
            raise ValueError(f"b must be > a, got a={self.a}, b={self.b}")

    def _components(self):
        return [(KIND_UNIFORM, self.a, self.b, 1.0)]

    def mean(self) -> float:
        return 0.5 * (self.a + self.b)

    def variance(self) -> float:
        return (self.b - self.a) ** 2 / 12.0


class Semicircle(Measure):
    """Semicircle law with centre ``center`` and **variance** ``variance`` (not radius).

    Its support is ``[center - 2 sqrt(variance), center + 2 sqrt(variance)]``; the
    Wigner matrix ``X / sqrt(n)`` with entry variance sigma**2 has ``Semicircle(0, sigma**2)``.
    """

    def __init__(self, center: float = 0.0, variance: float = 1.0) -> None:
        self.center = check_real("center", center)
        self.var = check_real("variance", variance, min_value=0.0, strict_min=True)

    @property
    def radius(self) -> float:
        return 2.0 * math.sqrt(self.var)

    def _components(self):
        return [(KIND_SEMICIRCLE, self.center, self.var, 1.0)]

    def mean(self) -> float:
        return self.center

    def variance(self) -> float:
        return self.var


class MarchenkoPastur(Measure):
    """Marchenko-Pastur law with ``ratio`` = n/m > 0 and ``scale`` > 0 (its mean).

    The limit spectral law of ``scale * Y @ Y.T / m`` for an n x m matrix Y of i.i.d.
    standard entries.  Support ``scale * [(1 - sqrt(ratio))**2, (1 + sqrt(ratio))**2]``,
    plus an atom of mass ``1 - 1/ratio`` at 0 when ``ratio > 1``.  Variance
    ``ratio * scale**2``.
    """

    def __init__(self, ratio: float, scale: float = 1.0) -> None:
        self.ratio = check_real("ratio", ratio, min_value=0.0, strict_min=True)
        self.scale = check_real("scale", scale, min_value=0.0, strict_min=True)

    def _components(self):
        return [(KIND_MP, self.ratio, self.scale, 1.0)]

    def mean(self) -> float:
        return self.scale

    def variance(self) -> float:
        return self.ratio * self.scale ** 2


class Mixture(Measure):
    """``sum_i w_i nu_i`` from ``[(w_i, nu_i), ...]``; the weights are normalised to sum 1."""

    def __init__(self, parts: Iterable[tuple[float, Measure]]) -> None:
        if isinstance(parts, (str, bytes)) or not isinstance(parts, Iterable):
            raise TypeError(f"parts must be a list of (weight, measure) pairs, got {_show(parts)}")
        items = list(parts)
        if not items:
            raise ValueError("parts must contain at least one (weight, measure) pair, got none")
        ws, ms = [], []
        for i, item in enumerate(items):
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise TypeError(f"parts[{i}] must be a (weight, measure) pair, got {_show(item)}")
            w = check_real(f"parts[{i}] weight", item[0], min_value=0.0)
            if not isinstance(item[1], Measure):
                raise TypeError(f"parts[{i}] measure must be a fastrmt.measures.Measure, "
                                f"got {_show(item[1])}")
            ws.append(w)
            ms.append(item[1])
        total = sum(ws)
        if not total > 0:
            raise ValueError(f"parts weights must have a positive sum, got {total}")
        self.weights = [w / total for w in ws]
        self.parts = ms

    def _components(self):
        out = []
        for w, m in zip(self.weights, self.parts):
            if w == 0:
                continue
            for c in m._components():
                if c[0] == "atoms":
                    out.append(("atoms", c[1], c[2] * w))
                else:
                    out.append((c[0], c[1], c[2], c[3] * w))
        return out

    def mean(self) -> float:
        return float(sum(w * m.mean() for w, m in zip(self.weights, self.parts)))

    def variance(self) -> float:
        mu = self.mean()
        return float(sum(w * (m.variance() + (m.mean() - mu) ** 2)
                         for w, m in zip(self.weights, self.parts)))


def as_measure(name: str, nu: Any) -> Measure:
    """Refuse anything that is not a :class:`Measure` (TypeError naming the argument)."""
    if not isinstance(nu, Measure):
        raise TypeError(f"{name} must be a fastrmt.measures.Measure (Atoms, Uniform, "
                        f"Semicircle, MarchenkoPastur, TwoPoint, Mixture), got {_show(nu)}")
    return nu


def _cont_support(kind: int, p0: float, p1: float) -> list[tuple[float, float, float]]:
    """(lo, hi, fraction of the component's mass) pieces of a continuous component."""
    if kind == KIND_UNIFORM:
        return [(p0, p1, 1.0)]
    if kind == KIND_SEMICIRCLE:
        r = 2.0 * math.sqrt(p1)
        return [(p0 - r, p0 + r, 1.0)]
    c, s = p0, p1
    a, b = s * (1 - math.sqrt(c)) ** 2, s * (1 + math.sqrt(c)) ** 2
    if c > 1:
        return [(0.0, 0.0, 1.0 - 1.0 / c), (a, b, 1.0 / c)]
    return [(a, b, 1.0)]


def _flatten(components: Sequence[tuple]) -> MeasureData:
    if len(components) == 1 and components[0][0] == "atoms":
        # a single Atoms: already sorted with distinct values (Atoms.__init__)
        v = np.ascontiguousarray(components[0][1], dtype=np.float64)
        w = np.ascontiguousarray(components[0][2], dtype=np.float64)
        return MeasureData(kinds=np.empty(0, dtype=np.int64), params=np.empty((0, 2)),
                           cweights=np.empty(0), atoms=v, aweights=w, comp_lo=v, comp_hi=v,
                           comp_mass=w)
    kinds, params, cw, avals, aws = [], [], [], [], []
    pieces_lo, pieces_hi, pieces_m = [], [], []
    for c in components:
        if c[0] == "atoms":
            avals.append(np.asarray(c[1], dtype=np.float64))
            aws.append(np.asarray(c[2], dtype=np.float64))
        else:
            kinds.append(c[0])
            params.append((c[1], c[2]))
            cw.append(c[3])
            for lo, hi, frac in _cont_support(c[0], c[1], c[2]):
                pieces_lo.append(lo)
                pieces_hi.append(hi)
                pieces_m.append(frac * c[3])
    if avals:
        v = np.concatenate(avals)
        w = np.concatenate(aws)
        order = np.argsort(v, kind="stable")
        v, w = v[order], w[order]
        uniq, start = np.unique(v, return_index=True)
        if uniq.size != v.size:
            w = np.add.reduceat(w, start)
            v = uniq
    else:
        v = np.empty(0)
        w = np.empty(0)
    lo = np.concatenate([np.asarray(pieces_lo, dtype=np.float64), v])
    hi = np.concatenate([np.asarray(pieces_hi, dtype=np.float64), v])
    ms = np.concatenate([np.asarray(pieces_m, dtype=np.float64), w])
    order = np.argsort(lo, kind="stable")
    lo, hi, ms = lo[order], hi[order], ms[order]
    # merge overlapping pieces into connected components
    if lo.size > 1:
        run_hi = np.maximum.accumulate(hi)
        new = np.empty(lo.size, dtype=bool)
        new[0] = True
        new[1:] = lo[1:] > run_hi[:-1]
        starts = np.flatnonzero(new)
        ends = np.append(starts[1:], lo.size) - 1
        lo_m = lo[starts]
        hi_m = run_hi[ends]
        ms_m = np.add.reduceat(ms, starts)
        lo, hi, ms = lo_m, hi_m, ms_m
    return MeasureData(
        kinds=np.ascontiguousarray(np.asarray(kinds, dtype=np.int64)),
        params=np.ascontiguousarray(np.asarray(params, dtype=np.float64).reshape(-1, 2)),
        cweights=np.ascontiguousarray(np.asarray(cw, dtype=np.float64)),
        atoms=np.ascontiguousarray(v),
        aweights=np.ascontiguousarray(w),
        comp_lo=np.ascontiguousarray(lo),
        comp_hi=np.ascontiguousarray(hi),
        comp_mass=np.ascontiguousarray(ms),
    )
