import json
import math
import warnings

import numpy as np
import pytest

from fastrmt import freeprob as fp
from fastrmt.experiment import default_spikes, experiment, fourth_cumulant
from fastrmt.measures import Atoms, Uniform

N = 500


@pytest.fixture(scope="module")
def result():
    return experiment(N, seed=3, eigenvectors=True, spectrum=True)


def test_counts_and_locations_match_the_engine(result):
    s = result.summary()
    right = result.counts["right"]
    assert right["observed"] >= 10
    assert abs(right["predicted"] - right["observed"]) <= 2
    assert s["frac_abs_z_le_3"] >= 0.9
    # rows are rank-matched, most extreme first
    rows = [e for e in result.eigenvalues if e["side"] == "right"]
    assert [e["rank"] for e in rows] == list(range(1, len(rows) + 1))
    obs = np.array([e["observed"] for e in rows])
    assert np.all(np.diff(obs) <= 0) and np.all(obs > result.threshold["right"])
    gam = np.array([e["predicted"] for e in rows])
    np.testing.assert_allclose(gam, fp.classical_locations(Atoms(result.signal_spectrum), 1.0,
                                                           N, len(rows)), rtol=1e-12)
    # the whole spectrum agrees with what was extracted
    np.testing.assert_array_equal(np.sort(result.spectrum)[::-1][:len(rows)], obs)


def test_z_scores_are_computed_from_scale(result):
    for e in result.eigenvalues:
        assert e["z"] == pytest.approx((e["observed"] - e["predicted"]) / e["scale"])
        assert e["scale"] > 0
        assert e["regime"] in ("isolated", "edge", "bulk")


def test_overlaps_of_isolated_spikes():
    # isolated spikes: the projection on the eigenvectors beyond the threshold tends to
    # Phi'(s), and each spike is alone in its component
    res = experiment(N, spikes=[2.5, 3.5, 5.0], seed=3, eigenvectors=True)
    assert [s["component_count"] for s in res.spikes] == [1.0, 1.0, 1.0]
    assert [e["regime"] for e in res.eigenvalues] == ["isolated"] * 3
    d = [abs(s["overlap_obs"] - s["phi_prime_limit"]) for s in res.spikes]
    assert np.mean(d) < 0.08


def test_thresholds_from_the_finite_n_bulk_edge(result):
    u = math.sqrt(2.0)
    edge = u + 0.5 * math.log((u + 1) / (u - 1))     # uniform[-1,1] (+) semicircle(1)
    assert result.edges["right_limit"] == pytest.approx(edge, rel=1e-9)
    bulk = Atoms(result.signal_spectrum[:N - len(result.spikes)])
    w = fp.tracy_widom_width(bulk, 1.0, N)
    assert result.threshold["right"] == pytest.approx(result.edges["right_finite"] + 4 * w)
    assert result.spectrum.shape == (N,)


def test_reproducible_from_recorded_params(result):
    again = experiment(**result.params)
    assert _stable(again) == _stable(result)


def _stable(res):
    """The result as JSON text without the timings."""
    d = res.to_dict()
    d.pop("timings")
    d["summary"].pop("seconds")
    return json.dumps(d, sort_keys=True)


def test_strict_json_has_no_nan(result):
    text = result.to_json()
    assert "NaN" not in text and "Infinity" not in text
    d = json.loads(text)
    assert set(d) >= {"params", "summary", "counts", "eigenvalues", "spikes", "edges",
                      "threshold", "components", "searched", "timings"}


def test_seed_none_is_recorded():
    res = experiment(200, r=4, seed=None)
    assert isinstance(res.params["seed"], int)
    again = experiment(**res.params)
    np.testing.assert_array_equal([e["observed"] for e in again.eigenvalues],
                                  [e["observed"] for e in res.eigenvalues])


def test_close_spikes_are_found_where_the_one_spike_formula_says_absorbed():
    # two spikes 1e-4 apart near 3: Phi_n' << 0, yet W has two outliers
    res = experiment(800, spikes=[3.0, 3.0001], seed=4)
    c = res.counts["right"]
    assert c["observed"] == 2 and c["predicted"] == pytest.approx(2.0, abs=0.01)
    assert c["second_order"] == 0 and c["limit"] == 2
    assert all(abs(e["z"]) < 4 for e in res.eigenvalues)
    assert all(e["spikes"] == [3.0, 3.0001] and e["n_spikes"] == 2 for e in res.eigenvalues)


def test_many_spikes_merged_with_the_bulk():
    # r = n^0.75: the spikes merge with each other and the bulk at finite n
    res = experiment(1024, r_of_n=(1, 0.75), seed=1)
    c = res.counts["right"]
    assert abs(c["predicted"] - c["observed"]) <= 2
    assert c["second_order"] < c["observed"] / 4         # the one-spike formula fails
    e = res.eigenvalues[0]
    assert e["n_spikes"] == 181 and e["spikes"] == [] and e["spike_range"][1] > 3.5
    s = res.summary()
    assert s["frac_abs_z_le_3"] >= 0.95
    assert s["mean_abs_error"] < s["mean_abs_error_limit"]
    assert res.solver_calls == 1


def test_spikes_both_sides_and_in_a_gap():
    # a two-point bulk with a spike in its gap: found in the full spectrum
    res = experiment(600, bulk="two_point", bulk_params={"a": -3.0, "b": 3.0, "p": 0.5},
                     sigma=0.5, spikes=[0.0, 5.0, -5.5], seed=2)
    gap = [e for e in res.eigenvalues if e["side"] == "gap"]
    assert len(gap) == 1 and gap[0]["spikes"] == [0.0]
    assert abs(gap[0]["z"]) < 4
    assert res.counts["right"]["observed"] == 1 and res.counts["left"]["observed"] == 1
    assert "whole spectrum" in res.searched


def test_eigsh_path_solves_once_and_says_what_it_searched():
    res = experiment(600, r=10, seed=5, solver="eigsh")
    assert res.solver_calls == 1
    assert "eigsh" in res.searched and "left: not searched" in res.searched
    dense = experiment(600, r=10, seed=5, solver="dense")
    a = [e["observed"] for e in res.eigenvalues]
    b = [e["observed"] for e in dense.eigenvalues if e["side"] == "right"]
    np.testing.assert_allclose(a, b, rtol=1e-10)


@pytest.mark.parametrize("storage,dtype", [("packed", np.float32), ("matrix-free", np.float64)])
def test_storages_agree(storage, dtype):
    base = experiment(300, r=5, seed=2)
    other = experiment(300, r=5, seed=2, storage=storage, dtype=dtype)
    a = np.array([e["observed"] for e in base.eigenvalues])
    b = np.array([e["observed"] for e in other.eigenvalues])
    np.testing.assert_allclose(a, b, rtol=1e-5 if dtype == np.float32 else 1e-10)


def test_result_exports(result, tmp_path):
    text = result.to_csv(tmp_path / "t.csv")
    assert text.splitlines()[0].startswith("side,rank,observed,predicted")
    assert len(text.splitlines()) == len(result.eigenvalues) + 1
    out = result.plot(tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 10_000 and out.endswith("f.png")
    assert "z" in result.format_table()
    summary = result.format_summary()
    assert "predicted" in summary and "as predicted" not in summary


def test_summary_reports_only_computed_numbers():
    # nothing beyond the thresholds: no errors, no z-scores, and the text says so
    res = experiment(300, spikes=[0.5], seed=1)
    s = res.summary()
    assert s["count_observed"] <= 1
    if s["count_observed"] == 0:
        assert s["max_abs_error"] is None and s["frac_abs_z_le_3"] is None
        assert "z-scores" not in res.format_summary()


def test_plot_leaves_the_global_backend_alone(result, tmp_path):
    import matplotlib

    before = matplotlib.get_backend()
    result.plot(tmp_path / "g.png")
    assert matplotlib.get_backend() == before


def test_bulk_as_a_measure_equals_its_shortcut():
    a = experiment(300, r=5, seed=2)
    b = experiment(300, r=5, seed=2, bulk=Uniform(-1.0, 1.0))
    assert ([e["observed"] for e in a.eigenvalues] == [e["observed"] for e in b.eigenvalues])
    assert ([e["predicted"] for e in a.eigenvalues] == [e["predicted"] for e in b.eigenvalues])
    assert "Uniform" in json.loads(b.to_json())["params"]["bulk"]


def test_default_spikes_straddle_threshold():
    sp = default_spikes(20, Uniform(-1, 1), 1.0)
    assert sp.min() < math.sqrt(2) < sp.max()


def test_fourth_cumulant_values():
    assert fourth_cumulant("gaussian", 2.0) == 0.0
    assert fourth_cumulant("rademacher", 1.0) == -2.0
    assert fourth_cumulant("sparse", 1.0, p=0.25) == pytest.approx(1.0)
    assert fourth_cumulant("student_t", 1.0, df=10.0) == pytest.approx(1.0)
    assert fourth_cumulant("student_t", 1.0, df=3.0) == math.inf


def test_warns_outside_theory():
    with pytest.warns(UserWarning, match="1e6 bulk widths"):
        res = experiment(100, spikes=[1e8], seed=0)
    assert res.counts["right"]["observed"] == 1
    assert abs(res.eigenvalues[0]["observed"] - 1e8) < 1.0


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"n": 4}, ValueError, "n must be >= 8, got 4"),
    ({"n": 100, "spikes": [3.0], "r": 2}, ValueError, "give spikes, or r / r_of_n, not both"),
    ({"n": 100, "r": 2, "r_of_n": (1, 0.5)}, ValueError, "give r or r_of_n, not both"),
    ({"n": 100, "r": 0}, ValueError, "r must be >= 1, got 0"),
    ({"n": 100, "r": 100}, ValueError, "r must be <= 99, got 100"),
    ({"n": 100, "r_of_n": (1, 1.5)}, ValueError, r"r_of_n\[1\] \(alpha\) must be < 1.0"),
    ({"n": 100, "r_of_n": "sqrt"}, TypeError, "r_of_n must be a callable or a"),
    ({"n": 100, "r_of_n": lambda n: "3"}, TypeError, r"r_of_n\(n\) must return an int"),
    ({"n": 100, "spikes": []}, ValueError, "spikes must hold between 1 and n - 1"),
    ({"n": 100, "spikes": [[1.0]]}, ValueError, "spikes must be 1-D"),
    ({"n": 100, "spikes": [np.nan]}, ValueError, "spikes must contain only finite values"),
    ({"n": 100, "sigma": -1.0}, ValueError, "sigma must be > 0.0, got -1.0"),
    ({"n": 100, "bulk": "cauchy"}, ValueError, "bulk must be one of"),
    ({"n": 100, "seed": 1.5}, TypeError, "seed must be None or a non-negative int"),
    ({"n": 100, "seed": -3}, ValueError, "seed must be >= 0, got -3"),
    ({"n": 20000, "spectrum": True}, ValueError, "n must be <= 16384, got 20000"),
    ({"n": 20000, "solver": "dense"}, ValueError, "n must be <= 16384, got 20000"),
    ({"n": 100, "solver": "arpack"}, ValueError, "solver must be one of"),
    ({"n": 100, "eigenvectors": "yes"}, TypeError, "eigenvectors must be a bool"),
    ({"n": 100, "margin": -0.1}, ValueError, "margin must be >= 0.0, got -0.1"),
    ({"n": 100, "spikes": [1e200]}, ValueError, "within 1e100 bulk widths"),
    ({"n": 10**11}, ValueError, "noise matrix .* needs"),
    ({"n": 10**11, "storage": "matrix-free"}, ValueError, "matrix-free' at n = 100000000000"),
])
def test_refused_inputs(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        experiment(**kwargs)
