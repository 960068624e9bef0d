"""``fastrmt bench``: run the benchmark suite and print the README's comparison table.

The suite lives in the source tree's ``benchmarks/`` folder (pytest-benchmark); each
benchmark group holds baselines (numpy/scipy: the name contains one of
:data:`BASELINE_MARKERS`) and fastrmt's implementations, all timed in the same run; each
implementation is compared with the baseline of the same dtype (its name's f32/f64 tag),
so the ratios compare like with like.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ._files import atomic_write, check_file

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


def _dtype_tag(name: str) -> str | None:
    low = name.lower()
    if "f32" in low or "float32" in low:
        return "f32"
    if "f64" in low or "float64" in low:
        return "f64"
    return None


def _baseline_for(name: str, bases: list[dict]) -> dict | None:
    """The baseline an implementation is compared with: one of the same dtype (by the
    f32/f64 tag of its name), else one without a dtype tag; among several, the slowest
    (the one a user would replace, not a memory-read reference that only bounds what is
    possible).  None when no baseline does the same work."""
    tag = _dtype_tag(name)
    same = [b for b in bases if _dtype_tag(b.get("param") or b["name"]) == tag]
    if not same and tag is not None:
        same = [b for b in bases if _dtype_tag(b.get("param") or b["name"]) is None]
    return max(same, key=lambda b: b["stats"]["mean"]) if same else None


def format_table(data: dict[str, Any]) -> str:
    """Markdown table: group, implementation, mean time, speed-up over the baseline of
    the same group and the same dtype (named when the group has several baselines)."""
    groups: dict[str, list[dict]] = {}
    for b in data.get("benchmarks", []):
        groups.setdefault(b.get("group") or b["name"].split("[")[0], []).append(b)
    lines = ["| benchmark | implementation | mean | speed-up vs baseline |",
             "|---|---|---:|---:|"]
    for group, items in groups.items():
        bases = [b for b in items if _is_baseline(b.get("param") or b["name"])]
        for b in sorted(items, key=lambda b: b["stats"]["mean"], reverse=True):
            name = b.get("param") or b["name"]
            mean = b["stats"]["mean"]
            if any(b is x for x in bases):
                ratio = "baseline"
            else:
                base = _baseline_for(name, bases)
                if base is None:
                    ratio = "—"
                else:
                    ratio = f"{base['stats']['mean'] / mean:.1f}x"
                    if len(bases) > 1:
                        ratio += f" vs {base.get('param') or base['name']}"
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
                   json_path: str | None = None, overwrite: bool = False,
                   as_json: bool = False) -> int:
    """Run ``pytest benchmarks --benchmark-only`` and print the table (pytest-benchmark's
    JSON with ``as_json``); returns pytest's status.

    ``json_path`` (relative to the current folder; ``--out``) also receives
    pytest-benchmark's JSON, written atomically once the run is over; it is checked before
    the run (its folder exists and is writable; an existing file only with ``overwrite``).
    """

    if json_path is not None:
        json_path = check_file("--out", json_path, overwrite=overwrite)
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
    print(json.dumps(data, indent=1) if as_json else format_table(data))
    return proc.returncode
