"""Free additive convolution with a semicircle: outliers, subordination, edges, density.

For a spectral measure nu (the law of the signal S, :mod:`fastrmt.measures`) and a noise
level sigma, ``mu = nu (+) semicircle(sigma**2)`` is the limit spectrum of
``W = X / sqrt(n) + S``.  Everything here is built on

    Phi(u) = u + sigma**2 g_nu(u),    Phi'(u) = 1 - sigma**2 int dnu(x) / (u - x)**2,

for real u outside supp nu (Capitaine, Donati-Martin, Feral, Fevrier 2011; Biane 1997):

* a spike s of S (outside supp nu) produces an outlier of W at Phi(s) iff Phi'(s) > 0,
  and the squared overlap of the outlier's eigenvector with the spike's tends to Phi'(s);
* the subordination function omega = Phi^{-1} on the branch Phi' > 0 maps the
  complement of supp mu back to U = {u outside supp nu : Phi'(u) > 0};
* supp mu = R minus Phi(U): the edges are Phi(u*) at the roots of Phi'(u*) = 0;
* inside the bulk the density of mu at x is Im omega(x + i0) / (pi sigma**2).

The prediction engine (:func:`classical_locations`, :func:`predict_eigenvalues`,
:func:`spectrum_components`, :func:`tail_mass`) applies the same machinery to
``nu_n = Atoms(eigenvalues of S)``: mu_n = nu_n (+) semicircle(sigma**2) is the finite-n
reference measure of the local laws for deformed Wigner matrices, and its classical
locations predict every eigenvalue of W, whatever the layout of the spikes (isolated,
clustered closer than sigma/sqrt(n), merged with the bulk, in gaps).  The one-spike
formulas of :func:`predict_outliers` stay as comparisons: the limit Phi(s), and the
second-order Phi_n(s), which fails for spikes closer than sigma/sqrt(n).

Root finding is bracketed everywhere (Newton with a bisection fall-back, steps down to
1e-15 relative, so results are good to ~1e-12 relative); a point where the answer does
not exist gives NaN (and a mask where stated), never a number from a wrong branch.
All functions take numpy arrays (any shape) and return arrays of that shape; the
heavy loops are Numba kernels run on ``n_threads`` threads (results do not depend on it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ._kernels import _classical as _kc
from ._kernels import _fmm, _subordination, _stieltjes
from ._threads import thread_limit
from ._validation import _show, check_bool, check_choice, check_int, check_points as _points, check_real
from .measures import (Atoms, MarchenkoPastur, Measure, MeasureData, Mixture, Semicircle,
                       Uniform, as_measure)

__all__ = [
    "phi",
    "phi_prime",
    "phi_inverse",
    "predict_outliers",
    "OutlierPrediction",
    "spikes_from_outliers",
    "SpikeEstimate",
    "bulk_support",
    "outlier_threshold",
    "critical_points",
    "density",
    "classical_locations",
    "predict_eigenvalues",
    "EigenvaluePrediction",
    "spectrum_components",
    "tail_mass",
    "tracy_widom_width",
    "TW1_MEAN",
    "TW1_SD",
]


# ---------------------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------------------
def _sigma(sigma: Any) -> float:
    return check_real("sigma", sigma, min_value=0.0, strict_min=True)


def _scale(d: MeasureData, sigma: float) -> float:
    return max(d.scale, sigma)


# ---------------------------------------------------------------------------------------
# Phi, Phi'
# ---------------------------------------------------------------------------------------
def _phi_both(s: np.ndarray, d: MeasureData, sigma: float, n_threads):
    flat = np.ascontiguousarray(s.ravel())
    ph = np.empty(flat.size)
    dph = np.empty(flat.size)
    with thread_limit(n_threads, blas=False):
        _fmm.phi_many(flat, sigma * sigma, d.args(), ph, dph)
    return ph.reshape(s.shape), dph.reshape(s.shape)


def phi(s: Any, nu: Measure, sigma: float, *, n_threads: int | None = None) -> np.ndarray:
    """``Phi(s) = s + sigma**2 g_nu(s)``.

    Parameters
    ----------
    s : array_like
        Real points (any shape), or complex points off the real axis.
    nu : Measure
        The spectral law of the signal.
    sigma : float
        Noise level (> 0): the semicircle has variance ``sigma**2``.
    n_threads : None or int
        Threads (None = all).  Never changes the result.

    Returns
    -------
    ndarray
        Same shape.  NaN at real points inside ``supp nu`` (on an atom, or inside a
        continuous part), where Phi is not defined.

    Examples
    --------
    >>> from fastrmt.measures import Atoms
    >>> float(phi(2.0, Atoms([0.0]), 1.0))   # BBP: theta + sigma**2 / theta
    2.5
    """
    nu = as_measure("nu", nu)
    sigma = _sigma(sigma)
    arr = _points("s", s, allow_complex=True)
    if np.iscomplexobj(arr):
        if np.any(arr.imag == 0):
            raise ValueError("s must be off the real axis when complex (pass real points "
                             "as a real array)")
        return arr + sigma * sigma * nu.g(arr)
    return _phi_both(arr, nu.data(), sigma, n_threads)[0]


def phi_prime(s: Any, nu: Measure, sigma: float, *, n_threads: int | None = None) -> np.ndarray:
    """``Phi'(s) = 1 - sigma**2 int dnu(x) / (s - x)**2`` at real points (NaN in supp nu).

    Parameters and threads as in :func:`phi`.  ``Phi'(s)`` is the limit of the squared
    overlap between the eigenvectors of a spike at s and of its outlier, when positive.
    """
    nu = as_measure("nu", nu)
    sigma = _sigma(sigma)
    arr = _points("s", s)
    return _phi_both(arr, nu.data(), sigma, n_threads)[1]


# ---------------------------------------------------------------------------------------
# critical points and support of mu
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Structure:
    ulo: np.ndarray      # U-intervals (components of {Phi' > 0} outside supp nu), sorted
    uhi: np.ndarray
    edges: np.ndarray    # (M, 2) intervals of supp mu
    bulk_u: np.ndarray   # (M, 2) their u-ranges (between consecutive U-intervals)
    scale: float


_CACHE_SIZE = 8


def _structure(nu: Measure, sigma: float, n_threads, *, outer_only: bool = False) -> _Structure:
    """Critical points and intervals of supp mu (cached on the measure, per sigma).

    ``outer_only=True`` computes only the two outer critical points (cheap) and returns
    the hull [left edge, right edge] as a single interval, for callers whose points all
    lie outside it.
    """
    cache = nu.__dict__.setdefault("_structure_cache", {})
    key = (float(sigma), outer_only)
    hit = cache.get(key) or (cache.get((float(sigma), False)) if outer_only else None)
    if hit is not None:
        return hit
    d = nu.data()
    s2 = sigma * sigma
    scale = _scale(d, sigma)
    lo, hi, mass = d.comp_lo, d.comp_hi, d.comp_mass
    args = d.args()
    gaps = np.empty((0, 2))
    with thread_limit(n_threads, blas=False):
        e = float(hi[-1])
        u_right = _subordination.root_f(e, e + sigma, True, e + sigma, scale, s2, args)
        if not u_right > hi[-1]:       # tiny sigma: u* - end below an ulp (see below)
            u_right = float(np.nextafter(hi[-1], np.inf))
        e = float(lo[0])
        u_left = _subordination.root_f(e - sigma, e, False, e - sigma, scale, s2, args)
        if not u_left < lo[0]:
            u_left = float(np.nextafter(lo[0], -np.inf))
        if lo.size > 1 and not outer_only:
            ga, gb = hi[:-1], lo[1:]
            # lower bound of f on the gap from the two neighbouring components alone
            # (each component's mass put at its far end): (A^(1/3) + B^(1/3))^3 / L^2 >= 1
            # (compared as sigma (A^(1/3) + B^(1/3))^(3/2) < L: no division, no overflow)
            span = hi[1:] - lo[:-1]
            root = sigma * (np.cbrt(mass[:-1]) + np.cbrt(mass[1:])) ** 1.5
            cand = np.flatnonzero(root < span)
            if cand.size:
                res = np.empty((cand.size, 3))
                _subordination.gap_scan_many(np.ascontiguousarray(ga[cand]),
                                             np.ascontiguousarray(gb[cand]), scale, s2, args, res)
                ok = res[:, 0] > 0
                gaps = res[ok, 1:]
    ulo = np.concatenate([[-np.inf], gaps[:, 0], [u_right]])
    uhi = np.concatenate([[u_left], gaps[:, 1], [np.inf]])
    bulk_u = np.column_stack([uhi[:-1], ulo[1:]])
    ph, _ = _phi_both(np.ascontiguousarray(bulk_u.ravel()), d, sigma, n_threads)
    edges = ph.reshape(-1, 2)
    bad = ~np.isfinite(edges)
    if bad.any():
        # sigma so small against the width of nu that the critical point u* = end +
        # O(sigma^2 / width) rounds onto the end of supp nu, where g is infinite: the
        # next float outside is the same point to double precision (the edge moves by
        # O(sigma^2 log(1/sigma)), far below an ulp)
        bulk_u[:, 0] = np.where(bad[:, 0], np.nextafter(bulk_u[:, 0], -np.inf), bulk_u[:, 0])
        bulk_u[:, 1] = np.where(bad[:, 1], np.nextafter(bulk_u[:, 1], np.inf), bulk_u[:, 1])
        ph, _ = _phi_both(np.ascontiguousarray(bulk_u.ravel()), d, sigma, n_threads)
        edges = ph.reshape(-1, 2)
        if not np.all(np.isfinite(edges)):
            raise ValueError(f"the support of nu (+) semicircle(sigma**2) could not be "
                             f"computed for sigma={sigma!r} (an edge is not finite)")
        ulo[1:] = bulk_u[:, 1]
        uhi[:-1] = bulk_u[:, 0]
    st = _Structure(ulo=ulo, uhi=uhi, edges=edges, bulk_u=bulk_u, scale=scale)
    if len(cache) >= _CACHE_SIZE:
        cache.pop(next(iter(cache)))
    cache[key] = st
    return st


def bulk_support(nu: Measure, sigma: float, *, n_threads: int | None = None) -> np.ndarray:
    """The intervals of ``supp (nu (+) semicircle(sigma**2))``, gaps included (Biane).

    The complement of the support is Phi(U), U = {u outside supp nu : sigma**2 int
    dnu/(u - x)**2 < 1}; each edge is Phi(u*) at a root u* of Phi'(u*) = 0.  On each gap
    of supp nu the function f(u) = sigma**2 int dnu/(u - x)**2 is convex: the gap gives
    a gap of mu iff min f < 1.  A gap that closes exactly (min f = 1) is not reported.

    Parameters
    ----------
    nu : Measure
    sigma : float
    n_threads : None or int

    Returns
    -------
    ndarray, shape (M, 2)
        Sorted disjoint intervals ``[left, right]``.

    Examples
    --------
    >>> from fastrmt.measures import Atoms
    >>> bulk_support(Atoms([0.0]), 1.0)
    array([[-2.,  2.]])
    """
    nu = as_measure("nu", nu)
    sigma = _sigma(sigma)
    return _structure(nu, sigma, n_threads).edges.copy()


def critical_points(nu: Measure, sigma: float, *, n_threads: int | None = None) -> np.ndarray:
    """The u-ranges of the intervals of supp mu: row m holds the two roots of Phi' = 0
    whose images are the edges ``bulk_support(nu, sigma)[m]``."""
    nu = as_measure("nu", nu)
    sigma = _sigma(sigma)
    return _structure(nu, sigma, n_threads).bulk_u.copy()


def outlier_threshold(nu: Measure, sigma: float, *,
                      n_threads: int | None = None) -> tuple[float, float]:
    """The spike values beyond which an outlier appears: ``(lower, upper)``.

    A spike ``s > upper`` (or ``s < lower``) produces an outlier; ``upper`` is the root of
    Phi'(u) = 0 right of supp nu (for nu = delta_0: ``(-sigma, sigma)``).  Spikes inside
    the gaps of supp nu produce an outlier iff Phi'(s) > 0 (see :func:`predict_outliers`
    and :func:`critical_points`).
    """
    nu = as_measure("nu", nu)
    sigma = _sigma(sigma)
    st = _structure(nu, sigma, n_threads)
    return float(st.uhi[0]), float(st.ulo[-1])


# ---------------------------------------------------------------------------------------
# inverse of Phi
# ---------------------------------------------------------------------------------------
def _inverse_real(lam: np.ndarray, nu: Measure, sigma: float, n_threads):
    d = nu.data()
    flat = np.ascontiguousarray(lam.ravel())
    # points beyond the outer edges only need the two outer critical points
    st = _structure(nu, sigma, n_threads, outer_only=True)
    if not np.all((flat <= st.edges[0, 0]) | (flat >= st.edges[-1, 1])):
        st = _structure(nu, sigma, n_threads)
    left, right = st.edges[:, 0], st.edges[:, 1]
    k = np.searchsorted(right, flat, side="right")
    kk = np.minimum(k, left.size - 1)
    in_bulk = (k < left.size) & (flat > left[kk])
    seg = np.where(in_bulk, -1, k).astype(np.int64)
    out = np.empty(flat.size)
    iters = np.empty(flat.size, dtype=np.int64)
    nu_var = float(nu.variance())
    with thread_limit(n_threads, blas=False):
        _subordination.inverse_real(flat, seg, np.ascontiguousarray(st.ulo),
                                    np.ascontiguousarray(st.uhi), float(nu.mean()), nu_var,
                                    st.scale, sigma * sigma, d.args(), out, iters)
    # exactly at an edge omega is the critical point (Phi' = 0 there, so Newton only gets
    # sqrt(eps) accuracy)
    for col in (0, 1):
        hit = np.flatnonzero(np.isin(flat, st.edges[:, col]))
        if hit.size:
            m = np.searchsorted(st.edges[:, col], flat[hit])
            out[hit] = st.bulk_u[m, col]
    return out.reshape(lam.shape), in_bulk.reshape(lam.shape), st


def _boundary_values(x: np.ndarray, nu: Measure, sigma: float, st: _Structure, n_threads):
    """omega(x + i0) at real x: in the bulk with Im > 0, NaN outside (caller fills)."""
    d = nu.data()
    flat = x.ravel()
    order = np.argsort(flat, kind="stable")
    xs = np.ascontiguousarray(flat[order])
    left, right = st.edges[:, 0], st.edges[:, 1]
    k = np.searchsorted(right, xs, side="right")
    kk = np.minimum(k, left.size - 1)
    inside = (k < left.size) & (xs > left[kk])
    seg = np.where(inside, k, -1).astype(np.int64)
    res = np.empty(xs.size, dtype=np.complex128)
    with thread_limit(n_threads, blas=False):
        _subordination.bulk_many(xs, seg, np.ascontiguousarray(st.bulk_u[:, 0]),
                                 np.ascontiguousarray(st.bulk_u[:, 1]), st.scale, sigma * sigma,
                                 d.args(), res)
    out = np.empty(flat.size, dtype=np.complex128)
    out[order] = res
    ins = np.empty(flat.size, dtype=bool)
    ins[order] = inside
    return out.reshape(x.shape), ins.reshape(x.shape)


def phi_inverse(lam: Any, nu: Measure, sigma: float, *, return_mask: bool = False,
                n_threads: int | None = None):
    """The subordination function omega = Phi^{-1} (branch Phi' > 0).

    Parameters
    ----------
    lam : array_like
        Real points: omega(lam) is the unique u outside supp nu with Phi(u) = lam and
        Phi'(u) > 0, for lam outside supp mu (NaN for lam inside the bulk; at an edge
        it is the critical point).  Complex points: omega(z) for Im z > 0 is the unique
        solution of Phi(omega) = z in the upper half-plane (omega(conj z) = conj omega(z));
        for complex points with Im z = 0 the boundary value omega(x + i0) is returned
        (real outside the bulk, with Im omega = pi sigma**2 density(x) inside).
    nu : Measure
    sigma : float
    return_mask : bool, default False
        Real input only: also return the boolean mask of the points inside the bulk.
    n_threads : None or int

    Returns
    -------
    omega : ndarray (same shape; float for real input, complex for complex input)
    in_bulk : ndarray of bool, only with ``return_mask=True``

    Examples
    --------
    >>> from fastrmt.measures import Atoms
    >>> float(phi_inverse(2.5, Atoms([0.0]), 1.0))
    2.0
    """
    nu = as_measure("nu", nu)
    sigma = _sigma(sigma)
    if not isinstance(return_mask, (bool, np.bool_)):
        raise TypeError(f"return_mask must be a bool, got {_show(return_mask)}")
    arr = _points("lam", lam, allow_complex=True)
    if not np.iscomplexobj(arr):
        omega, in_bulk, _ = _inverse_real(arr, nu, sigma, n_threads)
        return (omega, in_bulk) if return_mask else omega
    if return_mask:
        raise ValueError("return_mask is only available for real lam")
    d = nu.data()
    flat = np.ascontiguousarray(arr.ravel())
    out = np.empty(flat.size, dtype=np.complex128)
    off = flat.imag != 0
    if np.any(off):
        z = np.ascontiguousarray(flat[off])
        res = np.empty(z.size, dtype=np.complex128)
        with thread_limit(n_threads, blas=False):
            _subordination.inverse_complex_many(z, _scale(d, sigma), sigma * sigma, d.args(), res)
        out[off] = res
    if np.any(~off):
        x = np.ascontiguousarray(flat[~off].real)
        om_real, in_bulk, st = _inverse_real(x, nu, sigma, n_threads)
        bv, _ = _boundary_values(x, nu, sigma, st, n_threads)
        out[~off] = np.where(in_bulk, bv, om_real + 0j)
    return out.reshape(arr.shape)


# ---------------------------------------------------------------------------------------
# density
# ---------------------------------------------------------------------------------------
def density(x: Any, nu: Measure, sigma: float, *, n_threads: int | None = None) -> np.ndarray:
    """Density of ``mu = nu (+) semicircle(sigma**2)`` at real points x.

    Inside an interval of supp mu with u-range (u_a, u_b) (:func:`critical_points`), x
    is the image psi(u) = u + sigma**2 Re g_nu(u + i v(u)) of a unique u, where v(u) > 0
    solves sigma**2 int dnu/((u - x)**2 + v**2) = 1, and the density is
    v / (pi sigma**2) (Biane).  Both equations are solved with bracketed Newton
    iterations (psi is increasing; 1/h is concave in v**2), neighbouring grid points
    starting from each other's solution; 0 outside the support.  Accurate near the
    edges (square-root vanishing) and inside narrow gaps.

    Parameters
    ----------
    x : array_like of real
    nu : Measure
    sigma : float
    n_threads : None or int

    Returns
    -------
    ndarray, same shape as x.
    """
    nu = as_measure("nu", nu)
    sigma = _sigma(sigma)
    arr = _points("x", x)
    st = _structure(nu, sigma, n_threads)
    w, inside = _boundary_values(arr, nu, sigma, st, n_threads)
    out = np.zeros(arr.shape)
    out[inside] = w[inside].imag / (np.pi * sigma * sigma)
    return out


# ---------------------------------------------------------------------------------------
# outliers
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutlierPrediction:
    """Prediction for each spike (arrays of the spikes' shape).

    Attributes
    ----------
    spikes : ndarray
    is_outlier : ndarray of bool
        Phi'(s) > 0 (and s outside supp nu): the spike produces an outlier.
    location : ndarray
        Phi(s) for outliers; NaN for absorbed spikes.
    overlap : ndarray
        Predicted squared overlap Phi'(s) for outliers; 0.0 for absorbed spikes (the
        limit of the overlap when the spike is absorbed).
    phi_prime : ndarray
        Raw Phi'(s) (NaN where s lies in supp nu).
    version : str
    """

    spikes: np.ndarray
    is_outlier: np.ndarray
    location: np.ndarray
    overlap: np.ndarray
    phi_prime: np.ndarray
    version: str

    def to_records(self) -> np.ndarray:
        """The prediction as a numpy record array (fields as the attributes)."""
        return np.rec.fromarrays(
            [np.ravel(self.spikes), np.ravel(self.is_outlier), np.ravel(self.location),
             np.ravel(self.overlap), np.ravel(self.phi_prime)],
            names="spike,is_outlier,location,overlap,phi_prime")


def predict_outliers(spikes: Any, nu: Measure, sigma: float, *,
                     version: Literal["limit", "finite-n"] = "limit",
                     rel_tol: float = 1e-9,
                     n_threads: int | None = None) -> OutlierPrediction:
    """Outliers of ``W = X / sqrt(n) + S`` predicted from the spikes of S.

    Parameters
    ----------
    spikes : array_like of real
        The spike eigenvalues of S.
    nu : Measure
        ``version="limit"``: the bulk law of S (the spikes are not part of it); the
        prediction for spike s is Phi_nu(s), Phi'_nu(s) (Capitaine et al. 2011).
        ``version="finite-n"``: an :class:`~fastrmt.measures.Atoms` holding *all* the
        eigenvalues of S (bulk and spikes, weight 1/n each: ``Atoms(eigvalsh(S))``).  For
        each spike s the atoms equal to s (within ``rel_tol``; the whole eigenspace) are
        removed and Phi, Phi' use the empirical law of the others:
        ``Phi_N(s) = s + sigma**2 / n sum_{j: s_j != s} 1/(s - s_j)``: second-order
        perturbation theory for one spike, which accounts for the other spikes but
        holds only while neighbouring spikes are much farther apart than
        sigma/sqrt(n).  Closer spikes make Phi_N'(s) << 0 although W has outliers
        there; use :func:`predict_eigenvalues` (the empirical free convolution), which
        holds for every layout.  For r spikes spread over a length L, Phi' differs from
        the limit one by about (pi**2/3) sigma**2 r**2 / (n L**2), i.e. O(r**2/n), and
        the locations by O(r log r / n).  O(n) per spike, parallel over spikes.
    sigma : float
    version : {"limit", "finite-n"}
    rel_tol : float, default 1e-9
        finite-n only: an atom equals s when |atom - s| <= rel_tol * (|s| + scale).
    n_threads : None or int

    Returns
    -------
    OutlierPrediction

    Raises
    ------
    ValueError
        finite-n: nu is not an Atoms measure, or a spike is not one of its atoms.

    Examples
    --------
    >>> from fastrmt.measures import Atoms
    >>> pred = predict_outliers([0.5, 3.0], Atoms([0.0]), 1.0)
    >>> pred.is_outlier.tolist(), float(pred.location[1]), float(pred.overlap[1])
    ([False, True], 3.3333333333333335, 0.8888888888888888)
    """
    nu = as_measure("nu", nu)
    sigma = _sigma(sigma)
    version = check_choice("version", version, ("limit", "finite-n"))
    rel_tol = check_real("rel_tol", rel_tol, min_value=0.0)
    arr = _points("spikes", spikes)
    d = nu.data()
    if version == "limit":
        ph, dph = _phi_both(arr, d, sigma, n_threads)
    else:
        if not isinstance(nu, Atoms) or d.kinds.size:
            raise ValueError(f"version='finite-n' needs nu = Atoms(eigenvalues of S), "
                             f"got {type(nu).__name__}")
        flat = np.ascontiguousarray(arr.ravel())
        tol = rel_tol * (np.abs(flat) + d.scale)
        lo = np.searchsorted(d.atoms, flat - tol, side="left").astype(np.int64)
        hi = np.searchsorted(d.atoms, flat + tol, side="right").astype(np.int64)
        missing = hi <= lo
        if np.any(missing):
            bad = float(flat[np.flatnonzero(missing)[0]])
            raise ValueError(f"version='finite-n' needs every spike among the atoms of nu "
                             f"(the eigenvalues of S); spike {bad!r} is not")
        ph = np.empty(flat.size)
        dph = np.empty(flat.size)
        with thread_limit(n_threads, blas=False):
            _stieltjes.phi_excluding(flat, lo, hi, sigma * sigma, d.atoms, d.aweights, ph, dph)
        ph, dph = ph.reshape(arr.shape), dph.reshape(arr.shape)
    is_out = np.isfinite(dph) & (dph > 0)
    location = np.where(is_out, ph, np.nan)
    overlap = np.where(is_out, dph, 0.0)
    return OutlierPrediction(spikes=arr, is_outlier=is_out, location=location,
                             overlap=overlap, phi_prime=dph, version=version)


@dataclass(frozen=True)
class SpikeEstimate:
    """Spikes estimated from observed outliers (arrays of the input's shape).

    Attributes
    ----------
    outliers : ndarray
    spikes : ndarray
        omega(lam): the spike value that puts an outlier at lam; NaN inside the bulk.
    valid : ndarray of bool
        False where lam lies inside the bulk (no spike explains it).
    overlap : ndarray
        Predicted squared eigenvector overlap Phi'(omega(lam)); NaN where not valid.
    """

    outliers: np.ndarray
    spikes: np.ndarray
    valid: np.ndarray
    overlap: np.ndarray


def spikes_from_outliers(lams: Any, nu: Measure, sigma: float, *,
                         n_threads: int | None = None) -> SpikeEstimate:
    """Invert the outlier map: the spike s = omega(lam) with Phi(s) = lam, Phi'(s) > 0.

    Parameters
    ----------
    lams : array_like of real
        Observed outlier eigenvalues of W.
    nu : Measure
        Bulk law of S (limit version).
    sigma : float
    n_threads : None or int

    Returns
    -------
    SpikeEstimate
        ``spikes`` NaN and ``valid`` False for lam inside supp mu (the bulk).
    """
    nu = as_measure("nu", nu)
    sigma = _sigma(sigma)
    arr = _points("lams", lams)
    omega, in_bulk, _ = _inverse_real(arr, nu, sigma, n_threads)
    valid = ~in_bulk
    ov = np.full(arr.shape, np.nan)
    if np.any(valid):
        ov[valid] = _phi_both(np.ascontiguousarray(omega[valid]), nu.data(), sigma,
                              n_threads)[1]
    return SpikeEstimate(outliers=arr, spikes=omega, valid=valid, overlap=ov)


# ---------------------------------------------------------------------------------------
# the prediction engine: classical locations of mu = nu (+) semicircle(sigma**2)
# ---------------------------------------------------------------------------------------
#: Mean and standard deviation of the GOE Tracy-Widom law TW_1 (Tracy & Widom 1996;
#: Bornemann, Markov Process. Relat. Fields 16 (2010), Table 4).
TW1_MEAN = -1.2065335745820
TW1_SD = 1.2680340580
_RIGIDITY_C = 2.9     # log(j) + C: the j = 1 value matches TW_1's sd at a square-root edge


def _wsuffix(d: MeasureData) -> np.ndarray:
    """Suffix sums of the atom weights (length k + 1, last entry 0), cached."""
    cached = d.__dict__.get("_wsuffix_cache")
    if cached is None:
        cached = np.zeros(d.atoms.size + 1)
        cached[:-1] = np.cumsum(d.aweights[::-1])[::-1]
        object.__setattr__(d, "_wsuffix_cache", cached)
    return cached


@dataclass(frozen=True)
class _Components:
    edges: np.ndarray     # (M, 2) intervals of supp mu, increasing
    u: np.ndarray         # (M, 2) their u-ranges (critical points)
    above: np.ndarray     # (M,) mu-mass right of each interval: nu((ub, inf))
    mass: np.ndarray      # (M,) mu-mass of each interval: nu((ua, ub))


def _components(nu: Measure, sigma: float, n_threads) -> _Components:
    st = _structure(nu, sigma, n_threads)
    d = nu.data()
    ws = _wsuffix(d)
    ends = np.ascontiguousarray(st.bulk_u.ravel())
    ends = np.where(np.isfinite(ends), ends, 0.0)
    m = np.empty(ends.size)
    with thread_limit(n_threads, blas=False):
        _kc.mass_above_many(ends, d.kinds, d.params, d.cweights, d.atoms, ws, m)
    m = m.reshape(-1, 2)
    m[0, 0] = 1.0
    m[-1, 1] = 0.0
    above = m[:, 1].copy()
    mass = np.maximum(m[:, 0] - m[:, 1], 0.0)
    return _Components(edges=st.edges, u=st.bulk_u, above=above, mass=mass)


def spectrum_components(nu: Measure, sigma: float, n: int, *,
                        n_threads: int | None = None) -> np.ndarray:
    """The intervals of supp mu with the number of eigenvalues each one holds.

    ``mu = nu (+) semicircle(sigma**2)``.  The component of supp mu whose critical points
    (:func:`critical_points`) are ``ua < ub`` holds the mass ``nu((ua, ub))`` exactly
    (the contour integral of G_mu around it is that of g_nu around (ua, ub), through the
    subordination function).  For the empirical spectrum ``nu = Atoms(eigvalsh(S))`` this
    is an integer number of eigenvalues: 1 for an isolated spike, m for a cluster of m
    spikes that share one component.

    Parameters
    ----------
    nu : Measure
    sigma : float
    n : int
        Matrix order: the counts are ``n * mass``.
    n_threads : None or int

    Returns
    -------
    ndarray, shape (M, 3)
        Rows ``[left, right, count]``, increasing.

    Examples
    --------
    >>> from fastrmt.measures import Atoms
    >>> spectrum_components(Atoms([0.0, 10.0], [0.75, 0.25]), 1.0, 4).round(4)
    array([[-1.7551,  1.7047,  3.    ],
           [ 9.079 , 11.0714,  1.    ]])
    """
    nu = as_measure("nu", nu)
    sigma = _sigma(sigma)
    n = check_int("n", n, min_value=1)
    c = _components(nu, sigma, n_threads)
    return np.column_stack([c.edges, n * c.mass])


def tracy_widom_width(nu: Measure, sigma: float, n: int, *, side: str = "right",
                      n_threads: int | None = None) -> float:
    """Width of the Tracy-Widom fluctuations at the outer edge of supp mu on ``side``.

    ``sigma**(4/3) (|Phi''(u*)| / 2)**(1/3) n**(-2/3)`` with u* the critical point of that
    edge: the square-root edge of mu is locally a semicircle's, of curvature set by
    Phi''.  For nu = delta_0 it is ``sigma n**(-2/3)``.  The largest eigenvalue is near
    ``edge + width * TW_1`` (:data:`TW1_MEAN`, :data:`TW1_SD`).
    """
    nu = as_measure("nu", nu)
    sigma = _sigma(sigma)
    n = check_int("n", n, min_value=1)
    side = check_choice("side", side, ("right", "left"))
    st = _structure(nu, sigma, n_threads)
    u = st.bulk_u[-1, 1] if side == "right" else st.bulk_u[0, 0]
    return float(_tw_width(np.array([u]), nu, sigma, n)[0])


def _tw_width(u: np.ndarray, nu: Measure, sigma: float, n: int) -> np.ndarray:
    _, _, m3 = nu.moments(u)
    return sigma ** (4.0 / 3.0) * np.abs(sigma * sigma * m3) ** (1.0 / 3.0) * n ** (-2.0 / 3.0)


@dataclass(frozen=True)
class EigenvaluePrediction:
    """Predicted extreme eigenvalues of ``W = X / sqrt(n) + S`` on one side.

    Attributes
    ----------
    side : {"right", "left"}
    locations : ndarray (k,)
        Classical locations gamma_j of mu = nu (+) semicircle(sigma**2): the j-th largest
        ("right") or smallest ("left") eigenvalue is predicted at gamma_j, defined by
        ``n mu([gamma_j, inf)) = j - 1/2`` (right) or ``n mu((-inf, gamma_j]) = j - 1/2``.
    scale : ndarray (k,)
        Predicted standard deviation of that eigenvalue (see :func:`predict_eigenvalues`).
    regime : ndarray of str (k,)
        ``"isolated"`` (alone in its component of supp mu: Gaussian, CLT),
        ``"edge"`` (first eigenvalue at a soft edge of a component of >= 2: Tracy-Widom),
        ``"bulk"`` (inside a component: rigidity scale).
    component : ndarray of int (k,)
        Index of the component of supp mu (row of ``components``) holding gamma_j.
    rank_in_component : ndarray of int (k,)
        1 for the eigenvalue nearest the component's outer end on this side.
    density : ndarray (k,)
        Density of mu at gamma_j.
    components : ndarray (M, 3)
        ``[left, right, count]`` of every component (:func:`spectrum_components`).
    n : int
    sigma : float
    """

    side: str
    locations: np.ndarray
    scale: np.ndarray
    regime: np.ndarray
    component: np.ndarray
    rank_in_component: np.ndarray
    density: np.ndarray
    components: np.ndarray
    n: int
    sigma: float


def _check_side(side: str) -> str:
    return check_choice("side", side, ("right", "left"))


def _check_locations_args(nu, sigma, n, k, side):
    nu = as_measure("nu", nu)
    sigma = _sigma(sigma)
    n = check_int("n", n, min_value=1)
    k = n if k is None else check_int("k", k, min_value=1, max_value=n)
    return nu, sigma, n, k, _check_side(side)


def _locations(nu: Measure, sigma: float, n: int, k: int, side: str, n_threads):
    comps = _components(nu, sigma, n_threads)
    d = nu.data()
    ws = _wsuffix(d)
    j = np.arange(1, k + 1, dtype=np.float64)
    frac = (j - 0.5) / n
    tau = frac if side == "right" else 1.0 - frac
    # component m holds the targets with above[m] < tau <= above[m] + mass[m]
    comp = np.searchsorted(-comps.above, -tau, side="right").astype(np.int64)
    comp = np.minimum(comp, comps.above.size - 1)
    ua = np.ascontiguousarray(comps.u[:, 0])
    ub = np.ascontiguousarray(comps.u[:, 1])
    Ta = np.ascontiguousarray(comps.above + comps.mass)
    Tb = np.ascontiguousarray(comps.above)
    x = np.empty(k)
    rho = np.empty(k)
    uu = np.empty(k)
    ev = np.empty(k, dtype=np.int64)
    dphi = np.empty(k)
    scale = _scale(d, sigma)
    with thread_limit(n_threads, blas=False):
        _kc.locate_many(np.ascontiguousarray(tau), comp, ua, ub, Ta, Tb, scale, sigma * sigma,
                        d.args(), ws, x, rho, uu, ev, dphi)
    if not np.all(np.isfinite(x)):
        bad = int(np.flatnonzero(~np.isfinite(x))[0])
        raise FloatingPointError(f"classical location {bad + 1} on the {side} did not converge "
                                 f"(component {int(comp[bad])} of supp mu); please report it")
    return x, rho, comp, comps, dphi


def classical_locations(nu: Measure, sigma: float, n: int, k: int | None = None, *,
                        side: Literal["right", "left"] = "right",
                        n_threads: int | None = None) -> np.ndarray:
    """Classical locations of ``mu = nu (+) semicircle(sigma**2)``: predicted positions of
    the k most extreme eigenvalues of ``W = X / sqrt(n) + S`` on one side.

    With ``nu = Atoms(eigvalsh(S))``, the empirical spectrum of S with all its n
    eigenvalues (spikes included), mu is the finite-n reference measure of the local
    laws for deformed Wigner matrices (Lee, Schnelli and co-authors): every eigenvalue
    sits near its classical location, and this holds for every layout of the spikes ---
    isolated (then gamma is within O(1/n) of ``Phi_n(s) = s + sigma**2/n sum_{j != s}
    1/(s - s_j)``), clustered closer than sigma/sqrt(n) (one component of supp mu holds
    the whole cluster, where the one-spike formula fails), merged with the bulk, or in
    gaps of the bulk.

    gamma_j solves ``n mu([gamma_j, inf)) = j - 1/2`` (side "right", gamma_1 >= gamma_2
    >= ...) or ``n mu((-inf, gamma_j]) = j - 1/2`` (side "left", increasing).  The tail
    mass is exact, with no quadrature: ``mu((psi(u), inf)) = (sum_j w_j arg(omega - x_j)
    + Im L_cont(omega) - v Re g(omega)) / pi`` on Biane's curve ``omega = u + i v(u)``
    (an antiderivative of G_mu through the subordination function; see
    :mod:`fastrmt._kernels._classical`), inverted by a bracketed Newton iteration inside
    the component of supp mu that holds the target (:func:`spectrum_components`).

    Parameters
    ----------
    nu : Measure
        The spectral law of S; for finite-n predictions ``Atoms(eigenvalues of S)``.
    sigma : float
        Noise level (> 0).
    n : int
        Matrix order (number of eigenvalues).
    k : int, optional
        How many locations (1 <= k <= n); default n (all, in the order of ``side``).
    side : {"right", "left"}
        Largest eigenvalues (decreasing) or smallest (increasing).
    n_threads : None or int
        Threads (None = all).  Never changes the result.

    Returns
    -------
    ndarray, shape (k,)

    Examples
    --------
    >>> from fastrmt.measures import Atoms
    >>> g = classical_locations(Atoms([0.0]), 1.0, 1000, 3)   # semicircle quantiles
    >>> bool(g[0] < 2.0 and g[0] > 1.98)
    True
    """
    nu, sigma, n, k, side = _check_locations_args(nu, sigma, n, k, side)
    return _locations(nu, sigma, n, k, side, n_threads)[0]


def predict_eigenvalues(nu: Measure, sigma: float, n: int, k: int | None = None, *,
                        side: Literal["right", "left"] = "right",
                        localized: bool = False, diag_var: float | None = None,
                        kappa4: float = 0.0,
                        n_threads: int | None = None) -> EigenvaluePrediction:
    """Classical locations (:func:`classical_locations`) with a fluctuation scale each.

    The standard deviation of the j-th eigenvalue depends on its component of supp mu
    (:func:`spectrum_components`):

    * **isolated** (the component holds one eigenvalue, from one atom s of nu: an
      isolated spike).  Gaussian (Capitaine, Donati-Martin, Feral, Ann. IHP 2012), with
      variance from the Schur complement of the spike's coordinate,
      ``lambda - theta - H_ss - h^T R h = 0`` linearised at the classical location:

        - delocalized spike vector (any entry law):  ``2 sigma**2 Phi'(s) / n``;
        - localized spike vector (S diagonal, spike on a coordinate):
          ``(d Phi'**2 + 2 sigma**2 Phi' (1 - Phi') + kappa4 Phi'**2 (1 - Phi') / sigma**2) / n``
          with d the variance of the diagonal entries of X and kappa4 the fourth
          cumulant of the off-diagonal ones (non-universal: Capitaine et al.).  For GOE
          noise (d = 2 sigma**2, kappa4 = 0) both reduce to ``2 sigma**2 Phi'/n``
          (Feral-Peche for nu = delta_0).

      Phi' is the finite-n one, ``1 - sigma**2/n sum_{j != s} 1/(s - s_j)**2``: the
      spike's own component is isolated, so second-order perturbation theory holds.
    * **edge** (the first eigenvalue at the outer soft edge of a component holding
      >= 2): Tracy-Widom, sd ``TW1_SD * sigma**(4/3) (|Phi''(u*)|/2)**(1/3) n**(-2/3)``
      with u* that edge's critical point (its own curvature).
    * **bulk** (the j-th eigenvalue from the component's nearer end, j >= 2): eigenvalue
      rigidity, ``rig = sqrt((log j + C) / pi**2) / (n rho(gamma_j))`` with rho the
      density of mu at gamma_j (the logarithmic growth is Gustavsson's, GOE; C = 2.9
      makes the j = 1 value equal to TW_1's sd at a square-root edge), combined with the
      isolated-outlier scale at the same point, ``clt**2 = 2 sigma**2 Re Phi'(omega) / n``
      with omega = omega(gamma_j + i0), as ``1/sd**2 = 1/rig**2 + 1/clt**2``: where
      spikes merge (sparse eigenvalues, each pinned by its spike) the second dominates,
      deep in a bulk the first.  This combination is a model, checked against
      replicates (``benchmarks/check_fluctuations.py``), not a theorem.

    Parameters
    ----------
    nu, sigma, n, k, side, n_threads
        As in :func:`classical_locations`.
    localized : bool, default False
        The spikes' eigenvectors are coordinate vectors (``basis="diagonal"``).
    diag_var : float, optional
        Variance of the diagonal entries of X (default ``2 sigma**2``, GOE).  Only used
        with ``localized=True``.
    kappa4 : float, default 0
        Fourth cumulant ``E x**4 - 3 sigma**4`` of the off-diagonal entries (0 Gaussian,
        ``-2 sigma**4`` Rademacher).  Only used with ``localized=True``.

    Returns
    -------
    EigenvaluePrediction
    """
    nu, sigma, n, k, side = _check_locations_args(nu, sigma, n, k, side)
    localized = check_bool("localized", localized)
    if diag_var is not None:
        diag_var = check_real("diag_var", diag_var, min_value=0.0)
    kappa4 = check_real("kappa4", kappa4, min_value=-2.0 * sigma ** 4)
    x, rho, comp, comps, dphi_w = _locations(nu, sigma, n, k, side, n_threads)
    counts = n * comps.mass
    j = np.arange(1, k + 1)
    before = n * (comps.above if side == "right" else 1.0 - comps.above - comps.mass)
    rank = np.rint(j - before[comp]).astype(np.int64)
    rank = np.maximum(rank, 1)
    cnt = counts[comp]
    from_other_end = np.rint(cnt - rank + 1).astype(np.int64)
    jc = np.maximum(np.minimum(rank, from_other_end), 1)
    regime = np.full(k, "bulk", dtype=object)
    rigid = np.sqrt((np.log(jc) + _RIGIDITY_C) / np.pi ** 2) / (n * rho)
    # pinned by the spikes: an eigenvalue cannot fluctuate more than an isolated outlier
    # with the local Phi'(omega(gamma + i0)) would (1/sd**2 = 1/rigid**2 + 1/clt**2)
    clt2 = 2.0 * sigma * sigma * np.maximum(dphi_w, 0.0) / n
    with np.errstate(divide="ignore"):
        scale = 1.0 / np.sqrt(1.0 / rigid ** 2 + np.where(clt2 > 0, 1.0 / clt2, 0.0))

    # edge: Tracy-Widom at the component's soft edge on the eigenvalue's side of it
    d = nu.data()
    at_edge = (jc == 1) & (cnt > 1.5)
    if np.any(at_edge):
        near_top = rank[at_edge] == 1
        top_col = 1 if side == "right" else 0
        col = np.where(near_top, top_col, 1 - top_col)
        ucrit = comps.u[comp[at_edge], col]
        scale[at_edge] = TW1_SD * _tw_width(ucrit, nu, sigma, n)
        regime[at_edge] = "edge"

    # isolated: one atom alone in its component
    iso = np.abs(cnt - 1.0) < 1e-6
    if np.any(iso):
        idx = np.flatnonzero(iso)
        ua, ub = comps.u[comp[idx], 0], comps.u[comp[idx], 1]
        lo = np.searchsorted(d.atoms, ua, side="right")
        hi = np.searchsorted(d.atoms, ub, side="left")
        single = (hi - lo == 1) & (d.kinds.size == 0)
        idx, lo, hi = idx[single], lo[single], hi[single]
        if idx.size:
            s = np.ascontiguousarray(d.atoms[lo])
            ph = np.empty(idx.size)
            dph = np.empty(idx.size)
            with thread_limit(n_threads, blas=False):
                _stieltjes.phi_excluding(s, lo.astype(np.int64), hi.astype(np.int64),
                                         sigma * sigma, d.atoms, d.aweights, ph, dph)
            dph = np.clip(dph, 1e-12, 1.0)
            s2 = sigma * sigma
            if localized:
                dv = 2.0 * s2 if diag_var is None else diag_var
                var = (dv * dph ** 2 + 2.0 * s2 * dph * (1.0 - dph)
                       + kappa4 * dph ** 2 * (1.0 - dph) / s2) / n
            else:
                var = 2.0 * s2 * dph / n
            scale[idx] = np.sqrt(np.maximum(var, 0.0))
            regime[idx] = "isolated"
    return EigenvaluePrediction(side=side, locations=x, scale=scale,
                                regime=regime.astype(str), component=comp,
                                rank_in_component=rank, density=rho,
                                components=np.column_stack([comps.edges, counts]),
                                n=n, sigma=sigma)


def tail_mass(x: Any, nu: Measure, sigma: float, *, n_threads: int | None = None) -> np.ndarray:
    """``mu((x, inf))`` for ``mu = nu (+) semicircle(sigma**2)``, exact (no quadrature).

    At x inside supp mu, ``(sum_j w_j arg(omega - x_j) + Im L_cont(omega) - v Re g(omega)) /
    pi`` with ``omega = omega(x + i0) = u + i v``; outside, ``nu((omega(x), inf))``.
    """
    nu = as_measure("nu", nu)
    sigma = _sigma(sigma)
    arr = _points("x", x)
    flat = np.ascontiguousarray(arr.ravel())
    d = nu.data()
    ws = _wsuffix(d)
    omega, in_bulk, st = _inverse_real(flat, nu, sigma, n_threads)
    out = np.empty(flat.size)
    with thread_limit(n_threads, blas=False):
        if np.any(~in_bulk):
            u = np.ascontiguousarray(omega[~in_bulk])
            m = np.empty(u.size)
            _kc.mass_above_many(u, d.kinds, d.params, d.cweights, d.atoms, ws, m)
            out[~in_bulk] = m
        if np.any(in_bulk):
            bv, _ = _boundary_values(flat[in_bulk], nu, sigma, st, n_threads)
            u = np.ascontiguousarray(bv.real)
            T = np.empty(u.size)
            xx = np.empty(u.size)
            _kc.tail_many(u, sigma * sigma, d.args(), ws, T, xx)
            out[in_bulk] = T
    return out.reshape(arr.shape)


# ---------------------------------------------------------------------------------------
def _warmup() -> None:
    """Compile every kernel of this module on tiny inputs."""
    nus = [Atoms([-1.0, 1.0]),
           Mixture([(0.5, Uniform(-1, 0)), (0.3, Semicircle(2, 0.1)),
                    (0.2, MarchenkoPastur(2.0, 1.0))])]
    for nu in nus:
        phi([3.0, 5.0], nu, 0.5)
        phi(np.array([1 + 1j]), nu, 0.5)
        phi_inverse([10.0, -10.0, 0.1], nu, 0.5)
        phi_inverse(np.array([1 + 1j, 0.1 + 0j]), nu, 0.5)
        density([0.0, 0.5], nu, 0.5)
        nu.moments([10.0])
    predict_outliers([-1.0, 1.0], nus[0], 0.5, version="finite-n")
    for nu in nus + [Atoms(np.linspace(-1.0, 1.0, 5000))]:
        predict_eigenvalues(nu, 0.5, 100, 3, side="right")
        predict_eigenvalues(nu, 0.5, 100, 3, side="left")
        tail_mass([0.0, 10.0], nu, 0.5)
