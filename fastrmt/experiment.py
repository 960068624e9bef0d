"""Theory against simulation: the outliers of W = X/sqrt(n) + S sit at Φ(s).

:func:`experiment` builds a full-rank signal S (a bulk law plus r spikes, r possibly
growing with n), samples W, extracts *every* eigenvalue beyond the predicted bulk edge
(plus a Tracy–Widom-scale margin) with the block Lanczos solver, predicts the outliers
with Φ in both versions — the limit one (ν = the bulk law) and the finite-n one (ν = the
empirical spectrum of S; Afanasiev–Berlyand–Kiyashko) — matches predictions to
observations, and returns an :class:`ExperimentResult` that records every parameter
(seed included), so any run can be reproduced exactly.

Matching: on each side of the bulk, Φ is increasing on the outlier branch, so the j-th
largest predicted outlier is matched to the j-th largest observed eigenvalue beyond the
threshold.  Which spikes give a detectable outlier is decided by the finite-n prediction
(the one that holds at this n); spikes whose predicted outlier falls inside the margin
are reported as "in-margin", not as misses.  Errors are reported for both predictions.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ._random import as_key
from ._validation import check_array, check_bool, check_choice, check_int, check_real

__all__ = ["experiment", "ExperimentResult", "default_spikes", "bulk_measure"]


def bulk_measure(bulk: str, bulk_params: dict):
    """The limit law ν of the bulk, as a :mod:`fastrmt.measures` object."""
    from . import measures as m

    p = bulk_params
    if bulk == "uniform":
        return m.Uniform(p["a"], p["b"])
    if bulk == "semicircle":
        return m.Semicircle(p["center"], p["radius"] ** 2 / 4.0)
    if bulk == "marchenko_pastur":
        return m.MarchenkoPastur(p["ratio"], p["scale"])
    if bulk == "two_point":
        w = p["weight"]
        if w <= 0.0:
            return m.Atoms([p["low"]])
        if w >= 1.0 or p["low"] == p["high"]:
            return m.Atoms([p["high"]])
        return m.TwoPoint(p["low"], p["high"], 1.0 - w)
    raise ValueError(f"no limit law for bulk={bulk!r}")


def default_spikes(r: int, nu, sigma: float) -> np.ndarray:
    """r spikes right of the bulk, about 10 % of them below the outlier threshold.

    They run from ``top + 0.25 (thr - top)`` to ``thr + 2.5 sigma`` (evenly spaced), where
    ``top`` is the right end of supp ν and ``thr`` the spike value beyond which an outlier
    appears: the lowest ones are absorbed by the bulk, the others give outliers.
    """
    from .freeprob import outlier_threshold

    top = max(iv[1] for iv in nu.support()) if hasattr(nu, "support") else 0.0
    _, thr = outlier_threshold(nu, sigma)
    lo = top + 0.25 * (thr - top)
    hi = thr + 2.5 * sigma
    return np.linspace(lo, hi, r) if r > 1 else np.array([0.5 * (thr + hi)])


@dataclass
class ExperimentResult:
    """Everything an :func:`experiment` measured and predicted.

    Attributes
    ----------
    params : dict
        All parameters, the resolved integer ``seed`` included: ``experiment(**params)``
        reproduces the run exactly.
    rows : list of dict
        One per spike: ``spike``, ``side`` ("right"/"left"/"inside"), ``predicted_outlier``
        (finite-n), ``phi_limit``, ``phi_finite``, ``observed`` (NaN if none matched),
        ``error_limit``, ``error_finite`` (observed − predicted), ``overlap_pred`` (the
        limit Φ'(s)), ``overlap_pred_finite`` (Φ' with ν the empirical spectrum of S, the
        other spikes included: the overlap with one eigenvector when outliers are close),
        ``overlap_obs`` (when eigenvectors were computed: squared norm of the projection
        of the spike's eigenvector on the span of the observed outliers' eigenvectors on
        its side, which tends to Φ'(s) and is immune to the mixing of close outliers),
        ``status``: "matched",
        "absorbed" (predicted absorbed and no outlier attributed), "in-margin"
        (predicted between the edge and the threshold), "missed".
    edges : dict
        Predicted bulk edges (limit and finite-n) and the observed extreme bulk
        eigenvalues.
    spurious : list of float
        Observed eigenvalues beyond the threshold that no prediction accounts for.
    timings : dict
        Seconds per stage.
    """

    params: dict
    rows: list
    edges: dict
    spurious: list
    threshold: dict
    timings: dict
    spectrum: np.ndarray | None = field(default=None, repr=False)

    # -- summaries ------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Scalars: counts and errors (finite-n and limit predictions)."""
        matched = [r for r in self.rows if r["status"] == "matched"]
        ef = np.array([abs(r["error_finite"]) for r in matched])
        el = np.array([abs(r["error_limit"]) for r in matched])
        pred = [r for r in self.rows if r["status"] in ("matched", "missed")]
        out = {
            "n": self.params["n"],
            "r": len(self.rows),
            "n_predicted": len(pred),
            "n_found": len(matched) + len(self.spurious),
            "n_matched": len(matched),
            "n_missed": sum(r["status"] == "missed" for r in self.rows),
            "n_in_margin": sum(r["status"] == "in-margin" for r in self.rows),
            "n_absorbed": sum(r["status"] == "absorbed" for r in self.rows),
            "n_spurious": len(self.spurious),
            "max_abs_error": float(ef.max()) if ef.size else float("nan"),
            "mean_abs_error": float(ef.mean()) if ef.size else float("nan"),
            "max_abs_error_limit": float(el.max()) if el.size else float("nan"),
            "mean_abs_error_limit": float(el.mean()) if el.size else float("nan"),
            "edge_predicted": self.edges["right_limit"],
            "edge_observed": self.edges["right_observed"],
            "seconds": float(sum(self.timings.values())),
        }
        if any(np.isfinite(r.get("overlap_obs", np.nan)) for r in matched):
            d = np.array([abs(r["overlap_obs"] - r["overlap_pred"]) for r in matched])
            out["max_overlap_error"] = float(np.nanmax(d))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"params": self.params, "summary": self.summary(), "rows": self.rows,
                "edges": self.edges, "threshold": self.threshold,
                "spurious": self.spurious, "timings": self.timings}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), default=_jsonable, allow_nan=True, **kwargs)

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """The per-spike table as CSV (returned, and written to ``path`` if given)."""
        buf = io.StringIO()
        fields = list(self.rows[0].keys()) if self.rows else ["spike"]
        w = csv.DictWriter(buf, fieldnames=fields)
        w.writeheader()
        for r in self.rows:
            w.writerow(r)
        text = buf.getvalue()
        if path is not None:
            with open(path, "w", newline="") as fh:
                fh.write(text)
        return text

    def format_table(self, max_rows: int = 12) -> str:
        """A fixed-width table of the spikes (outliers first, then a summary line)."""
        head = (f"{'spike':>9} {'Φ(s) limit':>11} {'Φ(s) fin-n':>11} {'observed':>10} "
                f"{'err fin-n':>10} {'overlap pred/obs':>17}  status")
        lines = [head, "-" * len(head)]
        rows = sorted(self.rows, key=lambda r: -r["spike"])
        shown = rows if len(rows) <= max_rows else rows[: max_rows // 2] + [None] + rows[-(max_rows - max_rows // 2):]
        for r in shown:
            if r is None:
                lines.append(f"{'...':>9}")
                continue
            ov = ""
            if r["status"] == "matched":
                ov = f"{r['overlap_pred']:.3f}"
                if np.isfinite(r.get("overlap_obs", np.nan)):
                    ov += f"/{r['overlap_obs']:.3f}"
            lines.append(f"{r['spike']:9.4f} {_f(r['phi_limit'], 11)} {_f(r['phi_finite'], 11)} "
                         f"{_f(r['observed'], 10)} {_f(r['error_finite'], 10, '+.2e')} "
                         f"{ov:>17}  {r['status']}")
        return "\n".join(lines)

    def format_summary(self) -> str:
        s = self.summary()
        return (f"n={s['n']} r={s['r']}: outliers predicted {s['n_predicted']}, found "
                f"{s['n_found']}, matched {s['n_matched']}, missed {s['n_missed']}, "
                f"spurious {s['n_spurious']}, in margin {s['n_in_margin']}, absorbed "
                f"{s['n_absorbed']} (as predicted)\n"
                f"error |observed - Φ(s)| finite-n: max {s['max_abs_error']:.3e}, mean "
                f"{s['mean_abs_error']:.3e};  limit: max {s['max_abs_error_limit']:.3e}, mean "
                f"{s['mean_abs_error_limit']:.3e}\n"
                f"bulk right edge: predicted {s['edge_predicted']:.5f}, observed "
                f"{s['edge_observed']:.5f};  time {s['seconds']:.2f} s")

    def plot(self, path: str | os.PathLike) -> str:
        """PNG: spectrum histogram vs predicted density, predicted vs observed outliers,
        and the overlaps when computed."""
        return _plot(self, path)


def _f(x, width, fmt=".5f"):
    return format(x, fmt).rjust(width) if x is not None and np.isfinite(x) else "—".rjust(width)


def _jsonable(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _resolve_r(n: int, r, r_of_n) -> int | None:
    if r is not None and r_of_n is not None:
        raise ValueError("give r or r_of_n, not both")
    if r is not None:
        return check_int("r", r, min_value=1, max_value=max(1, n // 4))
    if r_of_n is None:
        return None
    if callable(r_of_n):
        val = r_of_n(n)
    else:
        if not isinstance(r_of_n, (tuple, list)) or len(r_of_n) != 2:
            raise TypeError(f"r_of_n must be a callable or a (c, alpha) pair, got {r_of_n!r}")
        c = check_real("r_of_n[0] (c)", r_of_n[0], min_value=0.0, strict_min=True)
        a = check_real("r_of_n[1] (alpha)", r_of_n[1], min_value=0.0, max_value=1.0,
                       strict_max=True)
        val = int(math.floor(c * n ** a))
    return check_int("r_of_n(n)", int(val), min_value=1, max_value=max(1, n // 4))


def experiment(n: int, *, sigma: float = 1.0, bulk: str = "uniform",
               bulk_params: dict | None = None, spikes: Sequence[float] | None = None,
               r: int | None = None, r_of_n: tuple[float, float] | Callable[[int], int] | None = None,
               dist: str = "gaussian", p: float | None = None, df: float | None = None,
               basis: str = "fast", storage: str = "dense", dtype: Any = np.float64,
               seed: Any = None, n_threads: int | None = None, eigenvectors: bool = False,
               margin: float | None = None, spectrum: bool = False, tol: float = 0.0,
               ) -> ExperimentResult:
    """Sample W = X/sqrt(n) + S and compare its outliers with the Φ predictions.

    Parameters
    ----------
    n : int
        Matrix order.
    sigma : float
        Noise level: off-diagonal entries of X have variance sigma**2.
    bulk, bulk_params
        The bulk law of S (see :func:`fastrmt.signals.make_signal`).
    spikes : array_like, optional
        The spike eigenvalues of S.  Default: ``r`` spikes from :func:`default_spikes`.
    r : int, optional
        Number of spikes when ``spikes`` is not given (default floor(sqrt(n))).
    r_of_n : (c, alpha) or callable, optional
        r = floor(c * n**alpha) (or ``r_of_n(n)``): a number of spikes growing with n.
    dist, p, df
        Entry law of X (see :func:`fastrmt.wigner`).
    basis : {"fast", "haar", "diagonal"}
        Eigenbasis of S (delocalized by default).
    storage : {"dense", "packed", "matrix-free"}
        How W's noise is stored (see :func:`fastrmt.deformed_wigner`).
    dtype : float32 or float64
        Storage precision of X.
    seed : None or int
        Seeds X, the basis and the solver.  None draws one; it is recorded in
        ``result.params["seed"]``.
    n_threads : None or int
    eigenvectors : bool
        Also compute the outliers' eigenvectors and their squared overlaps with the
        spikes' eigenvectors (predicted: Φ'(s)).
    margin : float, optional
        Eigenvalues are extracted above ``edge + margin``; default ``4 sigma n**(-2/3)``
        (a few Tracy–Widom widths).
    spectrum : bool
        Also compute the whole spectrum (dense eigvalsh; n <= 8000) for the histogram.
    tol : float
        Solver tolerance (0: machine precision).

    Returns
    -------
    ExperimentResult
    """
    from . import freeprob as fp
    from .eigensolver import eigsh
    from .measures import Atoms
    from .operators import deformed_wigner
    from .signals import BULK_LAWS, make_signal

    n = check_int("n", n, min_value=8)
    sigma = check_real("sigma", sigma, min_value=0.0, strict_min=True)
    bulk = check_choice("bulk", bulk, BULK_LAWS)
    eigenvectors = check_bool("eigenvectors", eigenvectors)
    spectrum = check_bool("spectrum", spectrum)
    if spectrum and n > 8000:
        raise ValueError(f"spectrum=True computes all eigenvalues densely; n must be <= 8000, got {n}")
    if isinstance(seed, (bool, np.bool_)) or not (seed is None or isinstance(seed, (int, np.integer))):
        raise TypeError(f"seed must be None or a non-negative int (so that it can be recorded), "
                        f"got {seed!r}")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    seed = check_int("seed", seed, min_value=0)
    key = as_key(seed)
    timings: dict[str, float] = {}

    # -- the signal and its spectrum ------------------------------------------------
    t0 = time.perf_counter()
    from .signals import _bulk_params

    bp = _bulk_params(bulk, bulk_params)
    nu = bulk_measure(bulk, bp)
    if spikes is not None:
        if r is not None or r_of_n is not None:
            raise ValueError("give spikes, or r / r_of_n, not both")
        sp = check_array("spikes", spikes, ndim=1)
        if sp.size < 1 or sp.size > n // 4:
            raise ValueError(f"spikes must hold between 1 and n/4 = {n // 4} values, got {sp.size}")
    else:
        rr = _resolve_r(n, r, r_of_n)
        if rr is None:
            rr = max(1, int(math.isqrt(n)))
        sp = default_spikes(rr, nu, sigma)
    signal = make_signal(n, bulk=bulk, bulk_params=bp, spikes=sp, basis=basis, seed=key,
                         n_threads=n_threads)
    W = deformed_wigner(n, signal, sigma=sigma, dist=dist, p=p, df=df, storage=storage,
                        dtype=dtype, seed=key, n_threads=n_threads)
    timings["build"] = time.perf_counter() - t0

    # -- predictions -----------------------------------------------------------------
    t0 = time.perf_counter()
    lim = fp.predict_outliers(sp, nu, sigma, n_threads=n_threads)
    atoms = Atoms(np.sort(signal.eigenvalues))
    fin = fp.predict_outliers(sp, atoms, sigma, version="finite-n", n_threads=n_threads)
    supp_lim = fp.bulk_support(nu, sigma, n_threads=n_threads)
    supp_fin = fp.bulk_support(Atoms(np.sort(signal.bulk_eigenvalues)), sigma, n_threads=n_threads)
    left, right = float(supp_lim[0, 0]), float(supp_lim[-1, 1])
    if margin is None:
        margin = 4.0 * sigma * n ** (-2.0 / 3.0)
    margin = check_real("margin", margin, min_value=0.0)
    thr_hi, thr_lo = right + margin, left - margin
    timings["predict"] = time.perf_counter() - t0

    # -- extraction: every eigenvalue beyond the thresholds --------------------------
    t0 = time.perf_counter()
    sides = {}
    solver_seed = key
    for side, which, thr in (("right", "LA", thr_hi), ("left", "SA", thr_lo)):
        beyond = (fin.location > thr) if side == "right" else (fin.location < thr)
        expected = int(np.sum(fin.is_outlier & beyond))
        if side == "left" and expected == 0:
            sides[side] = (np.empty(0), None, float("nan"))
            continue
        k = max(8, expected + 4)
        while True:
            k = min(k, n - 1)
            res = eigsh(W, k=k, which=which, tol=tol, return_eigenvectors=eigenvectors,
                        n_threads=n_threads, seed=solver_seed)
            w, v = (res if eigenvectors else (res, None))
            order = np.argsort(-w) if side == "right" else np.argsort(w)
            w = w[order]
            v = v[:, order] if v is not None else None
            inside = (w <= thr) if side == "right" else (w >= thr)
            if inside.any() or k >= n - 1:
                break
            k *= 2
        nout = int(np.argmax(inside)) if inside.any() else w.size
        edge_obs = float(w[nout]) if nout < w.size else float("nan")
        sides[side] = (w[:nout], None if v is None else v[:, :nout], edge_obs)
    timings["eigensolver"] = time.perf_counter() - t0

    # -- matching ----------------------------------------------------------------------
    t0 = time.perf_counter()
    U = signal.spike_vectors() if eigenvectors else None
    rows: list[dict] = []
    spurious: list[float] = []
    nu_lo, nu_hi = _support_ends(nu)
    for side in ("right", "left"):
        obs, vecs, _ = sides[side]
        on_side = (sp > nu_hi) if side == "right" else (sp < nu_lo)
        idx = np.flatnonzero(on_side)
        idx = idx[np.argsort(-sp[idx])] if side == "right" else idx[np.argsort(sp[idx])]
        detectable = [i for i in idx if fin.is_outlier[i] and
                      ((fin.location[i] > thr_hi) if side == "right" else (fin.location[i] < thr_lo))]
        for j, i in enumerate(detectable):
            rows.append(_row(i, sp, lim, fin, side,
                             obs[j] if j < obs.size else np.nan,
                             "matched" if j < obs.size else "missed",
                             U, vecs, j))
        for i in idx:
            if i in detectable:
                continue
            status = "in-margin" if fin.is_outlier[i] else "absorbed"
            rows.append(_row(i, sp, lim, fin, side, np.nan, status, None, None, None))
        spurious.extend(float(x) for x in obs[len(detectable):])
    for i in np.flatnonzero((sp <= nu_hi) & (sp >= nu_lo)):
        rows.append(_row(i, sp, lim, fin, "inside", np.nan, "absorbed", None, None, None))
    edges = {"right_limit": right, "left_limit": left,
             "right_finite": float(supp_fin[-1, 1]), "left_finite": float(supp_fin[0, 0]),
             "right_observed": sides["right"][2], "left_observed": sides["left"][2],
             "intervals_limit": supp_lim.tolist()}
    timings["match"] = time.perf_counter() - t0
    spec = None
    if spectrum:
        t0 = time.perf_counter()
        spec = np.linalg.eigvalsh(W.to_dense())
        timings["spectrum"] = time.perf_counter() - t0

    params = {"n": n, "sigma": sigma, "bulk": bulk, "bulk_params": bp, "spikes": sp.tolist(),
              "dist": dist, "p": p, "df": df, "basis": basis, "storage": storage,
              "dtype": np.dtype(dtype).name, "seed": seed, "eigenvectors": eigenvectors,
              "margin": margin, "tol": tol}
    return ExperimentResult(params=params, rows=rows, edges=edges, spurious=spurious,
                            threshold={"right": thr_hi, "left": thr_lo}, timings=timings,
                            spectrum=spec)


def _support_ends(nu) -> tuple[float, float]:
    ivs = nu.support()
    return float(min(iv[0] for iv in ivs)), float(max(iv[1] for iv in ivs))


def _row(i, sp, lim, fin, side, observed, status, U, vecs, j) -> dict:
    # Observed overlap: the squared norm of the projection of the spike's eigenvector on
    # the span of all the outliers' eigenvectors on its side.  Close outliers mix their
    # eigenvectors by O(n^-1/2) rotations; this quantity is immune to that and tends to
    # Phi'(s) all the same.
    ov_obs = float("nan")
    if status == "matched" and U is not None and vecs is not None and vecs.shape[1]:
        ov_obs = float(np.sum((vecs.T @ U[:, i]) ** 2))
    pl, pf = float(lim.location[i]), float(fin.location[i])
    return {"spike": float(sp[i]), "side": side, "predicted_outlier": bool(fin.is_outlier[i]),
            "phi_limit": pl, "phi_finite": pf, "observed": float(observed),
            "error_limit": float(observed - pl), "error_finite": float(observed - pf),
            "overlap_pred": float(lim.overlap[i]), "overlap_pred_finite": float(fin.overlap[i]),
            "overlap_obs": ov_obs, "status": status}


def _plot(res: ExperimentResult, path) -> str:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from . import freeprob as fp

    p = res.params
    nu = bulk_measure(p["bulk"], p["bulk_params"])
    ncol = 3 if any(np.isfinite(r["overlap_obs"]) for r in res.rows) else 2
    fig, axes = plt.subplots(1, ncol, figsize=(5.2 * ncol, 4.2))
    ax = axes[0]
    lo, hi = res.edges["left_limit"], res.edges["right_limit"]
    x = np.linspace(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo), 600)
    dens = fp.density(x, nu, p["sigma"])
    if res.spectrum is not None:
        ax.hist(res.spectrum, bins=120, density=True, color="#9ecae1", label="spectrum of W")
    ax.plot(x, dens, "k-", lw=1.2, label="ν ⊞ semicircle(σ²)")
    matched = [r for r in res.rows if r["status"] == "matched"]
    for r in matched:
        ax.axvline(r["observed"], color="#d62728", lw=0.5, alpha=0.6)
    ax.set_title(f"n={p['n']}: spectrum and bulk density")
    ax.set_xlabel("eigenvalue")
    ax.legend(fontsize=8)
    ax = axes[1]
    s = np.array([r["spike"] for r in res.rows])
    ax.plot(s, [r["phi_finite"] for r in res.rows], "k.", ms=3, label="Φ(s) finite-n")
    ax.plot([r["spike"] for r in matched], [r["observed"] for r in matched], "o", mfc="none",
            color="#d62728", ms=5, label="observed outliers")
    absorbed = [r["spike"] for r in res.rows if r["status"] == "absorbed"]
    if absorbed:
        ax.plot(absorbed, [res.edges["right_limit"]] * len(absorbed), "x", color="grey",
                label="absorbed (predicted)")
    ax.axhline(res.edges["right_limit"], color="grey", ls=":", lw=1)
    ax.set_xlabel("spike s")
    ax.set_ylabel("outlier location")
    ax.set_title("predicted Φ(s) vs observed")
    ax.legend(fontsize=8)
    if ncol == 3:
        ax = axes[2]
        ax.plot([r["spike"] for r in matched], [r["overlap_pred"] for r in matched], "k-",
                label="Φ'(s) predicted")
        ax.plot([r["spike"] for r in matched], [r["overlap_obs"] for r in matched], "o",
                mfc="none", color="#2ca02c", label="observed |⟨v, u⟩|²")
        ax.set_xlabel("spike s")
        ax.set_ylabel("squared overlap")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return os.fspath(path)


def _warmup() -> None:
    """Nothing of its own to compile (it calls the other modules' kernels)."""
