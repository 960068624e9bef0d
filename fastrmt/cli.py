"""The ``fastrmt`` command (also ``python -m fastrmt``).

Subcommands:

* ``demo``: the main job — one :func:`fastrmt.experiment` with built-in defaults
  (n = 4000, uniform bulk, r = floor(sqrt(n)) spikes), the comparison table, a summary and
  a figure;
* ``sweep``: the convergence study on Dask (resumable, with a progress bar);
* ``bench``: the benchmark suite, printed as the README's table;
* ``analyze`` / ``prune``: weight matrices (see :mod:`fastrmt.weights` and
  :mod:`fastrmt.pruning`).

Every subcommand is built here with the same helpers: one ``--threads`` spelling
(``--n-threads`` is an alias), one error path (:func:`_err`), one output-path rule.

Bad arguments exit with status 2 and a one-line message naming the argument.  Output
paths are checked before any computation (:mod:`fastrmt._files`): an existing file is
replaced only with ``--overwrite``, and files are written atomically.  Ctrl-C exits with
status 130 and one line.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Sequence

import numpy as np

from . import __version__
from . import sweep as sw
from ._files import atomic_path, atomic_write, check_file, check_folder
from .bench import run_benchmarks
from .experiment import experiment
from .pruning import prune_file
from .sampling import DISTRIBUTIONS
from .signals import BASES, BULK_LAWS
from .weights import METHODS, MODELS, SOLVERS, analyze_weights, plot_layer

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (status 2)."""

    def error(self, message: str):  # noqa: D401
        self.exit(2, f"{self.prog}: error: {message}\n")


def _int(name: str, lo: int | None = None):
    def conv(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if lo is not None and v < lo:
            raise argparse.ArgumentTypeError(f"{name} must be >= {lo}, got {v}")
        return v
    return conv


def _float(name: str, positive: bool = False, lo: float | None = None,
           hi: float | None = None, lo_open: bool = False, none: bool = False):
    """A finite float option: ``positive`` (> 0), or within ``[lo, hi]`` (``(lo, hi]``
    with ``lo_open``); ``none`` also accepts the word 'none' (None)."""
    def conv(text: str) -> float | None:
        if none and text.lower() == "none":
            return None
        try:
            v = float(text)
        except ValueError:
            what = "a number or 'none'" if none else "a number"
            raise argparse.ArgumentTypeError(f"{name} must be {what}, got {text!r}") from None
        if v != v or v in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"{name} must be finite, got {text!r}")
        if positive and v <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be > 0, got {v}")
        below = lo is not None and (v <= lo if lo_open else v < lo)
        if below or (hi is not None and v > hi):
            if hi is None:
                rule = f"> {lo:g}" if lo_open else f">= {lo:g}"
            else:
                rule = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}]"
            raise argparse.ArgumentTypeError(f"{name} must be {rule}, got {v}")
        return v
    return conv


def _threads(text: str) -> int:
    v = _int("--threads")(text)
    if v == 0:
        raise argparse.ArgumentTypeError("--threads must not be 0 (all cores: omit it)")
    return v


def _threads_option(p: argparse.ArgumentParser) -> None:
    """The one ``--threads`` option of every subcommand (``--n-threads`` still works)."""
    p.add_argument("--threads", "--n-threads", dest="n_threads", type=_threads, default=None,
                   help="threads (default: all cores; negative counts back)")


def _spikes(text: str) -> list[float]:
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--spikes must be a comma-separated list of numbers, got {text!r}") from None
    if not vals:
        raise argparse.ArgumentTypeError("--spikes must list at least one value")
    return vals


def _kv(text: str) -> tuple[str, float]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--bulk-param must be KEY=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    try:
        return k.strip(), float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--bulk-param value must be a number, got {text!r}") from None


def _experiment_options(p: argparse.ArgumentParser, *, sweep: bool = False) -> None:
    p.add_argument("--sigma", type=_float("--sigma", positive=True), default=1.0,
                   help="noise level sigma (default 1)")
    p.add_argument("--bulk", choices=BULK_LAWS, default="uniform", help="bulk law of S")
    p.add_argument("--bulk-param", type=_kv, action="append", default=[], metavar="KEY=VALUE",
                   help="bulk law parameter, named as in fastrmt.measures (repeatable): "
                        "a, b (uniform); center, variance (semicircle); ratio, scale "
                        "(marchenko_pastur); a, b, p = mass on a (two_point)")
    p.add_argument("--basis", choices=BASES, default="fast", help="eigenbasis of S")
    p.add_argument("--storage", default="dense",
                   choices=("dense", "packed", "matrix-free") + (() if sweep else ("distributed",)),
                   help="storage of the noise matrix" + ("" if sweep else
                        " (distributed: matrix-free, products on a Dask cluster, see "
                        "--scheduler)"))
    if not sweep:
        p.add_argument("--dist", choices=DISTRIBUTIONS, default="gaussian", help="entry law")
        p.add_argument("--p", type=_float("--p", positive=True), default=None,
                       help="dilution probability (dist=sparse)")
        p.add_argument("--df", type=_float("--df", positive=True), default=None,
                       help="degrees of freedom (dist=student_t)")
        p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    _threads_option(p)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fastrmt", description="Large deformed Wigner matrices: outliers "
                     "against free-probability predictions.")
    parser.add_argument("--version", action="version", version=f"fastrmt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    d = sub.add_parser("demo", help="theory vs simulation for one W (the main job)",
                       description="Sample W = X/sqrt(n) + S, extract its outliers and compare "
                                   "them with Phi(s).")
    d.add_argument("--n", type=_int("--n", 8), default=4000, help="matrix order (default 4000)")
    g = d.add_mutually_exclusive_group()
    g.add_argument("--spikes", type=_spikes, default=None, help="spike values, comma-separated")
    g.add_argument("--r", type=_int("--r", 1), default=None,
                   help="number of spikes (default floor(sqrt(n)))")
    g.add_argument("--r-alpha", type=_float("--r-alpha"), default=None,
                   help="r = floor(c * n**alpha) spikes (with --r-c)")
    d.add_argument("--r-c", type=_float("--r-c", positive=True), default=1.0)
    _experiment_options(d)
    d.add_argument("--seed", type=_int("--seed", 0), default=0, help="seed (default 0)")
    d.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="with --storage distributed: an existing Dask scheduler (default: a "
                        "local cluster for the run)")
    d.add_argument("--workers", type=_int("--workers", 1), default=None,
                   help="with --storage distributed: local cluster workers (default: cores)")
    d.add_argument("--no-eigenvectors", action="store_true",
                   help="skip eigenvectors and overlaps")
    d.add_argument("--no-spectrum", action="store_true",
                   help="skip the full spectrum histogram (always skipped for n > 8000)")
    d.add_argument("--margin", type=_float("--margin"), default=None,
                   help="threshold distance beyond each bulk edge (default 4 Tracy-Widom "
                        "widths of that edge)")
    d.add_argument("--out", default="fastrmt-demo",
                   help="output folder for demo.json, demo.csv, demo.png (default ./fastrmt-demo)")
    d.add_argument("--overwrite", action="store_true",
                   help="replace demo.json, demo.csv, demo.png if they exist")
    d.add_argument("--json", action="store_true", help="print the results as JSON")
    d.add_argument("--rows", type=_int("--rows", 2), default=16, help="table rows shown")
    d.set_defaults(func=_demo)

    s = sub.add_parser("sweep", help="convergence of the outliers as n grows (Dask)",
                       description="Grid over n, seeds, r(n) = c n^alpha and entry laws; rows "
                                   "are appended to the results file as tasks finish.")
    s.add_argument("--n", type=_int("--n", 50), nargs="+", default=[500, 1000, 2000, 4000])
    s.add_argument("--seeds", type=_int("--seeds", 1), default=2, help="seeds per point")
    s.add_argument("--alpha", type=_float("--alpha"), nargs="+", default=[0.5])
    s.add_argument("--c", type=_float("--c", positive=True), default=1.0)

    s.add_argument("--dist", choices=DISTRIBUTIONS, nargs="+", default=["gaussian"])
    _experiment_options(s, sweep=True)
    s.add_argument("--out", default="fastrmt-sweep", help="output folder")
    s.add_argument("--results", default=None,
                   help="results file (JSON lines; default OUT/sweep.jsonl)")
    s.add_argument("--resume", action="store_true",
                   help="skip tasks already in the results file, append the others "
                        "(and replace OUT/sweep.png)")
    s.add_argument("--overwrite", action="store_true",
                   help="start an existing results file (and OUT/sweep.png) afresh")
    s.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="an existing Dask scheduler (default: a local cluster)")
    s.add_argument("--workers", type=_int("--workers", 1), default=None,
                   help="local cluster workers (default: cores)")
    s.add_argument("--no-progress", action="store_true")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(func=_sweep)

    b = sub.add_parser("bench", help="run the benchmark suite and print the comparison table")
    b.add_argument("-k", dest="select", default=None, help="pytest -k expression")
    b.add_argument("--quick", action="store_true",
                   help="small sizes (FASTRMT_BENCH_N=2000) for a smoke run")
    b.add_argument("--json", action="store_true",
                   help="print pytest-benchmark's JSON instead of the table")
    b.add_argument("--out", default=None, metavar="FILE",
                   help="also save pytest-benchmark's JSON here (relative to the current folder)")
    b.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    b.set_defaults(func=_bench)

    add_analyze_parser(sub)
    add_prune_parser(sub)
    return parser


def _err(cmd: str, msg: str) -> int:
    """The one error path: ``fastrmt CMD: error: MSG`` on stderr, status 2."""
    print(f"fastrmt {cmd}: error: {msg}", file=sys.stderr)
    return 2


def _fail(cmd: str, exc: BaseException) -> int:
    return _err(cmd, _line(exc))


def _demo(args) -> int:
    kw = dict(sigma=args.sigma, bulk=args.bulk, bulk_params=dict(args.bulk_param) or None,
              dist=args.dist, p=args.p, df=args.df, basis=args.basis, storage=args.storage,
              dtype=np.dtype(args.dtype), seed=args.seed, n_threads=args.n_threads,
              eigenvectors=not args.no_eigenvectors,
              spectrum=(not args.no_spectrum) and args.n <= 8000, margin=args.margin,
              scheduler=args.scheduler, n_workers=args.workers)
    if args.spikes is not None:
        kw["spikes"] = args.spikes
    elif args.r is not None:
        kw["r"] = args.r
    elif args.r_alpha is not None:
        kw["r_of_n"] = (args.r_c, args.r_alpha)

    if args.storage != "distributed" and (args.scheduler is not None
                                          or args.workers is not None):
        return _err("demo", "--scheduler and --workers need --storage distributed")
    files = {"json": os.path.join(args.out, "demo.json"),
             "csv": os.path.join(args.out, "demo.csv"),
             "figure": os.path.join(args.out, "demo.png")}
    try:
        check_folder("--out", args.out, [os.path.basename(f) for f in files.values()],
                     overwrite=args.overwrite)
        res = experiment(args.n, **kw)
        os.makedirs(args.out, exist_ok=True)
        atomic_write(files["json"], res.to_json(indent=1))
        with atomic_path(files["csv"]) as tmp:
            res.to_csv(tmp)
        with atomic_path(files["figure"]) as tmp:
            res.plot(tmp)
    except (ValueError, TypeError, OSError, MemoryError) as exc:
        return _fail("demo", exc)
    if args.json:
        out = res.to_dict()
        out["files"] = files
        print(json.dumps(out, default=str))
    else:
        print(res.format_table(args.rows))
        print()
        print(res.format_summary())
        print(f"wrote {files['json']}, {files['csv']}, {files['figure']}")
    return 0


def _sweep(args) -> int:
    try:
        if any(not 0 <= a < 1 for a in args.alpha):
            raise ValueError(f"--alpha values must be in [0, 1), got {args.alpha}")
        tasks = sw.sweep_tasks(args.n, seeds=list(range(args.seeds)), alphas=args.alpha,
                               c=args.c, dists=args.dist, sigma=args.sigma, bulk=args.bulk,
                               basis=args.basis, storage=args.storage)
        results = args.results or os.path.join(args.out, "sweep.jsonl")
        flag = "--results" if args.results else "--out"
        check_folder("--out", args.out, ["sweep.png"], overwrite=args.overwrite or args.resume)
        res_dir = os.path.dirname(results) or "."
        check_folder(flag, res_dir)
        if os.path.isdir(res_dir):
            check_file(flag, results, overwrite=args.overwrite or args.resume,
                       hint="--resume to continue it, or --overwrite to start afresh")
        if args.resume and os.path.exists(results):
            sw.check_results_file(results)
        os.makedirs(args.out, exist_ok=True)
        os.makedirs(os.path.dirname(os.path.abspath(results)), exist_ok=True)
        args._interrupted = lambda: (f"{len(sw.read_results(results))} rows kept in {results} "
                                     f"(resume with --resume)")
        rows = sw.run_sweep(tasks, results, resume=args.resume,
                            overwrite=args.overwrite and not args.resume,
                            scheduler=args.scheduler, n_workers=args.workers,
                            progress=not args.no_progress)
    except (ValueError, TypeError, FileExistsError, OSError) as exc:
        return _fail("sweep", exc)
    keys = {t.key for t in tasks}
    rows = [r for r in rows if r.get("key") in keys]
    table = sw.summarize(rows)
    fits = sw.fit_rates(rows)

    fig = os.path.join(args.out, "sweep.png")
    with atomic_path(fig) as tmp:
        sw.plot_sweep(rows, tmp)
    if args.json:
        print(json.dumps({"summary": table, "fits": fits, "results": results, "figure": fig}))
        return 0

    def g(x, fmt=".2e"):
        return "—" if x is None else format(x, fmt)

    print(f"{'alpha':>5} {'n':>6} {'r':>5} {'observed':>8} {'μ_n':>8} {'Φ_n 2nd':>7} "
          f"{'Φ lim':>6} {'|err| μ_n':>9} {'|err| 2nd':>9} {'|err| lim':>9} {'|z|<=3':>6}")
    for t in table:
        print(f"{t['alpha']:5g} {t['n']:6d} {t['r']:5d} {g(t['count_observed'], '.0f'):>8} "
              f"{g(t['count_predicted'], '.1f'):>8} {g(t['count_second_order'], '.0f'):>7} "
              f"{g(t['count_limit'], '.0f'):>6} {g(t['mean_abs_error']):>9} "
              f"{g(t['mean_abs_error_second_order']):>9} {g(t['mean_abs_error_limit']):>9} "
              f"{g(t['frac_abs_z_le_3'], '.3f'):>6}")
    for f in fits:
        parts = []
        for name in ("free_convolution", "second_order", "limit"):
            rate = f[name]["rate"]
            parts.append(f"{name.replace('_', ' ')} n^{rate:.2f}" if np.isfinite(rate)
                         else f"{name.replace('_', ' ')} —")
        print(f"alpha={f['alpha']:g}: mean |error| fitted rate: " + ", ".join(parts))
    print(f"wrote {results}, {fig}")
    return 0


def _bench(args) -> int:
    try:
        # FILE is the user's (relative to the current folder, not the source checkout)
        json_path = (check_file("--out", args.out, overwrite=args.overwrite)
                     if args.out else None)
        return run_benchmarks(select=args.select, quick=args.quick, json_path=json_path,
                              overwrite=args.overwrite, as_json=args.json)
    except (ValueError, OSError) as exc:
        return _fail("bench", exc)


# ----------------------------------------------------------------------------------
# analyze / prune: weight matrices
# ----------------------------------------------------------------------------------
def _progress(quiet: bool):
    if quiet:
        return False

    def show(i: int, total: int, name: str) -> None:
        print(f"[{i}/{total}] {name}", file=sys.stderr, flush=True)

    return show


def _keep(text: str) -> str | int:
    if text in ("signal", "outliers"):
        return text
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--keep must be 'signal', 'outliers' or a rank (int >= 0), got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"--keep rank must be >= 0, got {v}")
    return v


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", choices=METHODS, default="bema",
                   help="noise-level estimator: BEMA quantile regression (default) or "
                        "Gavish-Donoho median matching")
    p.add_argument("--margin", type=_float("--margin", lo=0.0), default=3.0,
                   help="outlier threshold = bulk edge + MARGIN x Tracy-Widom scale "
                        "(default 3)")
    _threads_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def add_analyze_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``analyze FILE ...`` on an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "analyze", help="noise level, outliers and de-noised spikes of every 2-D layer",
        description="Random-matrix analysis of the 2-D layers of a weight file "
                    "(.npy, .npz, .safetensors, .pt/.pth): per layer the noise level sigma, "
                    "the bulk edge, the outliers beyond it and their de-noised values, and "
                    "WeightWatcher's heavy-tail metrics (alpha, alpha_weighted, stable rank, "
                    "log spectral norm). Layers with a short side below 32 are listed "
                    "without a model (see the note column).")
    p.add_argument("file", help="weight file")
    _common(p)
    p.add_argument("--model", choices=MODELS, default="auto",
                   help="auto: symmetric part (Wigner) for square layers, singular values "
                        "(Marchenko-Pastur) otherwise")
    p.add_argument("--solver", choices=SOLVERS, default="auto",
                   help="auto: full spectrum (LAPACK) up to 3072 on the short side, block "
                        "Lanczos for the outliers only above")
    p.add_argument("--plot", metavar="DIR", help="write one PNG per layer into DIR")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("--csv", metavar="FILE", help="also write the per-layer table as CSV")
    p.add_argument("--out", metavar="DIR",
                   help="write report.json and report.csv into DIR (created if needed)")
    p.add_argument("--top", type=int, default=3, help="outliers shown per layer (default 3)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing --csv, --out and --plot files")
    p.set_defaults(func=_analyze)
    return p


def add_prune_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``prune FILE --out FILE2 ...`` on an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "prune", help="low-rank layers with the rank their signal needs",
        description="Replace every 2-D layer by the leading singular components its "
                    "signal needs: by default those the rotationally invariant estimator "
                    "shows to carry signal above the noise (outliers plus part of the "
                    "bulk); a layer with none is left unchanged and reported. --ratio or "
                    "--target-params sets a global budget split across layers by the same "
                    "estimate. Writes the same format; never overwrites the input.")
    p.add_argument("file", help="input weight file")
    p.add_argument("--out", required=True, metavar="FILE2",
                   help="output file (same format as the input)")
    _common(p)
    p.add_argument("--keep", type=_keep, default="signal",
                   help="'signal' (default: the estimator's rank), 'outliers' (beyond the "
                        "bulk edge only) or a rank to keep per layer")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--ratio", type=_float("--ratio", lo=0.0, hi=1.0, lo_open=True), default=None,
                        help="global budget: fraction of the pruned layers' parameters "
                             "kept (factored form), split across layers by the estimate")
    budget.add_argument("--target-params", type=_int("--target-params", 0), default=None,
                        help="global budget as a parameter count")
    p.add_argument("--max-change", type=_float("--max-change", lo=0.0, hi=1.0, none=True), default=0.05,
                   help="with the default --keep signal and no budget: the largest relative "
                        "change ||W - W_pruned||_F / ||W||_F per layer (default 0.05; the "
                        "rank is raised until it holds); 'none': the signal rank alone")
    p.add_argument("--sigma", type=_float("--sigma", lo=0.0), default=None,
                   help="per-entry noise level for every layer (default: estimated per "
                        "layer from its bulk)")
    p.add_argument("--shrink", nargs="?", const="optimal", default="none",
                   choices=("none", "rie", "optimal", "denoised"),
                   help="values of the kept components: none (observed, default), rie "
                        "(de-noised, every component), optimal (Gavish-Donoho, outliers "
                        "only; the default when the flag is given alone) or denoised (BGN "
                        "signal values, outliers only)")
    p.add_argument("--bulk-share", type=_float("--bulk-share", lo=0.0, hi=1.0), default=0.0,
                   help="also keep this share of the bulk components (0..1)")
    p.add_argument("--min-dim", type=int, default=32,
                   help="copy layers with a short side below this unchanged (default 32)")
    p.add_argument("--structure", choices=("low-rank", "sparse"), default="low-rank",
                   help="low-rank (default: the components the signal needs) or sparse "
                        "(the largest |w| of each layer, the layers' densities spread by "
                        "their heavy-tail alpha; needs --ratio or --target-params)")
    p.add_argument("--spread", type=_float("--spread", lo=0.0, hi=0.5), default=0.1,
                   help="with --structure sparse: how far the layers' densities spread "
                        "around the budget (default 0.1)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output file (never the input)")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.set_defaults(func=_prune)
    return p


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "layer"


def _analyze(args: argparse.Namespace) -> int:
    ow, inputs = args.overwrite, [args.file]
    try:                             # every output path is checked before the analysis
        if args.csv:
            check_file("--csv", args.csv, overwrite=ow, inputs=inputs)
        if args.out:
            check_folder("--out", args.out, ["report.json", "report.csv"], overwrite=ow,
                         inputs=inputs)
        if args.plot:
            check_folder("--plot", args.plot, inputs=inputs)
    except ValueError as exc:
        return _err("analyze", _line(exc))
    try:
        rep = analyze_weights(args.file, method=args.method, margin=args.margin,
                              model=args.model, solver=args.solver, n_threads=args.n_threads,
                              progress=_progress(args.quiet))
    except (ValueError, TypeError, OSError) as exc:
        return _err("analyze", _line(exc))
    try:
        if args.json:
            print(rep.to_json(indent=1))
        else:
            print(rep.table(top=max(args.top, 0)))
        if args.csv:
            with atomic_path(args.csv) as tmp:
                rep.to_csv(tmp)
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            atomic_write(os.path.join(args.out, "report.json"),
                         json.dumps(rep.to_dict(), indent=1))
            with atomic_path(os.path.join(args.out, "report.csv")) as tmp:
                rep.to_csv(tmp)
        if args.plot:
            used: set[str] = set()
            names = []
            for rec in rep.layers:
                base = _safe_name(rec.name)
                stem, k = base, 1
                while stem in used:
                    k += 1
                    stem = f"{base}_{k}"
                used.add(stem)
                names.append(stem + ".png")
            check_folder("--plot", args.plot, names, overwrite=ow, inputs=inputs)
            os.makedirs(args.plot, exist_ok=True)
            for rec, name in zip(rep.layers, names):
                with atomic_path(os.path.join(args.plot, name)) as tmp:
                    plot_layer(rec, tmp)
    except (OSError, ValueError) as exc:
        return _err("analyze", _line(exc))
    return 0


def _prune(args: argparse.Namespace) -> int:
    try:
        check_file("--out", args.out, overwrite=args.overwrite, inputs=[args.file])
        rep = prune_file(args.file, args.out, keep=args.keep, shrink=args.shrink,
                         ratio=args.ratio, target_params=args.target_params, sigma=args.sigma,
                         max_change=args.max_change,
                         bulk_share=args.bulk_share, overwrite=args.overwrite,
                         method=args.method, margin=args.margin, min_dim=args.min_dim,
                         n_threads=args.n_threads, progress=_progress(args.quiet),
                         structure=args.structure, spread=args.spread)
    except (ValueError, TypeError, OSError) as exc:
        return _err("prune", _line(exc))
    if args.json:
        print(json.dumps(rep.to_dict(), indent=1))
    else:
        print(rep.table())
        print(f"wrote {args.out}")
    return 0


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fastrmt`` command; returns the exit status (130 after Ctrl-C)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        note = getattr(args, "_interrupted", None)
        try:
            extra = f"; {note()}" if note is not None else ""
        except Exception:  # pragma: no cover - the note is best effort
            extra = ""
        print(f"fastrmt {args.command}: interrupted{extra}", file=sys.stderr)
        return 130


def main_for_tests(argv: Sequence[str]) -> int:
    """:func:`main` with argparse's usage errors returned as status 2 (no SystemExit)."""
    try:
        return main(list(argv))
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
