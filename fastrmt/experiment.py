"""Theory against simulation: every extreme eigenvalue of W = X/sqrt(n) + S.

:func:`experiment` builds a full-rank signal S (a bulk law plus r spikes, r possibly
growing with n), samples W, and compares the extreme eigenvalues of W with the
prediction engine of :mod:`fastrmt.freeprob`: the classical locations of the empirical
free convolution ``mu_n = nu_n (+) semicircle(sigma**2)``, nu_n the spectrum of S (all n
eigenvalues, spikes included).  It holds for every layout of the spikes: isolated,
clustered closer than sigma/sqrt(n), merged with the bulk, in gaps.

What is compared, on each side of the spectrum:

* **Threshold.**  The edge of the bulk at this n (the outer edge of
  ``Atoms(bulk eigenvalues of S) (+) semicircle``) plus a margin of Tracy-Widom widths
  with that edge's own curvature (:func:`fastrmt.freeprob.tracy_widom_width`).
* **Count.**  The predicted number of eigenvalues beyond it, ``n mu_n(beyond)`` (not an
  integer), against the observed number.  The solver is asked for that many (plus a
  small slack) once; it is called again only if every value it returned lies beyond
  the threshold.
* **Locations, matched by rank.**  The j-th most extreme observed eigenvalue goes with
  the j-th classical location gamma_j; each gets a z-score
  ``(observed - gamma_j) / sd_j`` with the fluctuation scale of
  :func:`fastrmt.freeprob.predict_eigenvalues` (Gaussian for isolated outliers,
  Tracy-Widom at edges, rigidity inside components), and the spikes of its component.
* **Comparisons**, rank-matched the same way, for the two one-spike formulas:
  the *limit* Phi(s) (nu = the bulk law; exact as n -> infinity for a fixed number of
  well-separated spikes, off by O(r**2/n) in Phi' for r spikes in an interval of fixed
  length), and the *second-order* ``Phi_n(s) = s + sigma**2/n sum_{j != s} 1/(s - s_j)``
  (valid when neighbouring spikes are much farther apart than sigma/sqrt(n); closer
  spikes make Phi_n'(s) << 0, and the spike is wrongly declared absorbed).  Each counts
  the spikes with Phi'(s) > 0 whose Phi(s) lies beyond the threshold.
* **Gaps.**  With the full spectrum (dense storage, n <= ``DENSE_MAX``, or
  ``spectrum=True``) every eigenvalue in a component of supp mu_n that holds spikes and
  lies strictly between the two thresholds (a spike in a gap of the bulk) is compared
  with its classical location by its global rank.  Otherwise only the extreme
  eigenvalues are searched, and ``result.searched`` says so.

The result records every parameter (seed included): ``experiment(**result.params)``
reproduces the run exactly.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import scipy.linalg

from . import freeprob as fp
from ._plots import plot_experiment
from ._random import as_key
from ._threads import thread_limit
from ._validation import (check_array, check_bool, check_choice, check_dtype, check_int,
                          check_memory, check_real)
from .eigensolver import eigsh
from .measures import Atoms, Measure
from .operators import check_noise_memory, deformed_wigner
from .sampling import DISTRIBUTIONS
from .signals import BULK_LAWS, _bulk_params, bulk_law, make_signal

__all__ = ["experiment", "ExperimentResult", "default_spikes", "fourth_cumulant", "DENSE_MAX",
           "DENSE_LIMIT", "MARGIN_TW", "MAX_LISTED"]

#: Largest n for which ``solver="auto"`` computes the whole spectrum densely.
DENSE_MAX = 4096
#: Largest n for which ``solver="dense"`` or ``spectrum=True`` is accepted.
DENSE_LIMIT = 16384
#: Default margin beyond the bulk edge, in Tracy-Widom widths of that edge.
MARGIN_TW = 4.0
#: Float32 storage: relative accuracy of the eigenvalues certified by the mixed-precision
#: eigensolver (far below any fluctuation scale; 1e-10 cannot be certified from float32
#: residuals for outliers within ~0.04 of the threshold at n = 16000).
MIXED_TOL = 1e-9
#: A component's spikes are listed in each eigenvalue row up to this many (else their range).
MAX_LISTED = 8


def default_spikes(r: int, nu: Measure, sigma: float) -> np.ndarray:
    """r spikes right of the bulk, about 10 % of them below the outlier threshold.

    They run from ``top + 0.25 (thr - top)`` to ``thr + 2.5 sigma`` (evenly spaced), where
    ``top`` is the right end of supp nu and ``thr`` the spike value beyond which the limit
    theory gives an outlier.  With r growing faster than sqrt(n) they are closer than
    sigma/sqrt(n) and merge with each other and with the bulk at finite n.
    """
    top = nu.support()[-1][1]
    _, thr = fp.outlier_threshold(nu, sigma)
    lo = top + 0.25 * (thr - top)
    hi = thr + 2.5 * sigma
    return np.linspace(lo, hi, r) if r > 1 else np.array([0.5 * (thr + hi)])


def fourth_cumulant(dist: str, sigma: float, *, p: float | None = None,
                    df: float | None = None) -> float:
    """Fourth cumulant ``E x**4 - 3 sigma**4`` of the off-diagonal entries of X.

    gaussian 0, rademacher ``-2 sigma**4``, uniform ``-1.2 sigma**4``, sparse(p)
    ``(1/p - 3) sigma**4``, student_t(df) ``6 sigma**4 / (df - 4)`` (inf for df <= 4).
    """
    dist = check_choice("dist", dist, DISTRIBUTIONS)
    s4 = sigma ** 4
    if dist == "gaussian":
        return 0.0
    if dist == "rademacher":
        return -2.0 * s4
    if dist == "uniform":
        return -1.2 * s4
    if dist == "sparse":
        if p is None:
            raise ValueError("dist='sparse' needs p")
        return (1.0 / p - 3.0) * s4
    if df is None:
        raise ValueError("dist='student_t' needs df")
    return 6.0 * s4 / (df - 4.0) if df > 4.0 else math.inf


def _clean(x):
    """JSON-safe scalars: NaN and inf become None (strict JSON has no NaN)."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    if isinstance(x, Measure):
        return repr(x)
    return x


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


@dataclass
class ExperimentResult:
    """Everything an :func:`experiment` measured and predicted.

    Attributes
    ----------
    params : dict
        All parameters, the resolved integer ``seed`` included: ``experiment(**params)``
        reproduces the run exactly.
    eigenvalues : list of dict
        One per observed eigenvalue beyond a threshold (``side`` "right"/"left", ``rank``
        from that end) or in a gap component (``side`` "gap", ``rank`` the global rank
        from the top): ``observed``, ``predicted`` (classical location gamma),
        ``scale`` (predicted sd), ``z``, ``regime``, ``component`` (row of
        ``components``), ``component_count`` (eigenvalues it holds), ``n_spikes``,
        ``spikes`` (the spikes of S in that component, listed when at most
        ``MAX_LISTED``) and ``spike_range``, ``phi_limit`` / ``phi_second_order`` (the
        rank-matched one-spike predictions, NaN past their count).
    spikes : list of dict
        One per spike: ``spike``, ``component``, ``component_count``, ``merged`` (its
        component also holds bulk eigenvalues of S), ``phi_limit``,
        ``phi_prime_limit``, ``phi_second_order``, ``phi_prime_second_order``, and
        ``overlap_obs`` when eigenvectors were computed (the squared norm of the
        projection of the spike's eigenvector on the observed eigenvectors beyond the
        threshold on its side).
    counts : dict
        Per side: ``predicted`` (n mu_n beyond the threshold), ``observed``, ``limit``,
        ``second_order`` (spikes with Phi' > 0 and Phi(s) beyond it), ``searched``.
    edges, threshold : dict
        Bulk edges (limit law; finite-n bulk; observed extremes) and thresholds.
    components : ndarray (M, 3)
        supp mu_n as ``[left, right, count]`` rows.
    searched : str
        What was searched for eigenvalues (extremes only, or the whole spectrum).
    timings : dict
        Seconds per stage; ``solver_calls``: how many times the eigensolver ran.
    spectrum : ndarray or None
        The whole spectrum of W (with ``spectrum=True``).
    signal_spectrum : ndarray
        The spectrum of S, increasing (nu_n's atoms).
    """

    params: dict
    eigenvalues: list
    spikes: list
    counts: dict
    edges: dict
    threshold: dict
    components: np.ndarray
    searched: str
    timings: dict
    solver_calls: int = 0
    spectrum: np.ndarray | None = field(default=None, repr=False)
    signal_spectrum: np.ndarray | None = field(default=None, repr=False)

    # -- summaries ------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Scalars: counts, errors and z-scores, each one computed from this run.

        ``count_*`` add both sides; ``*_abs_error`` are |observed - predicted| over the
        rank-matched eigenvalues beyond the thresholds (engine: all of them; limit and
        second-order: as many as each predicts); ``frac_abs_z_le_3`` and
        ``max_abs_z`` are over every compared eigenvalue (gaps included).  An error with
        nothing to compare is None.
        """
        ext = [e for e in self.eigenvalues if e["side"] != "gap"]
        allz = np.array([e["z"] for e in self.eigenvalues], dtype=float)
        out: dict[str, Any] = {"n": self.params["n"], "r": len(self.spikes)}
        for key in ("predicted", "observed", "limit", "second_order"):
            out[f"count_{key}"] = float(sum(c[key] for c in self.counts.values()))
        for name, col in (("", "predicted"), ("_limit", "phi_limit"),
                          ("_second_order", "phi_second_order")):
            err = np.array([abs(e["observed"] - e[col]) for e in ext], dtype=float)
            err = err[np.isfinite(err)]
            out[f"max_abs_error{name}"] = float(err.max()) if err.size else None
            out[f"mean_abs_error{name}"] = float(err.mean()) if err.size else None
            pred = out["count_predicted" if name == "" else f"count{name}"]
            out[f"count_error{name}"] = abs(pred - out["count_observed"])
        out["n_compared"] = int(allz.size)
        out["frac_abs_z_le_3"] = float(np.mean(np.abs(allz) <= 3.0)) if allz.size else None
        out["max_abs_z"] = float(np.max(np.abs(allz))) if allz.size else None
        out["n_gap"] = sum(e["side"] == "gap" for e in self.eigenvalues)
        out["edge_right_limit"] = self.edges["right_limit"]
        out["edge_right_finite"] = self.edges["right_finite"]
        out["solver_calls"] = self.solver_calls
        out["seconds"] = float(sum(self.timings.values()))
        ov = [s["overlap_obs"] for s in self.spikes if s.get("overlap_obs") is not None
              and np.isfinite(s["overlap_obs"]) and np.isfinite(s["phi_prime_limit"])]
        if ov:
            d = [abs(s["overlap_obs"] - max(s["phi_prime_limit"], 0.0)) for s in self.spikes
                 if s.get("overlap_obs") is not None and np.isfinite(s["overlap_obs"])]
            out["max_overlap_error_limit"] = float(np.max(d))
        return _clean(out)

    def to_dict(self) -> dict[str, Any]:
        return _clean({"params": self.params, "summary": self.summary(),
                       "counts": self.counts, "eigenvalues": self.eigenvalues,
                       "spikes": self.spikes, "edges": self.edges,
                       "threshold": self.threshold, "components": self.components,
                       "searched": self.searched, "solver_calls": self.solver_calls,
                       "timings": self.timings})

    def to_json(self, **kwargs) -> str:
        """Strict JSON (NaN and inf written as null)."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """The per-eigenvalue table as CSV (returned, and written to ``path`` if given)."""
        fields = ["side", "rank", "observed", "predicted", "scale", "z", "regime", "component",
                  "component_count", "n_spikes", "spikes", "phi_limit", "phi_second_order"]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for e in self.eigenvalues:
            row = dict(e)
            row["spikes"] = " ".join(f"{s:.6g}" for s in e["spikes"])
            w.writerow(row)
        text = buf.getvalue()
        if path is not None:
            with open(path, "w", newline="") as fh:
                fh.write(text)
        return text

    def format_table(self, max_rows: int = 12) -> str:
        """A fixed-width table of the compared eigenvalues (most extreme first)."""
        head = (f"{'side':>5} {'rank':>5} {'observed':>10} {'predicted':>10} {'z':>6} "
                f"{'regime':>8} {'comp':>4} {'spikes':>6} {'Φ(s) limit':>11} {'Φ_n(s) 2nd':>11}")
        lines = [head, "-" * len(head)]
        rows = self.eigenvalues
        shown = rows if len(rows) <= max_rows else (rows[: max_rows // 2] + [None]
                                                   + rows[-(max_rows - max_rows // 2):])
        for e in shown:
            if e is None:
                lines.append(f"{'...':>5}")
                continue
            lines.append(f"{e['side']:>5} {e['rank']:5d} {_f(e['observed'], 10)} "
                         f"{_f(e['predicted'], 10)} {_f(e['z'], 6, '+.2f')} {e['regime']:>8} "
                         f"{e['component']:4d} {e['n_spikes']:6d} {_f(e['phi_limit'], 11)} "
                         f"{_f(e['phi_second_order'], 11)}")
        return "\n".join(lines)

    def format_summary(self) -> str:
        """Counts and errors, each computed in this run (no fixed verdicts)."""
        s = self.summary()
        lines = [f"n={s['n']} r={s['r']}: eigenvalues beyond the thresholds: observed "
                 f"{s['count_observed']:.0f}, predicted {s['count_predicted']:.1f} "
                 f"(empirical free convolution), {s['count_limit']:.0f} (limit Φ), "
                 f"{s['count_second_order']:.0f} (second-order Φ_n)"]
        for side, c in self.counts.items():
            lines.append(f"  {side}: threshold {self.threshold[side]:.5f}, observed "
                         f"{c['observed']}, predicted {c['predicted']:.2f}; {c['searched']}")
        if s["n_compared"]:
            lines.append(
                f"|observed - γ|: max {_g(s['max_abs_error'])}, mean {_g(s['mean_abs_error'])}"
                f"; limit Φ: max {_g(s['max_abs_error_limit'])}; second-order Φ_n: max "
                f"{_g(s['max_abs_error_second_order'])}")
            lines.append(f"z-scores: {100 * s['frac_abs_z_le_3']:.1f} % within ±3 "
                         f"(max |z| {s['max_abs_z']:.2f}) over {s['n_compared']} eigenvalues"
                         + (f", {s['n_gap']} in gaps" if s["n_gap"] else ""))
        lines.append(f"bulk right edge: limit {self.edges['right_limit']:.5f}, at this n "
                     f"{self.edges['right_finite']:.5f}; {s['solver_calls']} solver call(s), "
                     f"time {s['seconds']:.2f} s")
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike) -> str:
        """PNG: spectrum against the density of mu_n, observed against predicted by rank,
        and the z-scores."""
        return plot_experiment(self, path)


def _f(x, width, fmt=".5f"):
    return format(x, fmt).rjust(width) if x is not None and np.isfinite(x) else "—".rjust(width)


def _g(x):
    return "—" if x is None else f"{x:.3e}"


def _resolve_r(n: int, r, r_of_n) -> int | None:
    if r is not None and r_of_n is not None:
        raise ValueError("give r or r_of_n, not both")
    rmax = n - 1
    if r is not None:
        return check_int("r", r, min_value=1, max_value=rmax)
    if r_of_n is None:
        return None
    if callable(r_of_n):
        val = r_of_n(n)
        if isinstance(val, (bool, np.bool_)) or not isinstance(val, (int, np.integer)):
            raise TypeError(f"r_of_n(n) must return an int, got {val!r} "
                            f"(type {type(val).__name__})")
    else:
        if not isinstance(r_of_n, (tuple, list)) or len(r_of_n) != 2:
            raise TypeError(f"r_of_n must be a callable or a (c, alpha) pair, got {r_of_n!r}")
        c = check_real("r_of_n[0] (c)", r_of_n[0], min_value=0.0, strict_min=True)
        a = check_real("r_of_n[1] (alpha)", r_of_n[1], min_value=0.0, max_value=1.0,
                       strict_max=True)
        val = int(math.floor(c * n ** a))
    return check_int("r_of_n(n)", int(val), min_value=1, max_value=rmax)


def _matfree_dense_ok(storage: str) -> bool:
    return storage not in ("matrix-free", "distributed")


STORAGES = ("dense", "packed", "matrix-free", "distributed")


def experiment(n: int, *, sigma: float = 1.0, bulk: str | Measure = "uniform",
               bulk_params: dict | None = None, spikes: Sequence[float] | None = None,
               r: int | None = None, r_of_n: tuple[float, float] | Callable[[int], int] | None = None,
               dist: str = "gaussian", p: float | None = None, df: float | None = None,
               diag_var: float | str | None = None,
               basis: str = "fast", storage: str = "dense", dtype: Any = np.float64,
               seed: Any = None, n_threads: int | None = None, eigenvectors: bool = False,
               margin: float | None = None, spectrum: bool = False, tol: float = 0.0,
               solver: str = "auto", scheduler: Any = None,
               n_workers: int | None = None) -> ExperimentResult:
    """Sample W = X/sqrt(n) + S and compare its extreme eigenvalues with the predictions.

    Parameters
    ----------
    n : int
        Matrix order.
    sigma : float
        Noise level: off-diagonal entries of X have variance sigma**2.
    bulk, bulk_params
        The bulk law of S: a :class:`fastrmt.measures.Measure` or a shortcut string
        (see :func:`fastrmt.signals.make_signal`).
    spikes : array_like, optional
        The spike eigenvalues of S (at most n - 1: S keeps one bulk eigenvalue).  Default: ``r`` spikes from
        :func:`default_spikes`.
    r : int, optional
        Number of spikes when ``spikes`` is not given (default floor(sqrt(n)); at most
        n - 1).
    r_of_n : (c, alpha) or callable, optional
        r = floor(c * n**alpha) (or ``r_of_n(n)``, an int): a number of spikes growing
        with n.
    dist, p, df, diag_var
        Entry law of X and the variance of its diagonal (see :func:`fastrmt.wigner`).
    basis : {"fast", "haar", "diagonal"}
        Eigenbasis of S (delocalized by default; "diagonal" makes the spikes' vectors
        coordinate vectors, and their outliers' fluctuations depend on the entry law).
    storage : {"dense", "packed", "matrix-free", "distributed"}
        How W's noise is stored (see :func:`fastrmt.deformed_wigner`).  "distributed":
        matrix-free, with the products run on a Dask cluster
        (:func:`fastrmt.distributed.distributed_wigner`; bit-identical to
        "matrix-free").
    dtype : float32 or float64
        Storage precision of X.
    seed : None or int
        Seeds X, the basis and the solver.  None draws one; it is recorded in
        ``result.params["seed"]``.
    n_threads : None or int
    eigenvectors : bool
        Also compute the eigenvectors beyond the thresholds and each spike's squared
        projection on them (predicted, for an isolated spike: Phi'(s)).
    margin : float, optional
        Distance of each threshold beyond its bulk edge; default ``MARGIN_TW``
        Tracy-Widom widths of that edge at this n.
    spectrum : bool
        Also keep the whole spectrum (dense eigvalsh; n <= ``DENSE_LIMIT``) for the
        histogram.
    tol : float
        Solver tolerance (0: machine precision).  With float32 storage ("dense" or
        "packed") the eigensolver runs in mixed precision: float32 products, then a
        float64-accumulated Rayleigh--Ritz step; the eigenvalues beyond the thresholds
        are those of the stored matrix to relative accuracy ``max(tol, MIXED_TOL)`` =
        1e-9 (certified by a quadratic residual bound; see :func:`fastrmt.eigsh`,
        ``mixed_precision``), far below any fluctuation scale.
    solver : {"auto", "eigsh", "dense"}
        "dense" computes the whole spectrum (and enables the gap comparison); "eigsh"
        extracts the extremes with the block Lanczos solver; "auto": dense when
        ``n <= DENSE_MAX`` and the noise is stored, else eigsh.
    scheduler : str or dask.distributed.Client, optional
        With ``storage="distributed"``: an existing scheduler's address, or a client
        (left open).  Default: a LocalCluster for the run, closed at the end.
    n_workers : int, optional
        With ``storage="distributed"`` and no scheduler: the LocalCluster's workers
        (default: the cores).

    Returns
    -------
    ExperimentResult

    Warns
    -----
    UserWarning
        When the parameters lie where the predictions are not expected to hold (a
        spike farther than 1e6 bulk widths from the bulk, or sigma below 1e-8 of the
        bulk's width).
    """
    n = check_int("n", n, min_value=8)
    sigma = check_real("sigma", sigma, min_value=0.0, strict_min=True)
    if not isinstance(bulk, Measure):
        bulk = check_choice("bulk", bulk, BULK_LAWS)
    eigenvectors = check_bool("eigenvectors", eigenvectors)
    spectrum = check_bool("spectrum", spectrum)
    solver = check_choice("solver", solver, ("auto", "eigsh", "dense"))
    tol = check_real("tol", tol, min_value=0.0)
    for flag, on in (("spectrum=True", spectrum), ("solver='dense'", solver == "dense")):
        if on and n > DENSE_LIMIT:
            raise ValueError(f"{flag} computes all eigenvalues densely; n must be <= "
                             f"{DENSE_LIMIT}, got {n}")
        if on:
            check_memory(f"{flag} (the dense matrix and LAPACK's workspace)", 3 * 8 * n * n,
                         hint="use solver='eigsh' and spectrum=False")
    if isinstance(seed, (bool, np.bool_)) or not (seed is None or isinstance(seed, (int, np.integer))):
        raise TypeError(f"seed must be None or a non-negative int (so that it can be recorded), "
                        f"got {seed!r}")
    if margin is not None:
        margin = check_real("margin", margin, min_value=0.0)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    seed = check_int("seed", seed, min_value=0)
    key = as_key(seed)
    timings: dict[str, float] = {}

    storage = check_choice("storage", storage, STORAGES)
    check_noise_memory(n, "matrix-free" if storage == "distributed" else storage,
                       check_dtype("dtype", dtype))   # before any allocation
    if storage != "distributed" and (scheduler is not None or n_workers is not None):
        raise ValueError(f"scheduler and n_workers need storage='distributed', got "
                         f"storage={storage!r}")
    client = None
    if storage == "distributed":
        # dask.distributed takes ~0.6 s to import: loaded when used (as by the sweeps)
        from . import distributed as _distributed

        if isinstance(scheduler, _distributed.Client):
            client, scheduler = scheduler, None
        n_workers = _distributed.check_cluster_args(client, scheduler, n_workers)

    # -- the signal and its spectrum ------------------------------------------------
    t0 = time.perf_counter()
    if isinstance(bulk, Measure):
        nu, bp = bulk, None
    else:
        bp = _bulk_params(bulk, bulk_params)
        nu = bulk_law(bulk, bp)
    if spikes is not None:
        if r is not None or r_of_n is not None:
            raise ValueError("give spikes, or r / r_of_n, not both")
        sp = check_array("spikes", spikes, ndim=1)
        if sp.size < 1 or sp.size > n - 1:
            raise ValueError(f"spikes must hold between 1 and n - 1 = {n - 1} values, "
                             f"got {sp.size}")
    else:
        rr = _resolve_r(n, r, r_of_n)
        if rr is None:
            rr = max(1, int(math.isqrt(n)))
        sp = default_spikes(rr, nu, sigma)
    _warn_outside_theory(sp, nu, sigma)
    signal = make_signal(n, bulk=bulk, bulk_params=bp, spikes=sp, basis=basis, seed=key,
                         n_threads=n_threads)
    if storage != "distributed":
        W = deformed_wigner(n, signal, sigma=sigma, dist=dist, p=p, df=df, diag_var=diag_var,
                            storage=storage, dtype=dtype, seed=key, n_threads=n_threads)
    timings["build"] = time.perf_counter() - t0

    # -- predictions -----------------------------------------------------------------
    t0 = time.perf_counter()
    nu_n = Atoms(np.sort(signal.eigenvalues))
    bulk_n = Atoms(np.sort(signal.bulk_eigenvalues))
    sup_lim = fp.bulk_support(nu, sigma, n_threads=n_threads)
    sup_bulk = fp.bulk_support(bulk_n, sigma, n_threads=n_threads)
    thr, counts = {}, {}
    for side in ("right", "left"):
        edge = float(sup_bulk[-1, 1] if side == "right" else sup_bulk[0, 0])
        m = margin if margin is not None else MARGIN_TW * fp.tracy_widom_width(
            bulk_n, sigma, n, side=side, n_threads=n_threads)
        thr[side] = edge + m if side == "right" else edge - m
    tail = fp.tail_mass(np.array([thr["right"], thr["left"]]), nu_n, sigma, n_threads=n_threads)
    expected = {"right": n * float(tail[0]), "left": n * (1.0 - float(tail[1]))}
    lim = fp.predict_outliers(sp, nu, sigma, n_threads=n_threads)
    fin = fp.predict_outliers(sp, nu_n, sigma, version="finite-n", n_threads=n_threads)
    crit = fp.critical_points(nu_n, sigma, n_threads=n_threads)
    comps = fp.spectrum_components(nu_n, sigma, n, n_threads=n_threads)
    var_kw = dict(localized=(basis == "diagonal"),
                  diag_var=_diag_variance(diag_var, sigma),
                  kappa4=_kappa4_or_zero(dist, sigma, p, df))
    timings["predict"] = time.perf_counter() - t0

    # -- extraction ------------------------------------------------------------------
    t0 = time.perf_counter()
    use_dense = (solver == "dense" or spectrum
                 or (solver == "auto" and n <= DENSE_MAX and _matfree_dense_ok(storage)))
    if storage == "distributed":
        if use_dense:   # a dense copy made here: no products to distribute
            W = deformed_wigner(n, signal, sigma=sigma, dist=dist, p=p, df=df,
                                diag_var=diag_var, storage="matrix-free", dtype=dtype, seed=key,
                                n_threads=n_threads)
        else:           # the cluster lives for the extraction only (the products)
            W = _distributed.distributed_wigner(n, signal, sigma=sigma, dist=dist, p=p, df=df,
                                                diag_var=diag_var, dtype=dtype, seed=key,
                                                n_threads=n_threads, client=client,
                                                scheduler=scheduler, n_workers=n_workers)
    try:
        obs: dict[str, np.ndarray] = {}
        vecs: dict[str, np.ndarray | None] = {"right": None, "left": None}
        searched: dict[str, str] = {}
        full = None
        calls = 0
        if use_dense:
            A = W.to_dense()
            with thread_limit(n_threads):       # LAPACK on exactly n_threads BLAS threads
                full = np.linalg.eigvalsh(A)
                calls = 1
                for side in ("right", "left"):
                    if side == "right":
                        idx = np.flatnonzero(full > thr["right"])[::-1]
                    else:
                        idx = np.flatnonzero(full < thr["left"])
                    obs[side] = full[idx]
                    searched[side] = "whole spectrum (dense)"
                    if eigenvectors and idx.size:
                        # only the eigenvectors beyond the threshold (MRRR on that index range)
                        lo, hi = int(idx.min()), int(idx.max())
                        _, V = scipy.linalg.eigh(A, subset_by_index=[lo, hi], driver="evr")
                        vecs[side] = V[:, idx - lo]
                        calls += 1
            del A
        else:
            # float32 storage: float32 Krylov products, certified float64 eigenvalues
            mixed = (storage in ("dense", "packed") and np.dtype(dtype) == np.float32)
            for side, which in (("right", "LA"), ("left", "SA")):
                want = expected[side]
                if want < 0.5 and not np.any(sp > thr["right"] if side == "right" else sp < thr["left"]):
                    obs[side] = np.empty(0)
                    searched[side] = (f"not searched: {want:.2g} eigenvalues predicted beyond "
                                      f"the threshold and no spike there")
                    continue
                k = int(math.ceil(want)) + 3 + int(math.ceil(0.05 * want))
                while True:
                    k = min(k, n - 1)
                    res = eigsh(W, k=k, which=which, tol=max(tol, MIXED_TOL) if mixed else tol,
                                return_eigenvectors=eigenvectors,
                                mixed_precision=mixed, _beyond=thr[side],
                                n_threads=n_threads, seed=key)
                    calls += 1
                    w, v = (res if eigenvectors else (res, None))
                    order = np.argsort(-w) if side == "right" else np.argsort(w)
                    w = w[order]
                    beyond = (w > thr["right"]) if side == "right" else (w < thr["left"])
                    if not beyond.all() or k >= n - 1:
                        break
                    k *= 2
                nb = int(np.sum(beyond))
                obs[side] = w[:nb]
                if eigenvectors:
                    vecs[side] = v[:, order][:, :nb]
                searched[side] = f"the {k} most extreme eigenvalues (eigsh, which={which!r})"
    finally:
        if storage == "distributed" and not use_dense:
            W.close()
    timings["eigensolver"] = time.perf_counter() - t0

    # -- comparison --------------------------------------------------------------------
    t0 = time.perf_counter()
    spike_comp = np.clip(np.searchsorted(crit[:, 1], sp, side="left"), 0, crit.shape[0] - 1)
    bulk_vals = np.sort(signal.bulk_eigenvalues)
    lo_b = np.searchsorted(bulk_vals, crit[:, 0], side="right")
    hi_b = np.searchsorted(bulk_vals, crit[:, 1], side="left")
    merged = (hi_b - lo_b) > 0
    U = signal.spike_vectors() if eigenvectors else None
    rows: list[dict] = []
    for side in ("right", "left"):
        o = obs[side]
        kk = max(o.size, 1)
        pred = fp.predict_eigenvalues(nu_n, sigma, n, min(kk, n), side=side,
                                      n_threads=n_threads, **var_kw)
        lim_vals = _one_spike_list(sp, lim, thr, side)
        fin_vals = _one_spike_list(sp, fin, thr, side)
        counts[side] = {"predicted": expected[side], "observed": int(o.size),
                        "limit": int(lim_vals.size), "second_order": int(fin_vals.size),
                        "searched": searched[side]}
        for j in range(o.size):
            rows.append(_eig_row(side, j + 1, float(o[j]), pred, j, sp, spike_comp, comps,
                                 lim_vals, fin_vals))
    if full is not None:
        rows.extend(_gap_rows(full, nu_n, sigma, n, thr, comps, merged, sp, spike_comp, var_kw,
                              n_threads))
    spikes_rows = []
    for i, s in enumerate(sp):
        c = int(spike_comp[i])
        ov = math.nan
        if U is not None:
            side = "right" if s > 0.5 * (thr["right"] + thr["left"]) else "left"
            V = vecs[side]
            if V is not None and V.shape[1]:
                ov = float(np.sum((V.T @ U[:, i]) ** 2))
        spikes_rows.append({"spike": float(s), "component": c,
                            "component_count": float(comps[c, 2]), "merged": bool(merged[c]),
                            "phi_limit": float(lim.location[i]),
                            "phi_prime_limit": float(lim.phi_prime[i]),
                            "phi_second_order": float(fin.location[i]),
                            "phi_prime_second_order": float(fin.phi_prime[i]),
                            "overlap_obs": ov})
    edges = {"right_limit": float(sup_lim[-1, 1]), "left_limit": float(sup_lim[0, 0]),
             "right_finite": float(sup_bulk[-1, 1]), "left_finite": float(sup_bulk[0, 0]),
             "intervals_limit": sup_lim.tolist()}
    if full is not None:
        edges["right_observed_max"] = float(full[-1])
        edges["left_observed_min"] = float(full[0])
    timings["compare"] = time.perf_counter() - t0

    params = {"n": n, "sigma": sigma, "bulk": bulk if isinstance(bulk, str) else None,
              "bulk_params": bp, "spikes": sp.tolist(), "dist": dist, "p": p, "df": df,
              "diag_var": diag_var, "basis": basis, "storage": storage,
              "dtype": np.dtype(dtype).name, "seed": seed, "eigenvectors": eigenvectors,
              "margin": margin, "tol": tol, "solver": solver, "spectrum": spectrum}
    if not isinstance(bulk, str):
        params["bulk"] = bulk     # a Measure: reproducible in-process, not JSON-exportable
    return ExperimentResult(params=params, eigenvalues=rows, spikes=spikes_rows, counts=counts,
                            edges=edges, threshold=thr, components=comps,
                            searched="; ".join(f"{k}: {v}" for k, v in searched.items()),
                            timings=timings, solver_calls=calls,
                            spectrum=full if spectrum else None,
                            signal_spectrum=np.sort(signal.eigenvalues))


def _diag_variance(diag_var, sigma: float) -> float:
    if diag_var is None:
        return sigma * sigma
    if isinstance(diag_var, str):
        return 2.0 * sigma * sigma
    return float(diag_var)


def _kappa4_or_zero(dist, sigma, p, df) -> float:
    k4 = fourth_cumulant(dist, sigma, p=p, df=df)
    # a heavy tail without a fourth moment: the localized formula does not apply; the
    # delocalized one (the default basis) does not use kappa4
    return k4 if math.isfinite(k4) else 0.0


def _one_spike_list(sp, pred, thr, side) -> np.ndarray:
    """Sorted (most extreme first) one-spike predictions Phi(s) beyond the threshold."""
    loc = pred.location[pred.is_outlier]
    if side == "right":
        return np.sort(loc[loc > thr["right"]])[::-1]
    return np.sort(loc[loc < thr["left"]])


def _eig_row(side, rank, observed, pred, j, sp, spike_comp, comps, lim_vals, fin_vals) -> dict:
    c = int(pred.component[j])
    g, sd = float(pred.locations[j]), float(pred.scale[j])
    return {"side": side, "rank": rank, "observed": observed, "predicted": g, "scale": sd,
            "z": (observed - g) / sd, "regime": str(pred.regime[j]), "component": c,
            "component_count": float(comps[c, 2]), **_spikes_of(sp[spike_comp == c]),
            "phi_limit": float(lim_vals[j]) if j < lim_vals.size else math.nan,
            "phi_second_order": float(fin_vals[j]) if j < fin_vals.size else math.nan}


def _spikes_of(values: np.ndarray) -> dict:
    """The spikes of a component: all of them when at most MAX_LISTED, else their range."""
    return {"n_spikes": int(values.size),
            "spikes": [float(v) for v in values] if values.size <= MAX_LISTED else [],
            "spike_range": ([float(values.min()), float(values.max())] if values.size
                            else [math.nan, math.nan])}


def _gap_rows(full, nu_n, sigma, n, thr, comps, merged, sp, spike_comp, var_kw, n_threads):
    """Eigenvalues in the components strictly between the thresholds that hold spikes and
    no bulk eigenvalue of S (spikes in gaps of the bulk)."""
    inside = (comps[:, 0] > thr["left"]) & (comps[:, 1] < thr["right"])
    with_spikes = np.zeros(comps.shape[0], dtype=bool)
    with_spikes[np.unique(spike_comp)] = True
    gap = np.flatnonzero(inside & with_spikes & ~merged)
    if gap.size == 0:
        return []
    desc = full[::-1]
    above = np.concatenate([np.cumsum(comps[::-1, 2])[::-1][1:], [0.0]])
    last = int(np.rint(above[gap].max() + comps[gap, 2].max())) if gap.size else 0
    pred = fp.predict_eigenvalues(nu_n, sigma, n, min(n, last), side="right",
                                  n_threads=n_threads, **var_kw)
    none = np.empty(0)
    rows = []
    for m in gap:
        first = int(np.rint(above[m])) + 1
        for rank in range(first, first + int(np.rint(comps[m, 2]))):
            row = _eig_row("gap", rank, float(desc[rank - 1]), pred, rank - 1, sp, spike_comp,
                           comps, none, none)
            rows.append(row)
    return rows


def _warn_outside_theory(sp: np.ndarray, nu: Measure, sigma: float) -> None:
    lo, hi = nu.support()[0][0], nu.support()[-1][1]
    width = max(hi - lo, sigma)
    dist = np.abs(sp - 0.5 * (lo + hi))
    if np.any(dist > 1e100 * width):
        bad = float(sp[np.flatnonzero(dist > 1e100 * width)[0]])
        raise ValueError(f"spikes must lie within 1e100 bulk widths of the bulk (the "
                         f"predictions square these distances), got {bad!r}")
    far = dist > 1e6 * width
    if np.any(far):
        warnings.warn(f"{int(far.sum())} spike(s) lie more than 1e6 bulk widths from the bulk "
                      f"(e.g. {float(sp[np.flatnonzero(far)[0]]):.3g}): their outliers are "
                      f"predicted only to the relative precision of the arithmetic",
                      UserWarning, stacklevel=3)
    if sigma < 1e-8 * width:
        warnings.warn(f"sigma = {sigma:.3g} is below 1e-8 of the bulk width {width:.3g}: the "
                      f"noise is at the level of rounding", UserWarning, stacklevel=3)


def _warmup() -> None:
    """Nothing of its own to compile (it calls the other modules' kernels)."""
