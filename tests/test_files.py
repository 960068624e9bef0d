"""Output-path safety (issue 11): checked before work, no overwrite without --overwrite,
atomic writes, sweep results files that are never torn, duplicated or mistaken, Ctrl-C."""
import json
import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from fastrmt import sweep as sw
from fastrmt._files import OutputPathError, atomic_path, atomic_write, check_file, check_folder
from fastrmt.cli import main

PY = [sys.executable, "-m", "fastrmt"]


def run(args, **kw):
    return subprocess.run(PY + args, capture_output=True, text=True, timeout=600, **kw)


def one_line(stderr):
    lines = [ln for ln in stderr.strip().splitlines() if not ln.startswith("usage")]
    assert len(lines) == 1, stderr
    return lines[0]


# --- the helper ----------------------------------------------------------------------

def test_check_file_refusals(tmp_path):
    (tmp_path / "a.json").write_text("x")
    with pytest.raises(OutputPathError, match=r"^--out: a\.json exists in .* \(use --overwrite\)"):
        check_file("--out", tmp_path / "a.json")
    assert check_file("--out", tmp_path / "a.json", overwrite=True) == str(tmp_path / "a.json")
    with pytest.raises(OutputPathError, match=r"^--csv: .* is a folder, not a file"):
        check_file("--csv", tmp_path)
    with pytest.raises(OutputPathError, match=r"^--csv: folder .*nope does not exist"):
        check_file("--csv", tmp_path / "nope" / "x.csv")


def test_check_file_same_file_through_links(tmp_path):
    src = tmp_path / "in.npz"
    src.write_bytes(b"data")
    os.symlink(src, tmp_path / "sym.npz")
    os.link(src, tmp_path / "hard.npz")
    for alias in ("sym.npz", "hard.npz"):
        with pytest.raises(OutputPathError, match="refusing to overwrite the input file"):
            check_file("--out", tmp_path / alias, overwrite=True, inputs=[str(src)])


def test_check_folder_refuses_a_file_and_existing_names(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    with pytest.raises(OutputPathError, match=r"^--out: .*notes\.txt is a file, not a folder"):
        check_folder("--out", notes, ["demo.json"])
    (tmp_path / "prev").mkdir()
    (tmp_path / "prev" / "demo.csv").write_text("old")
    with pytest.raises(OutputPathError, match=r"--out: demo\.csv exists in .*prev"):
        check_folder("--out", tmp_path / "prev", ["demo.json", "demo.csv"])
    check_folder("--out", tmp_path / "new" / "deeper", ["demo.json"])   # created later


def test_read_only_folder_refused(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if os.fspath(p) == str(ro) else real(p, m))
    with pytest.raises(OutputPathError, match=r"^--out: folder .*ro is not writable"):
        check_folder("--out", ro, ["demo.json"])
    with pytest.raises(OutputPathError, match=r"^--out: folder .*ro is not writable"):
        check_folder("--out", ro / "sub", ["demo.json"])


def test_atomic_write_keeps_mode_and_old_file_on_error(tmp_path):
    target = tmp_path / "t.json"
    target.write_text("old")
    os.chmod(target, 0o640)
    atomic_write(target, "new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o640
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            with open(tmp, "w") as fh:
                fh.write("partial")
            raise RuntimeError("boom")
    assert target.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["t.json"]            # no temporary left
    atomic_write(tmp_path / "fresh.txt", "x", mode=0o600)
    assert stat.S_IMODE((tmp_path / "fresh.txt").stat().st_mode) == 0o600


# --- the commands --------------------------------------------------------------------

def test_demo_out_is_a_file_refused_before_computing(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    # n = 200000 would be refused by the memory check: the path check comes first
    proc = run(["demo", "--n", "200000", "--out", str(notes)])
    assert proc.returncode == 2
    assert one_line(proc.stderr).startswith("fastrmt demo: error: --out: ")
    assert "is a file, not a folder" in proc.stderr
    assert notes.read_text() == "mine"


def test_demo_refuses_existing_outputs_without_overwrite(tmp_path, capsys):
    prev = tmp_path / "prev"
    prev.mkdir()
    (prev / "demo.json").write_text("keep me")
    assert main(["demo", "--n", "200000", "--out", str(prev)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"fastrmt demo: error: --out: demo.json exists in {prev} "
                           f"(use --overwrite)")
    assert (prev / "demo.json").read_text() == "keep me"
    os.chmod(prev / "demo.json", 0o640)
    args = ["demo", "--n", "200", "--r", "2", "--no-eigenvectors", "--out", str(prev),
            "--overwrite"]
    assert main(args) == 0
    assert json.loads((prev / "demo.json").read_text())["params"]["n"] == 200
    assert stat.S_IMODE((prev / "demo.json").stat().st_mode) == 0o640
    assert sorted(os.listdir(prev)) == ["demo.csv", "demo.json", "demo.png"]


def test_bench_json_missing_folder_fails_before_the_run(tmp_path):
    proc = run(["bench", "--out", "nodir/b.json"], cwd=tmp_path)
    assert proc.returncode == 2
    assert one_line(proc.stderr).startswith("fastrmt bench: error: --out: folder ")
    assert "nodir does not exist" in proc.stderr


def test_bench_json_is_relative_to_the_current_folder(tmp_path, monkeypatch, capsys):
    from fastrmt import bench

    def fake_run(cmd, cwd, env):
        out = [c for c in cmd if c.startswith("--benchmark-json=")][0].split("=", 1)[1]
        with open(out, "w") as fh:
            json.dump({"benchmarks": []}, fh)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--out", "b.json"]) == 0
    assert json.loads((tmp_path / "b.json").read_text()) == {"benchmarks": []}
    assert main(["bench", "--out", "b.json"]) == 2                # exists: --overwrite
    capsys.readouterr()
    assert main(["bench", "--out", "b.json", "--overwrite", "--json"]) == 0
    # --json means what it means for every subcommand: JSON on stdout instead of the table
    assert json.loads(capsys.readouterr().out) == {"benchmarks": []}


def test_analyze_outputs_checked_before_the_analysis(tmp_path, capsys):
    from fastrmt.cli import main_for_tests

    src = tmp_path / "m.npz"
    np.savez(src, w=np.random.default_rng(0).standard_normal((40, 60)))
    (tmp_path / "r.csv").write_text("mine")
    assert main_for_tests(["analyze", str(src), "--quiet", "--csv", str(tmp_path / "r.csv")]) == 2
    assert "--csv: r.csv exists in" in capsys.readouterr().err
    assert (tmp_path / "r.csv").read_text() == "mine"
    assert main_for_tests(["analyze", str(src), "--quiet", "--csv", str(src), "--overwrite"]) == 2
    assert "refusing to overwrite the input file" in capsys.readouterr().err
    assert main_for_tests(["analyze", str(src), "--quiet", "--out", str(tmp_path / "r.csv")]) == 2
    assert "--out: " in capsys.readouterr().err
    assert main_for_tests(["analyze", str(src), "--quiet", "--csv", str(tmp_path / "r.csv"),
                           "--overwrite"]) == 0
    assert (tmp_path / "r.csv").read_text().startswith("name,")


def test_prune_keeps_input_mode_and_safetensors_metadata(tmp_path, capsys):
    from safetensors import safe_open
    from safetensors.numpy import save_file

    from fastrmt.cli import main_for_tests

    src = str(tmp_path / "m.safetensors")
    save_file({"w": np.random.default_rng(1).standard_normal((64, 64))}, src,
              metadata={"format": "np", "origin": "test"})
    os.chmod(src, 0o640)
    out = str(tmp_path / "p.safetensors")
    assert main_for_tests(["prune", src, "--out", out, "--quiet"]) == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640
    with safe_open(out, framework="np") as fh:
        assert fh.metadata() == {"format": "np", "origin": "test"}
    os.link(src, tmp_path / "hard.safetensors")
    assert main_for_tests(["prune", src, "--out", str(tmp_path / "hard.safetensors"),
                           "--overwrite", "--quiet"]) == 2
    assert "refusing to overwrite the input file" in capsys.readouterr().err


# --- sweep results files -------------------------------------------------------------

def _row(key, **kw):
    return json.dumps({"key": key, **kw}) + "\n"


def test_torn_last_line_is_cut_and_its_task_rerun(tmp_path):
    tasks = sw.sweep_tasks([100, 200], seeds=[0])
    res = tmp_path / "r.jsonl"
    full = _fake_task(tasks[0])
    text = json.dumps(full) + "\n" + json.dumps(_fake_task(tasks[1]))[:25]   # torn
    res.write_text(text)
    assert [r["key"] for r in sw.read_results(res)] == [tasks[0].key]
    rows = sw.run_sweep(tasks, res, resume=True, n_workers=1, progress=False,
                        task_fn=_fake_task)
    assert sorted(r["key"] for r in rows) == sorted(t.key for t in tasks)
    lines = res.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(ln)["key"] for ln in lines)


def test_complete_last_row_without_newline_is_not_glued(tmp_path):
    tasks = sw.sweep_tasks([100, 200], seeds=[0])
    res = tmp_path / "r.jsonl"
    res.write_text(json.dumps(_fake_task(tasks[0])))              # no newline
    sw.run_sweep(tasks, res, resume=True, n_workers=1, progress=False, task_fn=_fake_task)
    assert len(res.read_text().splitlines()) == 2


def test_rows_deduplicated_by_key_on_read(tmp_path):
    res = tmp_path / "r.jsonl"
    res.write_text(_row("a", v=1) + _row("b", v=2) + _row("a", v=3))
    assert [(r["key"], r["v"]) for r in sw.read_results(res)] == [("a", 1), ("b", 2)]


def test_not_a_results_file_is_refused(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\nmore\n")
    with pytest.raises(ValueError, match=r"notes\.txt is not a sweep results file \(line 1"):
        sw.run_sweep(sw.sweep_tasks([100]), notes, resume=True, task_fn=_fake_task)
    assert notes.read_text() == "my notes\nmore\n"
    proc = run(["sweep", "--n", "100", "--results", str(notes), "--resume",
                "--out", str(tmp_path / "o")])
    assert proc.returncode == 2
    assert "is not a sweep results file" in one_line(proc.stderr)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(_row("a") + "garbage\n" + _row("b"))
    with pytest.raises(ValueError, match=r"bad\.jsonl: line 2 is not a JSON row"):
        sw.read_results(bad)


def test_second_sweep_on_the_same_results_is_refused(tmp_path):
    res = tmp_path / "r.jsonl"
    res.write_text("")
    with sw._results_lock(str(res)):
        with pytest.raises(sw.SweepLockedError, match="another sweep holds .*r.jsonl.lock"):
            sw.run_sweep(sw.sweep_tasks([100]), res, resume=True, task_fn=_fake_task)
        proc = run(["sweep", "--n", "100", "--results", str(res), "--resume",
                    "--out", str(tmp_path / "o")])
        assert proc.returncode == 2
        assert one_line(proc.stderr).startswith("fastrmt sweep: error: another sweep holds")


def _fake_task(task):
    return {"key": task.key, "n": task.n, "r": task.r, "alpha": task.alpha, "dist": task.dist,
            "mean_abs_error": 0.5 * task.n ** -0.5}


# --- Ctrl-C --------------------------------------------------------------------------

def test_sigint_during_sweep_exits_130_with_one_line(tmp_path):
    out = tmp_path / "sw"
    results = out / "sweep.jsonl"
    args = ["sweep", "--n", "300", "400", "500", "600", "--seeds", "6", "--workers", "1",
            "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(PY + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        for _ in range(1500):
            if proc.poll() is not None or (results.exists() and sw.read_results(results)):
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        try:
            os.killpg(proc.pid, signal.SIGKILL)     # leftover workers, if any
        except ProcessLookupError:
            pass
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    kept = len(sw.read_results(results))
    assert kept >= 1
    assert err.strip().splitlines()[-1] == (f"fastrmt sweep: interrupted; {kept} rows kept in "
                                            f"{results} (resume with --resume)")
