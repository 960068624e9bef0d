"""Sampling symmetric Wigner matrices: ``X / sqrt(n)``.

Off-diagonal entries X_ij (i < j) are i.i.d. with mean 0 and variance ``sigma**2``;
X_ji = X_ij.  The diagonal entries are independent of them, with mean 0 and variance
``diag_var`` (default ``sigma**2``; ``"goe"`` gives ``2 sigma**2`` as in the Gaussian
Orthogonal Ensemble; any number >= 0, 0 giving a zero diagonal), drawn from the same
law.  The returned matrix is ``X / sqrt(n)``, whose spectrum tends to the semicircle on
[-2 sigma, 2 sigma].

Entry laws (each standardised to mean 0 and variance 1 *by construction*, then scaled):

=============  =================================================================
``gaussian``   standard normal (256-layer ziggurat)
``rademacher`` +1 or -1 with probability 1/2
``uniform``    uniform on [-sqrt(3), sqrt(3)]
``sparse``     Bernoulli(p) dilution of Rademacher signs, rescaled: 0 with
               probability 1 - p, +-1/sqrt(p) with probability p/2 each
``student_t``  Student's t with ``df`` > 2 degrees of freedom, times
               sqrt((df - 2)/df) (any finite df: for large df it tends to the
               Gaussian without cancellation)
=============  =================================================================

Randomness follows the library's single design (:mod:`fastrmt._random`): entry (i, j)
is a pure function of (seed, i, j), so results are bit-identical for any
``n_threads``, the full and packed layouts hold the same values, and float32 output is
the float64 output rounded to nearest.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._kernels import _philox, _sampling
from ._random import STREAM_NOISE, Key, SeedLike, as_key
from ._threads import thread_limit
from ._validation import check_choice, check_dtype, check_int, check_memory, check_real
from .packed import PackedSymmetric, packed_size

__all__ = ["wigner", "WignerSpec", "wigner_spec", "DISTRIBUTIONS"]

DISTRIBUTIONS = ("gaussian", "rademacher", "uniform", "sparse", "student_t")

# sigma is squared (the diagonal variance, the semicircle radius 2 sigma, sigma**2 in
# Phi): beyond these limits sigma**2 overflows to inf or underflows to a subnormal/0.
SIGMA_MIN = 1e-150
SIGMA_MAX = 1e150


@dataclass(frozen=True)
class WignerSpec:
    """Everything that defines the random matrix X / sqrt(n) (validated, resolved seed).

    Used by :func:`wigner` and by the matrix-free operator, which regenerates tiles of
    the same matrix from it.
    """

    n: int
    sigma: float
    dist: str
    law: int
    param: float
    diag_var: float
    key: Key
    stream: int = STREAM_NOISE

    @property
    def scale_off(self) -> float:
        return self.sigma / math.sqrt(self.n)

    @property
    def scale_diag(self) -> float:
        return math.sqrt(self.diag_var) / math.sqrt(self.n)

    def kernel_args(self) -> tuple:
        """The trailing arguments shared by every sampling kernel."""
        return (self.stream, self.key.k0, self.key.k1, self.law, self.param,
                self.scale_off, self.scale_diag)

    def entry(self, i: int, j: int) -> float:
        """Entry (i, j) of X / sqrt(n), computed alone (float64)."""
        x = _philox.entry(i, j, self.stream, self.key.k0, self.key.k1, self.law, self.param)
        return x * (self.scale_diag if i == j else self.scale_off)


def wigner_spec(n: int, *, sigma: float = 1.0, dist: str = "gaussian", p: float | None = None,
                df: float | None = None, diag_var: float | str | None = None,
                seed: SeedLike = None) -> WignerSpec:
    """Validate the parameters of a Wigner matrix and resolve its seed (no allocation)."""
    n = check_int("n", n, min_value=1)
    if n > 2**31:
        raise ValueError(f"n must be <= 2**31, got {n}")
    sigma = check_real("sigma", sigma, min_value=0.0, strict_min=True)
    if not SIGMA_MIN <= sigma <= SIGMA_MAX:
        raise ValueError(f"sigma must be in [{SIGMA_MIN:g}, {SIGMA_MAX:g}] (sigma**2 would "
                         f"{'overflow' if sigma > 1 else 'underflow'}), got {sigma!r}")
    dist = check_choice("dist", dist, DISTRIBUTIONS)
    if p is not None and dist != "sparse":
        raise ValueError(f"p is only used with dist='sparse', got p={p!r} with dist={dist!r}")
    if df is not None and dist != "student_t":
        raise ValueError(f"df is only used with dist='student_t', got df={df!r} "
                         f"with dist={dist!r}")
    param = 0.0
    if dist == "sparse":
        if p is None:
            raise ValueError("dist='sparse' needs the dilution probability p (0 < p <= 1)")
        param = check_real("p", p, min_value=0.0, max_value=1.0, strict_min=True)
    elif dist == "student_t":
        if df is None:
            raise ValueError("dist='student_t' needs the degrees of freedom df (> 2)")
        param = check_real("df", df, min_value=2.0, strict_min=True)
    if diag_var is None:
        dv = sigma * sigma
    elif isinstance(diag_var, str):
        if diag_var != "goe":
            raise ValueError(f"diag_var must be None, 'goe' or a number >= 0, got {diag_var!r}")
        dv = 2.0 * sigma * sigma
    else:
        dv = check_real("diag_var", diag_var, min_value=0.0)
    key = as_key(seed)
    return WignerSpec(n=n, sigma=sigma, dist=dist, law=_philox.LAW_CODES[dist], param=param,
                      diag_var=dv, key=key)


def wigner(n: int, *, sigma: float = 1.0, dist: str = "gaussian", p: float | None = None,
           df: float | None = None, diag_var: float | str | None = None,
           dtype: type | np.dtype | str = np.float64,
           layout: Literal["full", "packed"] = "full", seed: SeedLike = None,
           n_threads: int | None = None,
           out: np.ndarray | PackedSymmetric | None = None) -> np.ndarray | PackedSymmetric:
    """Sample the symmetric Wigner matrix ``X / sqrt(n)``.

    Parameters
    ----------
    n : int
        Matrix order (>= 1).
    sigma : float, default 1.0
        Standard deviation of the off-diagonal entries of X (> 0).
    dist : {"gaussian", "rademacher", "uniform", "sparse", "student_t"}
        Law of the entries, standardised to mean 0 and variance 1 (module docstring).
    p : float, optional
        Dilution probability, required by (and only accepted with) ``dist="sparse"``.
    df : float, optional
        Degrees of freedom (> 2), required by (and only accepted with) ``dist="student_t"``.
    diag_var : None, "goe" or float
        Variance of the diagonal entries of X: None = ``sigma**2``, "goe" = ``2 sigma**2``.
    dtype : float32 or float64
        Output dtype.  float32 values are the float64 values rounded to nearest.
    layout : {"full", "packed"}
        ``"full"``: dense C-order (n, n) array, both triangles written.
        ``"packed"``: a :class:`~fastrmt.PackedSymmetric` holding the n(n+1)/2 values of
        the upper triangle, row by row.
    seed : None, int, SeedSequence, Generator
        See :mod:`fastrmt._random`; a Generator is advanced by one draw.
    n_threads : None or int
        Threads to use (None = all cores; negative counts back).  Never changes results.
    out : ndarray or PackedSymmetric, optional
        Preallocated output (shape (n, n) C-contiguous for "full"; shape (n(n+1)/2,)
        or a PackedSymmetric for "packed") of dtype ``dtype``; filled in place, with no
        temporary.

    Returns
    -------
    ndarray or PackedSymmetric
        ``out`` when given, else a new array.

    Raises
    ------
    TypeError, ValueError
        On invalid arguments, or when the matrix would not fit in available memory
        (the message gives the size needed).

    Examples
    --------
    >>> import fastrmt
    >>> X = fastrmt.wigner(1000, seed=0)
    >>> X.shape
    (1000, 1000)
    """
    spec = wigner_spec(n, sigma=sigma, dist=dist, p=p, df=df, diag_var=diag_var, seed=seed)
    n = spec.n
    dt = check_dtype("dtype", dtype)
    layout = check_choice("layout", layout, ("full", "packed"))
    count = n * n if layout == "full" else packed_size(n)
    if out is None:
        check_memory(f"a {layout} {n} x {n} {dt.name} matrix", count * dt.itemsize,
                     hint="use layout='packed' (half the memory) or the matrix-free "
                          "operator (fastrmt.deformed_wigner(..., storage='matrix-free'))"
                     if layout == "full" else "use the matrix-free operator")
    else:
        out = _check_out(out, layout, n, dt)
    with thread_limit(n_threads, blas=False):
        if layout == "full":
            target = np.empty((n, n), dtype=dt) if out is None else out
            _sampling.fill_full(target, n, *spec.kernel_args())
            return target
        data = (np.empty(count, dtype=dt) if out is None
                else (out.data if isinstance(out, PackedSymmetric) else out))
        _sampling.fill_packed(data, n, *spec.kernel_args())
        if isinstance(out, PackedSymmetric):
            return out
        return PackedSymmetric(data, n)


def _check_out(out, layout: str, n: int, dt: np.dtype):
    if layout == "packed" and isinstance(out, PackedSymmetric):
        if out.n != n or out.dtype != dt:
            raise ValueError(f"out must be a PackedSymmetric with n={n} and dtype {dt}, "
                             f"got n={out.n} and dtype {out.dtype}")
        if not out.data.flags.c_contiguous or not out.data.flags.writeable:
            raise ValueError("out must be a PackedSymmetric with writeable C-contiguous data, "
                             "got read-only or non-contiguous data")
        return out
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array{' or a PackedSymmetric' if layout == 'packed' else ''}, "
                        f"got {type(out).__name__}")
    shape = (n, n) if layout == "full" else (packed_size(n),)
    if out.shape != shape:
        raise ValueError(f"out must have shape {shape} for layout={layout!r} and n={n}, "
                         f"got {out.shape}")
    if out.dtype != dt:
        raise TypeError(f"out must have dtype {dt}, got {out.dtype}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out must be a writeable C-contiguous array")
    return out




def _warmup() -> None:
    """Compile the sampling kernels for both dtypes and layouts on tiny inputs."""
    for dt in (np.float32, np.float64):
        for dist, kw in (("gaussian", {}), ("student_t", {"df": 5.0})):
            wigner(5, dist=dist, dtype=dt, seed=0, **kw)
            wigner(5, dist=dist, dtype=dt, layout="packed", seed=0, **kw)
