"""The block Krylov iteration behind :func:`fastrmt.eigsh` (see that module's docstring
for the algorithm): thick-restarted block Lanczos with full reorthogonalization
(:func:`_solve`, driving the basis state :class:`_Krylov`), its two-phase mixed-precision driver (:func:`_solve_mixed`) and the
dense path for small orders (:func:`_solve_dense`), with the records they fill
(:class:`EigshInfo`, :class:`EigshNoConvergence`, re-exported by
:mod:`fastrmt.eigensolver`).  The solver works on an :class:`fastrmt._adapters._Operator`;
its tall-skinny dense algebra goes through :mod:`fastrmt._gemm` (every core,
bit-identical for any thread count).
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import scipy.linalg
from scipy.sparse.linalg import ArpackNoConvergence

from . import _gemm
from ._adapters import _Operator, _scale_of
from ._kernels import _lanczos
from ._random import STREAM_SOLVER, Key
from ._threads import blas_limit

_EPS = float(np.finfo(np.float64).eps)
_FLOOR_C = 16.0         # residual floor = _FLOOR_C * sqrt(n) * eps * ||A||
_MIXED_PHASE1 = 1e-6    # mixed precision: float32 Krylov phase down to this relative residual
_MIXED_EIG_TOL = 1e-10  # mixed precision: relative eigenvalue accuracy certified (tol=0)
_MIXED_EXPANSIONS = 2   # mixed precision: float64 residual-expansion steps before giving up
_RANK_TOL = 1e-13       # relative size under which a new direction counts as lost rank
# Rayleigh--Ritz cost model: an eigh of H of order c (serial LAPACK, thread-independent)
# costs about as much as the products of _RR_VECTORS * c**3 / n**2 vectors with a stored
# n x n matrix (this VM, n = 6000: eigh(1000) 0.20 s, one product of 8 vectors 12 ms).
_RR_VECTORS = 4.0


@dataclass
class EigshInfo:
    """What :func:`eigsh` did.

    Attributes
    ----------
    iterations : int
        Number of restarts (scipy's ``maxiter`` counts these).
    n_products : int
        Number of matrix-vector products (vectors), all precisions.
    n_block_products : int
        Number of block products (calls to the matrix).
    n_accurate_products : int
        Of ``n_products``, those done with float64 accumulation on a float32-stored
        matrix (0 when the matrix is float64: every product is then accurate).
    refreshes : int
        Float64-accumulated Rayleigh--Ritz steps of the float32 path.
    residuals : ndarray
        ``||A y - theta y||`` of the returned pairs (same order as the eigenvalues).
    tolerances : ndarray
        The threshold each residual had to meet.
    converged : bool
        Whether all ``k`` pairs met their threshold.
    n_converged : int
        How many did.
    time : float
        Wall-clock seconds.
    product_time : float
        Of ``time``, the seconds spent in the products with A (the rest is the solver's
        own work: orthogonalization, Rayleigh--Ritz, checks).
    non_product_share : float
        ``1 - product_time / time`` (a property): the share of the time spent outside
        the products, 0.0 when ``time`` is 0.
    block_size, ncv : int
        Block size and basis size used.
    method : str
        ``"block-lanczos"``, ``"mixed-precision block-lanczos"``, ``"block-lanczos
        (after a mixed-precision attempt)"`` or ``"dense"`` (small matrices, SM).
    """

    iterations: int = 0
    n_products: int = 0
    n_block_products: int = 0
    n_accurate_products: int = 0
    refreshes: int = 0
    residuals: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tolerances: np.ndarray = field(default_factory=lambda: np.zeros(0))
    converged: bool = False
    n_converged: int = 0
    time: float = 0.0
    product_time: float = 0.0
    block_size: int = 0
    ncv: int = 0
    method: str = "block-lanczos"

    @property
    def non_product_share(self) -> float:
        """Share of ``time`` spent outside the products with A."""
        return 1.0 - self.product_time / self.time if self.time > 0 else 0.0


class EigshNoConvergence(ArpackNoConvergence):
    """Raised when :func:`eigsh` does not converge within ``maxiter`` restarts.

    Like scipy's :class:`~scipy.sparse.linalg.ArpackNoConvergence` (a subclass of it):
    ``eigenvalues`` and ``eigenvectors`` hold the converged pairs; ``info`` is the
    :class:`EigshInfo` of the run.
    """

    def __init__(self, msg: str, eigenvalues: np.ndarray, eigenvectors: np.ndarray,
                 info: EigshInfo) -> None:
        super().__init__(msg, eigenvalues, eigenvectors)
        self.info = info


def _priority(theta: np.ndarray, which: str) -> np.ndarray:
    """Indices of the Ritz values, most wanted first (stable)."""
    if which == "LA":
        return np.argsort(-theta, kind="stable")
    if which == "SA":
        return np.argsort(theta, kind="stable")
    if which == "LM":
        return np.argsort(-np.abs(theta), kind="stable")
    if which == "SM":
        return np.argsort(np.abs(theta), kind="stable")
    # BE: alternate high end, low end, starting from the high end
    asc = np.argsort(theta, kind="stable")
    out = np.empty_like(asc)
    lo, hi = 0, asc.size - 1
    for i in range(asc.size):
        if i % 2 == 0:
            out[i] = asc[hi]
            hi -= 1
        else:
            out[i] = asc[lo]
            lo += 1
    return out


def _random_block(n: int, width: int, col0: int, key: Key) -> np.ndarray:
    out = np.empty((n, width))
    _lanczos.gaussian_block(out, col0, STREAM_SOLVER, key.k0, key.k1)
    return out


class _Random:
    """Fresh random columns of the solver stream, never the same column twice."""

    def __init__(self, key: Key) -> None:
        self.key = key
        self.next_col = 0

    def block(self, n: int, width: int) -> np.ndarray:
        out = _random_block(n, width, self.next_col, self.key)
        self.next_col += width
        return out


def _serial():
    """Context running BLAS/LAPACK on one thread: for the small dense steps (eigh of the
    projected matrix, Gram matrices), where thread synchronization costs more than the
    work (ms per call on a loaded machine)."""
    return blas_limit(1)


def _eigh(H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with _serial():
        return np.linalg.eigh(H)


def _cholqr(X: np.ndarray, nt: int = 1) -> np.ndarray:
    """Orthonormalize a well-conditioned block by one Cholesky QR step (BLAS-3)."""
    G = _gemm.tmm(X, X, nt)
    with _serial():
        try:
            L = np.linalg.cholesky(G)
            Linv = scipy.linalg.solve_triangular(L, np.eye(L.shape[0]), lower=True,
                                                 check_finite=False)
        except np.linalg.LinAlgError:
            lam, Z = np.linalg.eigh(G)
            Linv = (Z / np.sqrt(np.maximum(lam, np.finfo(np.float64).tiny))).T
    return _gemm.mm(X, Linv.T, nt)


def _project(X: np.ndarray, V: np.ndarray, nt: int = 1) -> np.ndarray:
    return _gemm.project(X, V, nt)


def _orth(W: np.ndarray, V: np.ndarray, C: np.ndarray | None, rnd: _Random, nt: int = 1,
          Wp: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, bool]:
    """Orthonormal Q with (I - V V^T) W = Q Rn, completed by random directions; the bool
    says whether random directions were added.

    ``C = V^T W`` may be given (saves one product), or ``Wp``, W already projected by
    the caller (:meth:`_Krylov.extend`).  Two Gram--Schmidt passes against
    V, then a rank-revealing orthonormalization by eigendecomposition of the Gram
    matrix, level by level (each level resolves singular values down to 1e-6 of the
    largest remaining one, the rest is projected and treated at the next level), so
    that directions down to ``_RANK_TOL`` times the block norm are kept.  Lost
    directions are replaced by random ones, and a final pass against V and a Cholesky
    QR make Q orthonormal and orthogonal to V to working precision.  Only BLAS-3 and
    small dense eigenproblems (no Householder QR: its tall-skinny level-2 steps are
    slow with threads).
    """
    n, w = W.shape
    nrm0 = float(np.max(_colnorms(W))) if w else 0.0
    floor = _RANK_TOL * max(nrm0, np.finfo(np.float64).tiny)
    if Wp is None:
        Wp = (_gemm.project_twice(W, V, _gemm.tmm(V, W, nt) if C is None else C, nt)
              if V.shape[1] else W.copy())
    blocks: list[np.ndarray] = []
    X = Wp
    well_conditioned = True
    for _level in range(4):
        if X.shape[1] == 0:
            break
        lam, Z = _eigh(_gemm.tmm(X, X, nt))
        lam, Z = lam[::-1], Z[:, ::-1]
        s = np.sqrt(np.maximum(lam, 0.0))
        if s[0] <= floor:
            break
        good = s > max(1e-6 * s[0], floor)
        r = int(np.count_nonzero(good))
        if s[-1] < 1e-2 * nrm0:
            well_conditioned = False
        Ug = _cholqr(_gemm.mm(X, Z[:, :r] / s[:r], nt), nt)
        for U in blocks:
            Ug = _cholqr(_project(Ug, U, nt), nt)
        blocks.append(Ug)
        X = _gemm.mm(X, Z[:, r:], nt)
        for U in blocks:
            _project(X, U, nt)
            _project(X, U, nt)
    got = sum(U.shape[1] for U in blocks)
    if got < w:
        Rb = rnd.block(n, w - got)
        for _ in range(2):
            _project(Rb, V, nt)
            for U in blocks:
                _project(Rb, U, nt)
        blocks.append(_cholqr(Rb, nt))
        well_conditioned = False
    Q = np.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]
    if not well_conditioned:
        # a third pass: small directions lose orthogonality to V in proportion to
        # (block norm / their size) in the first two
        _project(Q, V, nt)
        Q = _cholqr(Q, nt)
    Q = np.ascontiguousarray(Q)
    return Q, _gemm.tmm(Q, Wp, nt), got < w


def _thresholds(theta: np.ndarray, tol: float, floor: float) -> np.ndarray:
    return np.maximum(tol * np.abs(theta), floor)


def _ratio(res: np.ndarray, thr: np.ndarray) -> float:
    """``max(res / thr)`` with ``0 / 0 = 0`` (an exact zero residual meets a zero
    threshold: the zero matrix) and ``x / 0 = inf``."""
    if res.size == 0:
        return 0.0
    q = np.divide(res, thr, out=np.where(res > 0, np.inf, 0.0), where=thr > 0)
    return float(np.max(q))


def _more_copies(th: np.ndarray, thr: np.ndarray, which: str, b: int,
                 seen: list[list[float]]) -> bool:
    """Whether a wanted multiple eigenvalue may have more copies than were found.

    ``th`` are the ``k`` converged wanted Ritz values in priority order, ``thr`` their
    thresholds.  A block Krylov space started from ``b`` vectors holds at most ``b``
    copies of an eigenvalue (per injection of fresh directions), so a group of ``>= b``
    equal values (to within their thresholds) followed by less wanted values may hide
    further copies.  ``seen`` records ``[value, count, tol]`` of the groups checked at
    earlier rounds: a round that added fewer than ``b`` copies to a group has exhausted
    its multiplicity.
    """
    idx = np.arange(th.size)
    if which == "BE":
        sides = [(idx[0::2], "LA"), (idx[1::2], "SA")]
    else:
        sides = [(idx, which)]
    need = False
    for ix, w in sides:
        vals, t = th[ix], thr[ix]
        if w == "LA":
            key = -vals
        elif w == "SA":
            key = vals.copy()
        elif w == "LM":
            key = -np.abs(vals)
        else:   # SM
            key = np.abs(vals)
        o = np.argsort(vals, kind="stable")
        i = 0
        while i < o.size:
            j = i + 1
            while (j < o.size and vals[o[j]] - vals[o[j - 1]]
                   <= 4.0 * max(t[o[j]], t[o[j - 1]])):
                j += 1
            g = o[i:j]
            i = j
            c = g.size
            if c < b:
                continue
            tolg = 4.0 * float(np.max(t[g]))
            v = float(np.mean(vals[g]))
            rest = np.setdiff1d(np.arange(vals.size), g)
            if not np.any(key[rest] > float(np.max(key[g])) + tolg):
                continue    # nothing less wanted: more copies would not change the result
            prev = 0
            for entry in seen:
                if abs(entry[0] - v) <= max(entry[2], tolg):
                    prev = max(prev, int(entry[1]))
            if c - prev >= b:
                need = True
            seen.append([v, c, tolg])
    return need


def _rayleigh_ritz(X: np.ndarray, AX: np.ndarray, which: str, keep: int, nt: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rayleigh--Ritz on span(X) (orthonormal X, its products AX): the ``keep`` most
    wanted Ritz values, vectors, their products and residuals ``A y - theta y``."""
    H = _gemm.tmm(X, AX, nt)
    th, s = _eigh(0.5 * (H + H.T))
    o = _priority(th, which)[:keep]
    th, s = th[o], s[:, o]
    Y = _gemm.mm(X, s, nt)
    AY = _gemm.mm(AX, s, nt)
    return th, Y, AY, AY - Y * th


def _colnorms(X: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->j", X, X))


def _solve_dense(op: _Operator, k: int, which: str, tol: float, info: EigshInfo
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = op.n
    if op.dense is not None:
        D = op.dense.astype(np.float64)
    else:
        D = np.empty((n, n))
        step = 256
        for c0 in range(0, n, step):
            c1 = min(n, c0 + step)
            E = np.zeros((n, c1 - c0))
            E[np.arange(c0, c1), np.arange(c1 - c0)] = 1.0
            D[:, c0:c1] = op.product(E, accurate=True)
    if not np.all(np.isfinite(D)):
        raise ValueError("A must contain only finite values (found NaN or inf)")
    D = np.triu(D) + np.triu(D, 1).T   # the upper triangle, as the block products read it
    op.scale = _scale_of(float(np.max(np.abs(D))))
    D *= op.scale
    lam, X = np.linalg.eigh(D)
    sel = _priority(lam, which)[:k]
    lam, X = lam[sel], X[:, sel]
    res = _colnorms(D @ X - X * lam)
    anorm = float(np.max(np.abs(lam))) if lam.size else 0.0
    anorm = max(anorm, float(np.max(np.abs(np.linalg.eigvalsh(D)[[0, -1]]))))
    thr = _thresholds(lam, tol, _FLOOR_C * math.sqrt(n) * _EPS * anorm)
    info.method = "dense"
    return lam, X, res, thr


class _Krylov:
    """The basis of the block iteration and what is kept with it.

    ``V`` (n, m): orthonormal columns, ``size`` of them in use; ``AV = A V`` (the
    products, kept so that Ritz residuals are explicit); ``H = V^T A V``.  The iteration
    (:func:`_solve`) only calls the methods: :meth:`extend` (append a block, get the
    next one), :meth:`rayleigh_ritz` (eigenpairs of H), :meth:`ritz` (Ritz vectors and
    their products), :meth:`restart` (keep Ritz pairs: H diagonal), :meth:`orthogonal`
    (new directions orthogonal to the basis).

    Orthogonalization of a new product A Q (:meth:`extend`): in exact arithmetic A Q
    has components only along the previous block and Q itself (block Lanczos), except
    for the first block after a restart (it couples to every kept Ritz vector) and for
    blocks holding fresh random directions.  So the first Gram--Schmidt pass is local
    (those two blocks) when the Krylov structure holds, and one full pass follows (two
    reads of the basis instead of three; n = 6000, k = 250 and 500: 12-15 % faster);
    otherwise both passes are full.  If the full pass still removes most of a column
    (the structure broken by rounding), :func:`_orth` sees a block far smaller than the
    product and projects the result once more, as for any ill-conditioned block.  H's
    new column is the sum of both passes' coefficients (V^T A Q to rounding).
    """

    def __init__(self, n: int, m: int, rnd: _Random, nt: int) -> None:
        self.V = np.empty((n, m))
        self.AV = np.empty((n, m))
        self.H = np.zeros((m, m))
        self.size = 0
        self.rnd = rnd
        self.nt = nt
        self.prev = 0            # first column of the previous block
        self.full_next = True    # the next block needs a full first pass

    def extend(self, Q: np.ndarray, AQ: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Append the orthonormal block Q and its product; fill the new columns of H.
        Returns the next block (A Q orthogonalized against the basis, completed by
        random directions where it lost rank) and its coefficients Rn."""
        cur, w, nt = self.size, Q.shape[1], self.nt
        V, H = self.V, self.H
        _gemm.put_columns(V, self.AV, Q, AQ, cur, nt)
        size = cur + w
        loc = 0 if self.full_next else min(self.prev, cur)
        Vb = V[:, :size]
        C = np.zeros((size, w))
        C[loc:] = _gemm.tmm(V[:, loc:size], AQ, nt)
        Wp, C2 = _gemm.project_twice(AQ, Vb, C, nt, return_gram=True)
        C += C2
        H[:size, cur:size] = C
        H[cur:size, :cur] = C[:cur].T
        D = C[cur:]
        H[cur:size, cur:size] = 0.5 * (D + D.T)
        self.size = size
        Qn, Rn, fresh = _orth(AQ, Vb, None, self.rnd, nt, Wp=Wp)
        self.prev = cur
        self.full_next = fresh
        return Qn, Rn

    def rayleigh_ritz(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues and eigenvectors of the projected matrix H (ascending)."""
        return _eigh(self.H[:self.size, :self.size])

    def ritz(self, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ritz vectors ``V S`` and their products ``AV S``."""
        cur = self.size
        return (_gemm.mm(self.V[:, :cur], S, self.nt),
                _gemm.mm(self.AV[:, :cur], S, self.nt))

    def restart(self, Y: np.ndarray, AY: np.ndarray, theta: np.ndarray) -> None:
        """Restart the basis from Ritz pairs (thick restart): H = diag(theta)."""
        p = theta.size
        _gemm.put_columns(self.V, self.AV, Y, AY, 0, self.nt)
        self.H[:] = 0.0
        self.H[np.arange(p), np.arange(p)] = theta
        self.size = p
        self.full_next = True    # the next block couples to every kept vector

    def orthogonal(self, W: np.ndarray) -> np.ndarray:
        """An orthonormal block spanning W's directions orthogonal to the basis."""
        self.full_next = True    # its product has components along the whole basis
        return _orth(W, self.V[:, :self.size], None, self.rnd, self.nt)[0]


def _solve(op: _Operator, k: int, which: str, tol: float, maxiter: int, m: int, b: int,
           key: Key, v0: np.ndarray | None, info: EigshInfo, callback: Callable | None,
           progress: bool, t0: float, rel_floor: float = 0.0,
           beyond: float | None = None, gap_last: bool = False
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` most wanted eigenpairs of ``op`` (scaled by ``op.scale``): values, vectors,
    residual norms and the thresholds they met.

    ``gap_last`` (the float32 phase of the mixed mode, without a threshold): the least
    wanted pair is only a gap bound for the others, so its residual need only fall below
    a tenth of its distance to the next most wanted value (never below the strict
    threshold): a bulk-edge value behind well-separated outliers then costs no more
    than the outliers.

    The control flow of the iteration: block steps on a :class:`_Krylov` basis,
    Rayleigh--Ritz on the schedule below, explicit residuals when the estimates pass,
    locking and fresh directions when a multiple eigenvalue may have more copies, a
    refresh of the kept products when the residuals stagnate near the floor, thick
    restarts when the basis is full.
    """
    n = op.n
    op.scale = 1.0          # set below from the first product (a previous attempt's is stale)
    rnd = _Random(key)
    Q0 = rnd.block(n, b)
    if v0 is not None:
        Q0[:, 0] = v0
    nt = max(1, int(op.nt or 1))
    Q = _orth(Q0, np.empty((n, 0)), None, rnd, nt)[0]
    # every product here is a plain one: float64-accumulated, or the float32 product
    # itself in the float32 phase of the mixed-precision mode (_solve_mixed)
    AQ = op.product(Q, accurate=True)       # finite, or ValueError (_Operator.product)
    # work on scale * A (scale a power of 2 from max |A Q|, Q orthonormal: a lower bound
    # of ||A|| within a factor ~n), so that 1e-200 A or 1e200 A neither under- nor
    # overflow in the Gram matrices; the caller divides the results by it (exactly).
    # (max |.|, not a column norm: squares of 1e-200 underflow)
    op.scale = _scale_of(float(np.max(np.abs(AQ))))
    AQ *= op.scale
    kry = _Krylov(n, m, rnd, nt)
    anorm = 0.0
    restarts = 0
    prev_cycle_ratio = math.inf
    p_keep = max(k, min(m - b, k + (m - k - b + 1) // 2))
    p_keep1 = max(k + 1, p_keep) if m - b >= k + 1 else p_keep
    wmax = max(1, (m - k) // 2)
    seen: list[list[float]] = []   # multiple eigenvalues checked for further copies
    kw = k                         # pairs that must converge (k + 1 after a lock)

    def schedule(c: int) -> int:
        # Rayleigh--Ritz (an eigh of H) only every quarter of the room left in the basis,
        # at least m/8 apart, and when it is full: an eigh per block step cost more than
        # the products' orthogonalization at k ~ 100, and near a full basis of 1000 the
        # quarter steps alone meant 16 eighs per cycle (n = 6000, k = 250: 8.96 -> 6.28 s
        # with the m/8 floor, 1 % more products).  And never closer than the products an
        # eigh of that order costs (_RR_VECTORS), so that the checks take at most about
        # as long as the products between them: this matters once m**3 >> n**2 (n = 6000,
        # k = 500, m = 2000: seven eighs took 4.7 of 11.9 s).  A function of (c, m, n, b)
        # only: the same schedule, hence the same results, on every run.
        gap = max(b, (m - c) // 4, m // 8)
        return c + max(gap, int(_RR_VECTORS * float(min(c + gap, m)) ** 3 / float(n) ** 2))

    next_check = schedule(0)

    def floor() -> float:
        return max(_FLOOR_C * math.sqrt(n) * _EPS, rel_floor) * anorm

    # with a threshold (eigvals_above, experiment): a wanted value short of it need only
    # converge until it is certified on its side (residual below half its distance to
    # the threshold); the strict thresholds still decide what counts as equal values
    side = (float(_key(np.array([beyond * op.scale]), which)[0])
            if beyond is not None and which in ("LA", "SA", "LM") else None)

    def thresholds(vals: np.ndarray) -> np.ndarray:
        t = _thresholds(vals, tol, floor())
        if gap_last and vals.size >= 2:
            kv = _key(vals[-2:], which)
            t[-1] = max(t[-1], 0.1 * float(kv[0] - kv[1]))
        if side is None:
            return t
        kv = _key(vals, which)
        return np.where(kv <= side, np.maximum(t, 0.5 * (side - kv)), t)

    def report(nconv: int, maxres: float, event: str) -> None:
        snap = replace(info, iterations=restarts, n_products=op.n_vectors,
                       n_block_products=op.n_blocks, n_accurate_products=op.n_accurate,
                       n_converged=nconv, time=time.perf_counter() - t0,
                       product_time=op.time)
        if callback is not None:
            callback(snap)
        if progress:
            sys.stderr.write(f"eigsh: {event} {restarts:4d}  products {op.n_vectors:7d}  "
                             f"converged {nconv:4d}/{k}  max residual {maxres:.2e}  "
                             f"{snap.time:8.2f} s\n")
            sys.stderr.flush()

    while True:
        # ---- one block step: append Q (and A Q) to the basis
        if AQ is None:
            AQ = op.product(Q, accurate=True)
        w = Q.shape[1]
        Qn, Rn = kry.extend(Q, AQ)
        AQ = None
        cur = kry.size
        full = cur + Qn.shape[1] > m
        if not full and cur < next_check:
            Q = Qn
            continue
        next_check = schedule(cur)
        theta, S = kry.rayleigh_ritz()
        anorm = max(anorm, float(np.max(np.abs(theta))))
        order = _priority(theta, which)
        sel = order[:kw]
        thr = thresholds(theta[sel])
        est = _colnorms(Rn @ S[cur - w:cur, sel])
        if not (full or np.all(est <= thr)):
            Q = Qn
            continue
        # ---- explicit residuals of the wanted Ritz pairs
        Y, AY = kry.ritz(S[:, sel])
        res = _colnorms(AY - Y * theta[sel])
        ratio = _ratio(res, thr)
        done = ratio <= 1.0 and sel.size == kw
        if done:
            strict = _thresholds(theta[sel], tol, floor())
            if not _more_copies(theta[sel][:k], strict[:k], which, b, seen):
                info.iterations = restarts
                return theta[sel][:k], Y[:, :k], res[:k], thr[:k]
            # lock the converged pairs, continue from fresh random directions
            restarts += 1
            report(kw, float(np.max(res)), "lock")
            if restarts > maxiter:
                _no_convergence(theta[sel], Y, res, thr, info, restarts, op, t0)
            kry.restart(Y, AY, theta[sel])
            next_check = schedule(kry.size)
            # from now on one more pair must converge: the most wanted one the fresh
            # directions bring (a further copy, or the first value below the group)
            kw = max(kw, min(k + 1, m - b, n - 1))
            prev_cycle_ratio = math.inf
            Q = kry.orthogonal(rnd.block(n, b))
            continue
        # near the floor, the rounding accumulated in the kept A y over many restarts
        # can stall the residuals: recompute them (refresh)
        stagnant = (full and ratio > 1.0 and ratio > 0.9 * prev_cycle_ratio
                    and float(np.max(res)) <= 1e-9 * anorm)
        if stagnant:
            # ---- refresh: fresh products of the wanted Ritz vectors
            info.refreshes += 1
            AYa = op.product(Y, accurate=True)
            th, Y, AY, R = _rayleigh_ritz(Y, AYa, which, Y.shape[1], nt)
            res = _colnorms(R)
            anorm = max(anorm, float(np.max(np.abs(th))))
            thr = thresholds(th)
            rr = _ratio(res, thr)
            report(int(np.count_nonzero(res <= thr)), float(np.max(res)), "refresh")
            lock = False
            if rr <= 1.0 and th.size == kw:
                strict = _thresholds(th, tol, floor())
                if not _more_copies(th[:k], strict[:k], which, b, seen):
                    info.iterations = restarts
                    return th[:k], Y[:, :k], res[:k], thr[:k]
                lock = True
                kw = max(kw, min(k + 1, m - b, n - 1))
            prev_cycle_ratio = math.inf
            restarts += 1
            if restarts > maxiter:
                _no_convergence(th, Y, res, thr, info, restarts, op, t0)
            kry.restart(Y, AY, th)
            next_check = schedule(kry.size)
            bad = res > thr
            W = rnd.block(n, b) if lock else R[:, bad]
            if W.shape[1] > wmax:
                lw, zw = _eigh(_gemm.tmm(W, W, nt))
                W = _gemm.mm(W, zw[:, ::-1][:, :wmax], nt)
            Q = kry.orthogonal(W)
            continue
        if not full:
            Q = Qn
            continue
        # ---- thick restart
        prev_cycle_ratio = ratio
        restarts += 1
        report(int(np.count_nonzero(res <= thr)), float(np.max(res)), "restart")
        if restarts > maxiter:
            _no_convergence(theta[sel], Y, res, thr, info, restarts, op, t0)
        p = min(p_keep if kw == k else p_keep1, cur, m - Qn.shape[1])
        keep = order[:p]
        kry.restart(*kry.ritz(S[:, keep]), theta[keep])
        next_check = schedule(kry.size)
        Q = Qn


def _key(theta: np.ndarray, which: str) -> np.ndarray:
    """Larger = more wanted (LA, SA, LM)."""
    if which == "LA":
        return theta
    if which == "SA":
        return -theta
    return np.abs(theta)


def _solve_mixed(op: _Operator, k: int, which: str, tol: float, maxiter: int, m: int,
                 b: int, key: Key, v0: np.ndarray | None, info: EigshInfo,
                 callback: Callable | None, progress: bool, t0: float,
                 beyond: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Float32 Krylov phase, then one float64-accumulated Rayleigh--Ritz step.

    Phase 1 runs the block Lanczos iteration on the float32 products alone, for
    ``k + 1`` pairs, down to a relative residual ``max(tol, 1e-6)``.  Phase 2 multiplies
    those ``k + 1`` Ritz vectors once with float64 accumulation and solves the projected
    problem.  With ``R = A Y - Y Theta`` (``rho = ||R||_2``) the eigenvalues of A lie
    within ``2 rho^2 / (eta_j + sqrt(eta_j^2 + 4 rho^2))`` of the Ritz values ``theta_j``
    (C.-K. Li and R.-C. Li, LAA 2005), ``eta_j`` the distance from ``theta_j`` to the
    spectrum of A on the orthogonal complement, bounded below by the distance to the
    ``k + 1``-th Ritz value (converged too) less its residual and ``rho``.  Every one
    of the ``k`` values must meet the relative accuracy ``max(tol, 1e-10)``.  With
    ``beyond`` (a threshold: eigvals_above, experiment) a value short of it is
    converged in phase 1 only until it is certified on its side (Ritz value plus
    residual short of the threshold), and the others are bounded with ``rho`` over them
    alone and ``eta_j`` = their distance to the threshold less ``rho`` (no other
    eigenvalue lies beyond it).  Returns the ``k`` pairs with residual thresholds equivalent to the bound, or
    None (the caller then solves with float64-accumulated products).
    """
    n = op.n
    kk = k + 1
    if kk >= n or which not in ("LA", "SA", "LM"):
        return None
    fast = _Operator(n, op._fast, None, op.kind + " (float32 phase)", eps=op.eps)
    fast.nt = op.nt
    try:
        _, Y, _, _ = _solve(fast, kk, which, tol, maxiter, min(max(m, kk + 2 * b), n),
                            b, key, v0, info, callback, progress, t0,
                            rel_floor=_MIXED_PHASE1, beyond=beyond,
                            gap_last=beyond is None)
    except EigshNoConvergence:
        return None
    finally:
        op.n_vectors += fast.n_vectors
        op.n_blocks += fast.n_blocks
        op.time += fast.time
    op.scale = fast.scale
    nt = max(1, int(op.nt or 1))
    rnd = _Random(Key(key.k0, key.k1 ^ 0x3C3C3C3C))
    etol = max(tol, _MIXED_EIG_TOL)
    side = (float(_key(np.array([beyond * op.scale]), which)[0])
            if beyond is not None else math.inf)
    X, AX = Y, op.product(Y, accurate=True)
    for step in range(1 + _MIXED_EXPANSIONS):
        # Rayleigh--Ritz on span(X) with float64-accumulated products
        th, Y, AY, R = _rayleigh_ritz(X, AX, which, kk, nt)
        res = _colnorms(R)
        kth = _key(th, which)
        # values short of the threshold need only be certified on their side (one
        # residual: an eigenvalue within res of theta); the others must be accurate
        short = kth[:k] <= side
        must = np.flatnonzero(~short)
        RB = R[:, must]
        rho = (float(np.sqrt(max(float(np.linalg.eigvalsh(_gemm.tmm(RB, RB, nt))[-1]), 0.0)))
               if must.size else 0.0)
        # distance of each accurate value to the rest of the spectrum (the complement's
        # top moves by <= rho): to the threshold (no other eigenvalue lies beyond it),
        # else to the (k + 1)-th value, converged too, plus its residual
        eta = ((kth[:k] - side - rho) if math.isfinite(side)
               else (kth[:k] - kth[k] - res[k] - rho))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            bound = np.where(eta > 0,
                             2 * rho * rho / (eta + np.sqrt(eta * eta + 4 * rho * rho)),
                             np.inf)
        anorm = float(np.max(np.abs(th)))
        want = etol * np.maximum(np.abs(th[:k]), _FLOOR_C * math.sqrt(n) * _EPS * anorm)
        info.refreshes += 1
        ok = np.where(short, kth[:k] + res[:k] < side, bound <= want)
        if progress:
            sys.stderr.write(f"eigsh: float64 Rayleigh-Ritz {step}: ||R|| {rho:.2e}, "
                             f"{int(np.count_nonzero(ok))}/{k} certified\n")
        if np.all(ok):
            break
        if step == _MIXED_EXPANSIONS:
            return None
        # expand by the residual directions (one block-Krylov step in float64): all of
        # the accurate values' (their block norm is what the bound needs), and the
        # failing side checks'
        cols = np.union1d(must, np.flatnonzero(~ok))
        Q = _orth(R[:, cols], Y, None, rnd, nt)[0]
        X = np.concatenate([Y, Q], axis=1)
        AX = np.concatenate([AY, op.product(Q, accurate=True)], axis=1)
    # the residual norm each value needed: rho^2 / eta <= want for an accurate value,
    # the distance to the threshold for a value short of it
    thr = np.where(short, np.maximum(side - kth[:k], 0.0),
                   np.sqrt(want * np.maximum(eta, 0.0)))
    thr = np.maximum(thr, np.where(ok, res[:k], 0.0))
    info.method = "mixed-precision block-lanczos"
    return th[:k], Y[:, :k], res[:k], thr


def _record(info: EigshInfo, op: _Operator, res: np.ndarray, thr: np.ndarray,
            t0: float) -> None:
    """Fill ``info`` with the operator's counters and the final residuals/thresholds
    (already in A's units), the number converged and the elapsed time."""
    info.n_products = op.n_vectors
    info.n_block_products = op.n_blocks
    info.n_accurate_products = op.n_accurate
    info.product_time = op.time
    info.residuals = res
    info.tolerances = thr
    info.n_converged = int(np.count_nonzero(res <= thr))
    info.time = time.perf_counter() - t0


def _no_convergence(theta, Y, res, thr, info, restarts, op, t0) -> None:
    ok = res <= thr
    # the solver works on scale * A: report A's values (exact power-of-2 division)
    theta, res, thr = theta / op.scale, res / op.scale, thr / op.scale
    info.iterations = restarts
    _record(info, op, res, thr, t0)
    info.converged = False
    raise EigshNoConvergence(
        f"eigsh: no convergence after {restarts - 1} restarts (maxiter); "
        f"{info.n_converged} of {theta.size} eigenpairs converged",
        theta[ok], Y[:, ok], info)
