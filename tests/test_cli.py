"""End-to-end runs of the ``fastrmt`` command on small n."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fastrmt import sweep as sw
from fastrmt.cli import main

PY = [sys.executable, "-m", "fastrmt"]


def run(args, **kw):
    return subprocess.run(PY + args, capture_output=True, text=True, timeout=600, **kw)


def test_demo_writes_table_json_csv_and_figure(tmp_path):
    out = tmp_path / "demo"
    proc = run(["demo", "--n", "400", "--r", "8", "--seed", "1", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr
    assert "eigenvalues beyond the thresholds" in proc.stdout and "Φ(s) limit" in proc.stdout
    assert "as predicted" not in proc.stdout
    for name in ("demo.json", "demo.csv", "demo.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "demo.png").stat().st_size > 10_000
    data = json.loads((out / "demo.json").read_text())
    assert data["params"]["n"] == 400 and data["params"]["seed"] == 1
    assert {"side", "rank", "observed", "predicted", "z", "phi_limit",
            "phi_second_order"} <= set(data["eigenvalues"][0])


def test_demo_json_output_and_reproducibility(tmp_path, capsys):
    args = ["demo", "--n", "300", "--spikes", "3,4", "--seed", "5", "--no-spectrum",
            "--no-eigenvectors", "--json", "--out", str(tmp_path)]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(args + ["--overwrite"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert ([r["observed"] for r in first["eigenvalues"]]
            == [r["observed"] for r in second["eigenvalues"]])
    assert first["summary"]["count_observed"] == 2
    assert os.path.exists(first["files"]["figure"])


@pytest.mark.parametrize("args,match", [
    (["demo", "--n", "3"], "--n must be >= 8, got 3"),
    (["demo", "--n", "abc"], "--n must be an integer, got 'abc'"),
    (["demo", "--sigma", "-1"], "--sigma must be > 0"),
    (["demo", "--dist", "cauchy"], "invalid choice: 'cauchy'"),
    (["demo", "--spikes", "a,b"], "--spikes must be a comma-separated list"),
    (["demo", "--n", "100", "--r", "400"], "r must be <= 99, got 400"),
    (["demo", "--n", "100", "--bulk-param", "z=1"], "accepts"),
    (["demo", "--n-threads", "0"], "--threads must not be 0"),
    (["demo", "--threads", "0"], "--threads must not be 0"),
    (["sweep", "--alpha", "1.5"], "--alpha values must be in [0, 1)"),
    (["sweep", "--n", "10"], "--n must be >= 50, got 10"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_one_line(args, match, tmp_path):
    proc = run(args + (["--out", str(tmp_path / "o")] if args[0] in ("demo", "sweep") and
                       "frobnicate" not in args else []))
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith("usage")]
    assert len(lines) == 1 and match in lines[0], proc.stderr


def test_demo_too_big_for_memory_suggests_matrix_free(tmp_path):
    proc = run(["demo", "--n", "200000", "--no-spectrum", "--out", str(tmp_path)])
    assert proc.returncode == 2
    assert "matrix-free" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_sweep_on_local_cluster_and_resume_after_kill(tmp_path):
    out = tmp_path / "sw"
    args = ["sweep", "--n", "150", "200", "250", "--seeds", "2", "--workers", "2",
            "--out", str(out), "--no-progress"]
    results = out / "sweep.jsonl"
    proc = subprocess.Popen(PY + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    for _ in range(1500):  # poll for at most ~5 minutes
        if proc.poll() is not None or (results.exists() and len(sw.read_results(results)) >= 1):
            break
        time.sleep(0.2)
    if proc.poll() is None:  # stop the sweep part-way: kill it and its workers
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = sw.read_results(results)
    assert 1 <= len(before) <= 6
    done = run(args + ["--resume"])
    assert done.returncode == 0, done.stderr
    rows = sw.read_results(results)
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) == 6  # no duplicated and no lost rows
    assert all(r["count_observed"] >= 1 for r in rows)
    assert "fitted rate" in done.stdout
    assert (out / "sweep.png").stat().st_size > 5_000
    # a finished sweep resumed again runs nothing and keeps the rows
    again = run(args + ["--resume", "--json"])
    assert again.returncode == 0
    assert len(sw.read_results(results)) == 6
    fits = json.loads(again.stdout)["fits"]
    assert [f["alpha"] for f in fits] == [0.5]
    assert fits[0]["free_convolution"]["points"] == 6


def test_sweep_refuses_existing_results_without_resume(tmp_path):
    res = tmp_path / "r.jsonl"
    res.write_text("")
    proc = run(["sweep", "--n", "100", "--results", str(res), "--out", str(tmp_path)])
    assert proc.returncode == 2
    assert "--results: r.jsonl exists in" in proc.stderr and "--resume" in proc.stderr


def test_sweep_python_api_with_custom_task_fn(tmp_path):
    tasks = sw.sweep_tasks([100, 200], seeds=[0, 1])
    rows = sw.run_sweep(tasks, tmp_path / "x.jsonl", n_workers=2, progress=False,
                        task_fn=_fake_task)
    assert sorted(r["n"] for r in rows) == [100, 100, 200, 200]
    fit = sw.fit_rate(rows)
    assert fit["rate"] == pytest.approx(-0.5, abs=1e-9)


def _fake_task(task):
    return {"key": task.key, "n": task.n, "r": task.r, "alpha": task.alpha, "dist": task.dist,
            "max_abs_error": task.n ** -0.5, "mean_abs_error": 0.5 * task.n ** -0.5,
            "n_found": 1, "n_predicted": 1}


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"ns": []}, ValueError, "ns must list at least one matrix size"),
    ({"ns": [100], "alphas": [1.0]}, ValueError, "alpha must be < 1.0"),
    ({"ns": [100], "c": 10.0}, ValueError, "is too large for n = 100"),
    ({"ns": [100], "dists": ["x"]}, ValueError, "dist must be one of"),
    ({"ns": [10**8]}, ValueError, "noise matrix .* needs"),
])
def test_sweep_tasks_refused(kwargs, exc, match):
    ns = kwargs.pop("ns")
    with pytest.raises(exc, match=match):
        sw.sweep_tasks(ns, **kwargs)


def _row(n, alpha, seed, err, err2, errl, cobs, cpred, c2, cl):
    return {"key": f"{n}|{alpha}|{seed}", "n": n, "alpha": alpha, "seed": seed, "r": int(n ** alpha),
            "mean_abs_error": err, "mean_abs_error_second_order": err2,
            "mean_abs_error_limit": errl, "count_observed": cobs, "count_predicted": cpred,
            "count_second_order": c2, "count_limit": cl, "frac_abs_z_le_3": 1.0,
            "count_error": abs(cpred - cobs), "count_error_second_order": abs(c2 - cobs),
            "count_error_limit": abs(cl - cobs)}


def test_sweep_fits_a_rate_per_alpha_and_prediction(tmp_path):
    rows = []
    for n in (500, 1000, 2000, 4000):
        for seed in (0, 1):
            rows.append(_row(n, 0.3, seed, n ** -0.5, n ** -0.5, 2 * n ** -0.5, 10, 10.2, 10, 10))
            # alpha = 0.9: the second-order formula predicts nothing (no location error)
            rows.append(_row(n, 0.9, seed, 3 * n ** -0.5, None, n ** -0.1, 300, 300.5, 0, 420))
    fits = sw.fit_rates(rows)
    assert [f["alpha"] for f in fits] == [0.3, 0.9]
    assert fits[0]["free_convolution"]["rate"] == pytest.approx(-0.5)
    assert fits[0]["limit"]["rate"] == pytest.approx(-0.5)
    assert fits[1]["limit"]["rate"] == pytest.approx(-0.1)
    assert np.isnan(fits[1]["second_order"]["rate"])        # nothing to fit: NaN, not 0
    table = sw.summarize(rows)
    assert [(t["alpha"], t["n"]) for t in table][:2] == [(0.3, 500), (0.3, 1000)]
    assert table[-1]["mean_abs_error_second_order"] is None
    out = sw.plot_sweep(rows, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 10_000 and out.endswith("s.png")


def test_one_threads_spelling_for_every_subcommand():
    from fastrmt.cli import build_parser
    p = build_parser()
    assert p.parse_args(["demo", "--threads", "2"]).n_threads == 2
    assert p.parse_args(["demo", "--n-threads", "3"]).n_threads == 3    # the old spelling
    assert p.parse_args(["demo"]).n_threads is None
