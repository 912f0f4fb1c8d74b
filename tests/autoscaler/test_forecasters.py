"""Point forecasters: last value, seasonal naive, Holt-Winters; the registry; gap filling."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from autoscaler.forecast.forecast import Forecast, fill_gaps
from autoscaler.forecast.holt_winters import HoltWintersForecaster, HoltWintersSettings
from autoscaler.forecast.last_value import LastValueForecaster, LastValueSettings
from autoscaler.forecast.registry import build_forecaster
from autoscaler.forecast.seasonal_naive import SeasonalNaiveForecaster, SeasonalNaiveSettings

NAN = float("nan")


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]),
        ([1.0, NAN, NAN, 4.0], [1.0, 1.0, 1.0, 4.0]),
        ([NAN, NAN, 5.0, NAN], [5.0, 5.0, 5.0, 5.0]),
        ([NAN, NAN], [0.0, 0.0]),
        ([], []),
    ],
    ids=["no-gaps", "interior-gap", "leading-and-trailing", "all-nan", "empty"],
)
def test_fill_gaps_forward_fills(history: list[float], expected: list[float]) -> None:
    original = np.array(history)
    filled = fill_gaps(original)
    np.testing.assert_array_equal(filled, expected)
    assert np.array_equal(original, history, equal_nan=True)  # input left alone


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([1.0, 2.0, NAN], 2.0),
        ([NAN], 0.0),
        ([], 0.0),
        # A counter reset reads ~0 for one bucket (12 < 0.1 x 940): not demand, like every kind.
        ([900.0, 950.0, 920.0, 940.0, 12.0], 940.0),
        ([900.0, 950.0, 920.0, 940.0, 100.0], 100.0),  # a real drop stays above 10 %
    ],
    ids=["trailing-gap", "all-nan", "empty", "counter-reset", "real-drop"],
)
def test_last_value_forecaster_holds_newest_finite(history: list[float], expected: float) -> None:
    forecaster = LastValueForecaster(LastValueSettings())
    point = forecaster.predict(np.array(history), end_s=600.0, horizon_steps=3)
    np.testing.assert_array_equal(point.mean, [expected] * 3)
    assert point.method == "last-value"


def _seasonal(season_s: float = 600.0, level_window_s: float = 0.0) -> SeasonalNaiveForecaster:
    return SeasonalNaiveForecaster(
        SeasonalNaiveSettings(bucket_s=60, season_s=season_s, level_window_s=level_window_s)
    )


def test_seasonal_naive_copies_last_season_without_level() -> None:
    history = 100.0 + np.arange(15)  # season of ten buckets; last season is buckets 5..14
    point = _seasonal().predict(history, end_s=900.0, horizon_steps=4)
    np.testing.assert_array_equal(point.mean, [105.0, 106.0, 107.0, 108.0])
    assert point.method == "seasonal-naive" and point.note == ""


def test_seasonal_naive_wraps_a_horizon_longer_than_a_season() -> None:
    history = 100.0 + np.arange(10)
    point = _seasonal().predict(history, end_s=600.0, horizon_steps=12)
    np.testing.assert_array_equal(point.mean, [*(100.0 + np.arange(10)), 100.0, 101.0])


def test_seasonal_naive_level_ratio_worked_number() -> None:
    # Docstring: last hour 120, same hour one season ago 100, one season ago at the target
    # minute 150 -> 180. Here an "hour" is 3 buckets and a season is 10 buckets.
    history = np.full(13, 100.0)
    history[3] = 150.0  # step 0 targets bucket 13 - 10 = 3
    history[4] = 50.0
    history[10:13] = 120.0
    point = _seasonal(level_window_s=180).predict(history, end_s=780.0, horizon_steps=2)
    np.testing.assert_allclose(point.mean, [180.0, 60.0])


def test_seasonal_naive_level_ratio_is_clipped() -> None:
    history = np.full(13, 100.0)
    history[10:13] = 1000.0  # ratio 10, a regime change: clipped to 5
    point = _seasonal(level_window_s=180).predict(history, end_s=780.0, horizon_steps=1)
    np.testing.assert_allclose(point.mean, [500.0])


def test_seasonal_naive_fills_gaps_before_copying() -> None:
    history = 100.0 + np.arange(10)
    history[1] = NAN
    history[2] = NAN
    point = _seasonal().predict(history, end_s=600.0, horizon_steps=4)
    np.testing.assert_array_equal(point.mean, [100.0, 100.0, 100.0, 103.0])


def test_seasonal_naive_falls_back_to_last_value_on_short_history() -> None:
    forecaster = SeasonalNaiveForecaster(SeasonalNaiveSettings())  # daily season, 1 h level
    history = np.full(120, 50.0)
    history[-1] = 70.0
    point = forecaster.predict(history, end_s=7200.0, horizon_steps=3)
    np.testing.assert_array_equal(point.mean, [70.0] * 3)
    assert point.method == "last-value"
    assert "needs 25.0 h of history, has 2.0 h" in point.note


def test_registry_builds_a_fresh_forecaster_per_kind() -> None:
    for settings, cls in [
        (LastValueSettings(), LastValueForecaster),
        (SeasonalNaiveSettings(), SeasonalNaiveForecaster),
        (HoltWintersSettings(), HoltWintersForecaster),
    ]:
        first, second = build_forecaster(settings), build_forecaster(settings)
        assert isinstance(first, cls) and first is not second


def test_registry_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown forecaster kind 'arima'; known: last-value"):
        build_forecaster(SimpleNamespace(kind="arima"))


# Holt-Winters on a clean daily sine: 1,000 +- 400 tok/s, 2 % noise, 60 s buckets.
BUCKET_S = 60.0
DAY_BUCKETS = 1440
TRAIN_BUCKETS = 3 * DAY_BUCKETS


def _truth(bucket: np.ndarray) -> np.ndarray:
    centre_s = (bucket + 0.5) * BUCKET_S
    return 1000.0 + 400.0 * np.sin(2 * np.pi * centre_s / 86400.0)


@pytest.fixture(scope="module")
def daily_series() -> np.ndarray:
    rng = np.random.default_rng(20240601)
    buckets = np.arange(TRAIN_BUCKETS + DAY_BUCKETS)
    return _truth(buckets) * (1.0 + rng.normal(0.0, 0.02, buckets.size))


def _holt_winters() -> HoltWintersForecaster:
    return HoltWintersForecaster(
        HoltWintersSettings(bucket_s=BUCKET_S, fit_bucket_s=300, refit_every_s=7 * 86400)
    )


def test_holt_winters_predicts_a_daily_sine(daily_series: np.ndarray) -> None:
    forecaster = _holt_winters()
    point = forecaster.predict(daily_series[:TRAIN_BUCKETS], TRAIN_BUCKETS * BUCKET_S, 5)
    truth = _truth(TRAIN_BUCKETS + np.arange(5))
    assert point.method == "holt-winters" and point.note == ""
    np.testing.assert_allclose(point.mean, truth, rtol=0.03)


def test_holt_winters_state_follows_the_series_between_refits(
    daily_series: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    fits = 0
    real_fit = HoltWintersForecaster._fit

    def counting_fit(self: HoltWintersForecaster, *args: object) -> object:
        nonlocal fits
        fits += 1
        return real_fit(self, *args)

    monkeypatch.setattr(HoltWintersForecaster, "_fit", counting_fit)
    forecaster = _holt_winters()
    firsts = []
    for shift in range(0, 6 * 60 + 1):  # six hours, one bucket at a time, full window
        end = TRAIN_BUCKETS + shift
        point = forecaster.predict(daily_series[shift:end], end * BUCKET_S, 5)
        truth = _truth(end + np.arange(5))
        np.testing.assert_allclose(point.mean, truth, rtol=0.04, err_msg=f"shift {shift}")
        firsts.append(point.mean[0])
    assert fits == 1  # everything after the first call came from the cheap recursion
    # Six hours into a rising sine: the forecast climbed with it (truth: 1,000 -> 1,400).
    assert firsts[-1] - firsts[0] > 300


def test_holt_winters_falls_back_on_short_history() -> None:
    history = np.full(30, 80.0)  # 30 min is 6 coarse buckets of 300 s; 12 are needed
    point = _holt_winters().predict(history, 1800.0, 3)
    np.testing.assert_array_equal(point.mean, [80.0] * 3)
    assert point.method == "last-value"
    assert "needs 12 buckets" in point.note


@pytest.mark.parametrize(
    ("until_s", "expected"),
    [(-10.0, 1.0), (60.0, 1.0), (61.0, 5.0), (150.0, 5.0), (181.0, 9.0), (10_000.0, 9.0)],
    ids=["before-start", "one-step", "into-second", "third-not-started", "all", "past-end"],
)
def test_the_peak_counts_steps_starting_before_until(until_s: float, expected: float) -> None:
    # Steps start at 0, 60, 120, 180 s with uppers 1, 5, 2, 9.
    fc = Forecast(0.0, 60.0, np.zeros(4), np.array([1.0, 5.0, 2.0, 9.0]), 0.95, "test")
    assert fc.horizon_peak(until_s) == expected


@pytest.mark.parametrize(
    ("until_s", "expected"), [(61.0, 5.0), (121.0, 6.5), (10_000.0, 6.5)],
    ids=["two-of-four-steps", "three-of-four", "all"],
)  # fmt: skip
def test_the_calibrated_peak_serves_a_horizon_reaching_the_last_step_but_one(
    until_s: float, expected: float
) -> None:
    uppers = np.array([1.0, 5.0, 2.0, 9.0])
    fc = Forecast(0.0, 60.0, np.zeros(4), uppers, 0.95, "test", calibrated_peak=6.5)
    assert fc.horizon_peak(until_s) == expected
    below_zero = Forecast(0.0, 60.0, np.zeros(4), uppers, 0.95, "test", calibrated_peak=-1.0)
    assert below_zero.horizon_peak(10_000.0) == 0.0


def test_forecast_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="same shape"):
        Forecast(0.0, 60.0, np.zeros(3), np.zeros(4), 0.95, "test")


def test_holt_winters_keeps_saying_it_has_no_season_between_refits() -> None:
    """Under two seasons of history the fit is non-seasonal; every forecast says so, not only
    the one that refitted."""
    settings = HoltWintersSettings(season_s=86400.0, bucket_s=60.0)
    forecaster = HoltWintersForecaster(settings)
    history = 100 + 10 * np.sin(np.arange(6 * 60) / 60.0)  # six hours of one-minute buckets
    notes = [
        forecaster.predict(history[: 300 + k], (300 + k) * 60.0, 5).note for k in range(0, 30, 5)
    ]
    assert all("without season" in note for note in notes)


def test_holt_winters_counts_its_season_in_the_buckets_it_fits() -> None:
    """600 s window buckets are coarser than the 300 s fit bucket: a day is 144 of them, so
    three days of history are enough for a seasonal fit."""
    from autoscaler.forecast.holt_winters import HoltWintersForecaster, HoltWintersSettings

    settings = HoltWintersSettings(bucket_s=600.0, history_s=4 * 86400.0)
    t_s = np.arange(3 * 144) * 600.0
    history = 100 + 50 * np.sin(2 * np.pi * t_s / 86400)
    point = HoltWintersForecaster(settings).predict(history, 3 * 86400.0, 12)
    assert point.method == "holt-winters" and "without season" not in point.note
    truth = 100 + 50 * np.sin(2 * np.pi * (3 * 86400.0 + np.arange(12) * 600) / 86400)
    np.testing.assert_allclose(point.mean, truth, atol=5)


def _break_holt_winters_fits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every statsmodels fit from here on raises; the returned list counts the attempts."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    attempts: list[int] = []

    def boom(*args: object, **kwargs: object) -> None:
        attempts.append(1)
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr(ExponentialSmoothing, "fit", boom)
    return attempts


def test_holt_winters_failed_refit_keeps_the_parameters_and_waits_a_cadence(
    daily_series: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    forecaster = HoltWintersForecaster(
        HoltWintersSettings(bucket_s=BUCKET_S, fit_bucket_s=300, refit_every_s=3600)
    )
    forecaster.predict(daily_series[:TRAIN_BUCKETS], TRAIN_BUCKETS * BUCKET_S, 5)
    attempts = _break_holt_winters_fits(monkeypatch)
    points = []
    for shift in range(1, 121):  # two hours: a refit is due every hour, and fails
        end = TRAIN_BUCKETS + shift
        points.append(forecaster.predict(daily_series[shift:end], end * BUCKET_S, 5))
        np.testing.assert_allclose(points[-1].mean, _truth(end + np.arange(5)), rtol=0.04)
    assert len(attempts) == 2  # once per cadence, not at every call
    assert all(p.method == "holt-winters" for p in points)
    failed = [p.note for p in points if "fit failed" in p.note]
    assert len(failed) == 2 and all("keeping the previous parameters" in n for n in failed)


def test_holt_winters_failed_first_fit_holds_the_last_value_and_says_so(
    daily_series: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break_holt_winters_fits(monkeypatch)
    history = daily_series[:TRAIN_BUCKETS]
    point = _holt_winters().predict(history, TRAIN_BUCKETS * BUCKET_S, 5)
    np.testing.assert_array_equal(point.mean, np.full(5, history[-1]))
    assert point.method == "last-value"
    assert "holt-winters fit failed (LinAlgError: SVD did not converge)" in point.note
