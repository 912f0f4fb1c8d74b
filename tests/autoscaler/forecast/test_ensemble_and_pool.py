"""Ensemble weighting by recent error, the Dynamo baseline's order search, seasonal-naive
weekly, and refitting many models through the pool."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from autoscaler.forecast.ensemble import EnsembleForecaster
from autoscaler.forecast.holt_winters import HoltWintersForecaster
from autoscaler.forecast.refit_pool import RefitPool, refittables
from autoscaler.forecast.registry import build_forecaster, build_with_upper
from autoscaler.forecast.sarimax import SarimaxForecaster
from tests.autoscaler.forecast.series import BUCKET_S, DAY, HORIZON, demand, settings, truth
from tests.fakes import ScriptedForecaster

SERIES = demand(4 * DAY)


def _scaled_truth(factor: float) -> Callable[[float, int], np.ndarray]:
    def means(end_s: float, steps: int) -> np.ndarray:
        origin = int(round(end_s / BUCKET_S))
        return factor * truth(origin + np.arange(steps))

    return means


def _scripted_ensemble(*factors: float) -> EnsembleForecaster:
    ensemble = EnsembleForecaster(
        settings("ensemble", members=[{"kind": "last-value"}] * len(factors), min_errors=5)
    )
    ensemble.members = [ScriptedForecaster(_scaled_truth(f)) for f in factors]
    return ensemble


def test_ensemble_weighs_members_by_inverse_recent_error() -> None:
    # Members 2 %, 4 % and 8 % off the truth: MAEs in ratio 1 : 2 : 4 -> weights 4/7, 2/7, 1/7.
    ensemble = _scripted_ensemble(1.02, 0.96, 1.08)
    actual = truth(np.arange(400))
    first = ensemble.predict(actual[:100], 100 * BUCKET_S, HORIZON)
    assert "last-value#1 0.33" in first.note and "equal until 5" in first.note
    for end in range(101, 140):
        point = ensemble.predict(actual[:end], end * BUCKET_S, HORIZON)
    assert "weights step 1: last-value#1 0.57, last-value#2 0.29, last-value#3 0.14" in point.note
    expected = (4 * 1.02 + 2 * 0.96 + 1 * 1.08) / 7 * truth(end + np.arange(HORIZON))
    np.testing.assert_allclose(point.mean, expected, rtol=1e-6)
    assert point.method == "ensemble"


def test_ensemble_survives_a_failing_member() -> None:
    ensemble = _scripted_ensemble(1.0, 1.0)
    ensemble.members[1] = ScriptedForecaster(1.0, fail=lambda: RuntimeError("boom"))
    point = ensemble.predict(truth(np.arange(50)), 50 * BUCKET_S, HORIZON)
    np.testing.assert_allclose(point.mean, truth(50 + np.arange(HORIZON)))
    assert "last-value#2 failed (RuntimeError: boom)" in point.note
    assert "last-value#1 1.00, last-value#2 0.00" in point.note


def test_ensemble_of_real_members_beats_its_worst_member_once_weighted() -> None:
    ensemble = build_forecaster(
        settings("ensemble", members=[{"kind": "kalman"}, {"kind": "last-value"}], min_errors=5)
    )
    start = 3 * DAY
    for end in range(start, start + 12):
        point = ensemble.predict(SERIES[end - start : end], end * BUCKET_S, HORIZON)
    weights = point.note.split(";")[0]
    assert "kalman" in weights and "equal until" not in weights
    kalman_weight = float(weights.split("kalman ")[1].split(",")[0])
    assert kalman_weight > 0.5  # the seasonal member is better half an hour out


def test_arima_per_interval_default_searches_an_order_and_holds_one_step() -> None:
    forecaster = build_forecaster(settings("arima-per-interval"))
    history = SERIES[: 2 * DAY]
    point = forecaster.predict(history, history.size * BUCKET_S, HORIZON)
    assert point.method == "arima-per-interval" and point.note.startswith("ARIMA(")
    assert np.all(point.mean == point.mean[0])  # Dynamo's one-step value, held flat
    assert abs(point.mean[0] / history[-1] - 1) < 0.1
    # Asked again for the same interval, it does not fit again (same answer, no cost).
    again = forecaster.predict(history, history.size * BUCKET_S, 3)
    np.testing.assert_array_equal(again.mean, point.mean[:3])


@pytest.mark.parametrize(
    ("history_len", "method", "note"),
    [
        (3, "last-value", "arima-per-interval needs 5 buckets, has 3"),
        (50, "arima-per-interval", "ARIMA(1, 1, 1) with intercept"),  # d = 1 < 2: intercept
    ],
    ids=["too-short", "enough"],
)
def test_arima_per_interval_short_history(history_len: int, method: str, note: str) -> None:
    forecaster = build_forecaster(settings("arima-per-interval", order=(1, 1, 1)))
    point = forecaster.predict(SERIES[:history_len], history_len * BUCKET_S, 2)
    assert (point.method, point.note) == (method, note)
    assert np.all(np.isfinite(point.mean))
    if method == "last-value":  # Dynamo answers the last value until it has 5 points
        np.testing.assert_array_equal(point.mean, SERIES[history_len - 1])


def test_seasonal_naive_weekly_season_copies_last_week() -> None:
    week = 7 * DAY
    history = np.tile(np.arange(week, dtype=float) + 100.0, 2)  # two identical weeks
    forecaster = build_forecaster(
        settings("seasonal-naive", season_s=604800.0, history_s=15 * 86400.0, level_window_s=0)
    )
    point = forecaster.predict(history, history.size * BUCKET_S, HORIZON)
    np.testing.assert_array_equal(point.mean, 100.0 + np.arange(HORIZON))
    assert point.method == "seasonal-naive"


@pytest.mark.parametrize("executor", ["thread", "process"], ids=["threads", "processes"])
def test_refit_pool_installs_fitted_states(executor: str) -> None:
    kinds = ["kalman", "sarimax", "mstl"]
    forecasters = [build_forecaster(settings(kind)) for kind in kinds]
    ensemble = build_forecaster(settings("ensemble"))
    end = 3 * DAY
    work = [(f, SERIES[:end], end * BUCKET_S) for f in [*forecasters, ensemble]]
    work.append((build_forecaster(settings("kalman")), np.zeros(end), end * BUCKET_S))
    with RefitPool(workers=2, executor=executor) as pool:  # type: ignore[arg-type]
        report = pool.refit(work)
    # kalman, sarimax, mstl, and the ensemble's sarimax and holt-winters members
    # (last-value has no parameters); the all-zero history has nothing to fit.
    assert (report.fitted, report.skipped, report.failed) == (5, 1, 0)
    for forecaster in forecasters:
        assert forecaster._state is not None  # type: ignore[attr-defined]
    members = refittables(ensemble)
    assert [type(m) for m in members] == [SarimaxForecaster, HoltWintersForecaster]
    assert all(m._state is not None for m in members)  # type: ignore[attr-defined]


def test_installed_state_is_used_without_an_inline_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    forecaster = build_forecaster(settings("sarimax"))
    end = 3 * DAY
    with RefitPool(workers=1, executor="thread") as pool:
        pool.refit([(forecaster, SERIES[:end], end * BUCKET_S)])

    def no_fit(*args: object) -> None:
        raise AssertionError("fitted inline")

    monkeypatch.setattr(type(forecaster), "fit", no_fit)
    point = forecaster.predict(SERIES[1 : end + 1], (end + 1) * BUCKET_S, HORIZON)
    assert point.method == "sarimax"


def test_conformal_wrapper_gives_every_new_kind_an_upper_quantile() -> None:
    for kind in ["sarimax", "mstl", "kalman", "ensemble"]:
        upper = build_with_upper(settings(kind))
        end = 3 * DAY
        forecast = upper.forecast(SERIES[:end], end * BUCKET_S, HORIZON)
        assert np.all(forecast.upper >= forecast.mean) and forecast.method == kind
