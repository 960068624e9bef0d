import json
import math

import numpy as np
import pytest

from fastrmt.experiment import bulk_measure, default_spikes, experiment
from fastrmt.measures import Uniform

N = 500


@pytest.fixture(scope="module")
def result():
    return experiment(N, seed=3, eigenvectors=True, spectrum=True)


def test_outliers_match_phi_within_theory_error(result):
    s = result.summary()
    assert s["n_predicted"] >= 10
    assert s["n_spurious"] == 0
    # a prediction may be missed only next to the threshold, where Phi'(s) is small and
    # the outlier's fluctuation is largest
    missed = [r for r in result.rows if r["status"] == "missed"]
    assert len(missed) <= 1
    margin = result.params["margin"]
    assert all(r["phi_finite"] < result.threshold["right"] + 2 * margin for r in missed)
    assert s["n_matched"] == s["n_predicted"] - len(missed)
    # Fluctuations of outliers with delocalized spikes are Gaussian, O(n^-1/2).
    assert s["mean_abs_error"] < 1.5 / math.sqrt(N)
    assert s["max_abs_error"] < 6.0 / math.sqrt(N)
    # eigenvector overlaps: projection on the outlier space tends to Phi'(s)
    assert s["max_overlap_error"] < 0.25
    matched = [r for r in result.rows if r["status"] == "matched"]
    d = np.mean([abs(r["overlap_obs"] - r["overlap_pred"]) for r in matched])
    assert d < 0.05


def test_absorbed_spikes_are_predicted_absorbed(result):
    absorbed = [r for r in result.rows if r["status"] == "absorbed"]
    assert absorbed, "default spikes include some below the threshold"
    assert not any(r["predicted_outlier"] for r in absorbed)
    # uniform[-1, 1], sigma = 1: Phi'(s) = 1 - 1/(s^2 - 1) > 0 iff s > sqrt(2) (limit)
    assert all(r["status"] == "absorbed" for r in result.rows if r["spike"] < math.sqrt(2))
    assert all(r["spike"] > math.sqrt(2) for r in result.rows if r["status"] == "matched")


def test_edges_predicted_vs_observed(result):
    # uniform[-1,1] (+) semicircle(1): right edge Phi(u*) with u*^2 = 2: sqrt2 + 0.5 log((sqrt2+1)/(sqrt2-1))
    u = math.sqrt(2.0)
    edge = u + 0.5 * math.log((u + 1) / (u - 1))
    assert result.edges["right_limit"] == pytest.approx(edge, rel=1e-9)
    assert abs(result.edges["right_observed"] - edge) < 6 * N ** (-2 / 3)
    assert result.spectrum.shape == (N,)


def test_reproducible_from_recorded_params(result):
    again = experiment(**result.params)
    assert _stable(again) == _stable(result)


def _stable(res):
    """The result as JSON text without the timings (NaN-safe comparison)."""
    d = res.to_dict()
    d.pop("timings")
    d["summary"].pop("seconds")
    return json.dumps(d, sort_keys=True)


def test_seed_none_is_recorded():
    res = experiment(200, r=4, seed=None)
    assert isinstance(res.params["seed"], int)
    again = experiment(**res.params)
    np.testing.assert_array_equal([r["observed"] for r in again.rows],
                                  [r["observed"] for r in res.rows])


def test_r_of_n_and_explicit_spikes():
    res = experiment(400, r_of_n=(0.5, 0.5), seed=1)
    assert len(res.rows) == 10
    res = experiment(400, spikes=[3.0, 4.0, -3.5], seed=1)
    sides = sorted(r["side"] for r in res.rows)
    assert sides == ["left", "right", "right"]
    assert all(r["status"] == "matched" for r in res.rows)
    left = [r for r in res.rows if r["side"] == "left"][0]
    assert left["observed"] < res.edges["left_limit"]


@pytest.mark.parametrize("storage,dtype", [("packed", np.float32), ("matrix-free", np.float64)])
def test_storages_agree(storage, dtype):
    base = experiment(300, r=5, seed=2)
    other = experiment(300, r=5, seed=2, storage=storage, dtype=dtype)
    a = np.array([r["observed"] for r in base.rows])
    b = np.array([r["observed"] for r in other.rows])
    np.testing.assert_allclose(a, b, rtol=1e-5 if dtype == np.float32 else 1e-10)


def test_result_exports(result, tmp_path):
    d = json.loads(result.to_json())
    assert set(d) >= {"params", "summary", "rows", "edges", "threshold", "spurious", "timings"}
    text = result.to_csv(tmp_path / "t.csv")
    assert text.splitlines()[0].startswith("spike,side")
    assert len(text.splitlines()) == len(result.rows) + 1
    out = result.plot(tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 10_000 and out.endswith("f.png")
    assert "matched" in result.format_table() and "error" in result.format_summary()


def test_default_spikes_straddle_threshold():
    sp = default_spikes(20, Uniform(-1, 1), 1.0)
    assert sp.min() < math.sqrt(2) < sp.max()
    assert bulk_measure("two_point", {"low": -1.0, "high": 1.0, "weight": 0.0}).support()


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"n": 4}, ValueError, "n must be >= 8, got 4"),
    ({"n": 100, "spikes": [3.0], "r": 2}, ValueError, "give spikes, or r / r_of_n, not both"),
    ({"n": 100, "r": 2, "r_of_n": (1, 0.5)}, ValueError, "give r or r_of_n, not both"),
    ({"n": 100, "r": 0}, ValueError, "r must be >= 1, got 0"),
    ({"n": 100, "r": 50}, ValueError, "r must be <= 25, got 50"),
    ({"n": 100, "r_of_n": (1, 1.5)}, ValueError, r"r_of_n\[1\] \(alpha\) must be < 1.0"),
    ({"n": 100, "r_of_n": "sqrt"}, TypeError, "r_of_n must be a callable or a"),
    ({"n": 100, "spikes": []}, ValueError, "spikes must hold between 1 and n/4"),
    ({"n": 100, "spikes": [[1.0]]}, ValueError, "spikes must be 1-D"),
    ({"n": 100, "spikes": [np.nan]}, ValueError, "spikes must contain only finite values"),
    ({"n": 100, "sigma": -1.0}, ValueError, "sigma must be > 0.0, got -1.0"),
    ({"n": 100, "bulk": "cauchy"}, ValueError, "bulk must be one of"),
    ({"n": 100, "seed": 1.5}, TypeError, "seed must be None or a non-negative int"),
    ({"n": 100, "seed": -3}, ValueError, "seed must be >= 0, got -3"),
    ({"n": 9000, "spectrum": True}, ValueError, "n must be <= 8000, got 9000"),
    ({"n": 100, "eigenvectors": "yes"}, TypeError, "eigenvectors must be a bool"),
    ({"n": 100, "margin": -0.1}, ValueError, "margin must be >= 0.0, got -0.1"),
])
def test_refused_inputs(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        experiment(**kwargs)
