"""The rolling-origin engine: what each forecaster is fed, and scores on known series."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import pytest

from autoscaler.backtest.evaluate import score
from autoscaler.backtest.rolling import horizon_steps, make_settings, rolling_origin
from autoscaler.backtest.series import DemandSeries
from autoscaler.forecast import registry
from autoscaler.forecast.settings import ForecastSettingsBase
from tests.fakes import ScriptedForecaster


class ScriptedSettings(ForecastSettingsBase):
    kind: Literal["scripted"] = "scripted"


def series_of(values: Any, bucket_s: float = 60.0, start_s: float = 0.0) -> DemandSeries:
    return DemandSeries(start_s, bucket_s, np.asarray(values, float), "tokens/s", "t", "test")


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[ScriptedForecaster]]:
    """Registers kind "scripted"; yields the forecasters built (each records its calls)."""
    built: list[ScriptedForecaster] = []
    truth: dict[str, DemandSeries] = {}

    def factory(settings: Any) -> ScriptedForecaster:
        def oracle(end_s: float, steps: int) -> np.ndarray:
            s = truth["series"]
            first = round((end_s - s.start_s) / s.bucket_s)
            return s.values[first : first + steps]

        forecaster = ScriptedForecaster(oracle)
        built.append(forecaster)
        return forecaster

    monkeypatch.setitem(registry.FORECASTERS, "scripted", (ScriptedSettings, factory))
    monkeypatch.setattr(
        "autoscaler.backtest.rolling.FORECASTERS", registry.FORECASTERS, raising=True
    )
    built.append(truth)  # type: ignore[arg-type]  # the test hands the series over here
    yield built


def test_feeds_the_window_ending_at_each_origin(scripted: list[Any]) -> None:
    truth = scripted.pop()
    series = series_of(np.arange(20.0) + 100, start_s=600.0)
    truth["series"] = series
    settings = make_settings("scripted", 60.0, history_s=300.0)  # a 5-bucket window
    run = rolling_origin(series, settings, horizon_steps=3, stride=4)
    (forecaster,) = scripted
    # Origins 1, 5, 9, 13 (the last whose 3-step horizon and the one more step the engine
    # forecasts fit in 20 buckets), each asked for 4 steps as the engine asks.
    assert run.origins.tolist() == [1, 5, 9, 13]
    assert forecaster.calls == [(660.0, 1, 4), (900.0, 5, 4), (1140.0, 5, 4), (1380.0, 5, 4)]
    np.testing.assert_array_equal(run.actual_windows(series)[1], [105, 106, 107, 108])
    assert run.horizon_steps == 3 and run.steps == 4


def test_a_perfect_forecaster_scores_zero_error(scripted: list[Any]) -> None:
    truth = scripted.pop()
    t = np.arange(600.0)
    series = series_of(1000 + 400 * np.sin(t / 40))
    truth["series"] = series
    run = rolling_origin(series, make_settings("scripted", 60.0), horizon_steps=5)
    result = score(run, series, warmup_s=3600)
    assert result.wape == pytest.approx(0, abs=1e-12)
    assert result.mase == pytest.approx(0, abs=1e-12)
    assert result.coverage == 1.0 and result.under_provisioned_fraction == 0.0


def test_last_value_on_a_constant_series_is_perfect() -> None:
    series = series_of(np.full(300, 250.0))
    run = rolling_origin(series, make_settings("last-value", 60.0), horizon_steps(300, 60))
    result = score(run, series, warmup_s=3600)  # by then 30+ errors calibrate the upper
    assert result.calibrated_fraction == 1.0
    assert result.wape == 0.0 and result.mase == 0.0 and result.pinball == 0.0
    assert result.coverage == 1.0 and result.under_provisioned_fraction == 0.0
    assert result.peak_coverage == 1.0 and result.peak_calibrated_fraction == 1.0
    assert result.origins_scored == 300 - 6 - 60 + 1  # 6 steps forecast, 60 warm-up


def test_last_value_on_a_rising_ramp_is_mostly_under_provisioned() -> None:
    # +20 % a bucket: three buckets ahead demand is 1.73x the last value, far beyond the
    # +-10..17 % spread the upper quantile falls back to before it has errors to calibrate.
    series = series_of(100 * 1.2 ** np.arange(30))
    run = rolling_origin(series, make_settings("last-value", 60.0), horizon_steps=3)
    result = score(run, series, warmup_s=0)
    assert result.under_provisioned_fraction >= 0.9
    assert result.coverage <= 0.1
    assert result.wape > 0.3


def test_series_too_short_for_the_horizon_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot hold one origin"):
        rolling_origin(series_of([1.0, 2.0]), make_settings("last-value", 60.0), 5)


def test_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: last-value"):
        make_settings("prophet", 60.0)


def test_fit_bucket_is_rounded_up_to_whole_series_buckets() -> None:
    assert make_settings("holt-winters", 60.0).fit_bucket_s == 300.0
    assert make_settings("holt-winters", 600.0).fit_bucket_s == 600.0
    assert make_settings("holt-winters", 200.0).fit_bucket_s == 400.0


def test_a_warmup_past_every_origin_fails_before_any_forecaster_runs() -> None:
    # The operators' API and `prewarm backtest` once replayed every kind through the whole
    # series (hours for slow kinds) before saying the warm-up left nothing to score.
    from autoscaler.backtest.run import backtest_document

    def never(kind: str) -> None:
        raise AssertionError(f"{kind} ran although nothing could be scored")

    with pytest.raises(ValueError, match="leaves no origin to score"):
        backtest_document(
            series_of(np.full(120, 5.0)), 300.0, ["last-value"], 0.95,
            warmup_s=200 * 60.0, progress_for=never,
        )  # fmt: skip
