"""``fastrmt bench``: run the benchmark suite and print the README's comparison table.

The suite lives in the source tree's ``benchmarks/`` folder (pytest-benchmark); each
benchmark group holds a baseline (numpy/scipy: the name contains one of
:data:`BASELINE_MARKERS`) and fastrmt's implementations, all timed in the same run, so
the ratios compare like with like.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["run_benchmarks", "format_table", "BASELINE_MARKERS"]

BASELINE_MARKERS = ("numpy", "scipy", "brentq", "svd", "ssymv", "lapack", "baseline")


def _bench_dir() -> Path:
    d = Path(__file__).resolve().parent.parent / "benchmarks"
    if not d.is_dir():
        raise OSError(f"the benchmark suite is not here ({d}): `fastrmt bench` runs from a "
                      f"source checkout installed with `pip install -e .`")
    return d


def _is_baseline(name: str) -> bool:
    low = name.lower()
    return any(m in low for m in BASELINE_MARKERS) and "fastrmt" not in low


def format_table(data: dict[str, Any]) -> str:
    """Markdown table: group, implementation, mean time, speed-up over the group's baseline."""
    groups: dict[str, list[dict]] = {}
    for b in data.get("benchmarks", []):
        groups.setdefault(b.get("group") or b["name"].split("[")[0], []).append(b)
    lines = ["| benchmark | implementation | mean | speed-up vs baseline |",
             "|---|---|---:|---:|"]
    for group, items in groups.items():
        bases = [b for b in items if _is_baseline(b.get("param") or b["name"])]
        # the slowest baseline is the one a user would replace (e.g. scipy, not a
        # memory-read reference that only bounds what is possible)
        base = max(bases, key=lambda b: b["stats"]["mean"]) if bases else None
        for b in sorted(items, key=lambda b: b["stats"]["mean"], reverse=True):
            name = b.get("param") or b["name"]
            mean = b["stats"]["mean"]
            ratio = "baseline" if b is base else (
                f"{base['stats']['mean'] / mean:.1f}x" if base is not None else "—")
            lines.append(f"| {group} | {name} | {_fmt_time(mean)} | {ratio} |")
    machine = data.get("machine_info", {})
    cpu = machine.get("cpu", {}).get("brand_raw", machine.get("processor", "?"))
    lines.append("")
    lines.append(f"Machine: {cpu}, {os.cpu_count()} cores; Python {machine.get('python_version', '?')}.")
    return "\n".join(lines)


def _fmt_time(t: float) -> str:
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.1f} ms"
    return f"{t * 1e6:.0f} µs"


def run_benchmarks(select: str | None = None, quick: bool = False,
                   json_path: str | None = None, overwrite: bool = False) -> int:
    """Run ``pytest benchmarks --benchmark-only`` and print the table; returns pytest's status.

    ``json_path`` (relative to the current folder) also receives pytest-benchmark's JSON,
    written atomically once the run is over; it is checked before the run (its folder
    exists and is writable; an existing file only with ``overwrite``).
    """
    from ._files import atomic_write, check_file

    if json_path is not None:
        json_path = check_file("--json", json_path, overwrite=overwrite)
    bench = _bench_dir()
    env = dict(os.environ)
    if quick:
        env["FASTRMT_BENCH_N"] = "2000"
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        cmd = [sys.executable, "-m", "pytest", str(bench), "--benchmark-only",
               f"--benchmark-json={out}", "-q", "-p", "no:cacheprovider"]
        if select:
            cmd += ["-k", select]
        proc = subprocess.run(cmd, cwd=bench.parent, env=env)
        if not os.path.exists(out):
            print("fastrmt bench: error: the benchmark run produced no results", file=sys.stderr)
            return 2 if proc.returncode == 0 else proc.returncode
        with open(out) as fh:
            text = fh.read()
        data = json.loads(text)
        if json_path is not None:
            atomic_write(json_path, text)
    print(format_table(data))
    return proc.returncode
