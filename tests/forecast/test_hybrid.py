"""The smoothing/LSTM hybrid (issue 21): its hand-written gradient through the smoothing
recursion and the network, the "auto" decisions, the default forecaster, files, intervals."""
import numpy as np
import pytest

from _gradcheck import central_difference
from rnnkit.forecast import Forecaster, backtest
from rnnkit.forecast.auto import detect_season, has_drift, kpss, n_diffs, wants_log
from rnnkit.forecast.baselines import SeasonalNaive
from rnnkit.forecast.hybrid import HybridNet, Smoothing
from rnnkit.forecast.metrics import mase
from rnnkit.forecast.model import CANDIDATES


def airline_like(n=144, seed=0):
    """A positive monthly series with a log-linear trend and a multiplicative season."""
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return 120 * np.exp(0.01 * t) * (1 + 0.2 * np.sin(2 * np.pi * t / 12)) * np.exp(0.02 * rng.standard_normal(n))


def small_series(n=60, seed=0):
    t = np.arange(n)
    return 0.05 * t + np.sin(2 * np.pi * t / 6) + 0.2 * np.random.default_rng(seed).standard_normal(n)


# -- the gradient, float64 central differences -------------------------------------------------------------
@pytest.mark.parametrize("m, trend, cell, damped", [(6, True, "lstm", False), (6, False, "lstm", False),
                                                    (1, True, "lstm", False), (1, False, "gru", False),
                                                    (6, True, "lstm", True), (1, True, "gru", True)])
def test_hybrid_gradient_matches_central_differences_through_smoothing_and_network(m, trend, cell, damped):
    z = small_series()
    net = HybridNet(m, trend, lookback=8, horizon=4, cell=cell, hidden_size=5, dtype=np.float64, seed=1,
                    damped=damped)
    net.es.start_from(z)
    net.es.params["alpha"][0], net.es.params["level0"][0] = 0.3, 0.2        # away from the defaults' symmetry
    ends = np.arange(7, len(z) - 4)
    net.loss_backward(z, ends)
    analytic = {k: v.copy() for k, v in net.named_grads().items()}
    loss = lambda: net.loss_backward(z, ends, backward=False)  # noqa: E731
    rng = np.random.default_rng(0)
    names = set()
    for name, p in net.named_parameters().items():
        flat = p.reshape(-1)
        for j in rng.choice(flat.size, size=min(flat.size, 6), replace=False):
            num = central_difference(loss, flat, j)
            ana = analytic[name].reshape(-1)[j]
            assert abs(num - ana) <= 1e-6 * max(1.0, abs(num)), f"{name}[{j}]: numeric {num} vs analytic {ana}"
        names.add(name.split(".")[0])
    assert names == {"es", "rnn", "head"}
    assert {"es.alpha", "es.level0"} <= set(analytic)
    assert ("es.beta" in analytic) == trend and ("es.season0" in analytic) == (m > 1)
    assert ("es.phi" in analytic) == damped


@pytest.mark.parametrize("damped", [False, True])
def test_smoothing_gradient_alone_reaches_coefficients_and_start(damped):
    z = small_series(40)
    es = Smoothing(m=4, trend=True, damped=damped, phi=0.9).start_from(z)
    rng = np.random.default_rng(3)
    dl, db, ds, de = rng.standard_normal(40), rng.standard_normal(40), rng.standard_normal(44), rng.standard_normal(40)
    dK = rng.standard_normal(5)                              # a loss on the trend's k-step shares K_k too

    def loss():
        lev, tr, S, err = es(z, keep_cache=False)
        return float(dl @ lev + db @ tr + ds @ S + de @ err + dK @ es.trend_steps(5)[0])

    es(z)
    es.backward(dl, db, ds, de, dphi=float(dK @ es.trend_steps(5)[1]))
    assert ("phi" in es.params) == damped
    for name, p in es.params.items():
        for j in range(p.size):
            num = central_difference(loss, p.reshape(-1), j)
            assert es.grads[name].reshape(-1)[j] == pytest.approx(num, rel=1e-6, abs=1e-8), name


def test_smoothing_follows_holt_winters_equations():
    z = small_series(30)
    es = Smoothing(m=3, trend=True, alpha=0.4, beta=0.2, gamma=0.3).start_from(z)
    lev, tr, S, err = es(z)
    a, b, g = es.coefficients()
    assert (a, b, g) == pytest.approx((0.4, 0.2, 0.3))
    l, bb, s = es.params["level0"][0], es.params["trend0"][0], list(es.params["season0"])
    for t in range(30):
        e = z[t] - s[t] - (l + bb)
        l_new = a * (z[t] - s[t]) + (1 - a) * (l + bb)
        bb = b * (l_new - l) + (1 - b) * bb
        l = l_new
        s.append(g * (z[t] - l) + (1 - g) * s[t])
        assert (lev[t], tr[t], err[t]) == pytest.approx((l, bb, e))
    np.testing.assert_allclose(S, s)


def test_damped_trend_follows_gardner_mckenzie_equations_and_flattens_the_forecast():
    z = small_series(30)
    es = Smoothing(m=1, trend=True, alpha=0.4, beta=0.2, damped=True, phi=0.9).start_from(z)
    lev, tr, _, err = es(z)
    assert es.phi == pytest.approx(0.9)
    l, b = es.params["level0"][0], es.params["trend0"][0]
    for t in range(30):
        e = z[t] - (l + 0.9 * b)
        l_new = 0.4 * z[t] + 0.6 * (l + 0.9 * b)
        b = 0.2 * (l_new - l) + 0.8 * 0.9 * b
        l = l_new
        assert (lev[t], tr[t], err[t]) == pytest.approx((l, b, e))
    K, _ = es.trend_steps(60)
    assert K[0] == pytest.approx(0.9) and K[-1] == pytest.approx(0.9 * (1 - 0.9 ** 60) / 0.1)
    np.testing.assert_array_equal(Smoothing(m=1, trend=True).trend_steps(3)[0], [1, 2, 3])


# -- the "auto" decisions ---------------------------------------------------------------------------------
def test_season_is_found_from_autocorrelation_or_a_pandas_index():
    assert detect_season(airline_like()) == 12
    assert detect_season(np.random.default_rng(0).standard_normal(120)) == 1
    pd = pytest.importorskip("pandas")
    idx = pd.date_range("2000-01-01", periods=40, freq="QS")
    assert detect_season(np.random.default_rng(1).standard_normal(40), idx) == 4


def test_log_is_chosen_when_the_spread_grows_with_the_level():
    t = np.arange(144)
    assert wants_log(airline_like(), 12)
    additive = 300 + t + 20 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).standard_normal(144)
    assert not wants_log(additive, 12)
    assert not wants_log(additive - 400, 12)                # values <= 0: never the log


def test_differencing_test_tells_a_walk_from_noise_and_a_drift_from_none():
    rng = np.random.default_rng(0)
    noise, walk = rng.standard_normal(200), np.cumsum(rng.standard_normal(200))
    assert kpss(noise) < 0.463 < kpss(walk)
    assert n_diffs(noise) == 0 and n_diffs(walk) == 1
    assert has_drift(walk + 0.5 * np.arange(200)) and not has_drift(walk)


# -- the default forecaster -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def default_fit():
    y = airline_like()
    return y, Forecaster(horizon=12).fit(y[:-12])


def test_default_forecaster_is_the_hybrid_with_decided_settings(default_fit):
    _, f = default_fit
    s = f.settings_
    assert s["method"] == "hybrid" and s["season"] == 12 and s["log"] and s["trend"]
    assert s["ensemble"] == len(f.ensemble_.nets) == 5 and s["lookback"] == 24


def test_default_forecaster_beats_seasonal_naive_on_a_trending_seasonal_series(default_fit):
    y, f = default_fit
    p, (lo, hi) = f.predict(y[:-12], return_interval=True)
    assert p.shape == lo.shape == hi.shape == (12,) and np.all(lo < p) and np.all(p < hi)
    snaive = SeasonalNaive(12).predict(12, y[:-12])[:, 0]
    assert mase(y[-12:], p, y[:-12], 12) < 0.5 * mase(y[-12:], snaive, y[:-12], 12)


def test_forecast_is_the_median_of_the_members(default_fit):
    y, f = default_fit
    z = f._hybrid_z(y[:-12])
    weight = CANDIDATES[f.settings_["forecast"]]     # the share of the network the holdout chose
    assert weight is not None
    members = f.ensemble_.forecasts(z, weight)        # (5, 12)
    mu, sigma = f.hybrid_scale_
    np.testing.assert_allclose(f.predict(y[:-12]), np.exp(np.median(members, axis=0) * sigma + mu))


def test_hybrid_save_load_round_trip_predicts_the_same(default_fit, tmp_path):
    y, f = default_fit
    f.save(tmp_path / "h.rnnkit")
    g = Forecaster.load(tmp_path / "h.rnnkit")
    assert g.settings_ == f.settings_
    p, (lo, hi) = f.predict(y, return_interval=True)
    q, (lo2, hi2) = g.predict(y, return_interval=True)
    np.testing.assert_allclose(q, p)
    np.testing.assert_allclose(lo2, lo)


def test_explicit_window_settings_keep_the_windowed_network():
    y = small_series(80) + 5
    for kw in (dict(lookback=6), dict(scaler="standard"), dict(diff=1), dict(strategy="recursive"),
               dict(method="window")):
        f = Forecaster(horizon=2, hidden_size=4, epochs=1, **kw).fit(y)
        assert f.settings_["method"] == "window" and hasattr(f, "rnn_"), kw
    f = Forecaster(lookback=6, horizon=2, hidden_size=4, epochs=1).fit(np.c_[y, y[::-1]])
    assert f.settings_ == {"method": "window", "lookback": 6, "scaler": "standard", "diff": 0,
                           "seasonal_diff": 0, "season": 1, "epochs": 1, "ensemble": 1}
    f = Forecaster(horizon=2, hidden_size=4, interval="insample").fit(np.c_[y, y[::-1]])     # epochs "auto"
    assert f.settings_["method"] == "window" and f.n_epochs_ == 100


def test_model_file_from_before_auto_settings_still_loads():
    y = small_series(80) + 5
    f = Forecaster(lookback=6, horizon=2, hidden_size=4, epochs=2, diff=1, scaler="log").fit(y)
    config, arrays = f._file_contents()
    old = {k: v for k, v in config.items() if k != "settings"}
    old["params"] = {k: v for k, v in config["params"].items() if k not in ("method", "ensemble")}
    old["params"].update(season=1, seasonal_diff=0, epochs=2)           # as the old defaults wrote them
    g = Forecaster._from_file(old, arrays)
    np.testing.assert_allclose(g.predict(y), f.predict(y))


def test_hybrid_refuses_covariates_and_several_targets_in_one_line():
    y = small_series(80) + 5
    with pytest.raises(ValueError, match="method='hybrid' forecasts one series without covariates"):
        Forecaster(method="hybrid", horizon=2).fit(y, future_covariates=y[:, None])
    with pytest.raises(ValueError, match="ensemble=3 needs method='hybrid'"):
        Forecaster(method="window", ensemble=3).fit(y)


def test_clone_and_set_params_keep_the_auto_settings():
    sklearn = pytest.importorskip("sklearn")
    f = Forecaster(horizon=3)
    g = sklearn.base.clone(f).set_params(ensemble=2)
    assert g.get_params()["method"] == "auto" and g.ensemble == 2 and f.ensemble == "auto"


def test_hybrid_intervals_cover_about_nominal_in_a_backtest():
    t = np.arange(240)
    y = 50 + 10 * np.sin(2 * np.pi * t / 12) + 2 * np.random.default_rng(4).standard_normal(240)
    f = Forecaster(horizon=3, alpha=0.2, ensemble=2, epochs=10, random_state=0)
    r = backtest(f, y, 180, season=12, baselines=False)
    assert f.settings_["method"] == "hybrid"
    assert 0.65 <= r["interval"]["coverage"] <= 0.95, r["interval"]["coverage"]


def test_cli_train_defaults_are_the_forecaster_defaults():
    from rnnkit.cli import build_parser
    from rnnkit.commands.forecast import _model

    args = build_parser().parse_args(["forecast", "train", "--data", "x.csv", "--out", "run"])
    cli = _model(args).get_params()
    own = Forecaster().get_params()
    assert {k: v for k, v in cli.items() if k != "validation_fraction"} == \
        {k: v for k, v in own.items() if k != "validation_fraction"}
