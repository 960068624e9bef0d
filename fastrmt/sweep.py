"""Convergence sweeps on Dask: where each prediction of the extreme eigenvalues holds.

A sweep is a grid of tasks (n x seed x r(n) = c n^alpha exponent x entry law); each task
runs :func:`fastrmt.experiment` and is reduced to one row: for each of the three
predictions (the empirical free convolution mu_n, the second-order Phi_n(s), the limit
Phi(s)) the count error beyond the thresholds and the rank-matched location errors, plus
the z-scores and the time.  Rows are appended to a JSON-lines results file *as each task
finishes* (one line each, fsynced), so a sweep that is interrupted loses nothing, and
``resume=True`` skips the tasks whose rows are already there.  Before appending, a torn
last line (a write cut short) is cut off, so its task runs again; an exclusive lock
(``fcntl.flock`` on ``results + ".lock"``, a file left in place) keeps a second sweep off
the same results file; rows are de-duplicated by key on reading; and a file whose first
line is not a JSON row with a "key" is refused rather than appended to.  Tasks run on a Dask cluster: by default a local one on this machine
(processes started with ``spawn``, one thread each), or any existing scheduler given by
address.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ._files import atomic_write
from ._plots import plot_sweep as _plot_sweep
from ._threads import cpu_count
from ._validation import check_choice, check_int, check_real
from .experiment import _jsonable, experiment
from .operators import check_noise_memory
from .sampling import DISTRIBUTIONS

__all__ = ["SweepTask", "sweep_tasks", "run_sweep", "read_results", "check_results_file",
           "SweepLockedError", "fit_rate", "fit_rates", "summarize", "plot_sweep"]


class SweepLockedError(OSError):
    """Another sweep is writing the same results file (it holds its lock)."""


@dataclass(frozen=True)
class SweepTask:
    """One point of the grid; ``key`` identifies it in the results file."""

    n: int
    seed: int
    alpha: float
    c: float
    dist: str
    sigma: float = 1.0
    bulk: str = "uniform"
    basis: str = "fast"
    storage: str = "dense"

    @property
    def r(self) -> int:
        return max(1, int(math.floor(self.c * self.n ** self.alpha)))

    @property
    def key(self) -> str:
        return (f"n={self.n}|seed={self.seed}|alpha={self.alpha:g}|c={self.c:g}|dist={self.dist}"
                f"|sigma={self.sigma:g}|bulk={self.bulk}|basis={self.basis}|storage={self.storage}")


def sweep_tasks(ns: Sequence[int], *, seeds: Sequence[int] = (0,), alphas: Sequence[float] = (0.5,),
                c: float = 1.0, dists: Sequence[str] = ("gaussian",), sigma: float = 1.0,
                bulk: str = "uniform", basis: str = "fast",
                storage: str = "dense") -> list[SweepTask]:
    """The grid of tasks, validated (largest n first so the slowest tasks start early)."""
    if not ns:
        raise ValueError("ns must list at least one matrix size, got []")
    ns = [check_int("n", n, min_value=50) for n in ns]
    seeds = [check_int("seed", s, min_value=0) for s in seeds]
    alphas = [check_real("alpha", a, min_value=0.0, max_value=1.0, strict_max=True) for a in alphas]
    c = check_real("c", c, min_value=0.0, strict_min=True)
    sigma = check_real("sigma", sigma, min_value=0.0, strict_min=True)
    dists = [check_choice("dist", d, DISTRIBUTIONS) for d in dists]
    if not seeds or not alphas or not dists:
        raise ValueError("seeds, alphas and dists must each hold at least one value")
    tasks = [SweepTask(n=n, seed=s, alpha=a, c=c, dist=d, sigma=sigma, bulk=bulk, basis=basis,
                       storage=storage)
             for n, s, a, d in itertools.product(sorted(set(ns), reverse=True), seeds, alphas, dists)]
    for n in set(ns):           # refuse what cannot fit before any cluster starts
        check_noise_memory(n, storage, np.dtype(np.float64))
    for t in tasks:
        if t.r > t.n - 1:
            raise ValueError(f"r(n) = floor(c * n**alpha) = {t.r} is too large for n = {t.n} "
                             f"(must be <= n - 1); lower c or alpha")
    return tasks


def run_task(task: SweepTask) -> dict[str, Any]:
    """Run one experiment and reduce it to a results row (runs on a Dask worker)."""
    t0 = time.perf_counter()
    res = experiment(task.n, sigma=task.sigma, bulk=task.bulk, r=task.r, dist=task.dist,
                     basis=task.basis, storage=task.storage, seed=task.seed, n_threads=1)
    row = {"key": task.key, **asdict(task), "r": task.r}
    row.update(res.summary())
    row["wall_s"] = time.perf_counter() - t0
    return row


def _parse_results(path: str) -> tuple[list[dict[str, Any]], int]:
    """(rows, size of the intact part in bytes) of a results file.

    Blank lines are skipped; a last line without its newline that does not parse is a
    torn write (excluded from the intact part); any other line that is not a JSON object
    with a "key", or a first row without one, is a ValueError naming the file and line.
    """
    rows: list[dict[str, Any]] = []
    with open(path, "rb") as fh:
        data = fh.read()
    intact = 0
    lines = data.split(b"\n")
    for i, raw in enumerate(lines):
        last = i == len(lines) - 1          # no newline after it (b"" when the file ends in one)
        if raw.strip():
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                row = None
            if not isinstance(row, dict) or "key" not in row:
                if last and row is None:
                    break                   # a torn last line: not part of the intact file
                if not rows:
                    raise ValueError(f"{path} is not a sweep results file (line {i + 1} is "
                                     f"not a JSON row with a \"key\")")
                raise ValueError(f"{path}: line {i + 1} is not a JSON row with a \"key\" "
                                 f"(only a torn last line is tolerated)")
            rows.append(row)
        intact += len(raw) + (0 if last else 1)
    return rows, intact


def read_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a results file, one per key (the first); a torn last line is ignored.

    Raises ValueError when the file is not a results file (see :func:`check_results_file`).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        return []
    rows, _ = _parse_results(path)
    seen: set[str] = set()
    out = []
    for row in rows:
        if row["key"] not in seen:
            seen.add(row["key"])
            out.append(row)
    return out


def check_results_file(path: str | os.PathLike) -> None:
    """ValueError unless ``path`` is a results file: every line a JSON object with a
    "key" (an empty file is one), except a torn last line."""
    _parse_results(os.fspath(path))


def _repair_tail(path: str) -> int:
    """Cut a torn last line off ``path`` (its task then runs again); returns bytes cut."""
    _, intact = _parse_results(path)
    size = os.path.getsize(path)
    if intact < size:
        with open(path, "rb+") as fh:
            fh.truncate(intact)
            fh.flush()
            os.fsync(fh.fileno())
    elif size:
        with open(path, "rb+") as fh:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":        # a complete last row without its newline
                fh.write(b"\n")
                fh.flush()
                os.fsync(fh.fileno())
    return size - intact


@contextlib.contextmanager
def _results_lock(results: str):
    """Hold an exclusive, non-blocking lock on ``results + ".lock"`` (POSIX)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    lock = results + ".lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SweepLockedError(f"another sweep holds {lock} (it is writing {results}); "
                                   f"wait for it to finish or use another results file") from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _append(path: str | os.PathLike, row: dict[str, Any]) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(row, default=_jsonable) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


class _Progress:
    """A one-line progress bar on stderr: tasks done, elapsed time and time left."""

    def __init__(self, total: int, stream=None, enabled: bool = True) -> None:
        self.total, self.done, self.t0 = total, 0, time.perf_counter()
        self.stream = stream or sys.stderr
        self.enabled = enabled

    def update(self, k: int = 1) -> None:
        self.done += k
        if not self.enabled:
            return
        el = time.perf_counter() - self.t0
        left = el / self.done * (self.total - self.done) if self.done else float("nan")
        width = 30
        fill = int(width * self.done / max(self.total, 1))
        self.stream.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total} tasks"
                          f"  {el:6.1f}s elapsed, ~{left:6.1f}s left")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def run_sweep(tasks: Iterable[SweepTask], results: str | os.PathLike, *, resume: bool = False,
              overwrite: bool = False, scheduler: str | None = None, n_workers: int | None = None,
              progress: bool = True, task_fn: Callable[[SweepTask], dict] | None = None,
              ) -> list[dict[str, Any]]:
    """Run the tasks on Dask, appending each row to ``results`` as it finishes.

    Parameters
    ----------
    tasks : iterable of SweepTask
    results : path
        JSON-lines file. Without ``resume`` (or ``overwrite``) it must not exist yet.  While
        the sweep runs it holds ``results + ".lock"``: a second sweep on the same file
        raises :class:`SweepLockedError`.
    resume : bool
        Skip the tasks whose key is already in ``results``; append the others (after
        cutting off a torn last line).  ValueError if ``results`` is not a results file.
    overwrite : bool
        Without ``resume``: start an existing ``results`` afresh (emptied, mode kept).
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``).  Default: a local
        cluster of ``n_workers`` processes (default: the number of cores), one thread each.
    progress : bool
        Progress bar on stderr.

    Returns
    -------
    list of dict
        All rows in the file after the sweep (earlier ones included).
    """
    tasks = list(tasks)
    results = os.fspath(results)
    if os.path.exists(results) and not (resume or overwrite):
        raise FileExistsError(f"results file {results!r} exists; pass resume=True (--resume) to "
                              f"continue it, overwrite=True (--overwrite) to start afresh, or "
                              f"choose another file")
    with _results_lock(results):
        return _run_locked(tasks, results, resume, overwrite, scheduler, n_workers, progress,
                           task_fn)


def _run_locked(tasks, results, resume, overwrite, scheduler, n_workers, progress, task_fn):
    if os.path.exists(results):
        if resume:
            _repair_tail(results)           # also refuses a file that is not a results file
        elif overwrite:

            atomic_write(results, "")
    done = {row["key"] for row in read_results(results)}
    todo = [t for t in tasks if t.key not in done]
    if not todo:
        return read_results(results)
    fn = task_fn or run_task
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        workers = n_workers or max(1, min(cpu_count(), len(todo)))
        # worker warnings (e.g. a task cancelled by Ctrl-C) stay off stderr; task errors
        # still reach us through fut.result()
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    bar = _Progress(len(todo), enabled=progress)
    try:
        futures = [client.submit(fn, t, key=f"fastrmt-sweep-{t.key}", pure=False) for t in todo]
        for fut in as_completed(futures):
            row = fut.result()
            _append(results, row)
            bar.update()
    except KeyboardInterrupt:
        # Ctrl-C: the rows are on disk; keep Dask's shutdown chatter (tracebacks of
        # cancelled callbacks) off stderr, so the command's one line is all the user sees
        for name in ("distributed", "tornado", "asyncio"):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return read_results(results)


def fit_rate(rows: Sequence[dict[str, Any]], metric: str = "mean_abs_error") -> dict[str, float]:
    """Least-squares fit of log(metric) = log(C) + rate * log(n) over rows with metric > 0."""
    pts = [(r["n"], r[metric]) for r in rows
           if r.get(metric) is not None and np.isfinite(r[metric]) and r[metric] > 0]
    ns = sorted({p[0] for p in pts})
    if len(ns) < 2:
        return {"rate": float("nan"), "C": float("nan"), "points": len(pts)}
    x = np.log([p[0] for p in pts])
    y = np.log([p[1] for p in pts])
    slope, intercept = np.polyfit(x, y, 1)
    return {"rate": float(slope), "C": float(np.exp(intercept)), "points": len(pts)}


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (alpha, n) medians over seeds and laws: counts, errors of the three
    predictions, and the fraction of |z| <= 3."""
    out = []
    for alpha in sorted({r["alpha"] for r in rows}):
        for n in sorted({r["n"] for r in rows if r["alpha"] == alpha}):
            sub = [r for r in rows if r["n"] == n and r["alpha"] == alpha]
            agg: dict[str, Any] = {"alpha": alpha, "n": n, "tasks": len(sub),
                                   "r": int(np.median([r["r"] for r in sub]))}
            for key in ("count_observed", "count_predicted", "count_second_order",
                        "count_limit", "mean_abs_error", "mean_abs_error_second_order",
                        "mean_abs_error_limit", "frac_abs_z_le_3"):
                vals = [r[key] for r in sub if r.get(key) is not None]
                agg[key] = float(np.median(vals)) if vals else None
            out.append(agg)
    return out


def fit_rates(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each alpha, the fitted rate of the mean location error of each prediction."""
    out = []
    for alpha in sorted({r["alpha"] for r in rows}):
        sub = [r for r in rows if r["alpha"] == alpha]
        item: dict[str, Any] = {"alpha": alpha}
        for name, key in (("free_convolution", "mean_abs_error"),
                          ("second_order", "mean_abs_error_second_order"),
                          ("limit", "mean_abs_error_limit")):
            item[name] = fit_rate(sub, key)
        out.append(item)
    return out


def plot_sweep(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> str:
    """Count and location errors against n, per alpha and prediction; returns the path
    (see :func:`fastrmt._plots.plot_sweep`)."""
    return _plot_sweep(rows, path)
