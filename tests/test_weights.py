"""Tests of fastrmt.weights, fastrmt._weights_io and the analyze/prune subcommands."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from fastrmt import pruning as fp
from fastrmt import weights as fw
from fastrmt.cli import main_for_tests
from fastrmt._weights_io import TORCH_MISSING, WeightsFileError, load_file

from . import reference_weights as ref

SIGMA = 0.05


@pytest.fixture(scope="module")
def spiked_rect():
    # t = 3, 2, 1.3 are above the BBP threshold c^(1/4) = 0.76; 0.4 is absorbed
    W, U, V, kappa = ref.spiked(200, 600, SIGMA, [3.0, 2.0, 1.3, 0.4], seed=11)
    return W, U, V, kappa


@pytest.fixture(scope="module")
def noise_rect():
    return SIGMA * ref.gaussian_block(240, 600, seed=5)


# ------------------------------------------------------------------ the laws
@pytest.mark.parametrize("c", [0.1, 0.5, 1.0])
def test_mp_quantile_matches_quadrature(c):
    probs = np.array([0.05, 0.2, 0.5, 0.8, 0.95])
    got = fw.mp_quantile(probs, c)
    want = np.array([ref.mp_quantile_ref(p, c) for p in probs])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("c", [0.25, 1.0])
def test_mp_density_matches_formula_and_integrates_to_one(c):
    x = np.linspace(0.0, 4.5, 2001)
    got = fw.mp_density(x, c)
    want = np.array([ref.mp_pdf_ref(v, c) for v in x])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    b = (1 + math.sqrt(c)) ** 2
    a = (1 - math.sqrt(c)) ** 2
    t = np.linspace(0, math.pi, 20001)
    xs = a + (b - a) * (1 - np.cos(t)) / 2
    total = np.trapezoid(fw.mp_density(xs, c) * (b - a) / 2 * np.sin(t), t)
    assert abs(total - 1) < 1e-3


def test_semicircle_quantile_matches_reference():
    # the noise level estimates use the unit semicircle's quantiles (now the measure's)
    for p in (0.1, 0.5, 0.75, 0.9):
        assert abs(float(fw._SEMICIRCLE.quantile(p)) - ref.sc_quantile_ref(p)) < 1e-12


def test_mp_quantile_refuses_bad_prob():
    with pytest.raises(ValueError, match=r"prob must be in \[0, 1\], got values in \[0.5, 1.2\]"):
        fw.mp_quantile([0.5, 1.2], 0.5)
    with pytest.raises(TypeError, match="prob must be a number or array-like"):
        fw.mp_quantile("0.5", 0.5)
    with pytest.raises(ValueError, match=r"c must be <= 1.0, got 2.0"):
        fw.mp_quantile(0.5, 2.0)


@pytest.mark.parametrize("c", [0.2, 1 / 3, 1.0])
def test_bgn_formulas_match_reference(c):
    ts = np.array([0.3, c ** 0.25 + 0.05, 1.0, 2.5, 7.0])
    y = fw.bgn_outlier(ts, c)
    np.testing.assert_allclose(y, [ref.bgn_outlier_ref(t, c) for t in ts], rtol=1e-12)
    above = ts > c ** 0.25
    back = fw.bgn_signal(y[above], c)
    np.testing.assert_allclose(back, [ref.bgn_signal_ref(v, c) for v in y[above]], rtol=1e-9)
    np.testing.assert_allclose(back, ts[above], rtol=1e-9)
    assert np.isnan(fw.bgn_signal(1 + math.sqrt(c) - 1e-3, c))
    ov_s, ov_l = fw.bgn_overlaps(ts[above], c)
    want = np.array([ref.bgn_overlaps_ref(t, c) for t in ts[above]])
    np.testing.assert_allclose(ov_s, want[:, 0], rtol=1e-12)
    np.testing.assert_allclose(ov_l, want[:, 1], rtol=1e-12)
    # Gavish-Donoho's optimal shrinker is t * sqrt(overlap_short * overlap_long)
    np.testing.assert_allclose(fw.optimal_shrinkage(y[above], c),
                               ts[above] * np.sqrt(ov_s * ov_l), rtol=1e-9)
    assert fw.optimal_shrinkage(0.5 * (1 + math.sqrt(c)), c) == 0.0


# ------------------------------------------------------------- noise level
def test_sigma_estimators_match_reference():
    W = SIGMA * ref.gaussian_block(60, 150, seed=7)
    rec = fw.analyze_matrix(W, solver="svd")
    assert rec.model == "mp"
    assert abs(rec.sigma_estimates["median"] - ref.sigma_median_ref(W)) < 1e-7 * SIGMA
    assert abs(rec.sigma_estimates["bema0.2"] - ref.sigma_bema_ref(W)) < 1e-7 * SIGMA


@pytest.mark.parametrize("method", fw.METHODS)
def test_sigma_recovered_on_pure_noise(noise_rect, method):
    rec = fw.analyze_matrix(noise_rect, method=method)
    assert rec.method == method
    assert abs(rec.sigma / SIGMA - 1) < 0.02
    assert rec.sigma_err < 0.02 * SIGMA
    assert rec.n_outliers == 0


def test_thresholds_follow_the_documented_formulas(noise_rect):
    rec = fw.analyze_matrix(noise_rect, margin=2.5)
    p, q = 240, 600
    assert rec.bulk_edge == pytest.approx(rec.sigma * (math.sqrt(q) + math.sqrt(p)), rel=1e-12)
    assert rec.tw_scale == pytest.approx(ref.tw_scale_ref(p, q, rec.sigma), rel=1e-12)
    assert rec.threshold == pytest.approx(rec.bulk_edge + 2.5 * rec.tw_scale, rel=1e-12)


# ----------------------------------------------------------- spikes (MP)
def test_spikes_recovered_rectangular(spiked_rect):
    W, U, V, kappa = spiked_rect
    rec = fw.analyze_matrix(W)
    c = 200 / 600
    assert abs(rec.sigma / SIGMA - 1) < 0.03
    assert rec.sigma_err >= abs(rec.sigma - SIGMA) * 0.5
    assert rec.n_outliers == 3  # 0.4 < c^(1/4): absorbed, as the theory says
    np.testing.assert_allclose(rec.signal / kappa, [3.0, 2.0, 1.3], rtol=0.05)
    np.testing.assert_allclose(rec.outliers / kappa, fw.bgn_outlier([3.0, 2.0, 1.3], c),
                               rtol=0.03)
    # predicted overlaps against the observed singular vectors
    Uh, s, Vh = np.linalg.svd(W, full_matrices=False)
    obs_l = np.array([np.dot(Uh[:, i], U[:, i]) ** 2 for i in range(3)])
    obs_r = np.array([np.dot(Vh[i], V[:, i]) ** 2 for i in range(3)])
    np.testing.assert_allclose(rec.overlap_left, obs_l, atol=0.06)
    np.testing.assert_allclose(rec.overlap_right, obs_r, atol=0.06)
    assert np.all(rec.overlap_left > rec.overlap_right)  # the short side is better resolved


def test_transpose_swaps_overlaps_only(spiked_rect):
    W = spiked_rect[0]
    a = fw.analyze_matrix(W)
    b = fw.analyze_matrix(W.T.copy())
    assert b.sigma == pytest.approx(a.sigma, rel=1e-10)
    np.testing.assert_allclose(b.outliers, a.outliers, rtol=1e-10)
    np.testing.assert_allclose(b.overlap_left, a.overlap_right, rtol=1e-10)


def test_lanczos_path_matches_svd_path(spiked_rect):
    W = spiked_rect[0]
    a = fw.analyze_matrix(W, solver="svd")
    b = fw.analyze_matrix(W, solver="lanczos")
    assert (a.solver, b.solver) == ("svd", "lanczos")
    assert b.spectrum is None
    assert b.sigma == pytest.approx(a.sigma, rel=1e-12)  # p <= 1024: the "subsample" is W
    np.testing.assert_allclose(b.outliers, a.outliers, rtol=1e-8)


def test_lanczos_switch_subsamples_rows(spiked_rect, monkeypatch):
    W = spiked_rect[0]
    monkeypatch.setattr(fw, "LANCZOS_MIN_DIM", 150)
    monkeypatch.setattr(fw, "SIGMA_SUBSAMPLE", 120)
    rec = fw.analyze_matrix(W)  # short side 200 > 150: Lanczos + strided 120-row sample
    assert rec.solver == "lanczos"
    assert abs(rec.sigma / SIGMA - 1) < 0.03
    assert rec.n_outliers == 3


def test_results_do_not_depend_on_threads(spiked_rect):
    W = spiked_rect[0]
    a = fw.analyze_matrix(W, n_threads=1)
    b = fw.analyze_matrix(W, n_threads=2)
    assert a.sigma == pytest.approx(b.sigma, rel=1e-12)
    np.testing.assert_allclose(a.outliers, b.outliers, rtol=1e-12)


@pytest.mark.parametrize("shape", [(50, 80), (50, 50)])
@pytest.mark.parametrize("solver", ["svd", "lanczos"])
def test_degenerate_layers(shape, solver):
    # exactly rank one: one outlier, rounding noise of the Gram matrix is not reported
    rec = fw.analyze_matrix(np.ones(shape), solver=solver)
    assert rec.n_outliers == 1
    assert rec.outliers[0] == pytest.approx(math.sqrt(shape[0] * shape[1]), rel=1e-9)
    assert rec.signal[0] == pytest.approx(rec.outliers[0], rel=1e-6)
    assert fw.analyze_matrix(np.zeros(shape), solver=solver).n_outliers == 0


def test_formulas_do_not_overflow():
    y = np.array([1e200, 3.0, 0.5])
    np.testing.assert_allclose(fw.bgn_signal(y, 0.5)[:2], [1e200, ref.bgn_signal_ref(3.0, 0.5)])
    assert fw.optimal_shrinkage(y, 0.5)[0] == 1e200
    np.testing.assert_allclose(fw.bgn_overlaps(np.array([1e200, 0.0]), 0.5), [[1, 0], [1, 0]])


# ---------------------------------------------------------- spikes (Wigner)
def test_spikes_recovered_square_symmetric_part():
    n = 300
    W = SIGMA * ref.gaussian_block(n, n, seed=21)
    h = SIGMA / math.sqrt(2) * math.sqrt(n)  # semicircle on [-2h, 2h]
    u = ref.orthonormal(n, 3, seed=22)
    thetas = np.array([3.0, -1.8, 0.6]) * h  # |theta| > h gives an outlier
    W = W + (u * thetas) @ u.T
    rec = fw.analyze_matrix(W)
    assert rec.model == "wigner"
    assert abs(rec.sigma / SIGMA - 1) < 0.03
    assert rec.n_outliers == 2
    # the outliers fluctuate by ~ h sqrt(2 / n) (GOE-like noise, delocalised spikes), the
    # signal values by that over Phi'(theta) = 1 - h^2 / theta^2: allow 4 of those
    sd = h * math.sqrt(2 / n)
    dphi = 1 - h * h / thetas[:2] ** 2
    assert np.all(np.abs(rec.outliers - (thetas[:2] + h * h / thetas[:2])) < 4 * sd)
    assert np.all(np.abs(rec.signal - thetas[:2]) < 4 * sd / dphi)
    ev, vec = np.linalg.eigh((W + W.T) / 2)
    obs = [np.dot(vec[:, -1], u[:, 0]) ** 2, np.dot(vec[:, 0], u[:, 1]) ** 2]
    np.testing.assert_allclose(rec.overlap_left, obs, atol=0.08)
    # the same layer under the rectangular model (c = 1)
    rec_mp = fw.analyze_matrix(W, model="mp")
    assert rec_mp.model == "mp" and abs(rec_mp.sigma / SIGMA - 1) < 0.05


def test_phi_inverse_matches_closed_form():
    lam = np.array([2.5, -3.0, 7.1, -2.0000001])
    s = 1.0
    want = (lam + np.sign(lam) * np.sqrt(lam * lam - 4 * s * s)) / 2
    np.testing.assert_allclose(fw._phi_inverse_delta0(lam, s), want, rtol=1e-9)
    np.testing.assert_allclose(fw._phi_inverse_delta0(2 * lam, 2 * s), 2 * want, rtol=1e-9)


def test_exactly_symmetric_input_uses_entry_std():
    n = 300
    Z = ref.gaussian_block(n, n, seed=31)
    S = np.triu(Z) + np.triu(Z, 1).T  # symmetric, entries of variance 1
    rec = fw.analyze_matrix(SIGMA * S, solver="svd")
    assert abs(rec.sigma / SIGMA - 1) < 0.03
    assert rec.bulk_edge == pytest.approx(2 * rec.sigma * math.sqrt(n), rel=1e-12)


def test_wigner_lanczos_path_matches():
    n = 200
    W = SIGMA * ref.gaussian_block(n, n, seed=41)
    u = ref.orthonormal(n, 2, seed=42)
    h = SIGMA / math.sqrt(2) * math.sqrt(n)
    W = W + (u * np.array([3 * h, -2.5 * h])) @ u.T
    a = fw.analyze_matrix(W, solver="svd")
    b = fw.analyze_matrix(W, solver="lanczos")
    np.testing.assert_allclose(b.outliers, a.outliers, rtol=1e-8)


# ----------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs, exc, msg", [
    (dict(method="mean"), ValueError, "method must be one of"),
    (dict(method=3), TypeError, "method must be one of"),
    (dict(margin=-1.0), ValueError, "margin must be >= 0.0"),
    (dict(margin="3"), TypeError, "margin must be a real number"),
    (dict(model="square"), ValueError, "model must be one of"),
    (dict(solver="eig"), ValueError, "solver must be one of"),
    (dict(model="wigner"), ValueError, "model='wigner' needs a square matrix"),
    (dict(name=1), TypeError, "name must be a str"),
])
def test_analyze_matrix_rejects(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        fw.analyze_matrix(np.ones((4, 6)), **kwargs)


@pytest.mark.parametrize("W, exc, msg", [
    (np.ones(5), ValueError, "W must be 2-D, got shape"),
    (np.ones((1, 5)), ValueError, "at least 2 rows and 2 columns"),
    (np.array([[1.0, np.nan], [0.0, 1.0]]), ValueError, "contains NaN or inf"),
    (np.array([["a", "b"], ["c", "d"]]), TypeError, "W must hold real numbers"),
])
def test_analyze_matrix_rejects_arrays(W, exc, msg):
    with pytest.raises(exc, match=msg):
        fw.analyze_matrix(W)


@pytest.mark.parametrize("kwargs, exc, msg", [
    (dict(keep="all"), ValueError, "keep must be one of"),
    (dict(keep=-1), ValueError, "keep must be >= 0"),
    (dict(keep=2.0), TypeError, "keep must be an integer"),
    (dict(shrink="soft"), ValueError, "shrink must be one of"),
    (dict(bulk_share=1.5), ValueError, "bulk_share must be <= 1.0"),
    (dict(min_dim=1), ValueError, "min_dim must be >= 2"),
    (dict(layers="fc1"), TypeError, "layers must be a sequence"),
    (dict(layers=["nope"]), ValueError, "layers: unknown"),
])
def test_prune_weights_rejects(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        fp.prune_weights({"fc1": np.ones((4, 6))}, **kwargs)


def test_analyze_weights_rejects_bad_sources():
    with pytest.raises(TypeError, match="weights must be a path"):
        fw.analyze_weights(3)
    with pytest.raises(WeightsFileError, match="no 2-D floating-point tensor"):
        fw.analyze_weights({"b": np.ones(3)})
    with pytest.raises(WeightsFileError, match="contains NaN or inf"):
        fw.analyze_weights({"w": np.full((4, 4), np.nan)})
    with pytest.raises(TypeError, match="progress must be a bool"):
        fw.analyze_weights(np.ones((4, 4)), progress="yes")


# ----------------------------------------------------------------- files
def _model():
    return {"fc1.weight": SIGMA * ref.gaussian_block(64, 96, seed=3).astype(np.float32),
            "fc1.bias": np.zeros(64, dtype=np.float32),
            "conv.weight": SIGMA * ref.gaussian_block(16, 27, seed=4).reshape(16, 3, 3, 3),
            "step": np.array(7, dtype=np.int64)}


def _write(path, tensors):
    path = str(path)
    if path.endswith(".npz"):
        np.savez(path, **tensors)
    elif path.endswith(".safetensors"):
        from safetensors.numpy import save_file
        save_file(tensors, path)
    elif path.endswith(".npy"):
        np.save(path, next(iter(tensors.values())))
    return path


@pytest.mark.parametrize("ext", [".npz", ".safetensors"])
def test_load_classifies_tensors(tmp_path, ext):
    path = _write(tmp_path / f"m{ext}", _model())
    wf = load_file(path)
    assert sorted(wf.layers) == ["conv.weight", "fc1.weight"]  # safetensors sorts names
    assert wf.matrix("conv.weight").shape == (16, 27)
    assert {n for n, _, _ in wf.skipped} == {"fc1.bias", "step"}
    rep = fw.analyze_weights(path)
    assert [r.name for r in rep] == wf.layers
    assert rep["conv.weight"].shape == (16, 3, 3, 3)
    assert rep["conv.weight"].matrix_shape == (16, 27)


@pytest.mark.parametrize("ext", [".npz", ".safetensors"])
def test_prune_round_trip_keeps_format_shapes_dtypes(tmp_path, ext):
    src = _write(tmp_path / f"m{ext}", _model())
    out = str(tmp_path / f"out{ext}")
    rep = fp.prune_file(src, out, keep=2, min_dim=8)
    back = load_file(out)
    orig = _model()
    assert sorted(back.tensors) == sorted(orig)
    for k, v in orig.items():
        assert back.tensors[k].shape == v.shape and back.tensors[k].dtype == v.dtype
    np.testing.assert_array_equal(back.tensors["fc1.bias"], orig["fc1.bias"])
    assert np.linalg.matrix_rank(back.matrix("conv.weight").astype(np.float64)) == 2
    assert rep.output == out
    assert [r.rank for r in rep.layers] == [2, 2]
    assert {r.name: r.params_after for r in rep.layers}["fc1.weight"] == 2 * (64 + 96)


def test_npy_round_trip(tmp_path):
    W = ref.spiked(40, 120, SIGMA, [4.0], seed=6)[0]
    src = _write(tmp_path / "w.npy", {"array": W})
    out = str(tmp_path / "p.npy")
    rep = fp.prune_file(src, out, keep="outliers")
    P = np.load(out)
    U, s, Vt = np.linalg.svd(W)
    np.testing.assert_allclose(P, s[0] * np.outer(U[:, 0], Vt[0]), atol=1e-10)
    assert rep.layers[0].rank_outliers == 1


def test_torch_round_trip_or_clear_message(tmp_path):
    try:
        import torch
    except ImportError:
        path = tmp_path / "m.pt"
        path.write_bytes(b"not really")
        with pytest.raises(WeightsFileError, match=TORCH_MISSING):
            load_file(path)
        return
    W = torch.from_numpy(SIGMA * ref.gaussian_block(32, 48, seed=8)).float()
    path = str(tmp_path / "m.pt")
    torch.save({"state_dict": {"l.weight": W, "l.bias": torch.zeros(32)}}, path)
    out = str(tmp_path / "o.pth")
    fp.prune_file(path, out, keep=3)
    back = torch.load(out, weights_only=True)
    assert back["l.weight"].dtype == torch.float32 and back["l.weight"].shape == (32, 48)


def test_torch_missing_message(tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "torch":
            raise ImportError("no torch")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    path = tmp_path / "m.pth"
    path.write_bytes(b"x")
    with pytest.raises(WeightsFileError) as info:
        load_file(path)
    assert str(info.value) == "reading .pt files needs PyTorch: pip install torch"


def test_prune_matches_truncated_svd_and_shrinkers(spiked_rect):
    W = spiked_rect[0]
    rec = fw.analyze_matrix(W)
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    for shrink, vals in [(False, s[:3]),
                         (True, rec.bulk_scale * fw.optimal_shrinkage(s[:3] / rec.bulk_scale,
                                                                      rec.ratio)),
                         ("denoised", rec.signal)]:
        tensors, pr = fp.prune_weights({"w": W}, keep="outliers", shrink=shrink)
        np.testing.assert_allclose(tensors["w"], (U[:, :3] * vals) @ Vt[:3], atol=1e-10)
        assert pr.layers[0].rank == 3
    tensors, pr = fp.prune_weights({"w": W}, keep="outliers", bulk_share=0.1)
    assert pr.layers[0].rank_bulk == round(0.1 * 197)
    k = pr.layers[0].rank
    np.testing.assert_allclose(tensors["w"], (U[:, :k] * s[:k]) @ Vt[:k], atol=1e-10)


def test_prune_small_layers_copied():
    tensors, pr = fp.prune_weights({"head": np.ones((10, 64))})
    np.testing.assert_array_equal(tensors["head"], np.ones((10, 64)))
    assert pr.layers[0].note.startswith("unchanged: min(n, m) = 10 < min_dim")
    assert pr.layers[0].stored == "unchanged"


def test_prune_lanczos_path(spiked_rect, monkeypatch):
    W = spiked_rect[0]
    monkeypatch.setattr(fw, "LANCZOS_MIN_DIM", 150)
    monkeypatch.setattr(fw, "SIGMA_SUBSAMPLE", 120)
    tensors, pr = fp.prune_weights({"w": W}, keep="outliers")
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    np.testing.assert_allclose(tensors["w"], (U[:, :3] * s[:3]) @ Vt[:3], atol=1e-8)


# ------------------------------------------------------------------- CLI
@pytest.fixture
def model_file(tmp_path):
    W, _, _, _ = ref.spiked(120, 300, SIGMA, [3.0, 1.5], seed=9)
    return _write(tmp_path / "model.npz", {"enc.weight": W, "enc.bias": np.zeros(120),
                                           "sq.weight": SIGMA * ref.gaussian_block(80, 80, 10)})


def test_cli_analyze_table_json_csv_plots(model_file, tmp_path, capsys):
    assert main_for_tests(["analyze", model_file]) == 0
    out, err = capsys.readouterr()
    assert "enc.weight" in out and "120x300" in out and "sq.weight" in out
    assert "[1/2] enc.weight" in err and "[2/2] sq.weight" in err
    csv_path = str(tmp_path / "r.csv")
    plots = str(tmp_path / "plots")
    outdir = str(tmp_path / "rep")
    assert main_for_tests(["analyze", model_file, "--json", "--quiet", "--csv", csv_path,
                           "--plot", plots, "--out", outdir, "--method", "median"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert err == ""
    assert data["layers"][0]["n_outliers"] == 2 and data["method"] == "median"
    assert Path(csv_path).read_text().splitlines()[0].startswith("name,shape,model")
    assert sorted(os.listdir(plots)) == ["enc.weight.png", "sq.weight.png"]
    assert sorted(os.listdir(outdir)) == ["report.csv", "report.json"]


def test_cli_prune(model_file, tmp_path, capsys):
    out = str(tmp_path / "p.npz")
    assert main_for_tests(["prune", model_file, "--out", out, "--keep", "outliers",
                           "--shrink", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "enc.weight" in text and "total" in text and f"wrote {out}" in text
    with np.load(out) as z:
        assert np.linalg.matrix_rank(z["enc.weight"]) == 2
    # refuses an existing output unless --overwrite
    assert main_for_tests(["prune", model_file, "--out", out, "--quiet"]) == 2
    assert "exists" in capsys.readouterr().err
    assert main_for_tests(["prune", model_file, "--out", out, "--quiet", "--overwrite",
                           "--keep", "1", "--bulk-share", "0"]) == 0


def test_cli_prune_never_overwrites_input(model_file, capsys):
    before = Path(model_file).read_bytes()
    for extra in ([], ["--overwrite"]):
        assert main_for_tests(["prune", model_file, "--out", model_file, *extra]) == 2
        err = capsys.readouterr().err
        assert "refusing to overwrite the input file" in err
        assert err.count("\n") == 1
    assert Path(model_file).read_bytes() == before


def _bad_missing(tmp_path):
    return str(tmp_path / "missing.npz")


def _bad_truncated_npy(tmp_path):
    p = tmp_path / "t.npy"
    np.save(p, np.ones((50, 60)))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return str(p)


def _bad_truncated_safetensors(tmp_path):
    from safetensors.numpy import save_file
    p = tmp_path / "t.safetensors"
    save_file({"w": np.ones((50, 60))}, str(p))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 100])
    return str(p)


def _bad_wrong_format(tmp_path):
    p = tmp_path / "w.npz"
    p.write_text("this is not a zip archive\n")
    return str(p)


def _bad_extension(tmp_path):
    p = tmp_path / "w.txt"
    p.write_text("1 2 3\n")
    return str(p)


def _bad_no_2d(tmp_path):
    return _write(tmp_path / "b.npz", {"bias": np.ones(5), "scale": np.ones(3)})


def _bad_nan(tmp_path):
    W = np.ones((20, 30))
    W[3, 4] = np.nan
    return _write(tmp_path / "n.safetensors", {"w": W})


@pytest.mark.parametrize("make, msg", [
    (_bad_missing, "no such file"),
    (_bad_truncated_npy, "cannot read"),
    (_bad_truncated_safetensors, "cannot read"),
    (_bad_wrong_format, "cannot read"),
    (_bad_extension, "unsupported weight file extension"),
    (_bad_no_2d, "no 2-D floating-point tensor"),
    (_bad_nan, "contains NaN or inf"),
])
@pytest.mark.parametrize("command", ["analyze", "prune"])
def test_cli_bad_files_exit_2_without_output(tmp_path, capsys, make, msg, command):
    path = make(tmp_path)
    ext = os.path.splitext(path)[1]
    out = str(tmp_path / f"out_file{ext}")
    argv = ["analyze", path, "--quiet"] if command == "analyze" else \
        ["prune", path, "--out", out, "--quiet"]
    assert main_for_tests(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"fastrmt {command}: error: ")
    assert msg in lines[0]
    assert not os.path.exists(out)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]  # no temp leftovers


def test_cli_bad_arguments_exit_2(model_file, capsys):
    assert main_for_tests(["analyze", model_file, "--margin", "-1"]) == 2
    assert main_for_tests(["prune", model_file]) == 2  # --out is required
    assert main_for_tests(["prune", model_file, "--out", "x.npz", "--bulk-share", "2"]) == 2
    assert main_for_tests(["prune", model_file, "--out", "x.safetensors"]) == 2
    assert "must have the input's format" in capsys.readouterr().err
    assert not os.path.exists("x.npz") and not os.path.exists("x.safetensors")


# ------------------------------------------------------------ digits MLP
@pytest.fixture(scope="module")
def digits_model():
    pytest.importorskip("sklearn", reason="the digits data set comes with scikit-learn "
                                          "(optional test dependency)")
    Xtr, ytr, Xte, yte = ref.digits_split()
    params = ref.train_digits_mlp(Xtr, ytr, hidden=64, steps=100, lr=1e-2, weight_decay=3.0)
    return params, Xte, yte


def test_digits_mlp_pruned_keeps_accuracy(digits_model):
    params, Xte, yte = digits_model
    acc = ref.mlp_accuracy(params, Xte, yte)
    assert acc > 0.9
    tensors, rep = fp.prune_weights(params, keep="outliers")
    assert all(r.rank_outliers > 0 for r in rep.layers if r.stored != "unchanged")
    assert rep.params_after < rep.params_before
    assert ref.mlp_accuracy(tensors, Xte, yte) > acc - 0.05


def test_warmup_loads_the_solver_kernels():
    from fastrmt._kernels import _lanczos
    fw._warmup()
    assert _lanczos.gaussian_block.signatures     # the eigensolver's start block
