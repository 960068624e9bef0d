"""Tests of fastrmt.heavytail and of the heavy-tail / small-layer parts of fastrmt.weights."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import fastrmt
from fastrmt import heavytail as ht
from fastrmt import weights as fw
from fastrmt.cli import main_for_tests
from fastrmt._weights_io import WeightsFileError

from . import reference_heavytail as ref


def _strict(text: str):
    """json.loads refusing NaN/Infinity (strict JSON)."""
    def bad(name):
        raise ValueError(f"non-strict JSON constant {name}")
    return json.loads(text, parse_constant=bad)


# ------------------------------------------------------------ the power-law fit
@pytest.mark.parametrize("sample", [
    lambda: ref.pareto(300, 2.5, seed=1),
    lambda: np.random.default_rng(2).lognormal(0.0, 1.0, size=250),
    lambda: np.linalg.svd(ref.heavy_matrix(120, 200, 2.5, seed=3), compute_uv=False) ** 2,
    lambda: np.linalg.svd(np.random.default_rng(4).standard_normal((90, 150)),
                          compute_uv=False) ** 2,
    lambda: np.array([1.0, 1.0, 2.0, 2.0, 2.0, 3.5, 3.5, 9.0, 9.0, 40.0]),  # ties
    lambda: np.array([3.0, 1.0]),
], ids=["pareto", "lognormal", "student-t-esd", "gaussian-esd", "ties", "two"])
def test_fit_matches_reference(sample):
    x = sample()
    got = ht.fit_power_law(x)
    alpha, xmin, ks, n_tail = ref.fit_power_law_ref(x)
    assert got.alpha == pytest.approx(alpha, rel=1e-10)
    assert got.xmin == pytest.approx(xmin, rel=1e-12)
    assert got.ks == pytest.approx(ks, rel=1e-9, abs=1e-12)
    assert got.n_tail == n_tail and got.n == x.size


def test_fit_all_equal_values_has_no_exponent():
    got = ht.fit_power_law(np.full(6, 2.0))
    assert math.isnan(got.alpha) and math.isnan(got.xmin) and got.ks == 1.0
    assert got.n_tail == 0


@pytest.mark.parametrize("alpha", [2.5, 3.5])
def test_alpha_recovered_on_pareto_samples(alpha):
    for seed in (10, 11, 12):
        fit = ht.fit_power_law(ref.pareto(2000, alpha, seed=seed, xmin=0.3))
        assert abs(fit.alpha - alpha) < 0.15
        assert fit.n_tail > 100


def test_alpha_recovered_above_a_bulk():
    # a Pareto tail glued above a uniform bulk: the scan must find the start of the tail
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(0.1, 1.0, size=1000), ref.pareto(1000, 2.5, seed=6)])
    fit = ht.fit_power_law(x)
    assert abs(fit.alpha - 2.5) < 0.15
    assert 0.8 < fit.xmin < 2.0


def test_min_evals_threshold_experiment():
    # the experiment behind MIN_EVALS = 50 (module docstring), on fewer repetitions:
    # from 50 points on the median estimate is within 0.15 of the truth
    est = [ht.fit_power_law(ref.pareto(ht.MIN_EVALS, 2.5, seed=100 + r)).alpha
           for r in range(200)]
    assert abs(np.median(est) - 2.5) < 0.15


def test_fit_does_not_depend_on_threads_or_order():
    x = ref.pareto(1500, 3.0, seed=7)
    a = ht.fit_power_law(x, n_threads=1)
    b = ht.fit_power_law(x[::-1].copy(), n_threads=2)
    assert a == b


# ---------------------------------------------------------------- the metrics
def test_metrics_match_numpy_and_reference():
    W = ref.heavy_matrix(150, 260, 3.0, seed=8)
    want = ref.heavy_tail_ref(W)
    for got in (ht.matrix_heavy_tail(W),
                ht.heavy_tail_metrics(np.linalg.svd(W, compute_uv=False)),
                fw.analyze_matrix(W)):
        assert got.stable_rank == pytest.approx(want["stable_rank"], rel=1e-9)
        assert got.log_spectral_norm == pytest.approx(want["log_spectral_norm"], rel=1e-9)
        assert got.alpha == pytest.approx(want["alpha"], rel=1e-8)
        assert got.alpha_xmin == pytest.approx(want["alpha_xmin"], rel=1e-8)
        assert got.alpha_ks == pytest.approx(want["alpha_ks"], rel=1e-6)
        assert got.alpha_n_tail == want["alpha_n_tail"]
        assert got.alpha_weighted == pytest.approx(want["alpha_weighted"], rel=1e-8)
        assert got.note == ""


def test_square_layer_metrics_use_singular_values_not_the_symmetric_part():
    W = ref.heavy_matrix(140, 140, 2.5, seed=9)
    rec = fw.analyze_matrix(W)
    assert rec.model == "wigner"
    want = ref.heavy_tail_ref(W)
    assert rec.alpha == pytest.approx(want["alpha"], rel=1e-8)
    assert rec.stable_rank == pytest.approx(want["stable_rank"], rel=1e-9)
    assert rec.log_spectral_norm == pytest.approx(want["log_spectral_norm"], rel=1e-9)


@pytest.mark.parametrize("shape, spiked", [((120, 300), True), ((120, 300), False),
                                           ((100, 100), True)])
def test_lanczos_path_gives_norms_but_no_alpha(shape, spiked):
    rng = np.random.default_rng(12)
    W = rng.standard_normal(shape)
    if spiked:
        W += 30 * np.outer(rng.standard_normal(shape[0]), rng.standard_normal(shape[1])) \
            / math.sqrt(shape[0] * shape[1]) * math.sqrt(max(shape))
    full = fw.analyze_matrix(W, solver="svd")
    lz = fw.analyze_matrix(W, solver="lanczos")
    assert lz.spectrum is None
    assert math.isnan(lz.alpha) and math.isnan(lz.alpha_weighted) and lz.alpha_n_tail == 0
    assert "alpha needs the full spectrum" in lz.note
    assert math.isfinite(full.alpha) and full.note == ""
    assert lz.stable_rank == pytest.approx(full.stable_rank, rel=1e-6)
    assert lz.log_spectral_norm == pytest.approx(full.log_spectral_norm, rel=1e-8)


def test_top_only_metrics_need_the_frobenius_norm():
    W = ref.heavy_matrix(60, 90, 4.0, seed=13)
    s = np.linalg.svd(W, compute_uv=False)
    got = ht.heavy_tail_metrics(s[:3], complete=False, frobenius_sq=float(np.sum(W * W)))
    assert got.stable_rank == pytest.approx(ref.heavy_tail_ref(W)["stable_rank"], rel=1e-9)
    assert math.isnan(got.alpha) and "full spectrum" in got.note


def test_too_few_eigenvalues_and_zero_matrix():
    W = ref.heavy_matrix(40, 70, 3.0, seed=14)       # 40 < MIN_EVALS eigenvalues
    got = ht.matrix_heavy_tail(W)
    assert math.isnan(got.alpha) and math.isnan(got.alpha_xmin)
    assert got.note == "alpha: 40 eigenvalues < 50, too few for a tail fit"
    assert got.stable_rank == pytest.approx(ref.heavy_tail_ref(W)["stable_rank"], rel=1e-9)
    assert math.isfinite(ht.matrix_heavy_tail(W, min_evals=20).alpha)
    low = np.outer(np.arange(1.0, 61.0), np.ones(80))   # rank one: 1 nonzero eigenvalue
    assert ht.matrix_heavy_tail(low).note.startswith("alpha: 1 nonzero eigenvalues < 50")
    z = ht.matrix_heavy_tail(np.zeros((60, 60)))
    assert math.isnan(z.stable_rank) and math.isnan(z.log_spectral_norm)
    assert z.note == "zero matrix: no spectrum"
    assert fw.analyze_matrix(np.zeros((60, 60))).note == "zero matrix: no spectrum"


# ------------------------------------------------------------ small layers
def test_small_layers_get_no_model_but_a_record():
    W = ref.heavy_matrix(10, 64, 3.0, seed=15)
    rec = fw.analyze_matrix(W)
    assert rec.model == "none" and rec.n_outliers == 0 and rec.outliers.size == 0
    assert math.isnan(rec.sigma) and math.isnan(rec.bulk_edge) and math.isnan(rec.threshold)
    assert rec.note.startswith("min(n, m) = 10 < 32: asymptotic model not applied")
    assert "alpha: 10 eigenvalues < 50" in rec.note
    assert rec.stable_rank == pytest.approx(ref.heavy_tail_ref(W)["stable_rank"], rel=1e-9)
    np.testing.assert_allclose(rec.spectrum, np.linalg.svd(W, compute_uv=False), rtol=1e-9)
    forced = fw.analyze_matrix(W, model="mp")
    assert forced.model == "mp" and math.isfinite(forced.sigma)
    assert forced.note.startswith("min(n, m) = 10 < 32: the asymptotic model is unreliable")
    assert fw.analyze_matrix(W, min_dim=8).model == "mp"
    assert fw.analyze_matrix(W, min_dim=8).note == "alpha: 10 eigenvalues < 50, too few " \
                                                   "for a tail fit"


def test_analyze_weights_lists_small_layers_and_writes_strict_json(tmp_path):
    rng = np.random.default_rng(16)
    tensors = {"body.weight": rng.standard_normal((80, 120)),
               "head.weight": rng.standard_normal((10, 80)), "head.bias": np.zeros(10)}
    rep = fw.analyze_weights(tensors)
    assert [r.name for r in rep] == ["body.weight", "head.weight"]
    assert [r.model for r in rep] == ["mp", "none"]
    assert [n for n, _, _ in rep.skipped] == ["head.bias"]
    data = _strict(rep.to_json())
    body, head = data["layers"]
    assert head["sigma"] is None and head["alpha"] is None and head["threshold"] is None
    assert head["note"].startswith("min(n, m) = 10 < 32")
    assert body["alpha"] == pytest.approx(rep[0].alpha) and body["note"] == ""
    assert head["stable_rank"] == pytest.approx(rep[1].stable_rank)
    rows = rep.to_csv(str(tmp_path / "r.csv")).splitlines()
    header = rows[0].split(",")
    assert header[:3] == ["name", "shape", "model"]
    assert header[-8:] == ["alpha", "alpha_xmin", "alpha_ks", "alpha_n_tail",
                           "alpha_weighted", "stable_rank", "log_spectral_norm", "note"]
    assert ",none,svd,bema,,,,,0,0," in rows[2]
    table = rep.table()
    assert "alpha" in table.splitlines()[0] and "note" in table.splitlines()[0]
    head_line = [ln for ln in table.splitlines() if ln.startswith("head.weight")][0]
    assert " none " in head_line and "asymptotic model not applied" in head_line
    assert rep.table().count("\n") == 4   # header, rule, two layers, skipped line
    assert fw.analyze_weights(tensors, min_dim=8)[1].model == "mp"
    assert math.isnan(fw.analyze_weights(tensors, heavy_tail=False)[0].alpha)


def test_table_has_no_note_column_when_all_is_well():
    rng = np.random.default_rng(17)
    rep = fw.analyze_weights({"w": rng.standard_normal((60, 90))})
    assert rep.table().splitlines()[0].split()[-1] == "time"


def test_cli_analyze_shows_the_metrics(tmp_path, capsys):
    rng = np.random.default_rng(18)
    path = str(tmp_path / "m.npz")
    np.savez(path, enc=rng.standard_normal((70, 110)), head=rng.standard_normal((4, 70)))
    assert main_for_tests(["analyze", path, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "st.rank" in out and "asymptotic model not applied" in out
    assert main_for_tests(["analyze", path, "--quiet", "--json", "--plot",
                           str(tmp_path / "plots"), "--out", str(tmp_path / "rep")]) == 0
    data = _strict(capsys.readouterr().out)
    assert data["layers"][1]["model"] == "none" and data["layers"][1]["sigma"] is None
    assert math.isfinite(data["layers"][0]["alpha"])
    _strict((tmp_path / "rep" / "report.json").read_text())
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["enc.png", "head.png"]


# ------------------------------------------------------------ in-memory models
def test_analyze_model_on_a_mapping():
    rng = np.random.default_rng(19)
    tensors = {"a.weight": rng.standard_normal((64, 96)).astype(np.float32),
               "a.bias": np.zeros(64, dtype=np.float32),
               "b.weight": rng.standard_normal((96, 96))}
    rep = fastrmt.analyze_model(tensors, method="median", model="mp")
    assert isinstance(rep, fw.WeightsReport) and rep.source == "<memory>"
    want = fw.analyze_weights(tensors, method="median", model="mp")
    assert [r.name for r in rep] == ["a.weight", "b.weight"]
    assert [r.model for r in rep] == ["mp", "mp"] and rep.method == "median"
    for a, b in zip(rep, want):
        assert a.sigma == b.sigma and a.alpha == b.alpha


def test_analyze_model_on_a_torch_module():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(96, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 10))
    net[0].weight.requires_grad_(True)
    rep = fw.analyze_model(net)
    assert rep.source == "<Sequential>"
    assert [r.name for r in rep] == ["0.weight", "2.weight"]
    assert [r.model for r in rep] == ["mp", "none"]        # 10 x 64: too small
    assert {n for n, _, _ in rep.skipped} == {"0.bias", "2.bias"}
    W = net[0].weight.detach().numpy().astype(np.float64)
    ref_rec = fw.analyze_matrix(W, name="0.weight")
    assert rep[0].sigma == pytest.approx(ref_rec.sigma, rel=1e-12)
    assert rep[0].stable_rank == pytest.approx(ref.heavy_tail_ref(W)["stable_rank"],
                                               rel=1e-6)
    half = torch.nn.Linear(80, 48).to(torch.bfloat16)     # converted to float32
    assert fw.analyze_model(half)[0].matrix_shape == (48, 80)


@pytest.mark.parametrize("obj", [3, np.ones((4, 4)), [np.ones((4, 4))], "model.npz"])
def test_analyze_model_rejects_other_objects(obj):
    with pytest.raises(TypeError, match="model must be a torch.nn.Module or a mapping"):
        fw.analyze_model(obj)


@pytest.mark.parametrize("kwargs, exc, msg", [
    (dict(method="mean"), ValueError, "method must be one of"),
    (dict(min_dim=1), ValueError, "min_dim must be >= 2, got 1"),
    (dict(min_dim=3.0), TypeError, "min_dim must be an integer"),
    (dict(heavy_tail="yes"), TypeError, "heavy_tail must be a bool"),
    (dict(bogus=1), TypeError, "bogus"),
])
def test_analyze_model_rejects_bad_arguments(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        fw.analyze_model({"w": np.ones((40, 40))}, **kwargs)


def test_analyze_model_bad_mappings():
    with pytest.raises(TypeError, match="weights mapping keys must be str"):
        fw.analyze_model({1: np.ones((4, 4))})
    with pytest.raises(WeightsFileError, match="no 2-D floating-point tensor"):
        fw.analyze_model({"b": np.ones(3)})


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("x, exc, msg", [
    (np.ones((3, 3)), ValueError, "x must be 1-D, got shape"),
    ("abc", TypeError, "x must be array-like of real numbers"),
    ([1.0], ValueError, "x must hold at least 2 values, got 1"),
    ([1.0, -2.0, 3.0], ValueError, "x must be positive, got a minimum of -2.0"),
    ([1.0, 0.0, 3.0], ValueError, "x must be positive"),
    ([1.0, np.nan], ValueError, "x must contain only finite values"),
])
def test_fit_power_law_rejects(x, exc, msg):
    with pytest.raises(exc, match=msg):
        ht.fit_power_law(x)


@pytest.mark.parametrize("kwargs, exc, msg", [
    (dict(singular_values=np.ones((2, 2))), ValueError, "singular_values must be 1-D"),
    (dict(singular_values=[1.0, -1.0]), ValueError, "singular_values must be >= 0"),
    (dict(complete="no"), TypeError, "complete must be a bool"),
    (dict(complete=False), ValueError, "frobenius_sq is needed when complete=False"),
    (dict(frobenius_sq=-1.0), ValueError, "frobenius_sq must be >= 0.0, got -1.0"),
    (dict(min_evals=1), ValueError, "min_evals must be >= 2, got 1"),
    (dict(min_evals=50.0), TypeError, "min_evals must be an integer"),
    (dict(n_threads=0), ValueError, "n_threads must be a positive or negative integer"),
])
def test_heavy_tail_metrics_rejects(kwargs, exc, msg):
    args = {"singular_values": [3.0, 2.0, 1.0], **kwargs}
    with pytest.raises(exc, match=msg):
        ht.heavy_tail_metrics(**args)


@pytest.mark.parametrize("W, exc, msg", [
    (np.ones(5), ValueError, "W must be 2-D, got shape"),
    (np.ones((1, 5)), ValueError, "W must have at least 2 rows and 2 columns"),
    (np.array([["a", "b"], ["c", "d"]]), TypeError, "W must be array-like of real numbers"),
])
def test_matrix_heavy_tail_rejects(W, exc, msg):
    with pytest.raises(exc, match=msg):
        ht.matrix_heavy_tail(W)


def test_warmup_compiles_the_scan():
    ht._warmup()
    from fastrmt._kernels import _heavytail
    assert _heavytail.xmin_scan.signatures
