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

Every measure also carries its distribution: :meth:`Measure.cdf` (right-continuous,
``F(x) = nu((-inf, x])``), :meth:`Measure.pdf` (the density of the absolutely continuous
part: atoms are not in it) and :meth:`Measure.quantile` (the generalised inverse
``inf{x : F(x) >= q}``), vectorised over arrays of any shape, in closed form where one
exists (uniform, semicircle, Marchenko-Pastur distribution functions) and accurate to a
few ulps otherwise (quantiles by safeguarded Newton or bisection on the closed forms).

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

from ._kernels import _fmm
from ._validation import _show, check_array, check_points, check_probabilities, check_real

# Widest Uniform law: its variance (b - a)**2 / 12 and the Stieltjes transforms stay finite.
_MAX_WIDTH = 1e150

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
        """The measure as the kernels take it: one tuple ``(kinds, params, cweights, atoms,
        aweights, centres, radii, moments)``, the last three the atom blocks' far-field
        expansions (:meth:`fmm`)."""
        return (self.kinds, self.params, self.cweights, self.atoms, self.aweights) + self.fmm()

    def fmm(self) -> tuple:
        """Block centres, radii and moments of the atoms for the far-field expansions of
        the kernels (empty below 4 blocks of atoms, where plain sums are as fast); cached."""
        cached = self.__dict__.get("_fmm_cache")
        if cached is None:
            nb = self.atoms.size // _fmm.FMM_BLOCK
            if nb < 4:
                cached = (np.empty(0), np.empty(0), np.empty((0, _fmm.FMM_P)))
            else:
                nb = -(-self.atoms.size // _fmm.FMM_BLOCK)
                c, r = np.empty(nb), np.empty(nb)
                m = np.empty((nb, _fmm.FMM_P))
                _fmm.block_moments(self.atoms, self.aweights, c, r, m)
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
            _fmm.g_complex_many(flat, d.args(), out)
        else:
            m = np.empty((flat.size, 3))
            _fmm.moments_many(flat, d.args(), m)
            out = m[:, 0].copy()
        return out.reshape(arr.shape)

    def moments(self, u: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(int dnu/(u-x), int dnu/(u-x)**2, int dnu/(u-x)**3)`` at real ``u`` outside the
        support (NaN inside)."""
        arr = check_points("u", u)
        d = self.data()
        flat = np.ascontiguousarray(arr.ravel())
        m = np.empty((flat.size, 3))
        _fmm.moments_many(flat, d.args(), m)
        return tuple(m[:, j].reshape(arr.shape) for j in range(3))

    # --- the distribution ---------------------------------------------------------
    @abc.abstractmethod
    def _cdf(self, x: np.ndarray) -> np.ndarray:
        """F at validated float64 points (any shape)."""

    @abc.abstractmethod
    def _pdf(self, x: np.ndarray) -> np.ndarray:
        """Density of the absolutely continuous part at validated float64 points."""

    def _atoms(self) -> tuple[np.ndarray, np.ndarray]:
        """(values, weights) of the discrete part, values sorted (empty by default)."""
        return np.empty(0), np.empty(0)

    def _quantile(self, q: np.ndarray) -> np.ndarray:
        """inf{x : F(x) >= q} at validated probabilities, by bisection on F.

        F is monotone, so keeping ``F(lo) < q <= F(hi)`` while halving ``[lo, hi]`` down to
        adjacent floats (or 2**-200 of the support's width) finds the generalised inverse
        through flat parts (gaps: the left end) and jumps (atoms: the atom, snapped to
        exactly).  Subclasses with a closed form or a smooth one-parameter inverse
        override this.
        """
        sup = self.support()
        lo0, hi0 = sup[0][0], sup[-1][1]
        flat = q.ravel()
        out = np.full(flat.shape, hi0)
        f_lo0 = float(self._cdf(np.array(lo0)))
        at_lo = flat <= f_lo0
        out[at_lo] = lo0
        todo = np.flatnonzero(~at_lo & (flat <= float(self._cdf(np.array(hi0)))))
        if todo.size:
            qq = flat[todo]
            lo = np.full(todo.size, lo0)
            hi = np.full(todo.size, hi0)
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                live = (mid > lo) & (mid < hi)
                if not live.any():
                    break
                up = self._cdf(mid) >= qq
                hi = np.where(live & up, mid, hi)
                lo = np.where(live & ~up, mid, lo)
            res = hi
            av, _ = self._atoms()
            if av.size:  # an atom in (lo, hi] is where F jumps past q: return it exactly
                j = np.searchsorted(av, hi, side="right") - 1
                jj = np.maximum(j, 0)
                snap = (j >= 0) & (av[jj] > lo)
                res = np.where(snap, av[jj], hi)
            out[todo] = res
        return out.reshape(q.shape)

    def cdf(self, x: Any) -> np.ndarray:
        """Distribution function ``F(x) = nu((-inf, x])`` (right-continuous).

        Parameters
        ----------
        x : float or array_like of finite reals, any shape

        Returns
        -------
        ndarray of float64, the shape of ``x``, values in [0, 1]
        """
        arr = check_points("x", x)
        return np.clip(self._cdf(arr), 0.0, 1.0)

    def pdf(self, x: Any) -> np.ndarray:
        """Density of the absolutely continuous part of the measure at ``x``.

        Atoms are not part of it: the density is 0 at an atom (unless a continuous part
        covers it) and 0 everywhere for :class:`Atoms`.  Outside the support it is 0.

        Parameters
        ----------
        x : float or array_like of finite reals, any shape

        Returns
        -------
        ndarray of float64, the shape of ``x``
        """
        arr = check_points("x", x)
        return self._pdf(arr)

    def quantile(self, q: Any) -> np.ndarray:
        """The generalised inverse ``inf{x : F(x) >= q}`` of the distribution function.

        ``q = 0`` gives the lower end of the support (where the infimum over the whole
        line would be -inf), ``q = 1`` its upper end.  On an atom of mass w the quantile
        is the atom for a range of q of length w; across a gap of the support it jumps.

        Parameters
        ----------
        q : float or array_like of probabilities in [0, 1], any shape

        Returns
        -------
        ndarray of float64, the shape of ``q``, non-decreasing in ``q``

        Raises
        ------
        ValueError
            If a value of ``q`` is outside [0, 1] or not finite.
        """
        arr = check_probabilities("q", q)
        out = self._quantile(arr)
        if arr.size:  # the ends of the support exactly (not a rounding of them)
            sup = self.support()
            out = np.where(arr == 0.0, sup[0][0], np.where(arr == 1.0, sup[-1][1], out))
        return out

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
            top = float(w.max())
            if not top > 0:
                raise ValueError(f"weights must have a positive sum, got {float(w.sum())}")
            w = w / top              # first by the largest: the sum cannot overflow
            w = w / w.sum()
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

    def _cumulative(self) -> np.ndarray:
        cum = self.__dict__.get("_cum")
        if cum is None:
            cum = np.minimum(np.cumsum(self.weights), 1.0)
            cum[-1] = 1.0
            self._cum = cum
        return cum

    def _atoms(self):
        return self.values, self.weights

    def _cdf(self, x):
        idx = np.searchsorted(self.values, x, side="right")
        return np.where(idx > 0, self._cumulative()[np.maximum(idx - 1, 0)], 0.0)

    def _pdf(self, x):
        return np.zeros(np.shape(x))

    def _quantile(self, q):
        idx = np.searchsorted(self._cumulative(), q, side="left")
        return self.values[np.minimum(idx, self.values.size - 1)]

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

    def _repr_args(self) -> str:
        return f"a={self.a!r}, b={self.b!r}, p={self.p!r}"


class Uniform(Measure):
    """Uniform law on ``[a, b]``, ``a < b``."""

    def __init__(self, a: float = -1.0, b: float = 1.0) -> None:
        self.a = check_real("a", a)
        self.b = check_real("b", b)
        if not self.b > self.a:
            raise ValueError(f"b must be > a, got a={self.a}, b={self.b}")
        if not self.b - self.a <= _MAX_WIDTH:
            raise ValueError(f"b - a must be <= {_MAX_WIDTH:g} (its square, the variance "
                             f"scale, overflows beyond), got a={self.a}, b={self.b}")

    def _components(self):
        return [(KIND_UNIFORM, self.a, self.b, 1.0)]

    def _cdf(self, x):
        return np.clip((x - self.a) / (self.b - self.a), 0.0, 1.0)

    def _pdf(self, x):
        return np.where((x >= self.a) & (x <= self.b), 1.0 / (self.b - self.a), 0.0)

    def _quantile(self, q):
        return np.minimum(self.a + (self.b - self.a) * q, self.b)

    def mean(self) -> float:
        return 0.5 * (self.a + self.b)

    def variance(self) -> float:
        return (self.b - self.a) ** 2 / 12.0

    def _repr_args(self) -> str:
        return f"a={self.a!r}, b={self.b!r}"


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

    def _cdf(self, x):
        # F = 1/2 + (t sqrt(1 - t**2) + arcsin t) / pi, t = (x - center) / radius
        t = np.clip((x - self.center) / self.radius, -1.0, 1.0)
        return 0.5 + (t * np.sqrt(1.0 - t * t) + np.arcsin(t)) / math.pi

    def _pdf(self, x):
        t = (x - self.center) / self.radius
        return 2.0 / (math.pi * self.radius) * np.sqrt(np.maximum(1.0 - t * t, 0.0))

    def _quantile(self, q):
        # x = center - radius cos(phi) with (phi - sin(phi) cos(phi)) / pi = q
        phi = _invert_angle(lambda p: (p - 0.5 * np.sin(2.0 * p)) / math.pi,
                            lambda p: 2.0 * np.sin(p) ** 2 / math.pi, q, _EPS4)
        # - cos(phi) as sin(phi - pi/2): exact 0 at the median (cos(pi/2) rounds to 6e-17)
        return self.center + self.radius * np.sin(phi - 0.5 * math.pi)

    def mean(self) -> float:
        return self.center

    def variance(self) -> float:
        return self.var

    def _repr_args(self) -> str:
        return f"center={self.center!r}, variance={self.var!r}"


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

    @property
    def _edges(self) -> tuple[float, float]:
        r = math.sqrt(self.ratio)
        return self.scale * (1.0 - r) ** 2, self.scale * (1.0 + r) ** 2

    @property
    def _atom_mass(self) -> float:
        return 1.0 - 1.0 / self.ratio if self.ratio > 1.0 else 0.0

    def _atoms(self):
        if self.ratio > 1.0:
            return np.zeros(1), np.array([self._atom_mass])
        return np.empty(0), np.empty(0)

    def _cdf(self, x):
        c = self.ratio
        a, b = self._edges
        # x = scale (1 + c - 2 sqrt(c) cos(phi)), phi in [0, pi]:
        # tan(phi/2) = sqrt((x - a) / (b - x)), accurate at both edges (arccos is not)
        phi = 2.0 * np.arctan2(np.sqrt(np.maximum(x - a, 0.0)), np.sqrt(np.maximum(b - x, 0.0)))
        f = _mp_angle_cdf(phi, c)
        f = np.where(x < a, 0.0, f)
        if self._atom_mass:
            f = np.where(x >= 0.0, f + self._atom_mass, f)
        return np.where(x >= b, 1.0, f)

    def _pdf(self, x):
        a, b = self._edges
        inside = (x > a) & (x < b) & (x > 0)
        xi = np.where(inside, x, 0.5 * (a + b))
        dens = np.sqrt((b - xi) * (xi - a)) / (2.0 * math.pi * self.ratio * self.scale * xi)
        return np.where(inside, dens, 0.0)

    def _quantile(self, q):
        c = self.ratio
        w0 = self._atom_mass
        phi = _invert_angle(lambda p: _mp_angle_cdf(p, c), lambda p: _mp_angle_pdf(p, c),
                            np.maximum(q - w0, 0.0), _EPS4 * max(1.0, 1.0 / math.sqrt(c)))
        # 1 + c - 2 sqrt(c) cos(phi) without cancellation at the left edge
        x = self.scale * ((1.0 - math.sqrt(c)) ** 2 + 4.0 * math.sqrt(c) * np.sin(0.5 * phi) ** 2)
        return np.where(q <= w0, 0.0, x) if w0 else x

    def mean(self) -> float:
        return self.scale

    def variance(self) -> float:
        return self.ratio * self.scale ** 2

    def _repr_args(self) -> str:
        return f"ratio={self.ratio!r}, scale={self.scale!r}"


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
        top = max(ws)
        if not top > 0:
            raise ValueError(f"parts weights must have a positive sum, got {sum(ws)}")
        ws = [w / top for w in ws]   # first by the largest: the sum cannot overflow
        total = sum(ws)
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

    def _cdf(self, x):
        return sum(w * m._cdf(x) for w, m in zip(self.weights, self.parts) if w > 0)

    def _pdf(self, x):
        return sum(w * m._pdf(x) for w, m in zip(self.weights, self.parts) if w > 0)

    def _atoms(self):
        vals, ws = [], []
        for w, m in zip(self.weights, self.parts):
            v, aw = m._atoms()
            if w > 0 and v.size:
                vals.append(v)
                ws.append(w * aw)
        if not vals:
            return np.empty(0), np.empty(0)
        v, aw = np.concatenate(vals), np.concatenate(ws)
        order = np.argsort(v, kind="stable")
        return v[order], aw[order]

    def mean(self) -> float:
        return float(sum(w * m.mean() for w, m in zip(self.weights, self.parts)))

    def variance(self) -> float:
        mu = self.mean()
        return float(sum(w * (m.variance() + (m.mean() - mu) ** 2)
                         for w, m in zip(self.weights, self.parts)))

    def _repr_args(self) -> str:
        return "[" + ", ".join(f"({w:.6g}, {m!r})" for w, m in zip(self.weights, self.parts)) + "]"


def as_measure(name: str, nu: Any) -> Measure:
    """Refuse anything that is not a :class:`Measure` (TypeError naming the argument)."""
    if not isinstance(nu, Measure):
        raise TypeError(f"{name} must be a fastrmt.measures.Measure (Atoms, Uniform, "
                        f"Semicircle, MarchenkoPastur, TwoPoint, Mixture), got {_show(nu)}")
    return nu


_ANGLE_GRID = np.linspace(0.0, math.pi, 1025)
_EPS4 = 4.0 * float(np.finfo(np.float64).eps)


def _invert_angle(F, dF, q: np.ndarray, ftol: float) -> np.ndarray:
    """phi in [0, pi] with F(phi) = q, for F increasing on [0, pi] with derivative dF.

    A table of F on 1025 angles brackets each q; safeguarded Newton steps (the bisection
    point when a step leaves the bracket) then run until the step is below 1e-15 or the
    residual ``|F(phi) - q|`` below ``ftol`` (the rounding level of F: where F is flat,
    phi is only determined to that level, and so is nothing better than x), at most 100
    steps.  Only the points not yet converged are iterated.
    """
    t = _ANGLE_GRID
    flat = np.ascontiguousarray(q, dtype=np.float64).ravel()
    ft = np.maximum.accumulate(F(t))
    i = np.clip(np.searchsorted(ft, flat, side="left"), 1, t.size - 1)
    lo, hi = t[i - 1], t[i]
    span = ft[i] - ft[i - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.clip(np.where(span > 0, (flat - ft[i - 1]) / span, 0.5), 0.0, 1.0)
    phi = lo + (hi - lo) * frac
    active = np.arange(flat.size)
    for _ in range(100):
        if active.size == 0:
            break
        p, qa, la, ha = phi[active], flat[active], lo[active], hi[active]
        f = F(p) - qa
        la = np.where(f < 0, p, la)
        ha = np.where(f > 0, p, ha)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = p - f / dF(p)
        # a step that stays in [lo, hi] is taken, one that leaves it (or a NaN) is
        # replaced by the bisection point
        inside = (new >= la) & (new <= ha)
        close = np.abs(f) <= ftol  # converged: keep p unless Newton refines it in place
        new = np.where(inside, new, np.where(close, p, 0.5 * (la + ha)))
        phi[active], lo[active], hi[active] = new, la, ha
        active = active[(np.abs(new - p) > 1e-15) & ~close]
    return phi.reshape(np.shape(q))


def _mp_angle_cdf(phi: np.ndarray, c: float) -> np.ndarray:
    """Mass of the continuous part of MarchenkoPastur(c, 1) below x = 1 + c - 2 sqrt(c) cos(phi).

    With x = mu - h cos(phi), mu = 1 + c, h = 2 sqrt(c), the density
    sqrt((b - x)(x - a)) / (2 pi c x) dx becomes h**2 sin(phi)**2 / (2 pi c x) dphi, and
    sin(phi)**2 / (mu - h cos(phi)) = cos(phi)/h + mu/h**2 + (1 - mu**2/h**2) / (mu - h cos(phi))
    with mu**2 - h**2 = (1 - c)**2; the last term integrates to
    2 / |1 - c| arctan(k tan(phi/2)), k = (1 + sqrt c) / |1 - sqrt c|.  Writing that arctan
    as phi/2 + delta, delta = arctan((k - 1) t / (1 + k t**2)), t = tan(phi/2), gives

        F = (sqrt(c) sin(phi) + min(c, 1) phi - |1 - c| delta) / (pi c),

    whose terms cancel only to O(sqrt c) (not O(1)) for a small ratio.  The total
    F(pi) is min(1, 1/c).  At c = 1: F = (phi + sin(phi)) / pi.
    """
    if c == 1.0:
        return (phi + np.sin(phi)) / math.pi
    r = math.sqrt(c)
    km1 = 2.0 * min(r, 1.0) / abs(1.0 - r)
    t = np.tan(0.5 * phi)
    delta = np.arctan(km1 * t / (1.0 + (1.0 + km1) * t * t))
    return (r * np.sin(phi) + min(c, 1.0) * phi - abs(1.0 - c) * delta) / (math.pi * c)


def _mp_angle_pdf(phi: np.ndarray, c: float) -> np.ndarray:
    """d/dphi of :func:`_mp_angle_cdf`: h**2 sin(phi)**2 / (2 pi c x(phi))."""
    if c == 1.0:
        return (1.0 + np.cos(phi)) / math.pi
    x = 1.0 + c - 2.0 * math.sqrt(c) * np.cos(phi)
    return 2.0 * np.sin(phi) ** 2 / (math.pi * x)


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
