"""`fastrmt bench`: the benchmark runner and its table (timings are never asserted)."""
import subprocess
import sys

import pytest

from fastrmt import bench


def _b(name, group, param, mean):
    return {"name": f"{name}[{param}]", "group": group, "param": param,
            "stats": {"mean": mean}}


def test_format_table_ratios_against_baseline_of_same_dtype():
    data = {"benchmarks": [
        _b("t", "g", "numpy-read", 1.0),
        _b("t", "g", "scipy-loop", 8.0),
        _b("t", "g", "fastrmt", 2.0),
        _b("t", "h", "numpy-f64-full", 10.0),
        _b("t", "h", "numpy-f32-full", 4.0),
        _b("t", "h", "fastrmt-f64-full", 2.0),
        _b("t", "h", "fastrmt-f32-full", 1.0),
        _b("t", "h", "fastrmt-f32-packed", 0.5),
        _b("t", "k", "scipy-f64", 6.0),
        _b("t", "k", "fastrmt-f32", 3.0),
        {"name": "test_other[fastrmt]", "group": None, "param": "fastrmt",
         "stats": {"mean": 0.002}},
    ], "machine_info": {"cpu": {"brand_raw": "TestCPU"}, "python_version": "3.x"}}
    text = bench.format_table(data)
    lines = text.splitlines()
    assert lines[0].startswith("| benchmark | implementation | mean |")
    # untagged: the slowest baseline (what a user would replace), named
    assert "| g | scipy-loop | 8.00 s | baseline |" in lines
    assert "| g | numpy-read | 1.00 s | baseline |" in lines
    assert "| g | fastrmt | 2.00 s | 4.0x vs scipy-loop |" in lines
    # float32 against float32, float64 against float64 (never float32 vs float64)
    assert "| h | fastrmt-f64-full | 2.00 s | 5.0x vs numpy-f64-full |" in lines
    assert "| h | fastrmt-f32-full | 1.00 s | 4.0x vs numpy-f32-full |" in lines
    assert "| h | fastrmt-f32-packed | 500.0 ms | 8.0x vs numpy-f32-full |" in lines
    # no baseline of the same dtype: no ratio
    assert "| k | fastrmt-f32 | 3.00 s | — |" in lines
    assert "| test_other | fastrmt | 2.0 ms | — |" in lines
    assert "TestCPU" in lines[-1]


def test_missing_suite_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(bench, "__file__", str(tmp_path / "pkg" / "bench.py"))
    with pytest.raises(OSError, match="the benchmark suite is not here"):
        bench.run_benchmarks()


def test_bench_command_runs_a_selection():
    proc = subprocess.run([sys.executable, "-m", "fastrmt", "bench", "--quick", "-k",
                           "bulk_support or phi_10k"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "| phi 10^4 points, 10^5 atoms, far | numpy-far |" in proc.stdout
    assert "baseline" in proc.stdout
