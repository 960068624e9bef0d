"""Monte Carlo check of the fluctuation scales of :func:`fastrmt.freeprob.predict_eigenvalues`.

For W = X/sqrt(n) + S, each case below simulates ``reps`` independent matrices of order
n, takes the top eigenvalue(s), and compares the sample standard deviation of the j-th
largest eigenvalue with the predicted ``scale[j-1]``.  The eigenvalues come from
:func:`fastrmt.eigensolver.eigsh` (block Lanczos, tol = 0) on the dense-storage operator,
S applied through its basis (no dense S = Q diag Q^T, which costs ~0.5 s for "fast"); on
replicate 0 of every case they are checked against ``scipy.linalg.eigh(W.to_dense(),
subset_by_index=..., driver="evr")`` (agreement to 1e-9 required, else an error).

The prediction uses the finite-n reference measure ``nu = Atoms(sort(signal.eigenvalues))``
(all n eigenvalues of S, spikes included); it is the same for every replicate (the bulk
of S is deterministic, only the basis Q and the noise X are random).

Cases (sigma = 1 unless stated):

1. ``outlier-delta0``: nu = delta_0 (the bulk given as an array of n - 1 zeros, which
   needs no shortcut parameters), one spike theta = 2, GOE noise (``diag_var="goe"``),
   delocalized basis "fast".
   ``n Var = 2 sigma^2 Phi'(theta) = 2 sigma^2 (1 - sigma^2/theta^2) = 1.5`` (Feral-Peche).
2. ``outlier-uniform-deloc``: uniform bulk on [-1, 1], spike 3, Gaussian noise with the
   default diagonal variance sigma^2, basis "fast":
   ``n Var = 2 sigma^2 Phi'(s)`` whatever the diagonal law.
3. ``outlier-uniform-loc-gauss``: as 2 with basis "diagonal" (the spike's eigenvector is
   a coordinate vector), Gaussian, d = sigma^2, kappa4 = 0:
   ``n Var = d Phi'^2 + 2 sigma^2 Phi'(1 - Phi') + kappa4 Phi'^2 (1 - Phi')/sigma^2``.
4. ``outlier-uniform-loc-rad``: as 3 with Rademacher entries, kappa4 = E x^4 - 3 sigma^4
   = -2 sigma^4 (the non-universal case).
5. ``tw-edge-j1``: no spike, Marchenko-Pastur bulk (ratio 0.5, scale 1), sigma = 0.3, GOE
   noise; the largest eigenvalue, regime "edge":
   ``sd = TW1_SD sigma^(4/3) (|Phi''(u*)|/2)^(1/3) n^(-2/3)``.  The basis is "diagonal":
   GOE noise is orthogonally invariant, so the basis does not change the law of the
   eigenvalues, and products with a diagonal S are cheapest.
6. ``bulk-j5`` (info only, not pass/fail): the 5th largest eigenvalue of the case-5
   matrices, regime "bulk": the library's rigidity scale, ``sqrt((log j + C)/pi^2) /
   (n rho(gamma_j))`` (combined with a local outlier scale; see predict_eigenvalues).

Here Phi'(s) = 1 - sigma^2/n sum_{j != s} 1/(s - s_j)^2 is the finite-n one (as in the
library).  Replicate i uses ``seed=i`` for both the signal basis and the noise (they use
different Philox streams).

Printed per case: predicted sd, sample sd (ddof = 1), their ratio, an approximate
standard error of that ratio (``sqrt((m4/s^4 - 1)/(4 reps))``, from the sample kurtosis),
the mean offset ``(sample mean - gamma_j) / predicted sd`` (gamma_j the classical
location; for a Tracy-Widom edge about TW1_MEAN/TW1_SD = -0.95 plus the offset of gamma_1
from the edge is expected) and PASS/FAIL at ``|ratio - 1| <= 0.15`` (``info`` for case 6).
The script exits with status 1 if a pass/fail case fails.

Run::

    python benchmarks/check_fluctuations.py [--reps 200] [--n 2000] [--json OUT] [--threads 1]

Replicates run one after the other in one process (no multiprocessing: numba and fork
do not mix), with a progress line on stderr.  ``--threads`` (default 1) caps numba and
BLAS; one thread is the robust choice on a shared 2-core machine (two BLAS threads
competing with another process slowed dense LAPACK calls 10-50x in testing); results do
not depend on it.

Timing (2-core machine, n = 2000, one thread): about 0.15-0.2 s per replicate for the
outlier cases (k = 1) and 0.45 s for the edge case (k = 5); the defaults (200
replicates x 5 simulated cases; case 6 reuses case 5's matrices) take about 4 minutes.
With 200 replicates the sample sd of a Gaussian has a relative standard error of about
5 %, so +-15 % is a 3-standard-error band.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field

import numba
import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_limits

from fastrmt.eigensolver import eigsh
from fastrmt.freeprob import TW1_MEAN, TW1_SD, predict_eigenvalues
from fastrmt.measures import Atoms
from fastrmt.operators import deformed_wigner
from fastrmt.signals import make_signal

TOL = 0.15


@dataclass
class Case:
    """One simulated model; ``targets`` = [(label, j, pass/fail?)] for the j-th largest."""

    name: str
    description: str
    signal: dict
    noise: dict
    predict: dict
    targets: list
    sigma: float = 1.0
    results: list = field(default_factory=list)


def cases(n: int) -> list[Case]:
    rad_k4 = -2.0  # E x^4 - 3 sigma^4 for sigma * Rademacher, sigma = 1
    return [
        Case("outlier-delta0", "nu=delta_0, theta=2, GOE, fast (deloc.)",
             dict(bulk=np.zeros(n - 1), spikes=[2.0], basis="fast"),
             dict(dist="gaussian", diag_var="goe"),
             dict(localized=False),
             [("1 outlier-delta0", 1, True)]),
        Case("outlier-uniform-deloc", "U[-1,1] + spike 3, Gauss d=s^2, fast (deloc.)",
             dict(bulk="uniform", spikes=[3.0], basis="fast"),
             dict(dist="gaussian"),
             dict(localized=False),
             [("2 outlier-unif-deloc", 1, True)]),
        Case("outlier-uniform-loc-gauss", "U[-1,1] + spike 3, Gauss d=s^2, diagonal (loc.)",
             dict(bulk="uniform", spikes=[3.0], basis="diagonal"),
             dict(dist="gaussian"),
             dict(localized=True, diag_var=1.0, kappa4=0.0),
             [("3 outlier-unif-loc-gauss", 1, True)]),
        Case("outlier-uniform-loc-rad", "U[-1,1] + spike 3, Rademacher, diagonal (loc.)",
             dict(bulk="uniform", spikes=[3.0], basis="diagonal"),
             dict(dist="rademacher"),
             dict(localized=True, diag_var=1.0, kappa4=rad_k4),
             [("4 outlier-unif-loc-rad", 1, True)]),
        Case("mp-edge", "MP(0.5, 1) bulk, sigma=0.3, GOE, no spike",
             dict(bulk="marchenko_pastur", bulk_params={"ratio": 0.5, "scale": 1.0},
                  basis="diagonal"),
             dict(dist="gaussian", diag_var="goe"),
             dict(),
             [("5 tw-edge-j1", 1, True), ("6 bulk-j5 (info)", 5, False)],
             sigma=0.3),
    ]


def top_eigenvalues(W, k: int, seed: int, n_threads: int) -> np.ndarray:
    """The k largest eigenvalues of the operator W, decreasing (block Lanczos, tol = 0)."""
    ev = eigsh(W, k=k, which="LA", return_eigenvectors=False, tol=0, seed=seed,
               n_threads=n_threads)
    return np.sort(ev)[::-1]


def dense_top_eigenvalues(W, k: int) -> np.ndarray:
    """The same through a dense copy and LAPACK ``evr`` (the cross-check)."""
    n = W.shape[0]
    ev = scipy.linalg.eigh(W.to_dense(), eigvals_only=True, subset_by_index=[n - k, n - 1],
                           driver="evr", overwrite_a=True, check_finite=False)
    return ev[::-1]


def run_case(case: Case, n: int, reps: int, n_threads: int) -> float:
    k = max(j for _, j, _ in case.targets)
    sig0 = make_signal(n, seed=0, n_threads=n_threads, **case.signal)
    nu = Atoms(np.sort(sig0.eigenvalues))
    pred = predict_eigenvalues(nu, case.sigma, n, k, n_threads=n_threads, **case.predict)
    samples = np.empty((reps, k))
    t0 = time.perf_counter()
    for i in range(reps):
        S = make_signal(n, seed=i, n_threads=n_threads, **case.signal)
        W = deformed_wigner(n, S, sigma=case.sigma, seed=i, n_threads=n_threads, **case.noise)
        samples[i] = top_eigenvalues(W, k, i, n_threads)
        if i == 0:  # the Lanczos eigenvalues against dense LAPACK, once per case
            ref = dense_top_eigenvalues(W, k)
            err = float(np.max(np.abs(samples[i] - ref)))
            if not err <= 1e-9:
                raise RuntimeError(f"{case.name}: eigsh and dense evr differ by {err:.3e}")
        el = time.perf_counter() - t0
        print(f"\r  {case.name}: {i + 1}/{reps}  {el:6.1f} s", end="", file=sys.stderr,
              flush=True)
    elapsed = time.perf_counter() - t0
    print(file=sys.stderr)
    for label, j, graded in case.targets:
        x = samples[:, j - 1]
        sd = float(np.std(x, ddof=1))
        c = x - x.mean()
        kurt = float(np.mean(c ** 4) / np.mean(c ** 2) ** 2)
        p_sd = float(pred.scale[j - 1])
        gamma = float(pred.locations[j - 1])
        ratio = sd / p_sd
        ok = abs(ratio - 1.0) <= TOL
        case.results.append(dict(
            case=label, model=case.description, j=j, regime=str(pred.regime[j - 1]),
            gamma=gamma, pred_sd=p_sd, sample_sd=sd, ratio=ratio,
            ratio_se=ratio * math.sqrt(max(kurt - 1.0, 0.0) / (4.0 * reps)),
            pred_nvar=n * p_sd ** 2, sample_nvar=n * sd ** 2,
            sample_mean=float(x.mean()), offset=float((x.mean() - gamma) / p_sd),
            kurtosis=kurt, graded=graded,
            status=("PASS" if ok else "FAIL") if graded else "info",
            seconds=elapsed))
    return elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=200, help="replicates per case (200)")
    ap.add_argument("--n", type=int, default=2000, help="matrix order (2000)")
    ap.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads for numba and BLAS (1: robust on a shared machine; "
                         "results do not depend on it)")
    args = ap.parse_args(argv)
    if args.reps < 3 or args.n < 10 or args.threads < 1:
        ap.error("need --reps >= 3, --n >= 10 and --threads >= 1")
    nt = min(args.threads, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(nt)

    t0 = time.perf_counter()
    all_cases = cases(args.n)
    with threadpool_limits(limits=nt):
        for case in all_cases:
            run_case(case, args.n, args.reps, nt)
    total = time.perf_counter() - t0
    rows = [r for c in all_cases for r in c.results]

    print(f"fluctuation check: n = {args.n}, reps = {args.reps}, tolerance +-{TOL:.0%} "
          f"on the sd ratio")
    hdr = (f"{'case':<26} {'regime':<9} {'pred sd':>10} {'sample sd':>10} {'ratio':>6} "
           f"{'+-se':>5} {'pred nVar':>9} {'samp nVar':>9} {'offset/sd':>9} {'status':>6}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['case']:<26} {r['regime']:<9} {r['pred_sd']:10.3e} {r['sample_sd']:10.3e} "
              f"{r['ratio']:6.3f} {r['ratio_se']:5.3f} {r['pred_nvar']:9.4f} "
              f"{r['sample_nvar']:9.4f} {r['offset']:+9.3f} {r['status']:>6}")
    print("-" * len(hdr))
    print(f"offset/sd = (sample mean - gamma_j) / predicted sd; for a TW edge the limit law "
          f"alone gives TW1_MEAN/TW1_SD = {TW1_MEAN / TW1_SD:+.3f} relative to the edge")
    failed = [r["case"] for r in rows if r["graded"] and r["status"] != "PASS"]
    print(f"total time {total:.1f} s; "
          + ("all pass/fail cases PASS" if not failed else f"FAILED: {', '.join(failed)}"))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(n=args.n, reps=args.reps, tolerance=TOL, seconds=total,
                           rows=rows), fh, indent=2)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
