"""The README's pruning table: a 64 -> 128 -> 128 -> 10 ReLU MLP on scikit-learn's digits
(75/25 split), trained by full-batch Adam (no weight decay) and AdamW (weight decay 10),
300 steps at lr 3e-3 (the numpy trainer ``tests/reference_weights.train_digits_mlp``),
then pruned with :func:`fastrmt.weights.prune_weights`: outliers only (also with
``shrink=True``), and outliers plus 25 % of the bulk.

Usage (from the source checkout, scikit-learn installed): ``python
benchmarks/run_digits_prune.py [steps] [lr]``.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastrmt import weights as fw  # noqa: E402
from tests import reference_weights as ref  # noqa: E402


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    steps = int(argv[0]) if argv else 300
    lr = float(argv[1]) if len(argv) > 1 else 3e-3
    Xtr, ytr, Xte, yte = ref.digits_split()
    print(f"MLP 64-128-128-10, {steps} full-batch steps, lr {lr}; test set {len(yte)}")
    print(f"{'training':22s} {'test acc':>8} {'pruned':>8} {'shrink':>8} {'ranks':>10} "
          f"{'params':>16} {'+25% bulk':>9} {'ranks':>10}")
    for name, wd in (("Adam, no weight decay", 0.0), ("AdamW, weight decay 10", 10.0)):
        params = ref.train_digits_mlp(Xtr, ytr, hidden=128, steps=steps, lr=lr,
                                      weight_decay=wd)
        acc = ref.mlp_accuracy(params, Xte, yte)
        t0, r0 = fw.prune_weights(params)
        t1, _ = fw.prune_weights(params, shrink=True)
        t2, r2 = fw.prune_weights(params, bulk_share=0.25)
        ranks = ",".join(str(r.rank) for r in r0.layers[:2])
        ranks2 = ",".join(str(r.rank) for r in r2.layers[:2])
        print(f"{name:22s} {acc:8.1%} {ref.mlp_accuracy(t0, Xte, yte):8.1%} "
              f"{ref.mlp_accuracy(t1, Xte, yte):8.1%} {ranks:>10} "
              f"{r0.params_before:7d}->{r0.params_after:<7d} "
              f"{ref.mlp_accuracy(t2, Xte, yte):9.1%} {ranks2:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
