"""The hybrid's holdout choice of forecast (the hybrid, less of the network, the smoothing
alone, or seasonal naive) and its split-conformal intervals."""
import numpy as np
import pytest

from rnnkit.forecast import Forecaster
from rnnkit.forecast.model import CANDIDATES, conformal_quantiles, seasonal_naive


def jagged_season(n=120, seed=0):
    """A season of 12 random values repeated with almost no noise: seasonal naive is near exact."""
    rng = np.random.default_rng(seed)
    return 10 + np.tile(rng.standard_normal(12), n // 12 + 1)[:n] + 1e-3 * rng.standard_normal(n)


@pytest.fixture(scope="module")
def jagged_fit():
    y = jagged_season()
    return y, Forecaster(horizon=6, season=12, ensemble=2, epochs=3, random_state=0).fit(y)


def test_holdout_picks_the_candidate_with_the_least_error_and_keeps_every_candidates_error(jagged_fit):
    _, f = jagged_fit
    assert set(f.holdout_errors_) == set(CANDIDATES)          # no trend: no damped candidates
    assert not f.settings_["trend"] and not f.settings_["damped"]
    assert f.settings_["forecast"] == min(f.holdout_errors_, key=f.holdout_errors_.get) == "seasonal_naive"


def test_flattening_trend_is_damped_on_the_holdout_and_the_damped_model_round_trips(tmp_path):
    t = np.arange(96)
    y = 20 + 40 * (1 - np.exp(-t / 25)) + 0.3 * np.random.default_rng(0).standard_normal(96)   # growth that levels off
    f = Forecaster(method="hybrid", horizon=6, diff=1, ensemble=1, epochs=2).fit(y)
    names = set(f.holdout_errors_)
    assert {"hybrid", "damped_hybrid", "damped_smoothing", "seasonal_naive"} <= names and len(names) == 7
    best = min(f.holdout_errors_, key=f.holdout_errors_.get)
    assert best == "damped_" + f.settings_["forecast"] and f.settings_["damped"]
    assert all(net.es.damped and 0.8 < net.es.phi < 0.98 for net in f.ensemble_.nets)
    f.save(tmp_path / "d.rnnkit")
    g = Forecaster.load(tmp_path / "d.rnnkit")
    assert g.ensemble_.nets[0].es.damped
    np.testing.assert_allclose(g.predict(y), f.predict(y))


def test_chosen_seasonal_naive_repeats_the_last_season_of_the_history(jagged_fit):
    y, f = jagged_fit
    p, (lo, hi) = f.predict(y[:100], return_interval=True)
    np.testing.assert_array_equal(p, y[88:94])
    assert np.all(lo <= p) and np.all(p <= hi)


def test_chosen_forecast_survives_a_save_and_load(jagged_fit, tmp_path):
    y, f = jagged_fit
    f.save(tmp_path / "s.rnnkit")
    g = Forecaster.load(tmp_path / "s.rnnkit")
    assert g.settings_["forecast"] == "seasonal_naive"
    np.testing.assert_array_equal(g.predict(y), f.predict(y))


def test_file_from_before_the_choice_forecasts_with_the_full_hybrid(jagged_fit):
    y, f = jagged_fit
    config, arrays = f._file_contents()
    config = {**config, "settings": {k: v for k, v in config["settings"].items() if k != "forecast"}}
    g = Forecaster._from_file(config, arrays)
    mu, sigma = g.hybrid_scale_
    z = g._hybrid_z(y)
    expected = np.median(g.ensemble_.forecasts(z), axis=0) * sigma + mu
    np.testing.assert_allclose(g.predict(y), np.exp(expected) if g.settings_["log"] else expected)


def test_blend_weights_scale_only_the_networks_correction(jagged_fit):
    y, f = jagged_fit
    z = f._hybrid_z(y)
    net = f.ensemble_.nets[0]
    base, what = net.forecast_parts(z)
    np.testing.assert_allclose(net.forecast(z, 0.5), base + 0.5 * what)
    blends = f.ensemble_.forecast_blends(z, [1.0, 0.0])
    np.testing.assert_allclose(blends[0], f.ensemble_.forecast(z))
    np.testing.assert_allclose(blends[1], f.ensemble_.forecast(z, 0.0))


def test_short_series_without_a_holdout_keeps_the_full_hybrid(caplog):
    y = jagged_season(20)                                   # 14 steps before the tail: one held-out origin
    f = Forecaster(horizon=6, ensemble=1, epochs=1).fit(y)
    assert f.settings_["forecast"] == "hybrid" and not hasattr(f, "holdout_errors_")
    assert "in-sample residuals" in caplog.text


def test_seasonal_naive_repeats_the_last_season_and_is_naive_without_one():
    y = np.arange(10.0)[:, None]
    np.testing.assert_array_equal(seasonal_naive(y, 4, 6)[:, 0], [6, 7, 8, 9, 6, 7])
    np.testing.assert_array_equal(seasonal_naive(y, 1, 3)[:, 0], [9, 9, 9])


def test_conformal_bounds_are_an_order_statistic_of_absolute_residuals_growing_with_the_step():
    res = np.arange(19.0)[:, None, None] * np.array([1, -1])[None, :, None]   # N = 19, steps of sizes 0 … 18
    lo, hi = conformal_quantiles(res, 0.2)                  # ⌈20·0.8⌉ = 16th smallest |r|
    np.testing.assert_array_equal(hi[:, 0], [15, 15]) and np.testing.assert_array_equal(lo, -hi)
    lo, hi = conformal_quantiles(res[:5], 0.1)              # too few for the level: the largest
    assert hi[0, 0] == 4.0
    res = np.stack([np.full((2, 1), 3.0), np.full((2, 1), 1.0)], axis=1)      # (N=2, h=2, C=1): step 2 surer
    np.testing.assert_array_equal(conformal_quantiles(res, 0.5)[1][:, 0], [3.0, 3.0])
