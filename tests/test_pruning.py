"""fastrmt.pruning: the signal rank, the global budget, layers left alone, the checks."""
from __future__ import annotations

import numpy as np
import pytest

from fastrmt import pruning as fp
from fastrmt import shrinkage as sh
from fastrmt import weights as fw

from . import reference_weights as ref


@pytest.fixture(scope="module")
def layers():
    rng = np.random.default_rng(0)
    spiked = ref.spiked(200, 600, 0.05, [3.0, 2.0, 1.3], seed=1)[0]
    U, _ = np.linalg.qr(rng.standard_normal((300, 300)))
    V, _ = np.linalg.qr(rng.standard_normal((500, 300)))
    full = (U * (3 * np.exp(-np.arange(300) / 20))) @ V.T + 0.02 * rng.standard_normal((300, 500))
    noise = 0.05 * rng.standard_normal((256, 256))
    return {"spiked": spiked, "full": full, "noise": noise}


def test_signal_rank_is_the_rie_above_the_noise_floor(layers):
    tensors, rep = fp.prune_weights(layers, max_change=None)
    by = {r.name: r for r in rep.layers}
    for name in ("spiked", "full"):
        W = layers[name]
        rec = fw.analyze_matrix(W, model="mp")
        U, s, Vt = np.linalg.svd(W, full_matrices=False)
        xi = sh.rie_singular_values(s, W.shape, rec.sigma)
        r = int(np.sum(xi > sh.noise_floor(W.shape, rec.sigma)))
        assert by[name].rank == by[name].rank_signal == r
        assert by[name].rank >= rec.n_outliers == by[name].rank_outliers
        np.testing.assert_allclose(tensors[name], (U[:, :r] * s[:r]) @ Vt[:r], atol=1e-10)
        assert by[name].stored == "factored"
        assert by[name].params_after == r * sum(W.shape)
    # the full-rank signal needs far more than its outliers, the spikes about their count
    assert by["full"].rank > by["full"].rank_outliers + 5
    assert by["spiked"].rank <= by["spiked"].rank_outliers + 3


def test_noise_layer_left_alone_and_reported(layers):
    tensors, rep = fp.prune_weights(layers)
    r = {x.name: x for x in rep.layers}["noise"]
    assert r.stored == "unchanged" and r.rank_signal == 0
    assert "no component above the noise" in r.note and "no component" in rep.table()
    assert np.array_equal(tensors["noise"], layers["noise"])


def test_noise_floor_is_reproducible_and_scales_with_sigma():
    a = sh.noise_floor((120, 300), 0.1, seed=3)
    assert a == sh.noise_floor((300, 120), 0.1, seed=3, n_threads=1)
    assert sh.noise_floor((120, 300), 0.2, seed=3) == pytest.approx(2 * a, rel=1e-12)
    assert sh.noise_floor((120, 300), 0.0) == 0.0
    assert a > 0


@pytest.mark.parametrize("ratio", [0.6, 0.4])
def test_budget_is_respected_and_split_by_the_estimate(layers, ratio):
    tensors, rep = fp.prune_weights(layers, ratio=ratio)
    eligible = sum(W.size for W in layers.values())
    assert rep.budget == int(ratio * eligible)
    assert rep.params_after <= rep.budget
    by = {r.name: r for r in rep.layers}
    assert by["noise"].stored == "unchanged"  # left alone, its cost counted first
    # the signal components are taken before any filler
    assert by["full"].rank >= min(by["full"].rank_signal, by["full"].rank)
    for name in ("spiked", "full"):
        W, k = layers[name], by[name].rank
        U, s, Vt = np.linalg.svd(W, full_matrices=False)
        np.testing.assert_allclose(tensors[name], (U[:, :k] * s[:k]) @ Vt[:k], atol=1e-10)
    same, rep2 = fp.prune_weights(layers, target_params=rep.budget)
    assert [r.rank for r in rep2.layers] == [r.rank for r in rep.layers]


def test_max_change_raises_the_rank_until_the_change_is_small(layers):
    _, rep0 = fp.prune_weights(layers, max_change=None)
    tensors, rep = fp.prune_weights(layers)  # default max_change = 0.05
    for r0, r in zip(rep0.layers, rep.layers):
        if r0.stored == "unchanged":
            assert r.stored == "unchanged"
            continue
        W = layers[r.name]
        if r.stored == "factored":
            assert r.frob_removed <= 0.05 + 1e-12 and r.rank >= r0.rank
            U, s, Vt = np.linalg.svd(W, full_matrices=False)
            assert np.linalg.norm(s[r.rank - 1:]) / np.linalg.norm(s) > 0.05  # the smallest
        else:
            assert r.stored == "dense" and "max_change" in r.note
            assert np.array_equal(tensors[r.name], W)
    # the spiked layer is mostly noise: a 5 % change needs more than break-even
    assert {r.name: r for r in rep.layers}["spiked"].stored == "dense"
    _, loose = fp.prune_weights(layers, max_change=1.0)
    assert [r.rank for r in loose.layers] == [r.rank for r in rep0.layers]


def test_budget_allocation_prefers_estimated_signal(layers):
    # with room for the signal of both layers and little more, each gets its signal rank
    _, rep0 = fp.prune_weights(layers, max_change=None)
    need = rep0.params_after
    _, rep = fp.prune_weights(layers, target_params=need)
    assert [r.rank for r in rep.layers] == [r.rank for r in rep0.layers]


def test_tiny_budget_zeroes_loudly_and_below_fixed_layers_is_refused(layers):
    eligible = sum(W.size for W in layers.values())
    fixed = layers["noise"].size
    _, rep = fp.prune_weights(layers, target_params=fixed + 900)
    zeroed = [r for r in rep.layers if r.stored == "zeroed"]
    assert zeroed and all("budget" in r.note for r in zeroed)
    assert "warning: the budget left" in rep.table()
    with pytest.raises(ValueError, match="below the 65536 of the 1 layer"):
        fp.prune_weights(layers, target_params=fixed - 1)
    assert eligible > fixed


def test_dense_when_factoring_does_not_pay():
    rng = np.random.default_rng(4)
    U, _ = np.linalg.qr(rng.standard_normal((64, 64)))
    V, _ = np.linalg.qr(rng.standard_normal((64, 64)))
    W = (U * np.linspace(3, 1, 64)) @ V.T + 0.001 * rng.standard_normal((64, 64))
    W[0] += 2.0  # an outlier, so the layer counts as signal
    tensors, rep = fp.prune_weights({"w": W}, sigma=0.001)  # the bulk is signal here
    r = rep.layers[0]
    assert r.rank_signal * 128 >= 64 * 64
    assert r.stored == "dense" and r.params_after == 64 * 64
    assert np.array_equal(tensors["w"], W)


def test_shrink_rie_uses_the_estimates(layers):
    W = layers["full"]
    tensors, rep = fp.prune_weights({"full": W}, shrink="rie")
    rec = fw.analyze_matrix(W, model="mp")
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    xi = sh.rie_singular_values(s, W.shape, rec.sigma)
    k = rep.layers[0].rank
    np.testing.assert_allclose(tensors["full"], (U[:, :k] * xi[:k]) @ Vt[:k], atol=1e-10)


def test_given_sigma_per_layer(layers):
    W = layers["full"]
    _, lo = fp.prune_weights({"full": W}, sigma={"full": 0.01})
    _, hi = fp.prune_weights({"full": W}, sigma=0.04)
    assert lo.layers[0].sigma == 0.01 and hi.layers[0].sigma == 0.04
    assert lo.layers[0].rank_signal > hi.layers[0].rank_signal


def test_to_dict_is_strict_json(layers):
    import json
    _, rep = fp.prune_weights(layers, keep="outliers")
    text = json.dumps(rep.to_dict(), allow_nan=False)
    assert '"signal_kept": null' in text


@pytest.mark.parametrize("kwargs, exc, msg", [
    (dict(ratio=0.0), ValueError, "ratio must be > 0"),
    (dict(ratio=1.5), ValueError, "ratio must be <= 1"),
    (dict(ratio="half"), TypeError, "ratio must be a real number"),
    (dict(target_params=-1), ValueError, "target_params must be >= 0"),
    (dict(ratio=0.5, target_params=10), ValueError, "not both"),
    (dict(ratio=0.5, keep="outliers"), ValueError, "needs keep='signal'"),
    (dict(ratio=0.5, bulk_share=0.1), ValueError, "cannot be combined"),
    (dict(sigma=-1.0), ValueError, "sigma must be >= 0"),
    (dict(max_change=1.5), ValueError, "max_change must be <= 1"),
    (dict(sigma={"other": 0.1}), ValueError, "not pruned"),
    (dict(shrink="hard"), ValueError, "shrink must be one of"),
    (dict(keep="all"), ValueError, "keep must be one of"),
])
def test_bad_arguments(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        fp.prune_weights({"fc1": np.ones((40, 60))}, **kwargs)


def test_cli_prune_default_budget_and_flags(layers, tmp_path, capsys):
    import json

    from fastrmt.cli import main_for_tests
    src = str(tmp_path / "m.npz")
    np.savez(src, **layers, bias=np.zeros(3))
    out = str(tmp_path / "p.npz")
    assert main_for_tests(["prune", src, "--out", out, "--quiet", "--ratio", "0.5",
                           "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["params_after"] <= d["budget"] == int(0.5 * sum(W.size for W in layers.values()))
    with np.load(out) as z:
        assert np.array_equal(z["noise"], layers["noise"]) and np.array_equal(z["bias"],
                                                                              np.zeros(3))
    assert main_for_tests(["prune", src, "--out", out, "--quiet", "--overwrite",
                           "--max-change", "none"]) == 0
    text = capsys.readouterr().out
    assert "unchanged: no component above the noise" in text and "parameters kept" in text
    for bad, msg in ([["--ratio", "0"], "--ratio must be in (0, 1]"],
                     [["--ratio", "0.5", "--target-params", "9"], "not allowed with"],
                     [["--sigma", "-1"], "--sigma must be >= 0"],
                     [["--max-change", "2"], "--max-change must be in [0, 1]"],
                     [["--keep", "outliers", "--ratio", "0.5"], "needs keep='signal'"]):
        assert main_for_tests(["prune", src, "--out", out, "--overwrite", "--quiet",
                               *bad]) == 2
        assert msg in capsys.readouterr().err


def test_prune_file_path_rules(tmp_path):
    import os

    from fastrmt._files import OutputPathError
    src = str(tmp_path / "m.npz")
    np.savez(src, w=0.05 * np.random.default_rng(0).standard_normal((40, 60)))
    link = str(tmp_path / "hard.npz")
    os.link(src, link)
    for target in (src, link):
        with pytest.raises(OutputPathError, match="refusing to overwrite the input file"):
            fp.prune_file(src, target, overwrite=True)
    out = str(tmp_path / "o.npz")
    fp.prune_file(src, out)
    with pytest.raises(OutputPathError, match=r"^out: o\.npz exists in .* \(use overwrite=True\)"):
        fp.prune_file(src, out)
    with pytest.raises(OutputPathError, match="does not exist"):
        fp.prune_file(src, str(tmp_path / "nope" / "o.npz"))
    with pytest.raises(ValueError, match="format"):
        fp.prune_file(src, str(tmp_path / "o.safetensors"))


def test_exactly_low_rank_layer_keeps_its_rank_and_extreme_scales_are_refused():
    W = np.outer(np.arange(60.0), np.arange(1.0, 91.0)) + np.outer(np.ones(60), np.ones(90))
    _, rep = fp.prune_weights({"r": W}, max_change=None)
    assert rep.layers[0].rank_signal == 2  # rounding-level values are never signal
    rng = np.random.default_rng(0)
    A = rng.standard_normal((64, 96)) + np.outer(np.ones(64), np.ones(96))
    for scale in (1e200, 1e-200):
        with pytest.raises(ValueError, match=r"outside \[1e-100, 1e\+100\]"):
            fp.prune_weights({"a": scale * A})
    # the RIE itself is scale-covariant far beyond that range
    s = np.array([3e300, 1e300, 5e299])
    np.testing.assert_allclose(sh.rie_singular_values(s, (3, 9), 1e149),
                               1e300 * sh.rie_singular_values(s / 1e300, (3, 9), 1e-151),
                               rtol=1e-12)


# --- sparse pruning with densities from the heavy tail ----------------------------------
def test_sparse_densities_match_reference():
    rng = np.random.default_rng(3)
    alpha = rng.uniform(2, 6, 12)
    alpha[4] = np.nan                                      # no fit: the middle value
    sizes = rng.integers(1000, 5000, 12).astype(float)
    for frac, spread in ((0.8, 0.1), (0.5, 0.2), (0.3, 0.0)):
        d = fp._sparse_densities(alpha, sizes, frac, spread)
        np.testing.assert_allclose(d, ref.sparse_densities_ref(alpha, sizes, frac, spread),
                                   atol=1e-12)
        np.testing.assert_allclose((d * sizes).sum(), frac * sizes.sum(), rtol=1e-12)
        fin = np.isfinite(alpha)
        assert np.all(np.diff(d[fin][np.argsort(alpha[fin])]) >= 0)   # denser for larger alpha
    # clipping: a budget near 1 keeps the total exact with densities capped at 1
    d = fp._sparse_densities(alpha, sizes, 0.97, 0.3)
    assert d.max() == 1.0 and d.min() >= 0.0
    np.testing.assert_allclose((d * sizes).sum(), 0.97 * sizes.sum(), rtol=1e-12)
    # equal alphas, or one layer: every density is the budget
    np.testing.assert_allclose(fp._sparse_densities(np.full(3, 2.5), sizes[:3], 0.6, 0.2), 0.6)
    np.testing.assert_allclose(fp._sparse_densities(np.array([2.0]), sizes[:1], 0.6, 0.2), 0.6)


def test_prune_sparse_keeps_the_largest_entries_at_the_alpha_densities():
    rng = np.random.default_rng(5)
    # heavy-tailed and Gaussian layers: different alphas
    layers = {"heavy": rng.standard_t(2.5, (300, 400)) * 0.05,
              "gauss": rng.standard_normal((256, 512)) * 0.05,
              "mixed": (rng.standard_t(4, (200, 300)) * 0.05).astype(np.float32),
              "head": rng.standard_normal((10, 64))}
    tensors, rep = fp.prune_sparse(layers, ratio=0.6)
    by = {r.name: r for r in rep.layers}
    assert by["head"].stored == "unchanged" and "min_dim" in by["head"].note
    np.testing.assert_array_equal(tensors["head"], layers["head"])
    big = ["heavy", "gauss", "mixed"]
    sizes = np.array([layers[k].size for k in big], float)
    fitted = {r.name: r.alpha for r in rep.analysis.layers}
    alpha = np.array([fitted[k] for k in big])
    assert np.all(np.isfinite(alpha)) and np.ptp(alpha) > 0.5
    dens = ref.sparse_densities_ref(alpha, sizes, 0.6, 0.1)
    for k, d in zip(big, dens):
        np.testing.assert_array_equal(tensors[k], ref.magnitude_keep_ref(layers[k], d))
        assert tensors[k].dtype == layers[k].dtype and tensors[k].shape == layers[k].shape
        assert by[k].stored == "sparse" and f"density {d:.3f}" in by[k].note
        assert by[k].params_after == np.count_nonzero(tensors[k])
    kept = sum(by[k].params_after for k in big)
    assert abs(kept - 0.6 * sizes.sum()) <= len(big)                 # rounding per layer
    assert rep.budget == round(0.6 * sizes.sum())


def test_prune_sparse_target_params_and_refusals():
    rng = np.random.default_rng(6)
    layers = {"a": rng.standard_normal((100, 120)), "b": rng.standard_normal((80, 90))}
    _, rep = fp.prune_sparse(layers, target_params=5000, spread=0.0)
    assert abs(rep.params_after - 5000) <= 2
    # a budget of nothing zeroes every layer, and says so
    t, rep = fp.prune_sparse(layers, target_params=0)
    assert rep.params_after == 0 and all(r.stored == "zeroed" for r in rep.layers)
    assert not np.any(t["a"]) and "warning" in rep.table() and "zeroed" in rep.notes[0]
    # a budget of everything keeps every layer as it was
    t, rep = fp.prune_sparse(layers, ratio=1.0)
    np.testing.assert_array_equal(t["a"], layers["a"])
    assert rep.params_after == rep.params_before
    with pytest.raises(ValueError, match="needs a budget"):
        fp.prune_sparse(layers)
    with pytest.raises(ValueError, match="needs a budget"):
        fp.prune_sparse(layers, ratio=0.5, target_params=10)
    with pytest.raises(ValueError, match="spread"):
        fp.prune_sparse(layers, ratio=0.5, spread=0.7)
    with pytest.raises(ValueError, match="ratio"):
        fp.prune_sparse(layers, ratio=0.0)
    with pytest.raises(TypeError, match="target_params"):
        fp.prune_sparse(layers, target_params=1.5)


def test_prune_file_sparse(tmp_path):
    rng = np.random.default_rng(7)
    src = tmp_path / "w.npz"
    np.savez(src, a=rng.standard_normal((100, 120)), b=rng.standard_normal((64, 70)))
    out = tmp_path / "p.npz"
    rep = fp.prune_file(src, out, structure="sparse", ratio=0.5)
    with np.load(out) as z:
        assert sum(np.count_nonzero(z[k]) for k in ("a", "b")) == rep.params_after
    with pytest.raises(ValueError, match="low-rank options"):
        fp.prune_file(src, tmp_path / "q.npz", structure="sparse", ratio=0.5, shrink="rie")
    with pytest.raises(ValueError, match="needs a budget"):
        fp.prune_file(src, tmp_path / "q.npz", structure="sparse")
    with pytest.raises(ValueError, match="spread"):
        fp.prune_file(src, tmp_path / "q.npz", spread=0.2)
    with pytest.raises(ValueError, match="structure"):
        fp.prune_file(src, tmp_path / "q.npz", structure="dense")
    assert not (tmp_path / "q.npz").exists()


def test_cli_prune_sparse(tmp_path, capsys):
    from fastrmt.cli import main_for_tests

    rng = np.random.default_rng(8)
    src = tmp_path / "w.npz"
    np.savez(src, a=rng.standard_normal((100, 120)))
    assert main_for_tests(["prune", str(src), "--out", str(tmp_path / "p.npz"), "--quiet",
                           "--structure", "sparse", "--ratio", "0.4"]) == 0
    assert "sparse" in capsys.readouterr().out
    assert main_for_tests(["prune", str(src), "--out", str(tmp_path / "q.npz"),
                           "--spread", "0.2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "spread" in err[0]
    assert not (tmp_path / "q.npz").exists()
