"""Every figure fastrmt draws.

Each figure is a :class:`matplotlib.figure.Figure` with its own Agg canvas: the global
backend (a notebook's, or ``MPLBACKEND``) is never touched, and no pyplot state is
created.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

__all__ = ["new_figure", "plot_experiment", "plot_sweep"]

_PRED_STYLE = {"": ("empirical free convolution μ_n", "-", "o"),
               "_second_order": ("second-order Φ_n(s)", "--", "s"),
               "_limit": ("limit Φ(s)", ":", "^")}


def new_figure(width: float, height: float, ncols: int = 1):
    """A Figure with an Agg canvas, and its axes (1-D array when ncols > 1)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols)
    return fig, axes


def plot_experiment(res: Any, path: str | os.PathLike) -> str:
    """Spectrum and density of mu_n, observed against predicted eigenvalues by rank (with
    the two one-spike formulas), and the z-scores."""
    from . import freeprob as fp
    from .measures import Atoms

    p = res.params
    sigma, n = p["sigma"], p["n"]
    fig, axes = new_figure(15.6, 4.3, 3)
    ax = axes[0]
    comps = res.components
    lo, hi = float(comps[0, 0]), float(comps[-1, 1])
    pad = 0.04 * (hi - lo)
    x = np.linspace(lo - pad, hi + pad, 1500)
    if res.spectrum is not None:
        ax.hist(res.spectrum, bins=150, density=True, color="#9ecae1", label="spectrum of W")
        nu_n = Atoms(res.signal_spectrum)
        ax.plot(x, fp.density(x, nu_n, sigma), "k-", lw=1.0, label="μ_n = ν_n ⊞ semicircle")
    for side in ("right", "left"):
        ax.axvline(res.threshold[side], color="#d62728", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_ylim(bottom=1.0 / (4 * n * (hi - lo + 2 * pad) / 150))
    ax.set_title(f"n={n}: spectrum, density of μ_n, thresholds", fontsize=10)
    ax.set_xlabel("eigenvalue")
    _legend(ax)

    ax = axes[1]
    right = [e for e in res.eigenvalues if e["side"] == "right"]
    if right:
        rk = np.array([e["rank"] for e in right])
        ax.plot(rk, [e["observed"] for e in right], "o", mfc="none", color="#d62728", ms=4,
                label="observed")
        for col, name, style in (("predicted", "μ_n classical locations", "k-"),
                                 ("phi_second_order", "second-order Φ_n(s)", "b--"),
                                 ("phi_limit", "limit Φ(s)", "g:")):
            ax.plot(rk, [e[col] for e in right], style, lw=1.2, label=name)
    ax.axhline(res.threshold["right"], color="#d62728", ls=":", lw=1)
    ax.set_xlabel("rank j (largest first)")
    ax.set_ylabel("eigenvalue")
    ax.set_title("right side: observed vs predicted", fontsize=10)
    _legend(ax)

    ax = axes[2]
    for side, color in (("right", "#d62728"), ("left", "#1f77b4"), ("gap", "#2ca02c")):
        rows = [e for e in res.eigenvalues if e["side"] == side]
        if rows:
            ax.plot([e["predicted"] for e in rows], [e["z"] for e in rows], ".", color=color,
                    ms=4, label=side)
    for y in (-3, 3):
        ax.axhline(y, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("predicted location γ_j")
    ax.set_ylabel("z = (observed − γ_j) / sd_j")
    ax.set_title("z-scores", fontsize=10)
    _legend(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return os.fspath(path)


def _legend(ax) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def plot_sweep(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> str:
    """Two panels against n, one colour per alpha and one line style per prediction:
    the count error |predicted - observed| / max(observed, 1) and the mean |observed -
    predicted| over the rank-matched eigenvalues."""
    from matplotlib.lines import Line2D

    fig, axes = new_figure(13.5, 4.4, 2)
    alphas = sorted({r["alpha"] for r in rows})
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    for ai, alpha in enumerate(alphas):
        sub = [r for r in rows if r["alpha"] == alpha]
        ns = sorted({r["n"] for r in sub})
        for suffix, (name, ls, mk) in _PRED_STYLE.items():
            cerr, lerr = [], []
            for n in ns:
                at = [r for r in sub if r["n"] == n]
                cerr.append(np.median([r[f"count_error{suffix}"] / max(r["count_observed"], 1)
                                       for r in at]))
                vals = [r[f"mean_abs_error{suffix}"] for r in at
                        if r.get(f"mean_abs_error{suffix}") is not None]
                lerr.append(np.median(vals) if vals else np.nan)
            c = colors[ai % len(colors)]
            axes[0].plot(ns, np.maximum(cerr, 1e-4), ls=ls, marker=mk, color=c, ms=4)
            axes[1].plot(ns, lerr, ls=ls, marker=mk, color=c, ms=4)
    axes[0].set_yscale("log")
    axes[0].set_xscale("log")
    axes[0].set_ylabel("|count predicted − observed| / observed (floor 1e-4)")
    axes[0].set_title("how many eigenvalues beyond the bulk edge", fontsize=10)
    axes[1].set_xscale("log")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("mean |observed − predicted| (rank-matched)")
    axes[1].set_title("where they are (no line: nothing predicted)", fontsize=10)
    all_n = sorted({r["n"] for r in rows})
    for ax in axes:
        ax.set_xlabel("n")
        ax.grid(True, which="both", alpha=0.3)
        if all_n:
            ax.set_xticks(all_n, [str(n) for n in all_n])
            ax.set_xticks([], minor=True)
    by_alpha = [Line2D([], [], color=colors[i % len(colors)], lw=2, label=f"r = n^{a:g}")
                for i, a in enumerate(alphas)]
    by_pred = [Line2D([], [], color="k", ls=ls, marker=mk, ms=4, label=name)
               for name, ls, mk in _PRED_STYLE.values()]
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    if alphas:
        fig.legend(handles=by_alpha, loc="upper right", fontsize=8, title="spikes")
        fig.legend(handles=by_pred, loc="lower right", fontsize=8, title="prediction")
    fig.savefig(path, dpi=120)
    return os.fspath(path)
