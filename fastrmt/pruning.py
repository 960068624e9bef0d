"""Pruning weight layers by the rank their signal needs.

A layer ``W = S + sigma Z`` (``n x m``) is replaced by a low-rank ``U_r diag(v) V_r^T``
of its leading singular components: ``r (n + m)`` parameters in factored form instead of
``n m`` (the output file stores the product, so the model loads unchanged; the counts
report the factored size).  Which rank each layer gets:

``keep="signal"`` (default) - the rank the estimated **full-rank** signal needs: the
    rotationally invariant estimator (:func:`fastrmt.shrinkage.rie_singular_values`)
    estimates ``xi_i = u_i^T S v_i`` along every singular pair, and the layer keeps the
    components whose ``xi_i`` exceeds the largest value pure noise of the same shape
    and level gives (:func:`fastrmt.shrinkage.noise_floor`; ``xi_i > 0`` alone is no
    evidence: on pure noise about half the estimates are positive) - the outliers plus
    as much of the bulk as carries signal above the noise.  The evidence that a layer
    is not pure noise at all is the calibrated outlier test of
    :mod:`fastrmt.weights` (Tracy-Widom margin): a layer without any outlier is
    **left unchanged** and reported, never zeroed, whatever its RIE values (pure noise
    passes the noise floor by a few components half of the time).

    The rank is then raised until the layer changes by at most ``max_change`` (default
    0.05) in relative Frobenius norm, ``||W - W_r||_F <= max_change ||W||_F``: in trained
    networks the noise bulk is used by the function too (random features), and
    removing it wrecks the model.  Measured on all-MiniLM-L6-v2 (1000 sentences; mean
    cosine between original and pruned sentence embeddings / Spearman of their pairwise
    similarities): the signal rank alone (``max_change=None``) of the 36 encoder layers
    gives 0.29 / 0.41; on the whole file, ``max_change=0.1`` gives 0.984 / 0.973 (3.7 %
    fewer parameters, all from the embedding tables), the default 0.05 gives
    0.9998 / 0.9997 (1.4 % fewer).  So by default a layer is factored only where that
    costs little; a layer whose rank would reach the break-even
    (``r (n + m) >= n m``: the factored form is not smaller) stays dense and unchanged,
    and the report says why.  ``max_change`` applies to ``keep="signal"`` without a
    budget; a budget (below) or an explicit ``keep`` means what it says.
``keep="outliers"`` - only the singular values beyond the noise bulk's edge (the
    spiked model of :mod:`fastrmt.weights`; usually far too few for a trained network).
``keep=r`` (int) - the top ``r`` components of every layer.

A global budget (``ratio`` = fraction of the pruned layers' parameters kept, or
``target_params``) is split across layers by the same estimate: the components are
taken in the order of the share of their layer's energy that the estimate calls signal,
``xi_i^2 / ||W||_F^2`` (0 below the noise floor), per parameter they cost (``n + m``),
then by their observed share ``s_i^2 / ||W||_F^2``, until the budget is spent
(a layer that reaches the break-even rank becomes dense, costing ``n m``).  Within a
layer the leading components always come first.  Uniform-rank truncation, magnitude
pruning and the Gavish-Donoho threshold are the baselines of
``benchmarks/run_minilm_prune.py``.

The kept components get their observed singular values (``shrink="none"``, the default:
pruning should change the function as little as possible), the RIE values
(``shrink="rie"``: a de-noised layer), or, for the outliers only, the Gavish-Donoho
Frobenius shrinker (``"optimal"``) or the BGN signal value (``"denoised"``).

Sparse pruning by the heavy tail (:func:`prune_sparse`)
-------------------------------------------------------
Unstructured pruning inside each layer (its largest ``|w|`` kept), with each layer's
density set from the power-law exponent ``alpha`` of its empirical spectral density
(the heavy-tail metric of :mod:`fastrmt.heavytail`): ``d_l = b + spread (2 x_l - 1) + c``
with ``x_l`` the layer's ``alpha`` mapped linearly onto [0, 1] over the pruned layers,
``b`` the budget's fraction and ``c`` the shift that makes the total exactly the
budget (densities clipped to [0, 1]).  Layers with a *larger* ``alpha`` (a lighter tail,
an ESD closer to Marchenko-Pastur: the weight spread over many entries, so magnitude
pruning removes more of it at a given density) are kept denser.  That is the opposite
of AlphaPruning's rule (Lu et al., NeurIPS 2024), and it is what measured better on
all-MiniLM-L6-v2 (``benchmarks/run_minilm_prune.py``); ``spread = 0.1`` was chosen on
400 held-out sentences.  A layer without a fitted ``alpha`` (too small, or too few
eigenvalues) gets the middle value.
"""
from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ._files import check_file
from ._threads import thread_limit
from ._validation import check_bool, check_choice, check_int, check_real
from ._weights_io import WeightsFileError, detect_format, load_file, save_file
from .shrinkage import noise_floor, rie_singular_values
from .weights import (_FLOOR, WeightsReport, _as_weights_file, _check_common, _select, _sym_top,
                      analyze_weights, bgn_signal, optimal_shrinkage)

__all__ = ["LayerPrune", "PruneReport", "KEEPS", "SHRINKS", "STRUCTURES", "prune_weights",
           "prune_sparse", "prune_file"]

KEEPS = ("signal", "outliers")
SHRINKS = ("none", "rie", "optimal", "denoised")
STRUCTURES = ("low-rank", "sparse")


@dataclass
class LayerPrune:
    """What pruning did to one layer.

    ``params_before = n * m``; ``params_after = rank * (n + m)`` when ``stored ==
    "factored"``, else ``n * m`` (``"dense"``: kept at full rank, ``"unchanged"``: not
    pruned at all, see ``note``).  ``rank_signal`` is the estimator's rank (components
    above the noise floor, 0 for a layer without outliers; -1 when not computed),
    ``rank_outliers`` the count of outliers beyond the bulk edge, ``signal_kept`` the estimated share of the layer's signal
    energy that the kept components carry (``sum xi^2`` kept / total; NaN when not
    computed) and ``frob_removed = ||W - W_pruned||_F / ||W||_F``.
    """

    name: str
    shape: tuple[int, ...]
    rank: int
    rank_outliers: int
    rank_bulk: int
    full_rank: int
    params_before: int
    params_after: int
    frob_removed: float
    shrink: str
    rank_signal: int = -1
    signal_kept: float = float("nan")
    sigma: float = float("nan")
    stored: str = "factored"
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["shape"] = list(self.shape)
        for k in ("signal_kept", "sigma", "frob_removed"):
            if not math.isfinite(d[k]):
                d[k] = None  # strict JSON
        return d


@dataclass
class PruneReport:
    """Per-layer :class:`LayerPrune` records, plus the analysis they were based on.

    ``budget`` is the parameter count requested for the pruned layers (None without a
    budget); ``params_before`` / ``params_after`` sum over every reported layer.
    """

    layers: list[LayerPrune]
    analysis: WeightsReport
    output: str | None = None
    budget: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def params_before(self) -> int:
        return sum(r.params_before for r in self.layers)

    @property
    def params_after(self) -> int:
        return sum(r.params_after for r in self.layers)

    def to_dict(self) -> dict[str, Any]:
        return {"output": self.output, "params_before": self.params_before,
                "params_after": self.params_after, "budget": self.budget,
                "layers": [r.to_dict() for r in self.layers]}

    def table(self) -> str:
        rows = [("layer", "shape", "rank kept", "signal rank", "outliers", "stored",
                 "params before", "params after", "removed |dW|/|W|", "note")]
        for r in self.layers:
            rows.append((r.name, "x".join(map(str, r.shape)), f"{r.rank}/{r.full_rank}",
                         "-" if r.rank_signal < 0 else str(r.rank_signal),
                         str(r.rank_outliers), r.stored, str(r.params_before),
                         str(r.params_after), f"{r.frob_removed:.3f}", r.note))
        rows.append(("total", "", "", "", "", "", str(self.params_before),
                     str(self.params_after), "", ""))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        left = (0, 1, 5, 9)
        lines = ["  ".join(cell.ljust(w) if i in left else cell.rjust(w)
                           for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
                 for row in rows]
        lines.insert(1, "-" * len(lines[0]))
        before, after = self.params_before, self.params_after
        if before:
            lines.append(f"parameters kept: {after}/{before} ({100.0 * after / before:.1f} %)"
                         + ("" if self.budget is None else f", budget {self.budget}"))
        return "\n".join(lines + self.notes)


def _check_shrink(shrink: bool | str) -> str:
    if isinstance(shrink, (bool, np.bool_)):
        return "optimal" if shrink else "none"
    return check_choice("shrink", shrink, SHRINKS)


def _check_keep(keep: str | int) -> str | int:
    if isinstance(keep, str):
        return check_choice("keep", keep, KEEPS)
    return check_int("keep", keep, min_value=0)


def _check_sigma(sigma: Any) -> float | Mapping[str, float] | None:
    if sigma is None:
        return None
    if isinstance(sigma, Mapping):
        return {str(k): check_real(f"sigma[{k!r}]", v, min_value=0.0) for k, v in sigma.items()}
    return check_real("sigma", sigma, min_value=0.0)


def _top_svd(B: np.ndarray, k: int, full: bool, nt: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k singular triplets of B (p x q, p <= q)."""
    p = B.shape[0]
    if k == 0:
        return np.empty((p, 0)), np.empty(0), np.empty((0, B.shape[1]))
    if full or k >= p - 1:
        U, s, Vt = np.linalg.svd(B, full_matrices=False)
        return U[:, :k], s[:k], Vt[:k]
    Bt = np.ascontiguousarray(B.T)
    vals, U = _sym_top(lambda x: B @ (Bt @ x), p, threshold=None, k=k, vectors=True,
                       n_threads=nt)
    s = np.sqrt(np.maximum(vals, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        Vt = (U.T @ B) / np.where(s > 0, s, 1.0)[:, None]
    return U, s, Vt


@dataclass
class _Layer:
    name: str
    rec: Any
    A: np.ndarray
    U: np.ndarray | None = None
    s: np.ndarray | None = None
    Vt: np.ndarray | None = None
    xi: np.ndarray | None = None
    sigma: float = float("nan")
    above: np.ndarray | None = None  # components with signal beyond the noise floor
    r_signal: int = -1
    limited: bool = False


def _too_small(rec: Any, size: int, shrink_s: str, min_dim: int) -> LayerPrune:
    """The record of a layer copied unchanged because ``min(n, m) < min_dim``."""
    p = min(rec.matrix_shape)
    return LayerPrune(rec.name, tuple(rec.shape), p, rec.n_outliers, 0, p, int(size),
                      int(size), 0.0, shrink_s, stored="unchanged",
                      note=f"unchanged: min(n, m) = {p} < min_dim = {min_dim}")


def _allocate(layers: list[_Layer], budget: int) -> list[int]:
    """Ranks per layer within ``budget`` parameters (module docstring)."""
    cand = []
    for li, L in enumerate(layers):
        n, m = L.A.shape
        fro2 = float(np.sum(L.s * L.s)) or 1.0
        # leading components first: scores made non-increasing within the layer
        xi = np.where(L.above, L.xi, 0.0)  # below the floor: no evidence of signal
        sig = np.minimum.accumulate(xi * xi / fro2) / (n + m)
        obs = np.minimum.accumulate(L.s * L.s / fro2) / (n + m)  # ties among xi = 0
        for i in range(L.s.size):
            cand.append((-sig[i], -obs[i], li, i))
    cand.sort()
    ranks = [0] * len(layers)
    cost = [0] * len(layers)
    total = 0
    for _, _, li, i in cand:
        if i != ranks[li]:  # an earlier component of this layer was refused
            continue
        n, m = layers[li].A.shape
        new = min((ranks[li] + 1) * (n + m), n * m)
        if total - cost[li] + new <= budget:
            total += new - cost[li]
            cost[li] = new
            ranks[li] += 1
            if new == n * m:  # dense now: the rest of the layer costs nothing more
                ranks[li] = layers[li].s.size
    return ranks


def prune_weights(source: str | os.PathLike | np.ndarray | Mapping[str, Any], *,
                  keep: str | int = "signal", shrink: bool | str = "none",
                  ratio: float | None = None, target_params: int | None = None,
                  bulk_share: float = 0.0, sigma: float | Mapping[str, float] | None = None,
                  max_change: float | None = 0.05, method: str = "bema",
                  margin: float = 3.0, min_dim: int = 32,
                  layers: Sequence[str] | None = None, n_threads: int | None = None,
                  progress: bool | Callable[[int, int, str], None] = False
                  ) -> tuple[dict[str, np.ndarray], PruneReport]:
    """Replace each layer by the leading singular components its signal needs.

    Every layer is analysed under the rectangular model ``"mp"`` (square ones too:
    pruning acts on ``W`` itself, not on its symmetric part); see the module docstring
    for how the ranks are chosen.

    Parameters
    ----------
    source : path, ndarray or mapping
        As in :func:`fastrmt.weights.analyze_weights`.
    keep : "signal", "outliers" or int
        Rank rule per layer (module docstring); ``"signal"`` by default.
    shrink : {"none", "rie", "optimal", "denoised"} or bool
        Values given to the kept components (module docstring).  ``True`` means
        ``"optimal"``.  ``"optimal"``/``"denoised"`` shrink the outliers only.
    ratio : float in (0, 1], optional
        Global budget: keep this fraction of the pruned layers' parameters (counted in
        factored form), split across layers by the estimated signal.  Needs
        ``keep="signal"``.
    target_params : int, optional
        The same budget as an absolute parameter count.  Not with ``ratio``.
    bulk_share : float in [0, 1]
        Also keep this share of each layer's remaining components, largest first (not
        with a budget).
    max_change : float or None, default 0.05
        With ``keep="signal"`` and no budget: the largest relative change
        ``||W - W_pruned||_F / ||W||_F`` allowed per layer (the rank is raised until it
        holds).  None: the signal rank alone.  Ignored with a budget or another ``keep``.
    sigma : float or mapping name -> float, optional
        Per-entry noise level to use instead of the estimate (for example the
        initialisation scale).  Default: :func:`fastrmt.weights.analyze_matrix`'s
        estimate, which treats the bulk's width as noise.
    method, margin
        As in :func:`fastrmt.weights.analyze_matrix`.
    min_dim : int, default 32
        Layers with ``min(n, m) < min_dim`` are copied unchanged and reported: too small
        for the asymptotic model (a classifier head with 10 outputs, say).
    layers : sequence of str, optional
        Only prune these layers; the others are copied unchanged (not reported).
    n_threads, progress
        As in :func:`fastrmt.weights.analyze_weights`.

    Returns
    -------
    tensors : dict
        Every tensor of the source, pruned layers replaced (same shape and dtype).
    report : PruneReport
    """
    keep = _check_keep(keep)
    shrink_s = _check_shrink(shrink)
    bulk_share = check_real("bulk_share", bulk_share, min_value=0.0, max_value=1.0)
    if ratio is not None:
        ratio = check_real("ratio", ratio, min_value=0.0, max_value=1.0, strict_min=True)
    if target_params is not None:
        target_params = check_int("target_params", target_params, min_value=0)
    budgeted = ratio is not None or target_params is not None
    if ratio is not None and target_params is not None:
        raise ValueError(f"give ratio or target_params, not both (got ratio={ratio}, "
                         f"target_params={target_params})")
    if budgeted and keep != "signal":
        raise ValueError(f"a budget (ratio / target_params) needs keep='signal', got "
                         f"keep={keep!r}")
    if budgeted and bulk_share > 0:
        raise ValueError(f"bulk_share={bulk_share} cannot be combined with a budget")
    sig_arg = _check_sigma(sigma)
    if max_change is not None:
        max_change = check_real("max_change", max_change, min_value=0.0, max_value=1.0)
    method, margin, _, _ = _check_common(method, margin, "mp", "auto")
    min_dim = check_int("min_dim", min_dim, min_value=2)
    wf = _as_weights_file(source)
    names = _select(wf, layers)
    analysis = analyze_weights(wf, method=method, margin=margin, model="mp", layers=names,
                               heavy_tail=False, n_threads=n_threads, progress=progress)
    if isinstance(sig_arg, Mapping):
        unknown = sorted(set(sig_arg) - set(names))
        if unknown:
            raise ValueError(f"sigma names layers that are not pruned: {unknown[:5]}")
    tensors = dict(wf.tensors)
    recs: dict[str, LayerPrune] = {}
    work: list[_Layer] = []
    need_full = keep == "signal" or shrink_s == "rie"
    with thread_limit(n_threads) as nt:
        for rec in analysis.layers:
            orig = wf.tensors[rec.name]
            A = np.asarray(wf.matrix(rec.name), dtype=np.float64)
            n, m = A.shape
            p = min(n, m)
            if p < min_dim:
                recs[rec.name] = _too_small(rec, orig.size, shrink_s, min_dim)
                continue
            L = _Layer(rec.name, rec, A)
            L.sigma = rec.sigma if sig_arg is None else (
                sig_arg if not isinstance(sig_arg, Mapping) else sig_arg.get(rec.name,
                                                                              rec.sigma))
            if need_full:
                B = A if n <= m else A.T
                L.U, L.s, L.Vt = np.linalg.svd(B, full_matrices=False)
                L.xi = rie_singular_values(L.s, (n, m), L.sigma, n_threads=nt)
                # above the noise floor, and not rounding (below 1e-7 ||W||_F: weights._FLOOR)
                L.above = (L.xi > noise_floor((n, m), L.sigma, n_threads=nt)) \
                    & (L.s > _FLOOR * float(np.linalg.norm(L.s)))
                L.r_signal = int(np.count_nonzero(L.above)) if rec.n_outliers else 0
            work.append(L)
        if budgeted:
            eligible = sum(L.A.size for L in work)
            budget = int(math.floor(ratio * eligible)) if ratio is not None else target_params
            # layers with nothing above the noise are left alone, their cost first
            alone = [L for L in work if L.r_signal == 0]
            fixed = sum(L.A.size for L in alone)
            if budget < fixed:
                raise ValueError(f"the budget of {budget} parameters is below the {fixed} of "
                                 f"the {len(alone)} layer(s) left unchanged (no component "
                                 "above the noise)")
            rest = [L for L in work if L.r_signal > 0]
            alloc = dict(zip([L.name for L in rest], _allocate(rest, budget - fixed)))
            ranks = [alloc.get(L.name, 0) for L in work]
        else:
            budget = None
            ranks = []
            for L in work:
                p = min(L.A.shape)
                if keep == "signal":
                    r = L.r_signal
                    if r > 0 and max_change is not None:
                        # removed share if the top i are kept: sqrt(sum_{j >= i} s_j^2)/||s||
                        tail = np.sqrt(np.cumsum((L.s * L.s)[::-1])[::-1])
                        tail = np.append(tail, 0.0) / max(float(tail[0]), 1e-300)
                        r = max(r, int(np.argmax(tail <= max_change)))
                        L.limited = True
                elif keep == "outliers":
                    r = L.rec.n_outliers
                else:
                    r = min(int(keep), p)
                r += int(round(bulk_share * (p - r)))
                ranks.append(r)
        for L, r in zip(work, ranks):
            recs[L.name] = _prune_one(L, r, keep, shrink_s, budgeted, tensors, nt)
    out = [recs[r.name] for r in analysis.layers]
    report = PruneReport(layers=out, analysis=analysis, budget=budget)
    zeroed = [r.name for r in out if r.stored == "zeroed"]
    if zeroed:
        report.notes.append(f"warning: the budget left {len(zeroed)} layer(s) with rank 0 "
                            f"(zeroed): {', '.join(zeroed[:5])}")
    return tensors, report


def _prune_one(L: _Layer, r: int, keep: Any, shrink_s: str, budgeted: bool,
               tensors: dict[str, np.ndarray], nt: int) -> LayerPrune:
    rec, A = L.rec, L.A
    orig = tensors[L.name]
    n, m = A.shape
    p = min(n, m)
    r_sig = L.r_signal
    sk = float("nan")
    if L.xi is not None:
        tot = float(np.sum(L.xi ** 2))
        sk = float(np.sum(L.xi[:r] ** 2)) / tot if tot > 0 else float("nan")
    base = dict(name=L.name, shape=tuple(orig.shape), full_rank=p, params_before=n * m,
                rank_outliers=rec.n_outliers, shrink=shrink_s, rank_signal=r_sig,
                sigma=L.sigma, signal_kept=sk)
    if r == 0 and keep == "signal" and r_sig == 0:
        return LayerPrune(rank=p, rank_bulk=0, params_after=n * m, frob_removed=0.0,
                          stored="unchanged", note="unchanged: no component above the noise",
                          **base)
    if r == 0:
        tensors[L.name] = np.zeros_like(orig)
        return LayerPrune(rank=0, rank_bulk=0, params_after=0, frob_removed=1.0 if np.any(A)
                          else 0.0, stored="zeroed",
                          note="zeroed: the budget gave it rank 0" if budgeted else
                          "zeroed: rank 0 requested", **base)
    if r * (n + m) >= n * m and shrink_s != "rie":
        if budgeted:
            note = "dense: break-even rank reached"
        elif L.limited and r > L.r_signal:
            note = "dense: max_change needs at least the break-even rank"
        else:
            note = "dense: the signal needs at least the break-even rank"
        return LayerPrune(rank=p, rank_bulk=max(p - rec.n_outliers, 0), params_after=n * m,
                          frob_removed=0.0, stored="dense", note=note, **base)
    B = A if n <= m else A.T
    if L.s is not None:
        U, s, Vt = L.U[:, :r], L.s[:r], L.Vt[:r]
    else:
        U, s, Vt = _top_svd(B, r, full=rec.solver == "svd" or r > p // 4, nt=nt)
    vals = s.copy()
    if shrink_s == "rie":
        vals = L.xi[:r].copy()
    elif shrink_s != "none" and rec.bulk_scale > 0:
        n_sig = min(rec.n_outliers, int(np.sum(s > rec.threshold)))
        y = s[:n_sig] / rec.bulk_scale
        if shrink_s == "optimal":
            vals[:n_sig] = rec.bulk_scale * optimal_shrinkage(y, rec.ratio)
        else:
            vals[:n_sig] = rec.bulk_scale * bgn_signal(y, rec.ratio)
    P = (U * vals) @ Vt
    if n > m:
        P = P.T
    norm = float(np.linalg.norm(A))
    removed = float(np.linalg.norm(A - P)) / norm if norm > 0 else 0.0
    tensors[L.name] = P.reshape(orig.shape).astype(orig.dtype, copy=False)
    factored = r * (n + m) < n * m
    return LayerPrune(rank=r, rank_bulk=max(r - rec.n_outliers, 0),
                      params_after=r * (n + m) if factored else n * m, frob_removed=removed,
                      stored="factored" if factored else "dense", **base)


def _sparse_densities(alpha: np.ndarray, sizes: np.ndarray, fraction: float,
                      spread: float) -> np.ndarray:
    """Per-layer densities ``clip(fraction + spread (2 x - 1) + c, 0, 1)``, x = alpha
    mapped onto [0, 1] (0.5 where alpha is NaN), c found by bisection so that the
    densities weighted by ``sizes`` average exactly ``fraction``."""
    fin = np.isfinite(alpha)
    x = np.full(alpha.size, 0.5)
    if fin.sum() >= 2 and np.ptp(alpha[fin]) > 0:
        x[fin] = (alpha[fin] - alpha[fin].min()) / np.ptp(alpha[fin])
    base = fraction + spread * (2.0 * x - 1.0)
    total = fraction * sizes.sum()

    def kept(c: float) -> float:
        return float((np.clip(base + c, 0.0, 1.0) * sizes).sum())

    lo, hi = -1.0 - spread, 1.0 + spread          # kept(lo) = 0 <= total <= kept(hi)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if kept(mid) <= total else (lo, mid)
    return np.clip(base + lo, 0.0, 1.0)


def _keep_largest(w: np.ndarray, density: float) -> np.ndarray:
    """``w`` with all but its ``round(density * w.size)`` largest ``|w|`` set to zero
    (same shape and dtype; ``w`` itself when everything is kept)."""
    a = np.abs(w).ravel()
    k = int(round(density * a.size))
    if k >= a.size:
        return w
    keep = np.zeros(a.size, dtype=bool)
    if k > 0:
        keep[np.argpartition(a, a.size - k)[a.size - k:]] = True
    return np.where(keep.reshape(w.shape), w, np.zeros((), dtype=w.dtype))


def prune_sparse(source: str | os.PathLike | np.ndarray | Mapping[str, Any], *,
                 ratio: float | None = None, target_params: int | None = None,
                 spread: float = 0.1, min_dim: int = 32,
                 layers: Sequence[str] | None = None, n_threads: int | None = None,
                 progress: bool | Callable[[int, int, str], None] = False
                 ) -> tuple[dict[str, np.ndarray], PruneReport]:
    """Magnitude pruning with each layer's density set by its heavy-tail exponent alpha.

    See the module docstring ("Sparse pruning by the heavy tail").  Parameters are
    counted as nonzeros; the pruned tensors keep their shape and dtype (zeros stored).

    Parameters
    ----------
    source : path, ndarray or mapping
        As in :func:`fastrmt.weights.analyze_weights`.
    ratio : float in (0, 1], optional
        Fraction of the pruned layers' parameters kept.  One of ``ratio`` and
        ``target_params`` is required.
    target_params : int, optional
        The same budget as a parameter count.
    spread : float in [0, 0.5], default 0.1
        How far the densities spread around the budget (0: the same density in every
        layer).
    min_dim : int, default 32
        Layers with ``min(n, m) < min_dim`` are copied unchanged and reported, outside
        the budget.
    layers, n_threads, progress
        As in :func:`prune_weights`.

    Returns
    -------
    tensors : dict
    report : PruneReport
        One record per layer, ``stored="sparse"``; ``params_after`` counts nonzeros and
        the note gives alpha and the density.
    """
    if ratio is not None:
        ratio = check_real("ratio", ratio, min_value=0.0, max_value=1.0, strict_min=True)
    if target_params is not None:
        target_params = check_int("target_params", target_params, min_value=0)
    if (ratio is None) == (target_params is None):
        raise ValueError(f"prune_sparse needs a budget: give ratio or target_params (one "
                         f"of them), got ratio={ratio}, target_params={target_params}")
    spread = check_real("spread", spread, min_value=0.0, max_value=0.5)
    min_dim = check_int("min_dim", min_dim, min_value=2)
    wf = _as_weights_file(source)
    names = _select(wf, layers)
    analysis = analyze_weights(wf, model="mp", layers=names, min_dim=min_dim,
                               heavy_tail=True, n_threads=n_threads, progress=progress)
    tensors = dict(wf.tensors)
    recs: list[LayerPrune] = []
    small = [r for r in analysis.layers if min(r.matrix_shape) < min_dim]
    work = [r for r in analysis.layers if min(r.matrix_shape) >= min_dim]
    sizes = np.array([int(np.asarray(wf.tensors[r.name]).size) for r in work], dtype=float)
    total = float(sizes.sum())
    budget = (int(round(ratio * total)) if ratio is not None
              else min(int(target_params), int(total)))
    fraction = budget / total if total else 1.0
    alpha = np.array([r.alpha for r in work], dtype=float)
    dens = _sparse_densities(alpha, sizes, fraction, spread) if work else np.empty(0)
    for r, d in zip(work, dens):
        w = np.asarray(wf.tensors[r.name])
        new = _keep_largest(w, float(d))
        tensors[r.name] = new
        nrm = float(np.linalg.norm(w.astype(np.float64)))
        removed = (float(np.linalg.norm((w - new).astype(np.float64))) / nrm) if nrm else 0.0
        p = min(r.matrix_shape)
        kept = int(np.count_nonzero(new))
        note = (f"alpha {r.alpha:.2f}, density {d:.3f}" if math.isfinite(r.alpha)
                else f"no alpha, density {d:.3f}")
        recs.append(LayerPrune(r.name, tuple(r.shape), p, r.n_outliers, 0, p, int(w.size),
                               kept, removed, "none", sigma=r.sigma,
                               stored="sparse" if kept or not np.any(w) else "zeroed",
                               note=note if kept or not np.any(w)
                               else f"zeroed: the budget gave it density {d:.3f}"))
    for r in small:
        recs.append(_too_small(r, np.asarray(wf.tensors[r.name]).size, "none", min_dim))
    order = {nm: i for i, nm in enumerate(names)}
    recs.sort(key=lambda x: order[x.name])
    report = PruneReport(recs, analysis, budget=budget)
    zeroed = [r.name for r in recs if r.stored == "zeroed"]
    if zeroed:
        report.notes.append(f"warning: the budget left {len(zeroed)} layer(s) with no "
                            f"nonzero (zeroed): {', '.join(zeroed[:5])}")
    return tensors, report


def prune_file(src: str | os.PathLike, out: str | os.PathLike, *,
               keep: str | int = "signal", shrink: bool | str = "none",
               ratio: float | None = None, target_params: int | None = None,
               bulk_share: float = 0.0, sigma: float | Mapping[str, float] | None = None,
               max_change: float | None = 0.05, overwrite: bool = False,
               method: str = "bema", margin: float = 3.0,
               min_dim: int = 32, n_threads: int | None = None,
               progress: bool | Callable[[int, int, str], None] = False,
               structure: str = "low-rank", spread: float = 0.1) -> PruneReport:
    """Prune the weight file ``src`` (see :func:`prune_weights`) and write it to ``out``.

    ``structure="sparse"`` prunes with :func:`prune_sparse` instead (a budget, ``ratio``
    or ``target_params``, is then required, with ``spread``; the low-rank options
    ``keep``, ``shrink``, ``bulk_share``, ``sigma`` and ``max_change`` must keep their
    defaults).

    ``out`` must have the same format (extension family) as ``src``; it is never
    ``src`` itself (even with ``overwrite=True``, compared by device and inode, so
    through symbolic and hard links), and an existing ``out`` is refused unless
    ``overwrite=True`` (:class:`fastrmt._files.OutputPathError`, a ``ValueError``).  These
    checks run before any computation.  The file is written
    atomically, only after every layer was pruned, so an error leaves no output file.
    A new output gets the input's file mode, a replaced one keeps its own; safetensors
    metadata are copied.
    """
    if not isinstance(src, (str, os.PathLike)):
        raise TypeError(f"src must be a path, got {type(src).__name__}")
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out must be a path, got {type(out).__name__}")
    overwrite = check_bool("overwrite", overwrite)
    structure = check_choice("structure", structure, STRUCTURES)
    if structure == "sparse":
        changed = [k for k, v, d in (("keep", keep, "signal"), ("shrink", shrink, "none"),
                                     ("bulk_share", bulk_share, 0.0), ("sigma", sigma, None),
                                     ("max_change", max_change, 0.05)) if v != d]
        if changed:
            raise ValueError(f"structure='sparse' does not take the low-rank options "
                             f"{changed}")
        if ratio is None and target_params is None:
            raise ValueError("structure='sparse' needs a budget: ratio or target_params")
    elif spread != 0.1:
        raise ValueError(f"spread={spread} is for structure='sparse' (got "
                         f"structure={structure!r})")
    src, out = os.fspath(src), os.fspath(out)
    fin, fout = detect_format(src), detect_format(out)
    if fin != fout:
        raise WeightsFileError(f"output {out!r} must have the input's format ({fin}), "
                               f"got {fout}")
    # the one output-path rule of every command (fastrmt._files): a folder that exists
    # and is writable, never an input (st_dev/st_ino), no overwrite unless asked
    check_file("out", out, overwrite=overwrite, inputs=[src], hint="overwrite=True")
    wf = load_file(src)
    if structure == "sparse":
        tensors, report = prune_sparse(wf, ratio=ratio, target_params=target_params,
                                       spread=spread, min_dim=min_dim, n_threads=n_threads,
                                       progress=progress)
    else:
        tensors, report = prune_weights(wf, keep=keep, shrink=shrink, ratio=ratio,
                                        target_params=target_params, bulk_share=bulk_share,
                                        sigma=sigma, max_change=max_change, method=method,
                                        margin=margin, min_dim=min_dim, n_threads=n_threads,
                                        progress=progress)
    save_file(out, wf, tensors, mode=stat.S_IMODE(os.stat(src).st_mode))
    report.output = out
    return report
