"""``fastrmt analyze`` and ``fastrmt prune``: the weight-matrix subcommands.

``fastrmt.cli`` registers them with :func:`add_analyze_parser` and
:func:`add_prune_parser`; each sets ``func=handler`` returning the exit status:
0 on success, 2 on a bad file or argument (a one-line message on stderr, no output file
written).  :func:`main_for_tests` builds a parser with just these two subcommands.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Sequence

__all__ = ["add_analyze_parser", "add_prune_parser", "main_for_tests"]


def _err(cmd: str, msg: str) -> int:
    print(f"fastrmt {cmd}: error: {msg}", file=sys.stderr)
    return 2


def _progress(quiet: bool):
    if quiet:
        return False

    def show(i: int, total: int, name: str) -> None:
        print(f"[{i}/{total}] {name}", file=sys.stderr, flush=True)

    return show


def _threads(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--threads must be an integer, got {text!r}") from None
    if v == 0:
        raise argparse.ArgumentTypeError("--threads must not be 0 (all cores: omit it)")
    return v


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


def _share(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid share {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"--bulk-share must be in [0, 1], got {v}")
    return v


def _ratio(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ratio must be a number, got {text!r}") from None
    if not 0.0 < v <= 1.0:
        raise argparse.ArgumentTypeError(f"--ratio must be in (0, 1], got {v}")
    return v


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--target-params must be an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"--target-params must be >= 0, got {v}")
    return v


def _max_change(text: str) -> float | None:
    if text.lower() == "none":
        return None
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--max-change must be a number or 'none', got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"--max-change must be in [0, 1], got {v}")
    return v


def _sigma(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sigma must be a number, got {text!r}") from None
    if not (v >= 0.0 and v < float("inf")):
        raise argparse.ArgumentTypeError(f"--sigma must be finite and >= 0, got {v}")
    return v


def _margin(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid margin {text!r}") from None
    if not (v >= 0.0 and v < float("inf")):
        raise argparse.ArgumentTypeError(f"--margin must be a finite number >= 0, got {v}")
    return v


def _common(p: argparse.ArgumentParser) -> None:
    from .weights import METHODS

    p.add_argument("--method", choices=METHODS, default="bema",
                   help="noise-level estimator: BEMA quantile regression (default) or "
                        "Gavish-Donoho median matching")
    p.add_argument("--margin", type=_margin, default=3.0,
                   help="outlier threshold = bulk edge + MARGIN x Tracy-Widom scale "
                        "(default 3)")
    p.add_argument("--threads", type=_threads, default=None,
                   help="threads (default: all cores; negative counts back)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def add_analyze_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``analyze FILE ...`` on an argparse ``subparsers`` object."""
    from .weights import MODELS, SOLVERS

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
    budget.add_argument("--ratio", type=_ratio, default=None,
                        help="global budget: fraction of the pruned layers' parameters "
                             "kept (factored form), split across layers by the estimate")
    budget.add_argument("--target-params", type=_count, default=None,
                        help="global budget as a parameter count")
    p.add_argument("--max-change", type=_max_change, default=0.05,
                   help="with the default --keep signal and no budget: the largest relative "
                        "change ||W - W_pruned||_F / ||W||_F per layer (default 0.05; the "
                        "rank is raised until it holds); 'none': the signal rank alone")
    p.add_argument("--sigma", type=_sigma, default=None,
                   help="per-entry noise level for every layer (default: estimated per "
                        "layer from its bulk)")
    p.add_argument("--shrink", nargs="?", const="optimal", default="none",
                   choices=("none", "rie", "optimal", "denoised"),
                   help="values of the kept components: none (observed, default), rie "
                        "(de-noised, every component), optimal (Gavish-Donoho, outliers "
                        "only; the default when the flag is given alone) or denoised (BGN "
                        "signal values, outliers only)")
    p.add_argument("--bulk-share", type=_share, default=0.0,
                   help="also keep this share of the bulk components (0..1)")
    p.add_argument("--min-dim", type=int, default=32,
                   help="copy layers with a short side below this unchanged (default 32)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output file (never the input)")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.set_defaults(func=_prune)
    return p


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "layer"


def _analyze(args: argparse.Namespace) -> int:
    from ._files import atomic_path, atomic_write, check_file, check_folder
    from .weights import analyze_weights, plot_layer

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
                              model=args.model, solver=args.solver, n_threads=args.threads,
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
    from ._files import check_file
    from .pruning import prune_file

    try:
        check_file("--out", args.out, overwrite=args.overwrite, inputs=[args.file])
        rep = prune_file(args.file, args.out, keep=args.keep, shrink=args.shrink,
                         ratio=args.ratio, target_params=args.target_params, sigma=args.sigma,
                         max_change=args.max_change,
                         bulk_share=args.bulk_share, overwrite=args.overwrite,
                         method=args.method, margin=args.margin, min_dim=args.min_dim,
                         n_threads=args.threads, progress=_progress(args.quiet))
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


def main_for_tests(argv: Sequence[str]) -> int:
    """Run ``analyze``/``prune`` as the ``fastrmt`` command would; return the exit status."""
    parser = argparse.ArgumentParser(prog="fastrmt")
    sub = parser.add_subparsers(dest="command", required=True)
    add_analyze_parser(sub)
    add_prune_parser(sub)
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # argparse: usage errors exit 2
        return int(exc.code) if isinstance(exc.code, int) else 2
    return int(args.func(args))
