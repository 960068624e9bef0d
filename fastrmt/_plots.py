"""Every figure fastrmt draws.

Each figure is a :class:`matplotlib.figure.Figure` with its own Agg canvas: the global
backend (a notebook's, or ``MPLBACKEND``) is never touched, and no pyplot state is
created.
"""
from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np

from . import freeprob as fp
from .measures import Atoms, MarchenkoPastur

__all__ = ["new_figure", "plot_experiment", "plot_sweep", "plot_layer"]

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


def plot_layer(rec: Any, path: str | os.PathLike, *, bins: int = 80) -> None:
    """Save a figure of one layer's spectrum (a :class:`fastrmt.weights.LayerReport`; PNG,
    or any format matplotlib infers).

    Histogram of the computed spectrum (singular values for ``"mp"``, eigenvalues of the
    symmetric part for ``"wigner"``) against the fitted bulk density (Marchenko-Pastur
    or semicircle with the estimated sigma), the bulk edge and threshold as dashed
    lines, and the outliers as red ticks.  When only the outliers were computed
    (Lanczos), the density and the outliers are drawn without a histogram.  A layer
    without a model (``"none"``) shows the histogram of its singular values only.  Uses
    the Agg canvas directly (never changes matplotlib's global backend).
    """
    fig, ax = new_figure(7, 4)
    h = rec.bulk_scale
    if rec.model == "none":
        xs = dens = np.empty(0)
        xlabel = "singular value"
    elif rec.model == "mp":
        c = rec.ratio
        lo, hi = h * (1 - math.sqrt(c)), h * (1 + math.sqrt(c))
        xs = np.linspace(lo, hi, 400)
        dens = MarchenkoPastur(c).pdf((xs / h) ** 2) * 2 * xs / (h * h) if h > 0 else 0 * xs
        xlabel = "singular value"
    else:
        lo, hi = -2 * h, 2 * h
        xs = np.linspace(lo, hi, 400)
        dens = np.sqrt(np.maximum(4 * h * h - xs * xs, 0.0)) / (2 * math.pi * h * h) \
            if h > 0 else 0 * xs
        xlabel = "eigenvalue of (W + W^T)/2"
    if rec.spectrum is not None:
        ax.hist(rec.spectrum, bins=bins, density=True, color="0.7", label="spectrum")
    if rec.model != "none":
        ax.plot(xs, dens, "b-", lw=1.5, label=f"fitted bulk, sigma={rec.sigma:.4g}")
        for x in (rec.bulk_edge, rec.threshold) + ((-rec.bulk_edge, -rec.threshold)
                                                   if rec.model == "wigner" else ()):
            ax.axvline(x, color="k", ls="--", lw=0.8)
    if rec.n_outliers:
        ax.plot(rec.outliers, np.zeros(rec.n_outliers), "r|", ms=25, mew=2,
                label=f"{rec.n_outliers} outlier(s)")
    note = "" if rec.spectrum is not None else " (Lanczos: outliers only)"
    ax.set_title(f"{rec.name} {rec.matrix_shape[0]}x{rec.matrix_shape[1]} [{rec.model}]{note}",
                 fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=100)
