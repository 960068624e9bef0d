"""The README's pruning table: a 64 -> 128 -> 128 -> 10 ReLU MLP on scikit-learn's digits
(75/25 split), trained by full-batch Adam (no weight decay) and AdamW (weight decay 10),
300 steps at lr 3e-3 (the numpy trainer ``tests/reference_weights.train_digits_mlp``),
then pruned with :func:`fastrmt.prune_weights` (``keep="outliers"``): outliers only (also
with ``shrink=True``), and outliers plus 25 % of the bulk.

``--curve`` adds, for the same two trained MLPs, test accuracy against compression: the
fraction of the parameters of the pruned layers (fc1 128x64 and fc2 128x128, 24 576
parameters; the 10x128 head fc3 is never pruned) kept at each ``--budgets`` value, by the
five methods of ``_prune_baselines.py`` (``rmt`` = ``fastrmt.prune_weights(...,
ratio=budget)``, ``rmt_sparse`` = ``fastrmt.prune_sparse(..., ratio=budget)``,
uniform-rank truncated SVD, the scaled Gavish-Donoho threshold, global
magnitude pruning), plus the own choices of ``rmt`` (its default rank rule) and of
Gavish-Donoho (t = 1).  A rank-r layer counts ``r (n + m)`` parameters, magnitude pruning
its nonzeros.  Each cell shows the accuracy and, in parentheses, the fraction actually
kept.  ``--plot FILE`` draws the curves (one panel per training); an existing file is
refused without ``--overwrite`` (checked before training) and the file is written
atomically.

Usage (from the source checkout, scikit-learn installed): ``python
benchmarks/run_digits_prune.py [steps] [lr] [--curve] [--budgets B ...] [--plot FILE
[--overwrite]]``.  Without ``--curve`` it prints only the README table.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import fastrmt  # noqa: E402
from tests import reference_weights as ref  # noqa: E402

LAYERS = ["fc1.weight", "fc2.weight"]       # fc3 (10 x 128) stays: min(n, m) < min_dim
DEFAULT_BUDGETS = (1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="run_digits_prune.py",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("steps", nargs="?", type=int, default=300)
    p.add_argument("lr", nargs="?", type=float, default=3e-3)
    p.add_argument("--curve", action="store_true",
                   help="also print accuracy against the parameters kept, five methods")
    p.add_argument("--budgets", type=float, nargs="+", default=list(DEFAULT_BUDGETS),
                   metavar="B", help="fractions of fc1+fc2's parameters kept (--curve)")
    p.add_argument("--plot", metavar="FILE", help="write the curves to FILE (implies --curve)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --plot")
    args = p.parse_args(argv)
    if any(not 0.0 < b <= 1.0 for b in args.budgets):
        p.error(f"--budgets: every budget must be in (0, 1], got {args.budgets}")
    if args.plot is not None:
        from fastrmt._files import OutputPathError, check_file

        try:
            check_file("--plot", args.plot, overwrite=args.overwrite)
        except OutputPathError as exc:
            p.error(str(exc))
        args.curve = True
    return args


def curve(params, budgets, Xte, yte):
    """Rows (method, budget or None for the own choice, kept fraction, accuracy)."""
    import _prune_baselines as pb

    total = pb.params_before(params, LAYERS)
    rows, notes = [], []
    for m, fn in pb.METHODS.items():
        for budget in ([None] if m in pb.OWN_CHOICE else []) + list(budgets):
            try:
                pruned, kept = fn(params, LAYERS, budget)
            except pb.Unavailable as exc:
                notes.append(f"{m} skipped: {exc}")
                break
            except ValueError as exc:        # a budget the method cannot meet
                notes.append(f"{m} at budget {budget}: {exc}")
                continue
            rows.append((m, budget, kept / total, ref.mlp_accuracy(pruned, Xte, yte)))
    return rows, notes


def print_curve(name, acc, rows, notes, budgets):
    import _prune_baselines as pb

    methods = list(pb.METHODS)
    print(f"\n{name}: test accuracy (fraction of fc1+fc2 kept); unpruned {acc:.1%}")
    print(f"{'budget':>8} " + " ".join(f"{m:>16}" for m in methods))
    cells = {(m, b): (kept, a) for m, b, kept, a in rows}
    for b in [None] + list(budgets):
        line = []
        for m in methods:
            c = cells.get((m, b))
            line.append(f"{c[1]:8.1%} ({c[0]:.3f})" if c else f"{'-':>16}")
        print(f"{'own' if b is None else f'{b:g}':>8} " + " ".join(line))
    for n in notes:
        print(f"  note: {n}")


def plot(curves, path):
    import _prune_baselines as pb
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from fastrmt._files import atomic_path

    fig = Figure(figsize=(5.2 * len(curves), 4.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(curves), squeeze=False)[0]
    for ax, (name, acc, rows) in zip(axes, curves):
        for i, m in enumerate(pb.METHODS):
            pts = sorted((kept, a) for mm, b, kept, a in rows if mm == m and b is not None)
            if pts:
                ax.plot(*zip(*pts), "o-", color=f"C{i}", ms=4, label=m)
            for mm, b, kept, a in rows:
                if mm == m and b is None:
                    ax.plot([kept], [a], "*", color=f"C{i}", ms=13, mec="k",
                            label=f"{m}: {pb.OWN_CHOICE[m]}")
        ax.axhline(acc, color="0.5", ls="--", lw=1, label=f"unpruned {acc:.1%}")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("fraction of fc1 + fc2 parameters kept")
        ax.set_ylabel("test accuracy")
        ax.set_xlim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    steps, lr = args.steps, args.lr
    Xtr, ytr, Xte, yte = ref.digits_split()
    print(f"MLP 64-128-128-10, {steps} full-batch steps, lr {lr}; test set {len(yte)}")
    print(f"{'training':22s} {'test acc':>8} {'pruned':>8} {'shrink':>8} {'ranks':>10} "
          f"{'params':>16} {'+25% bulk':>9} {'ranks':>10}")
    trained = []
    for name, wd in (("Adam, no weight decay", 0.0), ("AdamW, weight decay 10", 10.0)):
        params = ref.train_digits_mlp(Xtr, ytr, hidden=128, steps=steps, lr=lr,
                                      weight_decay=wd)
        acc = ref.mlp_accuracy(params, Xte, yte)
        trained.append((name, params, acc))
        t0, r0 = fastrmt.prune_weights(params, keep="outliers")
        t1, _ = fastrmt.prune_weights(params, keep="outliers", shrink=True)
        t2, r2 = fastrmt.prune_weights(params, keep="outliers", bulk_share=0.25)
        ranks = ",".join(str(r.rank) for r in r0.layers[:2])
        ranks2 = ",".join(str(r.rank) for r in r2.layers[:2])
        print(f"{name:22s} {acc:8.1%} {ref.mlp_accuracy(t0, Xte, yte):8.1%} "
              f"{ref.mlp_accuracy(t1, Xte, yte):8.1%} {ranks:>10} "
              f"{r0.params_before:7d}->{r0.params_after:<7d} "
              f"{ref.mlp_accuracy(t2, Xte, yte):9.1%} {ranks2:>10}")
    if args.curve:
        curves = []
        for name, params, acc in trained:
            rows, notes = curve(params, args.budgets, Xte, yte)
            print_curve(name, acc, rows, notes, args.budgets)
            curves.append((name, acc, rows))
        if args.plot is not None:
            plot(curves, args.plot)
            print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
